"""The region overlay, driven the way a person drives it: real pointer and keys (xdotool) on X.

Every crop is compared with an independent grab of the X root window (ImageMagick's ``import``)
taken before the overlay appeared, at the rectangle the pointer drew. The pointer's hotspot pixel
at both ends of the drag belongs to the selection (see desktop_vlm/gui/overlay/), so a drag
from x=300 to x=999 covers the 700 pixels 300..999. A random-noise pattern from a separate client
sits under the drags, so a crop that is shifted or scaled by even one pixel does not match.
"""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from PySide6.QtCore import QBuffer, QIODevice, QPointF, QSize
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QApplication
from support import desktop

from desktop_vlm.gui.overlay import RegionInfo, RegionOverlay, image_scale, pixel_rect_between
from desktop_vlm.platform.screenshot.models import ScreenGrab

SUPPORT = Path(__file__).resolve().parents[1] / "support"
BORDER = (61, 174, 233)  # the overlay's selection border colour
# The in-process display is 1920x1080; the noise covers everything below the tray host's row.
PATTERN_GEOMETRY = (240, 160, 1680, 920)


@pytest.fixture(autouse=True)
def input_and_grab_tools() -> None:
    """Real pointer input and independent screenshots; a missing tool fails loudly, not a skip."""
    for tool in ("xdotool", "import", "xrandr"):
        desktop.require(tool)


# -- tools ------------------------------------------------------------------------------------


def xdotool(env: dict[str, str], *args: object) -> None:
    subprocess.run(["xdotool", *map(str, args)], env=env, check=True, timeout=30)


def drag(env: dict[str, str], start: tuple[int, int], end: tuple[int, int]) -> None:
    xdotool(env, "mousemove", *start, "mousedown", 1, "mousemove", *end, "mouseup", 1)


def root_grab(env: dict[str, str]) -> Image.Image:
    png = subprocess.run(
        ["import", "-window", "root", "png:-"], env=env, capture_output=True, check=True, timeout=60
    ).stdout
    return Image.open(io.BytesIO(png)).convert("RGB")


def to_pil(image: QImage) -> Image.Image:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return Image.open(io.BytesIO(bytes(buffer.data()))).convert("RGB")


def covered(start: tuple[int, int], end: tuple[int, int]) -> tuple[int, int, int, int]:
    """The PIL box of the pixels a drag from ``start`` to ``end`` covers, both ends included."""
    (x1, y1), (x2, y2) = start, end
    return min(x1, x2), min(y1, y2), max(x1, x2) + 1, max(y1, y2) + 1


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a, b).getbbox() is None


def pixels(image: Image.Image) -> list[tuple[int, int, int]]:
    data = image.convert("RGB").tobytes()
    return list(zip(data[0::3], data[1::3], data[2::3], strict=True))


def border_around(screen: Image.Image, box: tuple[int, int, int, int]) -> bool:
    """The selection border's corners just outside ``box``, where the person sees them."""
    left, top, right, bottom = box
    return (
        screen.getpixel((left - 1, top - 1)) == BORDER
        and screen.getpixel((right, bottom)) == BORDER
    )


def poll(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"no output from {proc.args} within {timeout} s")
    return proc.stdout.readline()


def clean_env(env: dict[str, str]) -> dict[str, str]:
    env = dict(env, QT_QPA_PLATFORM="xcb")
    for name in ("QT_SCALE_FACTOR", "QT_SCREEN_SCALE_FACTORS"):
        env.pop(name, None)
    return env


@dataclass
class Pattern:
    """A noise window shown by a separate process, and the root grab taken once it is visible."""

    proc: subprocess.Popen
    reference: Image.Image


def show_pattern(
    env: dict[str, str], geometry: tuple[int, int, int, int], seed: int, tmp_path: Path
) -> Pattern:
    noise_file = tmp_path / f"noise-{seed}.png"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(SUPPORT / "overlay_pattern.py"),
            *map(str, geometry),
            str(seed),
            str(noise_file),
        ],
        env=clean_env(env),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert read_line(proc, 60).strip() == "READY"
    noise = Image.open(noise_file).convert("RGB")
    x, y, width, height = geometry
    grabbed: list[Image.Image] = []

    def pattern_on_screen() -> bool:
        grabbed[:] = [root_grab(env)]
        return same_pixels(grabbed[0].crop((x, y, x + width, y + height)), noise)

    poll(pattern_on_screen, 30, "the noise pattern to appear on the display")
    return Pattern(proc, grabbed[0])


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


# -- the mapping, without a display ------------------------------------------------------------


