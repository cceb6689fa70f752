"""The list of past conversations with its search box; it shows what it is given and says what
the person picked. Deleting asks first when it is everything."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)


@dataclass(frozen=True)
class HistoryItem:
    id: str
    title: str
    when: str
    snippet: str = ""


class HistoryPanel(QWidget):
    selected = Signal(str)
    search_changed = Signal(str)
    delete_requested = Signal(str)
    delete_all_requested = Signal()

    def __init__(self) -> None:
        super().__init__(objectName="history_panel")
        self.search = QLineEdit(objectName="history_search")
        self.search.setPlaceholderText("Search past answers…")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self, singleShot=True, interval=200)
        self._search_timer.timeout.connect(lambda: self.search_changed.emit(self.search.text()))
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        self.list = QListWidget(objectName="history_list")
        self.list.setMinimumWidth(190)
        self.list.setWordWrap(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        # Each conversation apart from the next (its three lines read as one entry)
        self.list.setStyleSheet(
            "QListWidget#history_list::item { padding: 4px 2px;"
            " border-bottom: 1px solid palette(mid); }"
            "QListWidget#history_list::item:selected { background: palette(highlight);"
            " color: palette(highlighted-text); }"
        )
        self.list.itemActivated.connect(self._activated)
        self.list.itemClicked.connect(self._activated)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        self._current: str | None = None

    def set_items(self, items: list[HistoryItem], current: str | None) -> None:
        self._current = current
        self.list.blockSignals(True)
        self.list.clear()
        for entry in items:
            text = f"{entry.title}\n{entry.when}"
            if entry.snippet:
                text += f"\n{entry.snippet}"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, entry.id)
            item.setToolTip(entry.snippet or entry.title)
            self.list.addItem(item)
            if entry.id == current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def mark_current(self, conversation_id: str | None) -> None:
        self._current = conversation_id
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == conversation_id:
                self.list.blockSignals(True)
                self.list.setCurrentItem(item)
                self.list.blockSignals(False)
                return
        # Not in the list (yet: a new conversation waits for its answer): no other is marked
        self.list.blockSignals(True)
        self.list.setCurrentRow(-1)
        self.list.clearSelection()
        self.list.blockSignals(False)

    def _activated(self, item: QListWidgetItem) -> None:
        conversation_id = item.data(Qt.ItemDataRole.UserRole)
        if conversation_id != self._current:
            self.selected.emit(conversation_id)

    def _menu(self, pos) -> None:  # noqa: ANN001 - a QPoint from Qt
        item = self.list.itemAt(pos)
        menu = QMenu(self)
        if item is not None:
            delete = menu.addAction("Delete conversation")
            delete.setObjectName("action_delete_conversation")
            conversation_id = item.data(Qt.ItemDataRole.UserRole)
            delete.triggered.connect(lambda _c=False: self.delete_requested.emit(conversation_id))
        delete_all = menu.addAction("Delete all history…")
        delete_all.setObjectName("action_delete_all")
        delete_all.triggered.connect(lambda _c=False: self._confirm_delete_all())
        menu.popup(self.list.viewport().mapToGlobal(pos))

    def _confirm_delete_all(self) -> None:
        answer = QMessageBox.question(
            self, "Delete all history", "Delete every saved conversation? This cannot be undone."
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_all_requested.emit()
