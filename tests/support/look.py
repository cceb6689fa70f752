"""A desktop as people have it, to look at the real app: Xvfb with the openbox window manager,
the dunst notification daemon, a tray host, a keyring, and the loopback test server answering
with realistic delays. The app runs as its own process; it is driven from outside with
`desktop-vlm` commands and xdotool, and the screen is read with ImageMagick's `import`.

    with LookDesktop(dark=True, scale=2) as look:
        look.start_app()
        look.cli("capture")
        look.drag(100, 100, 600, 400)
        look.shot("chat-dark.png")

Used by readme_screenshots.py and by hand (``python tests/support/look.py OUT_DIR``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from support import desktop  # noqa: E402
from support.fake_api import FakeAPI, Stream  # noqa: E402

ROOT = HERE.parents[1]

DUNSTRC = """
[global]
    font = DejaVu Sans 10
    origin = top-right
    offset = 16x40
    frame_width = 1
    corner_radius = 6
    format = "<b>%s</b>\\n%b"
[urgency_low]
    background = "#2b2d31"
    foreground = "#f2f3f5"
[urgency_normal]
    background = "#2b2d31"
    foreground = "#f2f3f5"
[urgency_critical]
    background = "#5c1d1d"
    foreground = "#ffffff"
"""


class LookDesktop:
    def __init__(
        self,
        *,
        dark: bool = False,
        scale: float = 1,
        width: int = 1920,
        height: int = 1080,
        first_token_delay: float = 2.0,
        tray: bool = True,
    ) -> None:
        self.dark, self.scale = dark, scale
        self.width, self.height = width, height
        self.first_token_delay = first_token_delay
        self.tray = tray
        self.services: list[desktop.Service] = []
        self.procs: list[subprocess.Popen] = []
        self.app: subprocess.Popen | None = None
        self.base = Path(tempfile.mkdtemp(prefix="dvlm-look-"))
        self.env: dict[str, str] = {}
        self.api: FakeAPI | None = None

    # --- the desktop ----------------------------------------------------------------------

    def __enter__(self) -> LookDesktop:
        display = desktop.start_xvfb(self.width, self.height)
        self.services.append(display)
        home = self.base / "home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "DESKTOP_VLM"))}
        env.update(display.env)
        env.update(desktop.user_dirs(self.base))
        env["HOME"] = str(home)
        env["XDG_SESSION_TYPE"] = "x11"
        env["QT_QPA_PLATFORM"] = "xcb"
        if self.dark:
            env["QT_QPA_PLATFORMTHEME"] = "gtk3"
            env["GTK_THEME"] = "Adwaita:dark"
        if self.scale != 1:
            env["QT_SCALE_FACTOR"] = str(self.scale)
        bus = desktop.start_session_bus()
        self.services.append(bus)
        env.update(bus.env)
        old = dict(os.environ)
        os.environ.update(env)
        try:
            self.services.append(desktop.start_keyring(bus, home))
            if self.tray:
                self.services.append(desktop.start_trayer(display))
        finally:
            os.environ.clear()
            os.environ.update(old)
        self.env = env
        self._background()
        self.procs.append(
            subprocess.Popen(
                ["openbox"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )
        rc = self.base / "dunstrc"
        rc.write_text(DUNSTRC)
        if shutil.which("dunst"):
            self.procs.append(
                subprocess.Popen(
                    ["dunst", "-config", str(rc)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        time.sleep(0.8)
        self.api = FakeAPI(models=["Qwen/Qwen2.5-VL-7B-Instruct", "mistralai/Pixtral-12B-2409"])
        self.api.start()
        self.env["DESKTOP_VLM_BASE_URL"] = self.api.url
        self.env["DESKTOP_VLM_API_KEY"] = "sk-look-0000000000000000"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.app is not None and self.app.poll() is None:
            self.cli("quit")
            try:
                self.app.wait(10)
            except subprocess.TimeoutExpired:
                self.app.kill()
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.api is not None:
            self.api.stop()
        for service in reversed(self.services):
            service.stop()

    def _background(self) -> None:
        """A desktop with a window to capture: a page of text as a person has open."""
        page = self.base / "page.html"
        page.write_text(PAGE, encoding="utf-8")
        if shutil.which("xsetroot"):
            subprocess.run(["xsetroot", "-solid", "#3b4252"], env=self.env, check=False)

    # --- the app ----------------------------------------------------------------------------

    def start_app(self, extra_env: dict[str, str] | None = None) -> None:
        env = {**self.env, **(extra_env or {})}
        log = open(self.base / "app-stderr.txt", "wb")  # noqa: SIM115 - lives with the app
        self.app = subprocess.Popen(
            [sys.executable, "-m", "desktop_vlm.app"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=ROOT,
        )
        self.wait_log("tray ready")

    def log_text(self) -> str:
        path = self.base / "state" / "desktop-vlm" / "log" / "desktop-vlm.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_log(self, needle: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.log_text():
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {needle!r} in the log: {self.log_text()[-2000:]}")
            time.sleep(0.1)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "desktop_vlm", *args],
            env=self.env,
            capture_output=True,
            timeout=60,
            cwd=ROOT,
        )

    def answer(self, *texts: str | list[str], delay: float = 0.03) -> None:
        """Queue answers: each arrives after the first-token delay, token by token."""
        assert self.api is not None
        for text in texts:
            self.api.enqueue(Stream(text, delay=delay, first_token_delay=self.first_token_delay))

    # --- input and pictures -----------------------------------------------------------------

    def xdotool(self, *args: str) -> str:
        return subprocess.run(
            ["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=30
        ).stdout

    def drag(self, x1: int, y1: int, x2: int, y2: int) -> None:
        self.xdotool("mousemove", str(x1), str(y1), "mousedown", "1")
        for step in range(1, 6):
            self.xdotool(
                "mousemove", str(x1 + (x2 - x1) * step // 5), str(y1 + (y2 - y1) * step // 5)
            )
            time.sleep(0.03)
        time.sleep(0.1)
        self.xdotool("mouseup", "1")

    def type(self, text: str) -> None:
        self.xdotool("type", "--delay", "20", text)

    def key(self, *keys: str) -> None:
        self.xdotool("key", *keys)

    def window_visible(self, name: str) -> bool:
        return bool(self.xdotool("search", "--onlyvisible", "--name", name).strip())

    def wait_window(self, name: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.window_visible(name):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no visible window {name!r}")
            time.sleep(0.1)

    def shot(self, path: Path | str, crop: tuple[int, int, int, int] | None = None) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        args = ["import", "-window", "root"]
        if crop:
            x, y, w, h = crop
            args += ["-crop", f"{w}x{h}+{x}+{y}", "+repage"]
        subprocess.run([*args, str(path)], env=self.env, check=True, timeout=60)
        return path


PAGE = """<html><body><h1>Quarterly report</h1><p>Revenue grew 12% to 4.2 M EUR.</p></body>
</html>"""


def text_window(look: LookDesktop, text: str, x: int, y: int, *, dark: bool = False):
    """A window showing ``text`` at x, y, as an independent program (something to capture)."""
    script = HERE / "text_window.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(x), str(y), "dark" if dark else "light"],
        env={k: v for k, v in look.env.items() if k not in ("QT_SCALE_FACTOR",)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    proc.stdin.write(text.encode())
    proc.stdin.close()
    proc.stdout.readline()  # READY
    look.procs.append(proc)
    return proc


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/look")
    dark = "--dark" in sys.argv
    scale = 2 if "--scale2" in sys.argv else 1
    with LookDesktop(dark=dark, scale=scale) as look:
        text_window(look, RECEIPT, 1180, 140)
        look.start_app()
        look.shot(out / "desktop.png")
        look.answer(ANSWER)
        look.cli("capture", "--preset", "receipt")
        look.wait_window("region capture")
        look.drag(1190, 150, 1560, 520)
        time.sleep(1.0)
        look.shot(out / "waiting.png")
        time.sleep(look.first_token_delay + 3)
        look.shot(out / "answered.png")
    print(f"pictures in {out}")
    return 0


RECEIPT = """CAFÉ LUMEN
12 Harbour Street
2026-11-24 08:41

1 x Flat white ........ 4.50
1 x Club sandwich ..... 8.99
2 x Oat cookie ........ 2.40
-----------------------------
TOTAL EUR ........... 15.89
VAT 7% incl.  CARD ****4821"""

ANSWER = [
    "The receipt lists **three items**:\n\n",
    "| Item | Qty | Price |\n|---|---:|---:|\n",
    "| Flat white | 1 | 4.50 |\n| Club sandwich | 1 | 8.99 |\n| Oat cookie | 2 | 2.40 |\n\n",
    "Total **15.89 EUR**, VAT 7% included, paid by card. Note that `a<b` and List<String> ",
    "stay as written.\n\n```python\nprices = [4.50, 8.99, 2 * 1.20]\nprint(round(sum(prices), 2))\n```\n",
]


if __name__ == "__main__":
    raise SystemExit(main())
