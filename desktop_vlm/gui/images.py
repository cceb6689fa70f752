"""Images on their way to a request: what a capture, the clipboard or a drop hands over, turned
into what is sent (on a pool thread), its thumbnail (decoded small), and a part of it at full
detail for a closer look."""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QImage, QImageReader

from desktop_vlm.core.config import Config
from desktop_vlm.core.conversation import ImageRef
from desktop_vlm.core.rawimage import RawImage

ImageSource = RawImage | bytes | str


def prepare_ref(source: ImageSource, config: Config) -> ImageRef:
    """Decode, downscale and encode for the API (runs on a pool thread: Pillow loads here)."""
    from desktop_vlm.core.imagefit import fit_base64
    from desktop_vlm.core.imageprep import prepare_image
    from desktop_vlm.core.providers import limits_for

    image = prepare_image(source, image_format=config.image_format,
                          jpeg_quality=config.jpeg_quality)
    limit = limits_for(config.active.name, config.active.base_url).max_base64_image_bytes
    image = fit_base64(image, limit)
    return ImageRef(image.mime, image.data, image.width, image.height)


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
        fmt = (QImage.Format.Format_ARGB32 if source.mode in ("BGRA", "ARGB")
               else QImage.Format.Format_RGB32)
        full = QImage(source.data, source.width, source.height, source.stride, fmt)
        image = full.scaled(224, 168, Qt.AspectRatioMode.KeepAspectRatio,
                            Qt.TransformationMode.SmoothTransformation)
    return None if image.isNull() else image
