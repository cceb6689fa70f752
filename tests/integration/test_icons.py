"""The app's icons as a person meets them: in the tray, in the launcher, in the window list.

Pixels are judged the way an eye would: an icon composited on a dark and on a light panel must
have a good share of pixels that stand out from that panel, and the small tray sizes must be
drawn on whole pixels (pure white brackets, not grey blur).
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import tomllib
from importlib import resources
from pathlib import Path

import pytest
from PySide6.QtCore import QByteArray, QSize
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QSystemTrayIcon

from desktop_vlm.gui import icons

REPO = Path(__file__).resolve().parents[2]
RESOURCES = REPO / "resources"
HICOLOR = RESOURCES / "icons" / "hicolor"
HICOLOR_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
PACKAGED_SVGS = ("app.svg", "tray.svg", "tray-16.svg", "tray-busy.svg", "tray-busy-16.svg")
DARK_PANEL = QColor("#202020")
LIGHT_PANEL = QColor("#f0f0f0")
# WCAG asks 3:1 for graphical objects; a fifth of the icon at that contrast reads at a glance.
MIN_CONTRAST = 3.0
MIN_VISIBLE_SHARE = 0.2


def packaged(name: str) -> bytes:
    return resources.files("desktop_vlm").joinpath("resources", name).read_bytes()


def physical(pixmap: QPixmap) -> QImage:
    """The pixmap's real pixels, with no device pixel ratio shrinking it when drawn."""
    image = pixmap.toImage().convertToFormat(QImage.Format.Format_ARGB32)
    image.setDevicePixelRatio(1.0)
    return image


def relative_luminance(color: QColor) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * linear(color.red())
        + 0.7152 * linear(color.green())
        + 0.0722 * linear(color.blue())
    )


def contrast_ratio(a: QColor, b: QColor) -> float:
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def visible_share(icon: QImage, panel: QColor) -> float:
    """Share of the icon's opaque pixels that, drawn on ``panel``, contrast with it by 3:1."""
    seen = QImage(icon.size(), QImage.Format.Format_RGB32)
    seen.fill(panel)
    painter = QPainter(seen)
    painter.drawImage(0, 0, icon)
    painter.end()
    opaque = standing_out = 0
    for y in range(icon.height()):
        for x in range(icon.width()):
            if icon.pixelColor(x, y).alpha() < 128:
                continue
            opaque += 1
            if contrast_ratio(seen.pixelColor(x, y), panel) >= MIN_CONTRAST:
                standing_out += 1
    assert opaque, "the icon has no opaque pixels at all"
    return standing_out / opaque


def sharpness(icon: QImage) -> float:
    """Of the whitish pixels (the brackets and their edges), the share that are pure white.

    Brackets drawn on whole pixels are pure white throughout; drawn between pixels they turn
    into two rows of grey, and this share drops.
    """
    whitish = pure = 0
    for y in range(icon.height()):
        for x in range(icon.width()):
            color = icon.pixelColor(x, y)
            lightest = min(color.red(), color.green(), color.blue())
            if color.alpha() >= 128 and lightest >= 128:
                whitish += 1
                pure += lightest >= 250 and color.alpha() == 255
    assert whitish, "no white glyph found"
    return pure / whitish


def count_pixels_like(image: QImage, target: QColor, tolerance: int = 40) -> int:
    return sum(
        1
        for y in range(image.height())
        for x in range(image.width())
        if all(
            abs(a - b) <= tolerance
            for a, b in zip(image.pixelColor(x, y).getRgb()[:3], target.getRgb()[:3], strict=True)
        )
    )


def mean_difference(a: QImage, b: QImage) -> float:
    """Mean absolute difference per channel (0-255) of two same-sized images."""
    first = a.convertToFormat(QImage.Format.Format_RGBA8888)
    second = b.convertToFormat(QImage.Format.Format_RGBA8888)
    assert first.size() == second.size()
    x, y = bytes(first.constBits()), bytes(second.constBits())
    return sum(abs(p - q) for p, q in zip(x, y, strict=True)) / len(x)


# --- packaged files --------------------------------------------------------------------------


@pytest.mark.parametrize("name", PACKAGED_SVGS)
def test_packaged_svg_loads_and_draws_a_square_badge(qapp, name):
    # GIVEN a drawing shipped inside the package
    renderer = QSvgRenderer(QByteArray(packaged(name)))
    # WHEN it is loaded and drawn at 64 px
    image = icons.render_svg(packaged(name), 64)
    # THEN it is a valid square drawing that fills most of its square (the badge)
    assert renderer.isValid()
    assert renderer.defaultSize().width() == renderer.defaultSize().height() > 0
    opaque = sum(image.pixelColor(x, y).alpha() > 128 for y in range(64) for x in range(64))
    assert opaque > 0.6 * 64 * 64