@pytest.mark.parametrize("ratio", [1.0, 1.1, 1.25, 1.4, 1.5, 1.75, 2.0, 3.0])
def test_pointer_positions_map_to_the_pixels_under_them(ratio: float) -> None:
    # GIVEN pointer positions Qt reports in logical units for physical pixels 0..1999
    size = QSize(2000, 50)
    for physical in range(2000):
        logical = physical / ratio
        point = QPointF(logical * ratio, 0)  # what the overlay computes from Qt's position
        # THEN flooring finds that very pixel, despite the float noise of the round trip
        assert pixel_rect_between(point, point, size).x() == physical


def test_rectangle_includes_both_end_pixels_in_either_direction_and_stays_on_the_image() -> None:
    size = QSize(100, 80)
    forward = pixel_rect_between(QPointF(10, 20), QPointF(19.9, 29.2), size)
    backward = pixel_rect_between(QPointF(19.9, 29.2), QPointF(10, 20), size)
    beyond = pixel_rect_between(QPointF(-5, -5), QPointF(250, 90), size)
    assert forward.getRect() == backward.getRect() == (10, 20, 10, 10)
    assert beyond.getRect() == (0, 0, 100, 80)


@pytest.mark.parametrize(
    ("image", "logical", "dpr", "expected"),
    [
        ((1920, 1080), (1920, 1080), 1.0, (1.0, 1.0)),
        ((3840, 2160), (1920, 1080), 2.0, (2.0, 2.0)),
        # Qt rounds 1280/1.5 and 1024/1.5 to 853 and 683 logical pixels; the ratio is still 1.5
        ((1280, 800), (853, 533), 1.5, (1.5, 1.5)),
        ((1024, 768), (683, 512), 1.5, (1.5, 1.5)),
        # an image at logical size (some compositors) maps 1:1 whatever the devicePixelRatio
        ((960, 540), (960, 540), 2.0, (1.0, 1.0)),
    ],
)
def test_image_scale(image, logical, dpr, expected) -> None:
    assert image_scale(QSize(*image), QSize(*logical), dpr) == expected


# -- in-process: the test session's 1920x1080 display ----------------------------------------


@pytest.fixture
def env() -> dict[str, str]:
    return dict(os.environ)


@pytest.fixture
def pattern(env: dict[str, str], tmp_path: Path) -> Iterator[Pattern]:
    shown = show_pattern(env, PATTERN_GEOMETRY, seed=20240611, tmp_path=tmp_path)
    yield shown
    stop(shown.proc)


@pytest.fixture
def overlay(qapp: QApplication) -> Iterator[RegionOverlay]:
    region_overlay = RegionOverlay()
    yield region_overlay
    region_overlay.close()


def grab_screens() -> list[ScreenGrab]:
    return [
        ScreenGrab(screen.name(), screen.geometry(), screen.grabWindow(0).toImage())
        for screen in QGuiApplication.screens()
    ]


def start_and_wait(qtbot, overlay: RegionOverlay) -> None:
    with qtbot.waitSignal(overlay.shown, timeout=20_000):
        overlay.start(grab_screens())


def visible_windows() -> list:
    return [widget for widget in QApplication.topLevelWidgets() if widget.isVisible()]


class Recorder:
    def __init__(self, overlay: RegionOverlay) -> None:
        self.selected: list[tuple[QImage, RegionInfo]] = []
        self.cancelled = 0
        overlay.selected.connect(lambda image, info: self.selected.append((image, info)))
        overlay.cancelled.connect(self._on_cancelled)

    def _on_cancelled(self) -> None:
        self.cancelled += 1


@pytest.mark.parametrize(
    ("start", "end"),
    [((301, 203), (1000, 602)), ((1500, 900), (700, 411))],
    ids=["top-left to bottom-right", "bottom-right to top-left"],
)
def test_drag_selects_exactly_the_pixels_under_the_rectangle(
    qtbot, env, pattern: Pattern, overlay: RegionOverlay, start, end
) -> None:
    # GIVEN the overlay showing the frozen screen with noise on it
    recorder = Recorder(overlay)
    start_and_wait(qtbot, overlay)

    # WHEN a person drags a rectangle and lets go
    with qtbot.waitSignal(overlay.selected, timeout=20_000):
        drag(env, start, end)

    # THEN the crop is exactly the screen's pixels under the rectangle, and the overlay is gone
    image, info = recorder.selected[0]
    box = covered(start, end)
    assert (image.width(), image.height()) == (box[2] - box[0], box[3] - box[1])
    assert same_pixels(to_pil(image), pattern.reference.crop(box))
    assert info.pixel_rect.getRect() == (box[0], box[1], box[2] - box[0], box[3] - box[1])
    assert info.logical_rect.getRect() == (box[0], box[1], box[2] - box[0], box[3] - box[1])
    assert info.screen_name == QGuiApplication.primaryScreen().name()
    assert recorder.cancelled == 0
    assert visible_windows() == []
    qtbot.waitUntil(lambda: same_pixels(root_grab(env), pattern.reference), timeout=20_000)


