"""What the settings dialog refuses to save, and why (pure): the pages show the fields, these
rules say which one is wrong in words a person can act on."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from desktop_vlm.core.config import DEFAULT_HOTKEYS, Profile
from desktop_vlm.core.errors import ConfigError
from desktop_vlm.core.presets import Preset, builtin_presets
from desktop_vlm.core.urls import check_endpoint

PRESET_ID = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Problem:
    """Where the problem is (a profile name or a preset row) and what it is."""

    message: str
    profile: str = ""
    row: int = -1
    field: str = ""  # "base_url", "id", "prompt", "actions"


def profile_problem(profiles: Mapping[str, Profile], has_key: Mapping[str, bool]) -> Problem | None:
    """The first profile whose base URL cannot be used (with or without its key)."""
    for name, profile in profiles.items():
        if profile.offline:
            continue  # the embedded engine has no server
        try:
            check_endpoint(profile.base_url, has_key.get(name, False))
        except ConfigError as exc:
            return Problem(str(exc), profile=name, field="base_url")
    return None


def preset_problem(entries: Iterable[tuple[Preset, bool]]) -> Problem | None:
    """The first preset that cannot be saved; ``entries`` are (preset, added in this dialog)."""
    seen: set[str] = set()
    builtins = builtin_presets()
    for row, (preset, new) in enumerate(entries):
        problem, where = "", "id"
        if not PRESET_ID.fullmatch(preset.id):
            problem = "needs an ID of letters, digits, - and _"
        elif preset.id in seen or (new and preset.id in builtins):
            problem = f"has the ID '{preset.id}', which another preset already uses"
        elif not preset.prompt.strip() and not preset.asks_question:
            problem, where = "needs a prompt (or 'Ask me for a question each time')", "prompt"
        elif not preset.actions:
            problem, where = "needs at least one thing to do with the answer", "actions"
        if problem:
            title = preset.title or preset.id
            return Problem(f"The preset '{title}' {problem}", row=row, field=where)
        seen.add(preset.id)
    return None


def hotkey_changes(current: Mapping[str, str], typed: Mapping[str, str]) -> dict[str, str]:
    """The [hotkeys] table: only what differs from the defaults ("" switches one off)."""
    hotkeys = dict(current)
    for action, text in typed.items():
        if text == DEFAULT_HOTKEYS.get(action):
            hotkeys.pop(action, None)
        else:
            hotkeys[action] = text
    return hotkeys
