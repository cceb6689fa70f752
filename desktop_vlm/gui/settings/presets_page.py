"""Settings → Presets: add, edit, delete, restore the built-ins, choose the default."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_vlm.core.config import Config
from desktop_vlm.core.presets import DEFAULT_PRESET_ID, Action, Preset, builtin_presets
from desktop_vlm.gui.settings.common import row

_PRESET_MODEL_HINT = "The profile's model"


@dataclass
class PresetEntry:
    preset: Preset
    #: Added in this dialog and not saved yet: its id may still change.
    new: bool = False


class PresetsPage(QWidget):
    def __init__(self, config: Config) -> None:
        super().__init__(objectName="page_presets")
        self.entries = [PresetEntry(p) for p in config.presets.values()]
        self.default_preset = config.default_preset
        self._loading = False
        self._build()
        self.fill_list(select=0)

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        top = QFormLayout()
        self.default_preset_combo = QComboBox(objectName="default_preset_combo")
        self.default_preset_combo.currentIndexChanged.connect(self._default_chosen)
        top.addRow("Default preset:", self.default_preset_combo)
        outer.addLayout(top)

        body = QHBoxLayout()
        left = QVBoxLayout()
        self.preset_list = QListWidget(objectName="preset_list")
        self.preset_list.setMinimumWidth(170)
        self.preset_list.currentRowChanged.connect(self._selected)
        left.addWidget(self.preset_list, 1)
        self.preset_add = QPushButton("Add", objectName="preset_add")
        self.preset_add.clicked.connect(self.add_preset)
        self.preset_delete = QPushButton("Delete", objectName="preset_delete")
        self.preset_delete.clicked.connect(self._delete)
        left.addWidget(row(self.preset_add, self.preset_delete))
        self.preset_restore = QPushButton("Restore built-in", objectName="preset_restore")
        self.preset_restore.clicked.connect(self._restore)
        left.addWidget(self.preset_restore)
        body.addLayout(left, 2)

        form = QFormLayout()
        self.preset_id = QLineEdit(objectName="preset_id")
        self.preset_id.setToolTip("Used by `desktop-vlm capture --preset ID` and config.toml")
        self.preset_id.textEdited.connect(self._id_edited)
        form.addRow("ID:", self.preset_id)
        self.preset_title = QLineEdit(objectName="preset_title")
        self.preset_title.textEdited.connect(lambda t: self._edit(title=t))
        form.addRow("Title:", self.preset_title)
        self.preset_prompt = QPlainTextEdit(objectName="preset_prompt")
        self.preset_prompt.setTabChangesFocus(True)
        self.preset_prompt.setMinimumHeight(120)
        self.preset_prompt.textChanged.connect(
            lambda: self._edit(prompt=self.preset_prompt.toPlainText())
        )
        form.addRow("Prompt:", self.preset_prompt)
        self.preset_asks = QCheckBox("Ask me for a question each time", objectName="preset_asks")
        self.preset_asks.toggled.connect(lambda on: self._edit(asks_question=on))
        form.addRow("", self.preset_asks)
        self.preset_model = QComboBox(objectName="preset_model")
        self.preset_model.setEditable(True)
        self.preset_model.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.preset_model.lineEdit().setPlaceholderText(_PRESET_MODEL_HINT)
        self.preset_model.editTextChanged.connect(lambda t: self._edit(model=t.strip() or None))
        form.addRow("Model:", self.preset_model)
        self.preset_max_tokens = QSpinBox(objectName="preset_max_tokens")
        self.preset_max_tokens.setRange(1, 1_000_000)
        self.preset_max_tokens.setSingleStep(256)
        self.preset_max_tokens.valueChanged.connect(lambda v: self._edit(max_tokens=v))
        form.addRow("Max tokens:", self.preset_max_tokens)
        self.preset_temperature = QDoubleSpinBox(objectName="preset_temperature")
        self.preset_temperature.setRange(0.0, 2.0)
        self.preset_temperature.setDecimals(2)
        self.preset_temperature.setSingleStep(0.1)
        self.preset_temperature.valueChanged.connect(lambda v: self._edit(temperature=v))
        form.addRow("Temperature:", self.preset_temperature)
        self.preset_actions: dict[Action, QCheckBox] = {}
        boxes = []
        for action, text in (
            (Action.WINDOW, "Show in window"),
            (Action.COPY, "Copy to clipboard"),
            (Action.NOTIFY, "Notify"),
        ):
            box = QCheckBox(text, objectName=f"preset_action_{action.value}")
            box.toggled.connect(self._actions_edited)
            self.preset_actions[action] = box
            boxes.append(box)
        form.addRow("Answer:", row(*boxes))
        body.addLayout(form, 5)
        outer.addLayout(body, 1)

    # --- what the dialog calls ---------------------------------------------------------

    def presets(self) -> list[tuple[Preset, bool]]:
        return [(entry.preset, entry.new) for entry in self.entries]

    def saved(self) -> None:
        for entry in self.entries:
            entry.new = False
        self._selected(self.preset_list.currentRow())

    def select(self, row_number: int, field: str) -> None:
        self.preset_list.setCurrentRow(row_number)
        (self.preset_id if field == "id" else self.preset_prompt).setFocus()

    def models(self, models: list[str]) -> None:
        text = self.preset_model.currentText()
        self.preset_model.blockSignals(True)
        self.preset_model.clear()
        self.preset_model.addItems(models)
        self.preset_model.setEditText(text)
        self.preset_model.blockSignals(False)

    # --- the list ----------------------------------------------------------------------

    @staticmethod
    def label(entry: PresetEntry) -> str:
        preset = entry.preset
        base = builtin_presets().get(preset.id)
        if base is None or entry.new:
            return preset.title or preset.id
        return f"{preset.title} (changed)" if preset != base else preset.title

    def fill_list(self, select: int) -> None:
        self.preset_list.blockSignals(True)
        self.preset_list.clear()
        for entry in self.entries:
            item = QListWidgetItem(self.label(entry))
            item.setToolTip(entry.preset.id)
            self.preset_list.addItem(item)
        self.preset_list.blockSignals(False)
        self._fill_default_combo()
        self.preset_list.setCurrentRow(min(select, len(self.entries) - 1))
        self._selected(self.preset_list.currentRow())

    def _fill_default_combo(self) -> None:
        combo = self.default_preset_combo
        combo.blockSignals(True)
        combo.clear()
        for entry in self.entries:
            combo.addItem(entry.preset.title or entry.preset.id, entry.preset.id)
        combo.setCurrentIndex(max(combo.findData(self.default_preset), 0))
        combo.blockSignals(False)

    def _default_chosen(self, index: int) -> None:
        preset_id = self.default_preset_combo.itemData(index)
        if preset_id is not None:
            self.default_preset = preset_id

    def _current(self) -> PresetEntry | None:
        number = self.preset_list.currentRow()
        return self.entries[number] if 0 <= number < len(self.entries) else None

    def _selected(self, _row: int) -> None:
        entry = self._current()
        self._loading = True
        try:
            for widget in self._editors():
                widget.setEnabled(entry is not None)
            if entry is None:
                return
            preset = entry.preset
            self.preset_id.setText(preset.id)
            self.preset_id.setReadOnly(not entry.new)
            self.preset_title.setText(preset.title)
            self.preset_prompt.setPlainText(preset.prompt)
            self.preset_asks.setChecked(preset.asks_question)
            self.preset_model.setEditText(preset.model or "")
            self.preset_max_tokens.setValue(preset.max_tokens)
            self.preset_temperature.setValue(preset.temperature)
            for action, box in self.preset_actions.items():
                box.setChecked(action in preset.actions)
        finally:
            self._loading = False
        self._update_buttons()

    def _editors(self) -> list[QWidget]:
        return [
            self.preset_id,
            self.preset_title,
            self.preset_prompt,
            self.preset_asks,
            self.preset_model,
            self.preset_max_tokens,
            self.preset_temperature,
            *self.preset_actions.values(),
        ]

    def _update_buttons(self) -> None:
        entry = self._current()
        base = builtin_presets().get(entry.preset.id) if entry else None
        builtin = base is not None and entry is not None and not entry.new
        self.preset_delete.setEnabled(entry is not None and not builtin)
        self.preset_restore.setEnabled(builtin and entry.preset != base)

    # --- editing -----------------------------------------------------------------------

    def _edit(self, **fields: Any) -> None:
        entry = self._current()
        if self._loading or entry is None:
            return
        entry.preset = replace(entry.preset, **fields)
        self._changed(entry)

    def _changed(self, entry: PresetEntry) -> None:
        item = self.preset_list.currentItem()
        if item is not None:
            item.setText(self.label(entry))
            item.setToolTip(entry.preset.id)
        self._fill_default_combo()
        self._update_buttons()

    def _id_edited(self, text: str) -> None:
        entry = self._current()
        if self._loading or entry is None or not entry.new:
            return
        old = entry.preset.id
        entry.preset = replace(entry.preset, id=text.strip())
        if self.default_preset == old:
            self.default_preset = entry.preset.id
        self._changed(entry)

    def _actions_edited(self) -> None:
        actions = frozenset(a for a, box in self.preset_actions.items() if box.isChecked())
        self._edit(actions=actions)

    def add_preset(self) -> None:
        taken = {e.preset.id for e in self.entries}
        preset_id, n = "my-preset", 1
        while preset_id in taken:
            n += 1
            preset_id = f"my-preset-{n}"
        self.entries.append(PresetEntry(Preset(preset_id, "New preset", ""), new=True))
        self.fill_list(select=len(self.entries) - 1)
        self.preset_title.setFocus()
        self.preset_title.selectAll()

    def _delete(self) -> None:
        number = self.preset_list.currentRow()
        entry = self._current()
        if entry is None or (entry.preset.id in builtin_presets() and not entry.new):
            return
        del self.entries[number]
        if self.default_preset == entry.preset.id:
            self.default_preset = DEFAULT_PRESET_ID
        self.fill_list(select=max(number - 1, 0))

    def _restore(self) -> None:
        entry = self._current()
        base = builtin_presets().get(entry.preset.id) if entry else None
        if entry is None or base is None:
            return
        entry.preset = base
        self.fill_list(select=self.preset_list.currentRow())