def test_selection_reaches_the_last_pixel_of_the_screen(
    qtbot, env, pattern: Pattern, overlay: RegionOverlay
) -> None:
    # GIVEN the overlay WHEN a person drags into the bottom-right corner of the screen
    recorder = Recorder(overlay)
    start_and_wait(qtbot, overlay)
    with qtbot.waitSignal(overlay.selected, timeout=20_000):
        drag(env, (1601, 851), (1919, 1079))

    # THEN the crop includes the screen's last column and row
    image, _ = recorder.selected[0]
    assert (image.width(), image.height()) == (319, 229)
    assert same_pixels(to_pil(image), pattern.reference.crop((1601, 851, 1920, 1080)))


def test_mid_drag_the_person_sees_the_selection_undimmed_framed_and_measured(
    qtbot, env, pattern: Pattern, overlay: RegionOverlay, tmp_path: Path
) -> None:
    # GIVEN the overlay just shown, the pointer away from the middle: everything dimmed and
    # the hint in the upper third
    xdotool(env, "mousemove", 200, 1000)
    start_and_wait(qtbot, overlay)

    def hint_pixels_share(screen: Image.Image) -> float:
        return pill_share(screen, HINT_UPPER)

    qtbot.waitUntil(lambda: hint_pixels_share(root_grab(env)) > 0.9, timeout=20_000)
    before = root_grab(env)
    assert _darker(before.crop((400, 600, 600, 700)), pattern.reference.crop((400, 600, 600, 700)))

    # WHEN a person presses and drags, not yet letting go
    start, end = (501, 551), (1140, 910)
    xdotool(env, "mousemove", *start, "mousedown", 1, "mousemove", *end)
    box = covered(start, end)
    left, top, right, bottom = box
    screens: list[Image.Image] = []

    def border_drawn() -> bool:
        screens[:] = [root_grab(env)]
        return (
            screens[0].getpixel((left - 1, top - 1)) == BORDER
            and screens[0].getpixel((right, bottom)) == BORDER
        )

    try:
        qtbot.waitUntil(border_drawn, timeout=20_000)
    finally:
        xdotool(env, "mouseup", 1)
    screen = screens[0]
    screen.save(tmp_path / "mid-drag.png")  # to look at when this test fails

    # THEN inside the border is the untouched screen, exactly the rectangle drawn
    assert same_pixels(screen.crop(box), pattern.reference.crop(box))
    # AND a one-pixel border runs just outside it, with dimmed screen beyond the border
    for x in range(left - 1, right + 1):
        assert screen.getpixel((x, top - 1)) == BORDER
        assert screen.getpixel((x, bottom)) == BORDER
    for y in range(top - 1, bottom + 1):
        assert screen.getpixel((left - 1, y)) == BORDER
        assert screen.getpixel((right, y)) == BORDER
    outside_left = (left - 40, top, left - 2, bottom)
    assert _darker(screen.crop(outside_left), pattern.reference.crop(outside_left))
    # AND the size readout (light text on a dark pill) sits below the rectangle; the hint is gone
    readout = screen.crop((right - 90, bottom + 4, right, bottom + 32))
    assert any(min(p) > 200 for p in pixels(readout))
    assert any(max(p) < 45 for p in pixels(readout))
    assert hint_pixels_share(screen) < 0.5


#: Bands inside the hint where it sits in the upper third of the screen, and in the lower.
HINT_UPPER = (900, 352, 1020, 368)
HINT_LOWER = (900, 712, 1020, 728)


def pill_share(screen: Image.Image, band: tuple[int, int, int, int]) -> float:
    """How much of ``band`` is a label's grey pill over the noise pattern."""
    shown = pixels(screen.crop(band))
    # The pill and its text are grey (a tint of at most 16% of the noise shows through);
    # dimmed noise is grey only by chance, about one pixel in ten.
    pill = [p for p in shown if max(p) - min(p) <= 24]
    return len(pill) / len(shown)


def test_the_hint_moves_out_of_the_way_of_a_pointer_that_comes_near_it(
    qtbot, env, pattern: Pattern, overlay: RegionOverlay
) -> None:
    # GIVEN the overlay with its hint in the upper third, the pointer far from it
    xdotool(env, "mousemove", 200, 1000)
    start_and_wait(qtbot, overlay)
    qtbot.waitUntil(lambda: pill_share(root_grab(env), HINT_UPPER) > 0.9, timeout=20_000)
    # WHEN the pointer comes onto the hint, to start a drag over what it covers
    xdotool(env, "mousemove", 960, 360)
    # THEN what it covered shows (dimmed), and the hint is in the lower third instead
    qtbot.waitUntil(lambda: pill_share(root_grab(env), HINT_LOWER) > 0.9, timeout=20_000)
    screen = root_grab(env)
    assert _darker(screen.crop(HINT_UPPER), pattern.reference.crop(HINT_UPPER))
    # AND a drag from there selects exactly the pixels under it, the hint included
    recorder = Recorder(overlay)
    with qtbot.waitSignal(overlay.selected, timeout=20_000):
        drag(env, (930, 350), (1130, 450))
    image, _ = recorder.selected[0]
    assert same_pixels(to_pil(image), pattern.reference.crop(covered((930, 350), (1130, 450))))