@pytest.mark.parametrize("px", icons.APP_PNG_SIZES)
def test_packaged_app_png_loads_at_its_size(qapp, px):
    # GIVEN the PNG the running app loads for this size
    image = QImage.fromData(packaged(f"app-{px}.png"), "PNG")
    # THEN it decodes, has the size its name says, and is a badge on a transparent square
    assert not image.isNull()
    assert (image.width(), image.height()) == (px, px)
    assert image.hasAlphaChannel()
    assert image.pixelColor(0, 0).alpha() < 64
    assert image.pixelColor(px // 2, px // 2).alpha() == 255


def test_every_resource_folder_is_in_the_package_data_rules():
    # GIVEN pyproject's package-data rules ("resources/*" does not reach into subfolders)
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    rules = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]
    folder = resources.files("desktop_vlm").joinpath("resources")
    # THEN every subfolder the app reads from has its own rule, so the wheel carries it
    subfolders = [entry.name for entry in folder.iterdir() if entry.is_dir()]
    assert subfolders == ["ocr"]
    assert all(f"resources/{name}/*" in rules["desktop_vlm"] for name in subfolders)
    # AND nothing sits a level deeper, where no rule reaches
    assert not [e for name in subfolders for e in folder.joinpath(name).iterdir() if e.is_dir()]


def test_app_icon_offers_every_shipped_size_and_the_shipped_pixels(qapp):
    # GIVEN the window icon
    icon = icons.app_icon()
    # THEN the window system is offered exactly the shipped sizes (no 1 MB 512 px icon)
    assert [size.width() for size in icon.availableSizes()] == list(icons.APP_PNG_SIZES)
    # AND a 16 px window icon is the hinted PNG, pixel for pixel
    shipped = QImage.fromData(packaged("app-16.png"), "PNG")
    assert mean_difference(physical(icon.pixmap(QSize(16, 16), 1.0)), shipped) < 1.0


# --- the tray icon on dark and light panels ----------------------------------------------------


def test_visible_share_fails_for_a_single_tone_glyph(qapp):
    # GIVEN a white-only and a black-only glyph
    white = QImage(16, 16, QImage.Format.Format_ARGB32)
    white.fill(QColor("white"))
    black = QImage(16, 16, QImage.Format.Format_ARGB32)
    black.fill(QColor("black"))
    # THEN each vanishes on the panel of its own tone, so the measure can fail
    assert visible_share(white, LIGHT_PANEL) < MIN_VISIBLE_SHARE
    assert visible_share(black, DARK_PANEL) < MIN_VISIBLE_SHARE
    assert visible_share(white, DARK_PANEL) == visible_share(black, LIGHT_PANEL) == 1.0


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "busy"])
@pytest.mark.parametrize("px", [16, 22, 24, 32])
def test_tray_icon_stands_out_on_dark_and_light_panels(qapp, px, busy):
    for ratio in (1.0, 2.0):
        # GIVEN the tray icon as a tray of this size and pixel ratio asks for it
        image = physical(icons.tray_icon(busy).pixmap(QSize(px, px), ratio))
        assert image.width() == round(px * ratio)
        # THEN on a near-black and on a near-white panel a good share of it stands out
        for panel in (DARK_PANEL, LIGHT_PANEL):
            share = visible_share(image, panel)
            assert share >= MIN_VISIBLE_SHARE, (px, ratio, panel.name(), share)


def test_sharpness_measure_catches_a_blurred_icon(qapp):
    # GIVEN the full app drawing simply scaled down to 22 px (brackets between pixels)
    blurred = icons.render_svg(packaged("app.svg"), 22)
    # THEN the measure the next test relies on sees the blur
    assert sharpness(blurred) < 0.9


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "busy"])
@pytest.mark.parametrize("px", [16, 22, 24, 32, 44, 48])
def test_tray_icon_is_drawn_on_whole_pixels(qapp, px, busy):
    # GIVEN the tray icon at a size trays use (22, 24, 44, 48 from the 24 px drawing,
    # 16 and 32 from the 16 px one)
    image = physical(icons.tray_icon(busy).pixmap(QSize(px, px), 1.0))
    # THEN its brackets are pure white, not smeared grey
    assert sharpness(image) >= 0.9


def test_busy_tray_icon_shows_a_green_dot_the_idle_one_lacks(qapp):
    green = QColor("#34d399")
    idle = physical(icons.tray_icon().pixmap(QSize(22, 22), 1.0))
    busy = physical(icons.tray_icon(busy=True).pixmap(QSize(22, 22), 1.0))
    assert count_pixels_like(idle, green) == 0
    assert count_pixels_like(busy, green) >= 9


