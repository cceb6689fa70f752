"""Save the Config as config.toml: atomically, readable by this user only, never a secret.

The file is rewritten from the Config (see core/config_dump.py), so comments a person added to
an existing config.toml are lost when the settings dialog saves; the settings themselves are
kept. The API key has no place in the Config and so never reaches the file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

from desktop_vlm.core.config import Config, parse_config
from desktop_vlm.core.config_dump import dump_config

log = logging.getLogger(__name__)


def save_config(config: Config, path: Path) -> None:
    """Write ``config`` to ``path``; a reader sees the old file or the new one, never half.

    Raises OSError when the directory or file cannot be written.
    """
    text = dump_config(config)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # mkstemp creates the file with mode 0600 in the same directory, so the rename is atomic.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    _fsync_dir(path.parent)
    log.info("settings saved to %s", path)


def load_for_editing(path: Path) -> Config:
    """The config as the file says, without the environment overrides of ``load_config``.

    The settings dialog must start from this one: editing the overridden config would write
    DESKTOP_VLM_BASE_URL into the file on save. Bad values fall back to their defaults here
    too (the warnings were already shown when the app loaded the file).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("%s cannot be read (%s); editing the defaults", path, exc)
        return Config()
    return parse_config(text, source=str(path)).config


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX only; Windows cannot open a directory)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