def _darker(shown: Image.Image, original: Image.Image) -> bool:
    """Every pixel no brighter than the original, and the whole clearly darker (dimmed)."""
    no_brighter = ImageChops.subtract(shown, original).getbbox() is None
    mean = sum(sum(p) for p in pixels(shown)) / max(1, shown.width * shown.height)
    mean_original = sum(sum(p) for p in pixels(original)) / max(1, shown.width * shown.height)
    return no_brighter and mean < 0.7 * mean_original


def test_escape_cancels_at_once_and_sends_nothing(
    qtbot, env, pattern: Pattern, overlay: RegionOverlay
) -> None:
    # GIVEN the overlay just shown, nothing clicked yet
    recorder = Recorder(overlay)
    start_and_wait(qtbot, overlay)

    # WHEN a person presses Esc
    with qtbot.waitSignal(overlay.cancelled, timeout=20_000):
        xdotool(env, "key", "Escape")

    # THEN nothing is selected and the screen shows the desktop again
    assert recorder.selected == []
    assert visible_windows() == []
    qtbot.waitUntil(lambda: same_pixels(root_grab(env), pattern.reference), timeout=20_000)


def test_escape_during_a_drag_cancels(qtbot, env, pattern: Pattern, overlay: RegionOverlay) -> None:
    recorder = Recorder(overlay)
    start_and_wait(qtbot, overlay)
    with qtbot.waitSignal(overlay.cancelled, timeout=20_000):
        xdotool(env, "mousemove", 400, 400, "mousedown", 1, "mousemove", 800, 700, "key", "Escape")
    xdotool(env, "mouseup", 1)
    assert recorder.selected == []
    assert visible_windows() == []


def test_right_click_cancels(qtbot, env, pattern: Pattern, overlay: RegionOverlay) -> None:
    recorder = Recorder(overlay)
    start_and_wait(qtbot, overlay)
    with qtbot.waitSignal(overlay.cancelled, timeout=20_000):
        xdotool(env, "mousemove", 700, 500, "click", 3)
    assert recorder.selected == []
    assert visible_windows() == []


def test_click_without_drag_does_nothing_and_the_overlay_stays(
    qtbot, env, pattern: Pattern, overlay: RegionOverlay
) -> None:
    # GIVEN the overlay
    recorder = Recorder(overlay)
    start_and_wait(qtbot, overlay)

    # WHEN a person clicks, then twitches by 3 pixels, then draws a real rectangle
    xdotool(env, "mousemove", 600, 500, "click", 1)
    drag(env, (900, 600), (903, 603))
    with qtbot.waitSignal(overlay.selected, timeout=20_000):
        drag(env, (1001, 301), (1200, 450))

    # THEN only the real rectangle was selected; the click and the twitch sent nothing
    assert len(recorder.selected) == 1
    image, _ = recorder.selected[0]
    assert same_pixels(to_pil(image), pattern.reference.crop(covered((1001, 301), (1200, 450))))
    assert recorder.cancelled == 0


def test_holding_space_moves_the_rectangle(
    qtbot, env, pattern: Pattern, overlay: RegionOverlay
) -> None:
    # GIVEN a drag in progress
    recorder = Recorder(overlay)
    start_and_wait(qtbot, overlay)

    xdotool(env, "mousemove", 401, 301, "mousedown", 1, "mousemove", 700, 500)
    box = covered((401, 301), (700, 500))
    qtbot.waitUntil(lambda: border_around(root_grab(env), box), timeout=20_000)

    # WHEN the person holds Space and moves on, then lets go of Space and of the button
    with qtbot.waitSignal(overlay.selected, timeout=20_000):
        xdotool(env, "keydown", "space", "mousemove", 950, 620, "keyup", "space", "mouseup", 1)

    # THEN the rectangle kept its size and moved by the pointer's travel with Space held
    image, _ = recorder.selected[0]
    moved = covered((401 + 250, 301 + 120), (700 + 250, 500 + 120))
    assert (image.width(), image.height()) == (300, 200)
    assert same_pixels(to_pil(image), pattern.reference.crop(moved))


