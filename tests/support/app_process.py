"""A running tray app process for system tests, and the probes that look at it from outside:
xdotool for windows and input, ImageMagick for the screen's pixels, the test server's records for
what was sent."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image, ImageChops


def wait_until(predicate, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def xdotool(env: dict, *args: str) -> str:
    return subprocess.run(
        ["xdotool", *args], env=env, capture_output=True, text=True, timeout=30
    ).stdout


def window_visible(env: dict, name: str) -> bool:
    return bool(xdotool(env, "search", "--onlyvisible", "--name", name).strip())


def root_grab(env: dict) -> Image.Image:
    png = subprocess.run(
        ["import", "-window", "root", "png:-"], env=env, capture_output=True, check=True, timeout=30
    ).stdout
    return Image.open(io.BytesIO(png)).convert("RGB")


def chat_requests(api) -> list:
    return [r for r in api.requests if r.path.endswith("/chat/completions")]


def wait_chat(api, n: int = 1) -> None:
    wait_until(lambda: len(chat_requests(api)) >= n, what=f"{n} chat request(s) at the server")


def sent_images(api) -> list[Image.Image]:
    images = []
    for req in api.requests:
        if req.path.endswith("/chat/completions"):
            url = req.json["messages"][0]["content"][1]["image_url"]["url"]
            images.append(
                Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
            )
    return images


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a, b).getbbox() is None


class App:
    """A running `desktop-vlm` tray app process and the environment it runs in."""

    def __init__(
        self, env: dict[str, str], proc: subprocess.Popen, log: Path, stderr, offset: int = 0
    ):
        self.env, self.proc, self.log, self._stderr = env, proc, log, stderr
        # Only what this run writes counts: an earlier app may have used the same log file.
        self._offset = offset

    def cli(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "desktop_vlm", *args],
            env=self.env,
            capture_output=True,
            timeout=30,
            **kw,
        )

    def log_text(self) -> str:
        if not self.log.exists():
            return ""
        with self.log.open("rb") as handle:
            handle.seek(self._offset)
            return handle.read().decode("utf-8", errors="replace")

    def wait_log(self, needle: str, timeout: float = 20.0) -> None:
        wait_until(lambda: needle in self.log_text(), timeout, f"log line {needle!r}")

    def drag(self, x1: int, y1: int, x2: int, y2: int) -> None:
        xdotool(self.env, "mousemove", str(x1), str(y1), "mousedown", "1")
        xdotool(self.env, "mousemove", str((x1 + x2) // 2), str((y1 + y2) // 2))
        xdotool(self.env, "mousemove", str(x2), str(y2))
        time.sleep(0.1)
        xdotool(self.env, "mouseup", "1")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.cli("quit")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._stderr.close()


def start_app(fake_api, dirs: dict[str, str], extra_env: dict[str, str] | None = None) -> App:
    env = {**os.environ, **dirs, "DESKTOP_VLM_BASE_URL": fake_api.url, **(extra_env or {})}
    stderr_path = Path(dirs["XDG_STATE_HOME"]) / "app-stderr.txt"
    stderr = stderr_path.open("wb")
    log = Path(dirs["XDG_STATE_HOME"]) / "desktop-vlm" / "log" / "desktop-vlm.log"
    offset = log.stat().st_size if log.exists() else 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "desktop_vlm.app"], env=env, stdout=subprocess.DEVNULL, stderr=stderr
    )
    app = App(env, proc, log, stderr, offset)
    try:
        app.wait_log("tray ready", timeout=30)
    except AssertionError:
        proc.kill()
        proc.wait(5)
        stderr.close()
        raise AssertionError(f"app did not start: {stderr_path.read_text()[-2000:]}") from None
    return app
