"""config.toml on disk: read it for editing, and save a Config into it without losing anything.

- Saving edits the person's own file with tomlkit: their comments, blank lines, order and any
  key the app does not know stay as they were; only the settings that changed are touched.
- A file that cannot be read (not UTF-8/UTF-16, or not valid TOML) is never overwritten: editing
  it reports the problem and saving refuses until the person has fixed it. A UTF-8 byte order
  mark, as Notepad writes it, is fine.
- A change made on disk while the dialog was open is not overwritten either: the save compares
  the file with the fingerprint taken when it was read, and refuses with a message if it differs.
- Writes are atomic (a reader sees the old file or the new one), readable by this user only, and
  checked: the text written must read back as exactly the Config given. No secret is ever here.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import Table

from desktop_vlm.core.config import Config, parse_config
from desktop_vlm.core.config_dump import HEADER, MISSING, is_setting, settings, value_at
from desktop_vlm.core.errors import ConfigError

log = logging.getLogger(__name__)

MAX_CONFIG_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Fingerprint:
    """What the file was when it was read: changed content means someone else wrote it."""

    digest: str  # "" for a file that did not exist


@dataclass(frozen=True)
class Editable:
    config: Config
    #: Why the file cannot be edited ("" when it can), in words.
    problem: str
    fingerprint: Fingerprint


def read_text(path: Path) -> tuple[str | None, Fingerprint]:
    """The file's text (None if it does not exist) and its fingerprint; ConfigError when it
    cannot be read as text."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return None, Fingerprint("")
    except OSError as exc:
        raise ConfigError(
            f"{path} cannot be read ({exc.strerror or exc})", "Check its permissions"
        ) from None
    fingerprint = Fingerprint(hashlib.sha256(raw).hexdigest())
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path} is larger than 1 MB, which no config file is", "Check what was written there"
        )
    return decode(raw, path), fingerprint


def decode(raw: bytes, path: Path | str = "config.toml") -> str:
    """TOML text from the file's bytes: UTF-8 (with or without BOM), or UTF-16 with its BOM."""
    try:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            return raw.decode("utf-16")
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.start}); the settings dialog will not "
            "overwrite it",
            "Save it as UTF-8 in your editor",
        ) from None


def load_for_editing(path: Path) -> Editable:
    """The config as the file says, without the environment's overrides (editing the
    overridden config would write DESKTOP_VLM_BASE_URL into the file on save)."""
    try:
        text, fingerprint = read_text(path)
    except ConfigError as exc:
        return Editable(Config(), str(exc), Fingerprint("unreadable"))
    if text is None:
        return Editable(Config(), "", fingerprint)
    try:
        tomlkit.parse(text)
    except Exception as exc:  # noqa: BLE001 - tomlkit raises its own family of errors
        return Editable(
            Config(),
            f"{path} is not valid TOML ({_first_line(exc)}). Settings will not overwrite it: "
            "fix the file (or delete it to start from the defaults), then open Settings again.",
            fingerprint,
        )
    return Editable(parse_config(text, source=str(path)).config, "", fingerprint)


def save_config(config: Config, path: Path, expected: Fingerprint | None = None) -> Fingerprint:
    """Write ``config`` into ``path``, keeping everything else the file holds.

    ``expected`` is the fingerprint from ``load_for_editing``: when the file changed since, or
    cannot be read, nothing is written and ConfigError says why. Raises OSError when the file
    cannot be written.
    """
    text, now = read_text(path)
    if expected is not None and now != expected:
        raise ConfigError(
            f"{path} was changed by another program while Settings was open, so nothing was saved",
            "Close Settings and open it again to see the change",
        )
    if text is None:
        doc = tomlkit.parse(HEADER)
    else:
        try:
            doc = tomlkit.parse(text)
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(
                f"{path} is not valid TOML ({_first_line(exc)}); nothing was saved",
                "Fix the file first",
            ) from None
    _apply(doc, config)
    new_text = tomlkit.dumps(doc)
    if parse_config(new_text).config != config:
        raise ConfigError(
            "The settings could not be written faithfully; nothing was saved", "Please report this"
        )
    _write_atomically(path, new_text)
    log.info("settings saved to %s", path)
    return read_text(path)[1]


def _apply(doc: tomlkit.TOMLDocument, config: Config) -> None:
    target = settings(config)
    emptied: set[tuple[str, ...]] = set()
    for path, value in list(_leaves(doc)):
        if is_setting(path) and path not in target and _plain(value) != value_at(config, path):
            _delete(doc, path)
            emptied.update(path[:n] for n in range(1, len(path)))
    for path, value in target.items():
        if _plain(_get(doc, path)) != value:
            _set(doc, path, value)
    # Only the tables this save emptied go (a removed profile); an empty table the person
    # wrote, perhaps with a comment in it, stays.
    for path in sorted(emptied, key=len, reverse=True):
        table = _get(doc, path)
        if isinstance(table, Table) and not table:
            _delete(doc, path)


def _leaves(container: Any, prefix: tuple[str, ...] = ()):  # noqa: ANN202
    for key, value in list(container.items()):
        path = (*prefix, str(key))
        if isinstance(value, dict):
            yield from _leaves(value, path)
        else:
            yield path, value


def _plain(value: Any) -> Any:
    if value is MISSING or value is None:
        return MISSING
    return value.unwrap() if hasattr(value, "unwrap") else value


def _get(doc: Any, path: tuple[str, ...]) -> Any:
    node = doc
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def _set(doc: Any, path: tuple[str, ...], value: Any) -> None:
    node = doc
    for depth, part in enumerate(path[:-1]):
        if part not in node or not isinstance(node[part], dict):
            # [presets.x] under a [presets] that only groups them: a super table, not written.
            node[part] = tomlkit.table(is_super_table=depth == 0 and len(path) > 2)
        node = node[part]
    if isinstance(value, str) and "\n" in value and "\r" not in value:
        # A multi-line prompt stays readable as lines (a CR would be read back as a line end).
        item = tomlkit.string(value, multiline=True)
    elif isinstance(value, list):
        item = tomlkit.array()
        item.extend(value)
    else:
        item = tomlkit.item(value)
    node[path[-1]] = item


def _delete(doc: Any, path: tuple[str, ...]) -> None:
    node = doc
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # mkstemp creates the file with mode 0600 in the same directory, so the rename is atomic.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    if os.name == "posix":
        with contextlib.suppress(OSError):
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