def test_a_rectangle_moved_with_space_stops_at_the_screen_edge(
    qtbot, env, pattern: Pattern, overlay: RegionOverlay
) -> None:
    # GIVEN a 300x200 drag in progress
    recorder = Recorder(overlay)
    start_and_wait(qtbot, overlay)
    xdotool(env, "mousemove", 401, 301, "mousedown", 1, "mousemove", 700, 500)
    box = covered((401, 301), (700, 500))
    qtbot.waitUntil(lambda: border_around(root_grab(env), box), timeout=20_000)

    # WHEN Space is held and the pointer pushes the rectangle past the top-left corner
    with qtbot.waitSignal(overlay.selected, timeout=20_000):
        xdotool(env, "keydown", "space", "mousemove", 100, 50, "mouseup", 1, "keyup", "space")

    # THEN the rectangle sits in the corner, still 300x200 (its lower right holds noise)
    image, _ = recorder.selected[0]
    assert (image.width(), image.height()) == (300, 200)
    assert same_pixels(to_pil(image), pattern.reference.crop((0, 0, 300, 200)))


def test_overlay_is_reused_across_captures(
    qtbot, env, pattern: Pattern, overlay: RegionOverlay
) -> None:
    # GIVEN an overlay that has served one capture
    recorder = Recorder(overlay)
    start_and_wait(qtbot, overlay)
    with qtbot.waitSignal(overlay.cancelled, timeout=20_000):
        xdotool(env, "key", "Escape")
    windows_after_first = set(QApplication.topLevelWidgets())
    # (the desktop must have repainted itself before the next screenshot, as it has by the time
    # a person presses the hotkey again)
    qtbot.waitUntil(lambda: same_pixels(root_grab(env), pattern.reference), timeout=20_000)

    # WHEN it is started again
    start_and_wait(qtbot, overlay)
    with qtbot.waitSignal(overlay.selected, timeout=20_000):
        drag(env, (350, 250), (650, 450))

    # THEN the second capture works with the same windows, none created on the hot path
    assert set(QApplication.topLevelWidgets()) == windows_after_first
    image, _ = recorder.selected[0]
    assert same_pixels(to_pil(image), pattern.reference.crop(covered((350, 250), (650, 450))))


# -- subprocesses: scale factors and two monitors, each with its own X server ---------------


@dataclass(frozen=True)
class DisplayCase:
    size: tuple[int, int]  # the X screen, physical pixels
    start: tuple[int, int]  # the drag, physical pixels
    end: tuple[int, int]
    qt_env: dict[str, str] = field(default_factory=dict)
    monitors: tuple[str, ...] = ()  # xrandr --setmonitor arguments
    screen: str = ""  # the monitor the drag starts on ...
    monitor: tuple[int, int, int, int] | None = None  # ... and its physical box (PIL style)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """What the person drew, cut to the monitor the drag started on."""
        left, top, right, bottom = covered(self.start, self.end)
        m_left, m_top, m_right, m_bottom = self.monitor or (0, 0, *self.size)
        return max(left, m_left), max(top, m_top), min(right, m_right), min(bottom, m_bottom)

    def border(self) -> list[tuple[int, int]]:
        """The one-pixel ring just outside ``box``, where it lies on the drag's monitor."""
        left, top, right, bottom = self.box
        m_left, m_top, m_right, m_bottom = self.monitor or (0, 0, *self.size)
        ring = [(x, y) for x in range(left - 1, right + 1) for y in (top - 1, bottom)]
        ring += [(x, y) for y in range(top, bottom) for x in (left - 1, right)]
        return [(x, y) for x, y in ring if m_left <= x < m_right and m_top <= y < m_bottom]


TWO_MONITORS = ("L 1280/340x800/210+0+0 screen", "R 1024/270x768/200+1280+0 none")
RIGHT = (1280, 0, 2304, 768)

CASES = {
    "scale 2": DisplayCase((1920, 1080), (301, 203), (1000, 601), qt_env={"QT_SCALE_FACTOR": "2"}),
    "scale 1.5": DisplayCase(
        (1920, 1080), (100, 101), (1001, 700), qt_env={"QT_SCALE_FACTOR": "1.5"}
    ),
    "two monitors, drag on the right one": DisplayCase(
        (2304, 800), (1500, 100), (1901, 555), monitors=TWO_MONITORS, screen="R", monitor=RIGHT
    ),
    "two monitors at L=1 R=2, drag on R backwards": DisplayCase(
        (2304, 800),
        (2001, 517),
        (1401, 101),
        qt_env={"QT_SCREEN_SCALE_FACTORS": "L=1;R=2"},
        monitors=TWO_MONITORS,
        screen="R",
        monitor=RIGHT,
    ),
    # 1024 and 768 physical pixels are 682.67 and 512 logical ones: Qt rounds the screen's size.
    "two monitors at 1.5, drag on the right one": DisplayCase(
        (2304, 800),
        (1300, 31),
        (2290, 700),
        qt_env={"QT_SCALE_FACTOR": "1.5"},
        monitors=TWO_MONITORS,
        screen="R",
        monitor=RIGHT,
    ),
    "L=1 R=2, drag from R onto L stops at R's edge": DisplayCase(
        (2304, 800),
        (1901, 455),
        (700, 131),
        qt_env={"QT_SCREEN_SCALE_FACTORS": "L=1;R=2"},
        monitors=TWO_MONITORS,
        screen="R",
        monitor=RIGHT,
    ),
}


