"""Real desktop parts for tests: an Xvfb display, a private D-Bus session, gnome-keyring, trayer.

Each starter returns a ``Service`` whose ``env`` holds the variables a client needs and whose
``stop()`` ends the processes. Nothing here fakes a part: a test that needs a display gets a real
X server, one that needs a keyring gets the real Secret Service.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


class MissingTool(RuntimeError):
    pass


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise MissingTool(
            f"{tool} is not installed; run the README's test command (tests/run.sh), "
            "which installs the system packages the tests need"
        )
    return path


@dataclass
class Service:
    env: dict[str, str]
    procs: list[subprocess.Popen] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def start_xvfb(width: int = 1920, height: int = 1080, depth: int = 24) -> Service:
    """Start Xvfb on a free display number; ``-noreset`` keeps xrandr monitors when clients leave."""
    require("Xvfb")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write_fd),
            "-screen",
            "0",
            f"{width}x{height}x{depth}",
            "-nolisten",
            "tcp",
            "-noreset",
        ],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    number = b""
    deadline = time.monotonic() + 20
    while not number.endswith(b"\n"):
        ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            proc.kill()
            raise RuntimeError("Xvfb did not report a display number within 20 s")
        chunk = os.read(read_fd, 16)
        if not chunk:
            raise RuntimeError(f"Xvfb exited with {proc.wait()}")
        number += chunk
    os.close(read_fd)
    return Service(env={"DISPLAY": f":{number.decode().strip()}"}, procs=[proc])


_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def start_session_bus() -> Service:
    """A private D-Bus session bus, like the one a desktop session has.

    Unlike a desktop's bus it starts no services on demand (no service directories), so what
    answers on it is exactly what the test started, whatever packages this machine has.
    """
    require("dbus-daemon")
    config = Path(tempfile.mkdtemp(prefix="desktop-vlm-bus-")) / "session.conf"
    config.write_text(_BUS_CONFIG)
    out = subprocess.run(
        ["dbus-daemon", f"--config-file={config}", "--fork", "--print-address=1", "--print-pid=1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=20,
    ).stdout.split()
    shutil.rmtree(config.parent)  # read at start-up; left behind, one folder per test in /tmp
    return Service(env={"DBUS_SESSION_BUS_ADDRESS": out[0]}, pids=[int(out[1])])


def start_keyring(bus: Service, home: Path) -> Service:
    """gnome-keyring's Secret Service on ``bus``, with an unlocked login collection."""
    require("gnome-keyring-daemon")
    (home / ".local/share/keyrings").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **bus.env, HOME=str(home), XDG_DATA_HOME=str(home / ".local/share"))
    # --unlock creates and unlocks the login keyring with the password on stdin; without it,
    # creating a collection fails with "Prompt dismissed" because no prompter can run.
    out = subprocess.run(
        ["gnome-keyring-daemon", "--unlock", "--components=secrets"],
        input=b"test-password",
        capture_output=True,
        env=env,
        check=True,
        timeout=20,
    )
    pids = [
        int(line.split(b"=", 1)[1])
        for line in out.stdout.splitlines()
        if line.startswith(b"GNOME_KEYRING_PID=")
    ]
    return Service(env={}, pids=pids)


def start_trayer(display: Service) -> Service:
    """Debian's trayer as the system-tray host (XEmbed) on ``display``."""
    require("trayer")
    env = dict(os.environ, **display.env)
    proc = subprocess.Popen(
        ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", "24"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for_tray_selection(env)
    return Service(env={}, procs=[proc])


def _wait_for_tray_selection(env: dict[str, str], timeout: float = 10.0) -> None:
    """Wait until some client owns _NET_SYSTEM_TRAY_S0, i.e. the tray host is ready."""
    if shutil.which("xdotool") is None:
        time.sleep(1.0)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(
            ["xdotool", "search", "--classname", "trayer"],
            env=env,
            capture_output=True,
        )
        if found.returncode == 0 and found.stdout.strip():
            time.sleep(0.2)
            return
        time.sleep(0.1)
    raise RuntimeError("trayer did not appear within 10 s")


def private_home() -> Path:
    return Path(tempfile.mkdtemp(prefix="desktop-vlm-test-home-"))


def user_dirs(base: Path) -> dict[str, str]:
    """XDG variables that put config, data, cache, state and runtime dirs under ``base``."""
    dirs = {
        "XDG_CONFIG_HOME": base / "config",
        "XDG_DATA_HOME": base / "data",
        "XDG_CACHE_HOME": base / "cache",
        "XDG_STATE_HOME": base / "state",
        "XDG_RUNTIME_DIR": base / "runtime",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return {name: str(path) for name, path in dirs.items()}
