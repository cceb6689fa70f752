"""Read an image from the clipboard: image data, or a copied image file (file managers put a
file:// URL on the clipboard, not pixels)."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QGuiApplication, QImage

from desktop_vlm.core.rawimage import RawImage
from desktop_vlm.platform.qimage import to_raw

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def read_clipboard_image() -> RawImage | str | None:
    """The clipboard's image as pixels, or the path of a copied image file, or None."""
    mime = QGuiApplication.clipboard().mimeData()
    if mime is None:
        return None
    if mime.hasImage():
        image = QImage(mime.imageData())
        if not image.isNull():
            return to_raw(image)
    for url in mime.urls() if mime.hasUrls() else []:
        path = _local_image(url)
        if path:
            return path
    if mime.hasText():
        text = mime.text().strip()
        if text.startswith("file://"):
            path = _local_image(QUrl(text.splitlines()[0]))
            if path:
                return path
        elif "\n" not in text and len(text) < 4096:
            candidate = Path(text).expanduser()
            if candidate.suffix.lower() in IMAGE_SUFFIXES and candidate.is_file():
                return str(candidate)
    log.info("no image on the clipboard (formats: %s)", ", ".join(mime.formats()[:8]))
    return None


def _local_image(url: QUrl) -> str | None:
    if not url.isLocalFile():
        return None
    path = Path(url.toLocalFile())
    if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
        return str(path)
    return None


def set_clipboard_text(text: str) -> None:
    QGuiApplication.clipboard().setText(text)
