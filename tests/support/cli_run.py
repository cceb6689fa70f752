"""Run `desktop-vlm` as a separate process, as a person does, and read its one error line."""

from __future__ import annotations

import os
import re
import subprocess
import sys

CANARY = "sk-canary-7f3a9c1e5b2d4f6a8c0e1a3b5d7f9e1c"
DATA_URL = re.compile(r"^data:image/(png|jpeg);base64,([A-Za-z0-9+/]+=*)$")


def run(*args: str, env: dict | None = None, stdin: bytes | None = None, timeout: float = 60):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "desktop_vlm", *args],
        input=stdin,
        capture_output=True,
        env=full_env,
        timeout=timeout,
    )


def one_line_error(result) -> str:
    err = result.stderr.decode()
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("desktop-vlm: ")
    return lines[0]
