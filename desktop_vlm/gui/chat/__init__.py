"""The chat window and the small widgets it is made of."""

from desktop_vlm.gui.chat.window import ChatWindow

__all__ = ["ChatWindow"]
