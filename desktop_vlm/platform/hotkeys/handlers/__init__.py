"""One module per hotkey backend (x11, portal, windows), each with ``is_compatible()``,
``is_installed()`` and a ``Backend`` class with the methods of ``models.HotkeyBackend``."""
