"""The settings dialog and its pages."""

from desktop_vlm.gui.settings.dialog import SettingsDialog

__all__ = ["SettingsDialog"]
