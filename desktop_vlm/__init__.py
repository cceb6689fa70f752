"""desktop-vlm: ask a vision-language model about a region of the screen."""

__version__ = "0.1.0"
APP_NAME = "desktop-vlm"