@pytest.fixture
def own_display() -> Iterator[Callable[[DisplayCase], dict[str, str]]]:
    services: list[desktop.Service] = []

    def start(case: DisplayCase) -> dict[str, str]:
        display = desktop.start_xvfb(*case.size)
        services.append(display)
        env = clean_env(dict(os.environ, **display.env))
        for monitor in case.monitors:
            subprocess.run(
                ["xrandr", "--setmonitor", *monitor.split()],
                env=env,
                check=True,
                capture_output=True,
                timeout=30,
            )
        return env

    yield start
    while services:
        services.pop().stop()


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_crop_is_exact_at_every_scale_and_on_every_monitor(
    own_display, tmp_path: Path, case: DisplayCase
) -> None:
    # GIVEN a display of its own, covered in noise, and the overlay in a Qt process started
    # with the case's scale factors
    env = own_display(case)
    pattern = show_pattern(env, (0, 0, *case.size), seed=7, tmp_path=tmp_path)
    driver = subprocess.Popen(
        [sys.executable, str(SUPPORT / "overlay_driver.py"), str(tmp_path)],
        env=dict(env, **case.qt_env),
        stdout=subprocess.PIPE,
        text=True,
    )
    box, border = case.box, case.border()
    left, top, right, bottom = box
    try:
        line = read_line(driver, 60)
        assert line.startswith("READY "), line
        screens = json.loads(line.removeprefix("READY "))["screens"]
        assert len(screens) == (2 if case.monitors else 1)

        # WHEN a person presses and drags (in physical pixels), looks, and lets go
        xdotool(env, "mousemove", *case.start, "mousedown", 1, "mousemove", *case.end)
        seen: list[Image.Image] = []

        def border_drawn() -> bool:
            seen[:] = [root_grab(env)]
            return all(seen[0].getpixel(point) == BORDER for point in (border[0], border[-1]))

        poll(border_drawn, 30, "the selection border")
        xdotool(env, "mouseup", 1)
        assert driver.wait(60) == 0
    finally:
        stop(driver)
        stop(pattern.proc)

    # THEN the person saw exactly the drawn rectangle undimmed, inside a one-pixel border
    assert same_pixels(seen[0].crop(box), pattern.reference.crop(box))
    assert [point for point in border if seen[0].getpixel(point) != BORDER] == []
    # AND the crop is exactly those pixels, in the monitor's own image coordinates
    crop = Image.open(tmp_path / "crop.png").convert("RGB")
    assert crop.size == (right - left, bottom - top)
    assert same_pixels(crop, pattern.reference.crop(box))
    info = json.loads((tmp_path / "info.json").read_text())
    origin_x, origin_y = (case.monitor or (0, 0))[:2]
    assert info["pixel_rect"] == [left - origin_x, top - origin_y, right - left, bottom - top]
    if case.screen:
        assert info["screen_name"] == case.screen


