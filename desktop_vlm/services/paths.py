"""Where the app keeps its files: the platform's user directories (XDG on Linux)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from desktop_vlm import APP_NAME


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def config_file() -> Path:
    return config_dir() / "config.toml"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def runtime_dir() -> Path:
    """A per-user directory only this user can enter, for the single-instance socket.

    XDG_RUNTIME_DIR is already private (0700, owned by the user); elsewhere we make our own
    below the temp directory and refuse it if someone else owns it or can enter it.
    """
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base):
        path = Path(base) / APP_NAME
    else:
        import tempfile

        path = Path(tempfile.gettempdir()) / f"{APP_NAME}-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        try:
            os.chmod(path, 0o700)
            st = path.stat()
        except OSError:
            pass
        if st.st_uid != os.getuid() or st.st_mode & 0o077:
            raise PermissionError(f"{path} is not private to this user; remove it and retry")
    return path


def private_mkdir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by this user only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