# --- freedesktop files -------------------------------------------------------------------------


def test_hicolor_pngs_have_the_size_their_directory_names(qapp):
    found = {path.parent.parent.name for path in HICOLOR.glob("*x*/apps/desktop-vlm.png")}
    assert found == {f"{px}x{px}" for px in HICOLOR_SIZES}
    for px in HICOLOR_SIZES:
        image = QImage(str(HICOLOR / f"{px}x{px}" / "apps" / "desktop-vlm.png"))
        assert (image.width(), image.height()) == (px, px)


def test_icon_copies_match_their_master_drawing(qapp):
    # GIVEN the master app drawing
    master = (RESOURCES / "desktop-vlm.svg").read_bytes()
    # THEN the scalable hicolor icon and the packaged app.svg are the same drawing
    assert (HICOLOR / "scalable" / "apps" / "desktop-vlm.svg").read_bytes() == master
    assert packaged("app.svg") == master
    # AND every PNG still shows what the drawings render today (rerun render_icons.py if not);
    # a small tolerance absorbs anti-aliasing differences between Qt versions
    for px in HICOLOR_SIZES:
        fresh = icons.render_app(px)
        png = QImage(str(HICOLOR / f"{px}x{px}" / "apps" / "desktop-vlm.png"))
        assert mean_difference(fresh, png) < 2.0, px
    for px in icons.APP_PNG_SIZES:
        png = QImage.fromData(packaged(f"app-{px}.png"), "PNG")
        assert mean_difference(icons.render_app(px), png) < 2.0, px


def _validator() -> str:
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("desktop-file-validate is missing; install Debian's desktop-file-utils")
        pytest.skip("desktop-file-validate is not installed (Debian: desktop-file-utils)")
    return tool


def _entry(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser


@pytest.mark.parametrize("name", ["desktop-vlm.desktop", "desktop-vlm-autostart.desktop"])
def test_desktop_file_passes_desktop_file_validate(name):
    result = subprocess.run(
        [_validator(), str(RESOURCES / name)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error:" not in result.stdout


def test_launcher_entry_starts_the_app_and_offers_capture_and_clipboard():
    entry = _entry(RESOURCES / "desktop-vlm.desktop")
    main = entry["Desktop Entry"]
    assert main["Exec"] == "desktop-vlm"
    assert main["StartupNotify"] == "false"
    # The launcher finds its icon by this name in the hicolor theme we install.
    assert (HICOLOR / "48x48" / "apps" / f"{main['Icon']}.png").exists()
    assert "ocr" in main["Keywords"].split(";")
    assert main["Actions"].rstrip(";").split(";") == ["capture", "clipboard"]
    assert entry["Desktop Action capture"]["Exec"] == "desktop-vlm capture"
    assert entry["Desktop Action clipboard"]["Exec"] == "desktop-vlm clipboard"


def test_autostart_entry_starts_the_tray_without_showing_in_menus():
    main = _entry(RESOURCES / "desktop-vlm-autostart.desktop")["Desktop Entry"]
    assert main["Exec"] == "desktop-vlm"
    assert main["NoDisplay"] == "true"
    assert main["X-GNOME-Autostart-enabled"] == "true"


# --- in a real system tray ---------------------------------------------------------------------


def _tray_pixels(tray: QSystemTrayIcon) -> QImage:
    geometry = tray.geometry()
    screen = QGuiApplication.primaryScreen()
    return screen.grabWindow(0, geometry.x(), geometry.y(), geometry.width(), geometry.height())


def test_tray_icon_appears_in_the_system_tray_and_shows_when_busy(qtbot):
    # GIVEN the session's tray host (trayer)
    assert QSystemTrayIcon.isSystemTrayAvailable()
    tray = QSystemTrayIcon(icons.tray_icon())
    try:
        # WHEN the app shows its tray icon
        tray.show()
        # THEN it gets a place in the tray and the tray paints its amber speech bubble
        qtbot.waitUntil(lambda: tray.isVisible() and not tray.geometry().isEmpty(), timeout=15000)
        amber, green = QColor("#fbbf24"), QColor("#34d399")
        qtbot.waitUntil(
            lambda: count_pixels_like(_tray_pixels(tray).toImage(), amber) >= 12, timeout=15000
        )
        assert count_pixels_like(_tray_pixels(tray).toImage(), green) == 0
        # WHEN a request starts
        tray.setIcon(icons.tray_icon(busy=True))
        # THEN the green busy dot shows in the tray
        qtbot.waitUntil(
            lambda: count_pixels_like(_tray_pixels(tray).toImage(), green) >= 9, timeout=15000
        )
    finally:
        tray.hide()
        tray.deleteLater()