@pytest.mark.slow
@pytest.mark.parametrize(
    ("monitors_before", "change", "screens_after", "start", "end", "screen"),
    [
        ((), [f"--setmonitor {m}" for m in TWO_MONITORS], 2, (1901, 700), (1351, 61), "R"),
        (TWO_MONITORS, ["--delmonitor R", "--delmonitor L"], 1, (1201, 301), (1901, 700), ""),
    ],
    ids=["monitors added", "monitors removed"],
)
def test_screens_added_or_removed_between_captures(
    own_display, tmp_path: Path, monitors_before, change, screens_after, start, end, screen
) -> None:
    # GIVEN an overlay that served one capture, cancelled with Esc
    env = own_display(DisplayCase((2304, 800), start, end, monitors=monitors_before))
    pattern = show_pattern(env, (0, 0, 2304, 800), seed=11, tmp_path=tmp_path)
    driver = subprocess.Popen(
        [
            sys.executable,
            str(SUPPORT / "overlay_driver.py"),
            str(tmp_path),
            "--then-screens",
            str(screens_after),
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = json.loads(read_line(driver, 60).removeprefix("READY "))
        xdotool(env, "key", "Escape")
        assert read_line(driver, 60).strip() == "CANCELLED"

        # WHEN monitors come or go and the next capture starts
        for arguments in change:
            subprocess.run(
                ["xrandr", *arguments.split()], env=env, check=True, capture_output=True, timeout=30
            )
        second = json.loads(read_line(driver, 60).removeprefix("READY "))
        drag(env, start, end)
        assert driver.wait(60) == 0
    finally:
        stop(driver)
        stop(pattern.proc)

    # THEN the overlay covers the new screens and the crop is exact
    assert len(second["screens"]) == screens_after != len(first["screens"])
    assert second["windows"] == max(len(first["screens"]), screens_after)
    box = covered(start, end)
    crop = Image.open(tmp_path / "crop.png").convert("RGB")
    assert same_pixels(crop, pattern.reference.crop(box))
    info = json.loads((tmp_path / "info.json").read_text())
    if screen:
        assert info["screen_name"] == screen


@pytest.mark.slow
def test_logical_size_images_map_by_the_image_ratio(own_display, tmp_path: Path) -> None:
    # GIVEN a scale-2 screen whose grab came back at logical size (960x540), as some Wayland
    # compositors deliver it
    case = DisplayCase((1920, 1080), (301, 203), (1000, 601), qt_env={"QT_SCALE_FACTOR": "2"})
    env = own_display(case)
    pattern = show_pattern(env, (0, 0, 1920, 1080), seed=3, tmp_path=tmp_path)
    driver = subprocess.Popen(
        [
            sys.executable,
            str(SUPPORT / "overlay_driver.py"),
            str(tmp_path),
            "--logical-size-images",
        ],
        env=dict(env, **case.qt_env),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        screens = json.loads(read_line(driver, 60).removeprefix("READY "))["screens"]
        assert screens[0]["image"] == [960, 540]

        # WHEN a person drags from physical (301, 203) to (1000, 601): logical (150.5, 101.5)
        # to (500, 300.5)
        drag(env, case.start, case.end)
        assert driver.wait(60) == 0
    finally:
        stop(driver)
        stop(pattern.proc)

    # THEN the crop holds the image's pixels under both ends and between: 150..500, 101..300
    grab = Image.open(tmp_path / "grab-0.png").convert("RGB")
    crop = Image.open(tmp_path / "crop.png").convert("RGB")
    assert same_pixels(crop, grab.crop((150, 101, 501, 301)))
    info = json.loads((tmp_path / "info.json").read_text())
    assert info["pixel_rect"] == [150, 101, 351, 200]
    assert info["logical_rect"] == [150, 101, 351, 200]


# -- covering by hand, two regions in one image -------------------------------------------------


def shift_release(qtbot, env: dict[str, str], start: tuple, end: tuple) -> None:  # noqa: ANN001
    """A drag released with Shift held: the overlay keeps it as region 1."""
    xdotool(env, "mousemove", *start, "mousedown", 1, "mousemove", *end)
    xdotool(env, "keydown", "shift", "mouseup", 1, "keyup", "shift")
    qtbot.wait(300)


def test_r_then_a_drag_covers_that_area_solid_in_what_is_selected(
    qtbot, env, pattern: Pattern, overlay: RegionOverlay
) -> None:
    # GIVEN the overlay on the noise
    recorder = Recorder(overlay)
    start_and_wait(qtbot, overlay)
    # WHEN the person presses R, drags over an area (to cover it), presses R again and selects
    # a region around it
    xdotool(env, "key", "r")
    drag(env, (501, 401), (600, 450))
    qtbot.waitUntil(
        lambda: root_grab(env).getpixel((550, 425)) == (0, 0, 0), timeout=20_000
    )  # the person sees it covered in the frozen picture at once
    xdotool(env, "key", "r")
    with qtbot.waitSignal(overlay.selected, timeout=20_000):
        drag(env, (401, 301), (800, 600))
    # THEN the selection is the screen's pixels with exactly the covered area solid black
    image, info = recorder.selected[0]
    box = covered((401, 301), (800, 600))
    expected = pattern.reference.crop(box)
    cover = covered((501, 401), (600, 450))
    expected.paste(
        (0, 0, 0), (cover[0] - box[0], cover[1] - box[1], cover[2] - box[0], cover[3] - box[1])
    )
    assert same_pixels(to_pil(image), expected)
    assert info.covered == 1 and info.parts == 1


def test_shift_release_keeps_region_one_and_the_second_comes_in_the_same_image(
    qtbot, env, pattern: Pattern, overlay: RegionOverlay
) -> None:
    from desktop_vlm.core.combine import place

    # GIVEN the overlay on the noise
    recorder = Recorder(overlay)
    start_and_wait(qtbot, overlay)
    # WHEN the person releases a first drag with Shift held, then drags a second region
    shift_release(qtbot, env, (301, 201), (500, 300))
    assert recorder.selected == [] and overlay.is_active  # nothing sent yet
    with qtbot.waitSignal(overlay.selected, timeout=20_000):
        drag(env, (901, 501), (1100, 700))
    # THEN one image holds both regions at their own pixels, numbered, in the order drawn
    image, info = recorder.selected[0]
    first = pattern.reference.crop(covered((301, 201), (500, 300)))
    second = pattern.reference.crop(covered((901, 501), (1100, 700)))
    layout = place([first.size, second.size])
    got = to_pil(image)
    assert got.size == (layout.width, layout.height)
    for part, (x, y) in zip((first, second), layout.parts, strict=True):
        assert same_pixels(got.crop((x, y, x + part.width, y + part.height)), part)
    assert info.parts == 2


def test_escape_after_region_one_sends_nothing(
    qtbot, env, pattern: Pattern, overlay: RegionOverlay
) -> None:
    recorder = Recorder(overlay)
    start_and_wait(qtbot, overlay)
    shift_release(qtbot, env, (301, 201), (500, 300))
    with qtbot.waitSignal(overlay.cancelled, timeout=20_000):
        xdotool(env, "key", "Escape")
    assert recorder.selected == []
    assert visible_windows() == []


def test_two_regions_and_a_covered_area_reach_the_server_as_one_image(
    qtbot, env, pattern: Pattern, fake_api
) -> None:
    import base64
    from dataclasses import replace

    from support.fake_api import Stream

    from desktop_vlm.core.combine import place
    from desktop_vlm.core.config import Config, with_base_url
    from desktop_vlm.gui.controller import Controller
    from desktop_vlm.gui.notifier import Notifier
    from desktop_vlm.gui.worker import StreamWorker
    from desktop_vlm.services.endpoint import Endpoint
    from desktop_vlm.services.secrets import KeyStore

    # GIVEN the app's controller with the real overlay, sending PNG to the test server
    config = replace(with_base_url(Config(), fake_api.url), max_retries=0, image_format="png")
    worker = StreamWorker(Endpoint(KeyStore(environ={})))
    region_overlay = RegionOverlay()
    controller = Controller(
        config,
        worker=worker,
        overlay=region_overlay,
        notifier=Notifier(None),
        grab=lambda handler=None: grab_screens(),
        read_clipboard=lambda: None,
        write_clipboard=lambda text: None,
    )
    fake_api.enqueue(Stream("Two parts."))
    try:
        with qtbot.waitSignal(region_overlay.shown, timeout=20_000):
            controller.capture("describe")
        # WHEN the person keeps a first region (A, then a drag), covers an area inside the
        # second (R, drag, R) and drags the second
        xdotool(env, "key", "a")
        drag(env, (301, 201), (500, 300))
        qtbot.wait(200)
        xdotool(env, "key", "r")
        drag(env, (950, 550), (1000, 600))
        xdotool(env, "key", "r")
        drag(env, (901, 501), (1100, 700))

        def chats() -> list:
            return [r for r in fake_api.requests if r.path.endswith("/chat/completions")]

        qtbot.waitUntil(lambda: len(chats()) >= 1, timeout=20_000)
        qtbot.waitUntil(lambda: controller.window is not None, timeout=20_000)
        # THEN one request, one image: both regions at their pixels, the covered area black
        request = chats()[-1]
        urls = [
            p["image_url"]["url"]
            for m in request.json["messages"]
            if isinstance(m["content"], list)
            for p in m["content"]
            if p["type"] == "image_url"
        ]
        assert len(urls) == 1
        sent = Image.open(io.BytesIO(base64.b64decode(urls[0].split(",", 1)[1]))).convert("RGB")
        first = pattern.reference.crop(covered((301, 201), (500, 300)))
        second = pattern.reference.crop(covered((901, 501), (1100, 700)))
        black = covered((950, 550), (1000, 600))
        second.paste((0, 0, 0), (black[0] - 901, black[1] - 501, black[2] - 901, black[3] - 501))
        layout = place([first.size, second.size])
        assert sent.size == (layout.width, layout.height)
        for part, (x, y) in zip((first, second), layout.parts, strict=True):
            assert same_pixels(sent.crop((x, y, x + part.width, y + part.height)), part)
        # ... and the window says what was done to the image
        subtitle = controller.window.header.subtitle.text()
        assert "2 regions in one image" in subtitle and "1 area covered by hand" in subtitle
    finally:
        worker.stop_all()
        if controller.window is not None:
            controller.window.close()
        region_overlay.close()
        qtbot.waitUntil(lambda: worker.running() == 0, timeout=20_000)
