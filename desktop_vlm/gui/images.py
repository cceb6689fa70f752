"""Images on their way to a request: what a capture, the clipboard or a drop hands over, turned
into what is sent (on a pool thread), its thumbnail (decoded small), and a part of it at full
detail for a closer look."""

from __future__ import annotations

from PySide6.QtCore import QObject, QRect, Qt
from PySide6.QtGui import QImage, QImageReader

from desktop_vlm.core.config import Config
from desktop_vlm.core.conversation import Conversation, ImageRef
from desktop_vlm.core.outgoing import Outgoing
from desktop_vlm.core.rawimage import RawImage
from desktop_vlm.gui.pool import run_in_pool

ImageSource = RawImage | bytes | str


def prepare(source: ImageSource, config: Config, read_text=None) -> Outgoing:  # noqa: ANN001
    """What is sent for ``source``: covered where sensitive with ``[privacy] redact = "auto"``
    (``read_text``: the offline engine), downscaled, encoded (runs on a pool thread)."""
    from desktop_vlm.core.outgoing import prepare_outgoing
    from desktop_vlm.core.providers import limits_for

    return prepare_outgoing(
        source,
        image_format=config.image_format,
        jpeg_quality=config.jpeg_quality,
        max_base64_bytes=limits_for(
            config.active.name, config.active.base_url
        ).max_base64_image_bytes,
        redact=config.redact == "auto",
        read_text=read_text,
    )


def keep_original(conversation: Conversation, original: object, parent: QObject) -> None:
    """Keep what a closer look cuts from with the conversation; pixels in memory are made a PNG
    on a pool thread first (a 4K capture is 33 MB as pixels, a few MB as PNG)."""
    if original is None:
        return
    conversation.original = original
    if isinstance(original, str | bytes):
        return
    from desktop_vlm.core.outgoing import compressed

    def done(data: object, error: BaseException | None) -> None:
        if error is None and conversation.original is original:
            conversation.original = data

    run_in_pool(lambda: compressed(original), done, parent=parent)


def closer_ref(original: ImageSource, current: ImageRef, region: QRect, config: Config) -> ImageRef:
    """The part ``region`` (in the pixels of ``current``) as an image of its own: cut from the
    capture at full resolution when it is at hand, else from ``current`` (pool thread)."""
    from desktop_vlm.core.imagecrop import crop_source, to_source_box

    if original is None or current.box is None:
        return crop_ref(current, region)
    box = to_source_box(
        (region.x(), region.y(), region.width(), region.height()),
        (current.width, current.height),
        current.box,
    )
    part = crop_source(original, box, image_format=config.image_format)
    return ImageRef(part.mime, part.data, part.width, part.height, box)


def crop_ref(image: ImageRef, region: QRect) -> ImageRef:
    """The part ``region`` (in the image's pixels) of an image, as an image of its own."""
    from desktop_vlm.core.imagecrop import crop_image

    cropped = crop_image(image.data, (region.x(), region.y(), region.width(), region.height()))
    return ImageRef(cropped.mime, cropped.data, cropped.width, cropped.height)


def thumbnail(source: ImageSource) -> QImage | None:
    if isinstance(source, str):
        # Decode at thumbnail size: a 54-megapixel photo must not stall the GUI thread.
        reader = QImageReader(source)
        size = reader.size()
        if size.isValid():
            reader.setScaledSize(size.scaled(224, 168, Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
    elif isinstance(source, bytes):
        reader_image = QImage()
        reader_image.loadFromData(source[: 64 * 1024 * 1024])
        image = reader_image
    else:
        fmt = (
            QImage.Format.Format_ARGB32
            if source.mode in ("BGRA", "ARGB")
            else QImage.Format.Format_RGB32
        )
        full = QImage(source.data, source.width, source.height, source.stride, fmt)
        image = full.scaled(
            224, 168, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
    return None if image.isNull() else image
