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
        key: bool = True,
        config: str = "",
    ) -> None:
        self.dark, self.scale = dark, scale
        self.width, self.height = width, height
        self.first_token_delay = first_token_delay
        self.tray = tray
        #: Start with an API key in the environment (False: a first run, no key anywhere).
        self.with_key = key
        #: The person's config.toml, written before the app starts ("" for none).
        self.config = config
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
        if self.with_key:
            # Without a key the app runs as on a first run: the default provider, no key.
            self.env["DESKTOP_VLM_BASE_URL"] = self.api.url
            self.env["DESKTOP_VLM_API_KEY"] = "sk-look-0000000000000000"
        if self.config:
            path = Path(self.env["XDG_CONFIG_HOME"]) / "desktop-vlm" / "config.toml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.config, encoding="utf-8")
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
        """A plain desktop colour, as most people have behind their windows."""
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

    def serve(self, *behaviours) -> None:  # noqa: ANN002 - fake_api Behaviours
        """Queue any of the test server's behaviours (``Stream(..., first_token_delay=6)``)."""
        assert self.api is not None
        self.api.enqueue(*behaviours)

    def chat_requests(self) -> list:
        assert self.api is not None
        return [r for r in self.api.requests if r.path.endswith("/chat/completions")]

    def wait_until(self, predicate, timeout: float = 30.0, what: str = "condition") -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.app is not None and self.app.poll() is not None:
                raise RuntimeError(f"the app exited ({self.app.returncode}): {self.stderr()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}; log: {self.log_text()[-1500:]}")
            time.sleep(0.1)

    def stderr(self) -> str:
        path = self.base / "app-stderr.txt"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def clipboard(self) -> str:
        return subprocess.run(
            ["xclip", "-selection", "clipboard", "-o"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout

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

    def press(self, x: int, y: int) -> None:
        """Button down at x, y and a first move: a drag that has begun (release with ``move``)."""
        self.xdotool("mousemove", str(x), str(y), "mousedown", "1")

    def move(self, x: int, y: int, steps: int = 5, release: bool = False) -> None:
        here = self.xdotool("getmouselocation", "--shell")
        pos = dict(line.split("=", 1) for line in here.split() if "=" in line)
        x0, y0 = int(pos.get("X", x)), int(pos.get("Y", y))
        for step in range(1, steps + 1):
            self.xdotool(
                "mousemove", str(x0 + (x - x0) * step // steps), str(y0 + (y - y0) * step // steps)
            )
            time.sleep(0.03)
        if release:
            time.sleep(0.1)
            self.xdotool("mouseup", "1")

    def click(self, x: int, y: int, button: int = 1) -> None:
        # A moment between the move and the click: a tray icon (an XEmbed child of the tray
        # host) misses a click sent in the same breath as the move, which then opens the
        # window manager's root menu instead.
        self.xdotool("mousemove", str(x), str(y))
        time.sleep(0.2)
        self.xdotool("click", str(button))

    def type(self, text: str) -> None:
        self.xdotool("type", "--delay", "20", text)

    def key(self, *keys: str) -> None:
        self.xdotool("key", *keys)

    def window_visible(self, name: str) -> bool:
        return bool(self.xdotool("search", "--onlyvisible", "--name", name).strip())

    def window_ids(self, name: str) -> list[str]:
        """Visible windows whose title matches the regular expression ``name``."""
        return self.xdotool("search", "--onlyvisible", "--name", name).split()

    def window_rect(self, name: str) -> tuple[int, int, int, int]:
        """x, y, width, height of the visible window titled ``name`` (a regular expression),
        with the frame the window manager drew around it; several: their union."""
        rects = self.window_rects(name)
        if not rects:
            raise RuntimeError(f"no visible window {name!r}")
        x1 = min(r[0] for r in rects)
        y1 = min(r[1] for r in rects)
        x2 = max(r[0] + r[2] for r in rects)
        y2 = max(r[1] + r[3] for r in rects)
        return x1, y1, x2 - x1, y2 - y1

    def window_rects(self, name: str, smallest: int = 48) -> list[tuple[int, int, int, int]]:
        """Each visible window titled ``name``: x, y, width, height with its frame; windows
        narrower or lower than ``smallest`` (a tray icon, Qt's helper windows) left out."""
        rects = []
        for wid in self.window_ids(name):
            info = subprocess.run(
                ["xwininfo", "-id", wid], env=self.env, capture_output=True, text=True, timeout=10
            ).stdout
            values = {}
            for line in info.splitlines():
                key, _, value = line.strip().partition(":")
                values[key] = value.strip()
            x, y = int(values["Absolute upper-left X"]), int(values["Absolute upper-left Y"])
            w, h = int(values["Width"]), int(values["Height"])
            left = right = top = bottom = 0
            extents = subprocess.run(
                ["xprop", "-id", wid, "_NET_FRAME_EXTENTS"],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout
            if "=" in extents:
                left, right, top, bottom = (int(v) for v in extents.split("=", 1)[1].split(","))
            if w >= smallest and h >= smallest:
                rects.append((x - left, y - top, w + left + right, h + top + bottom))
        return rects

    def client_rect(self, name: str) -> tuple[int, int, int, int]:
        """x, y, width, height of the inside of the visible window titled ``name`` (no frame)."""
        wids = self.window_ids(name)
        if not wids:
            raise RuntimeError(f"no visible window {name!r}")
        info = subprocess.run(
            ["xwininfo", "-id", wids[-1]], env=self.env, capture_output=True, text=True, timeout=10
        ).stdout
        values = dict(
            (key.strip(), value.strip())
            for key, _, value in (line.partition(":") for line in info.splitlines())
        )
        return (
            int(values["Absolute upper-left X"]),
            int(values["Absolute upper-left Y"]),
            int(values["Width"]),
            int(values["Height"]),
        )

    def click_in(self, name: str, x: float, y: float, button: int = 1) -> None:
        """Click at x, y logical pixels from the top left of the window's inside (times the
        scale: a widget's place in the window scales with QT_SCALE_FACTOR)."""
        left, top, _w, _h = self.client_rect(name)
        self.click(int(left + x * self.scale), int(top + y * self.scale), button)

    def tray_icon_center(self) -> tuple[int, int]:
        """Where the app's icon sits in the tray host: trayer's panel (instance name "panel")
        holds only this app's icon, at its right end."""
        wids = self.xdotool("search", "--onlyvisible", "--classname", "^panel$").split()
        if not wids:
            return self.width - 12, 12
        out = self.xdotool("getwindowgeometry", "--shell", wids[0])
        g = dict(line.split("=", 1) for line in out.split() if "=" in line)
        x, y, w, h = int(g["X"]), int(g["Y"]), int(g["WIDTH"]), int(g["HEIGHT"])
        return x + w - h // 2, y + h // 2

    def wait_window(self, name: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.window_visible(name):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no visible window {name!r}")
            time.sleep(0.1)

    def shot(self, path: Path | str, crop: tuple[int, int, int, int] | None = None) -> Path:
        """The whole screen (``import -window root``), optionally cut to x, y, width, height."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        args = ["import", "-window", "root"]
        if crop:
            x, y, w, h = _clamp(crop, self.width, self.height)
            args += ["-crop", f"{w}x{h}+{x}+{y}", "+repage"]
        subprocess.run([*args, str(path)], env=self.env, check=True, timeout=60)
        return path

    def shot_window(self, path: Path | str, name: str, margin: int = 12) -> Path:
        """The screen around the window titled ``name`` (a regular expression)."""
        x, y, w, h = self.window_rect(name)
        return self.shot(path, (x - margin, y - margin, w + 2 * margin, h + 2 * margin))


def _clamp(rect: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    x, y, w, h = rect
    x1, y1 = max(0, x), max(0, y)
    x2, y2 = min(width, x + w), min(height, y + h)
    return x1, y1, max(1, x2 - x1), max(1, y2 - y1)


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
    """A series of full-screen pictures of one session: the desktop, the overlay mid-drag, the
    chat window waiting for the first token, the answer, a follow-up, and the tray menu."""
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out = Path(args[0] if args else "/tmp/look")
    dark = "--dark" in sys.argv
    scale = 2 if "--scale2" in sys.argv else 1
    with LookDesktop(dark=dark, scale=scale) as look:
        text_window(look, RECEIPT, 1180, 140)
        look.start_app()
        look.shot(out / "01-desktop.png")
        look.answer(ANSWER)
        look.cli("capture", "--preset", "describe")
        look.wait_window("region capture")
        time.sleep(0.5)
        look.shot(out / "02-overlay.png")
        look.press(1190, 150)
        look.move(1480, 420)
        time.sleep(0.3)
        look.shot(out / "03-overlay-drag.png")
        look.move(1560, 520, release=True)
        look.wait_window("^desktop-vlm$")
        time.sleep(1.0)
        look.shot(out / "04-waiting.png")
        look.wait_until(lambda: "request finished" in look.log_text(), 30, "the answer")
        time.sleep(0.5)
        look.shot(out / "05-answered.png")
        look.answer("The **oat cookies**: 1.20 EUR each, 2.40 for two.")
        look.type("Which item is the cheapest?")
        look.key("Return")
        time.sleep(0.5)
        look.shot(out / "06-follow-up-sent.png")
        look.wait_until(lambda: look.log_text().count("request finished") >= 2, 30, "answer 2")
        time.sleep(0.5)
        look.shot(out / "07-follow-up-answered.png")
        x, y = look.tray_icon_center()
        look.click(x, y, 3)
        time.sleep(0.8)
        look.shot(out / "08-tray-menu.png")
        look.key("Escape")
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
