"""The provider catalog offered when a profile is added, and the model servers found running on
this machine (looked for off the GUI thread), offered beside the base URL."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QMenu, QWidget

from desktop_vlm.core.config import Profile
from desktop_vlm.core.providers import CATALOG
from desktop_vlm.gui.pool import run_in_pool
from desktop_vlm.gui.settings.common import WrappingLabel


def catalog_menu(
    parent: QWidget,
    profiles: Mapping[str, Profile],
    pick: Callable[[str], None],
    other: Callable[[], None],
) -> QMenu:
    """Every catalog provider (cloud first, then the servers people run locally), and "other"."""
    menu = QMenu(parent)
    menu.setObjectName("catalog_menu")
    for local, heading in ((False, "Providers"), (True, "On this machine")):
        menu.addSection(heading)
        for known in CATALOG:
            if known.local == local and known.id in profiles:
                action = menu.addAction(known.title)
                action.setObjectName(f"catalog_{known.id}")
                action.triggered.connect(lambda _c=False, name=known.id: pick(name))
    menu.addSeparator()
    action = menu.addAction("Other OpenAI-compatible server…")
    action.setObjectName("catalog_other")
    action.triggered.connect(lambda _c=False: other())
    return menu


class FoundServers(WrappingLabel):
    """ "Found on this machine: Ollama (qwen2.5vl:7b)": a click uses that server."""

    use = Signal(object)  # the discovery.LocalServer clicked

    def __init__(self) -> None:
        super().__init__(objectName="local_servers")
        self.setTextFormat(Qt.TextFormat.RichText)
        self.linkActivated.connect(self._clicked)
        self._servers: dict[str, object] = {}
        self.hide()

    def look(self, discover: Callable[[], list]) -> None:
        self.setText("Looking for model servers on this machine…")
        self.show()
        run_in_pool(discover, self._found, parent=self)

    def _found(self, servers: list | None, error: BaseException | None) -> None:
        self._servers = {s.provider_id: s for s in servers or [] if s.vision_models}
        if error is not None or not self._servers:
            self.setText("No model server with a vision model runs on this machine.")
            return
        links = ", ".join(
            f'<a href="{escape(s.provider_id)}">{escape(s.title)}</a> '
            f"({escape(', '.join(s.vision_models[:2]))})"
            for s in self._servers.values()
        )
        self.setText(f"Found on this machine: {links}. Click one to use it.")

    def _clicked(self, provider_id: str) -> None:
        server = self._servers.get(provider_id)
        if server is not None:
            self.use.emit(server)
