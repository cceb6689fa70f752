"""What leaves the machine for one image, made the same way for the tray app and the command line:
decoded once, painted over where it shows something sensitive (automatic redaction reads it with
the offline engine first; areas covered by hand in the overlay are in the pixels already),
downscaled to the API's limit and no further, encoded by what it shows, and fitted to the
provider's size limit.

Automatic redaction never falls back to sending the image as it is: when the engine cannot read
it, nothing is sent and the person is told why.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from desktop_vlm.core.conversation import ImageRef
from desktop_vlm.core.errors import CancelledError, OfflineEngineError, VlmError
from desktop_vlm.core.imagefit import fit_base64
from desktop_vlm.core.imageprep import PreparedImage, load_image, prepare_loaded
from desktop_vlm.core.rawimage import RawImage
from desktop_vlm.core.redaction import Redaction, redact_image


@dataclass(frozen=True)
class Outgoing:
    """The image as it will be sent, and what was done to it on the way."""

    image: PreparedImage
    #: What a closer look cuts parts from: the capture (covered where redacted) when it is larger
    #: than what is sent; None when the image goes out as captured.
    original: Any
    #: What automatic redaction covered (None: it was off).
    redaction: Redaction | None

    @property
    def ref(self) -> ImageRef:
        image = self.image
        full = (image.source_width, image.source_height)
        box = (0, 0, *full) if full != (image.width, image.height) else None
        return ImageRef(image.mime, image.data, image.width, image.height, box)

    def meta(self) -> dict[str, Any]:
        """For the conversation (history, window, --json): counts only, never covered text."""
        if self.redaction is None:
            return {}
        summary = self.redaction.to_dict()
        return {"redactions": {k: summary[k] for k in ("areas", "counts", "summary")}}


def prepare_outgoing(
    source: Any,
    *,
    image_format: str = "auto",
    jpeg_quality: int = 90,
    max_base64_bytes: int | None = None,
    redact: bool = False,
    read_text: Callable[[RawImage], Any] | None = None,
) -> Outgoing:
    """``source`` (a capture, image bytes or a path) made ready to send; with ``redact``,
    ``read_text`` (the offline engine) reads it and what it shows that is sensitive is covered.
    Raises ImageError, or with ``redact`` a VlmError saying why nothing was sent."""
    img, source_size = load_image(source)
    redaction = None
    if redact:
        img, redaction = _redact(img, read_text)
    prepared = prepare_loaded(
        img, source_size, image_format=image_format, jpeg_quality=jpeg_quality
    )
    prepared = fit_base64(prepared, max_base64_bytes)
    downscaled = (prepared.width, prepared.height) != source_size
    if not downscaled:
        original = None
    elif redaction is not None and redaction.areas:
        original = img  # covered: a closer look must never show what was painted over
    else:
        original = source
    return Outgoing(prepared, original, redaction)


def _redact(img: Image.Image, read_text: Callable[[RawImage], Any] | None):  # noqa: ANN202
    if read_text is None:
        raise OfflineEngineError(
            "Automatic redaction needs the offline text engine, which is not available, so "
            "nothing was sent",
            "Install desktop-vlm with its OCR engine, or switch redaction off",
        )
    raw = RawImage(img.width, img.height, img.tobytes(), mode=img.mode)
    try:
        reading = read_text(raw)
    except CancelledError:
        raise
    except VlmError as exc:
        raise OfflineEngineError(
            f"Automatic redaction could not read the image ({exc.message}), so nothing was sent",
            exc.hint,
        ) from None
    return redact_image(img, reading)


def compressed(original: Any) -> Any:
    """``original`` as PNG bytes when it is pixels in memory (a capture, a covered image): what
    a conversation keeps for a closer look, at a fraction of the memory. Paths and bytes stay."""
    if isinstance(original, RawImage):
        original, _ = load_image(original)
    if isinstance(original, Image.Image):
        out = io.BytesIO()
        original.save(out, format="PNG", compress_level=1)
        return out.getvalue()
    return original


def image_notes(meta: dict[str, Any]) -> list[str]:
    """What was done to a conversation's image before it was sent, for the person: areas
    covered automatically and by hand, regions combined."""
    notes = []
    summary = (meta.get("redactions") or {}).get("summary")
    if summary and summary != "nothing covered":
        notes.append(summary)
    by_hand = meta.get("covered_by_hand", 0)
    if by_hand:
        notes.append(f"{by_hand} area{'s' if by_hand != 1 else ''} covered by hand")
    if meta.get("parts", 1) > 1:
        notes.append(f"{meta['parts']} regions in one image")
    return notes
