"""The offline OCR engine on real rendered screen text, in this process and in its helper.

Images are drawn with real fonts (DejaVu, Liberation, Noto) by Pillow's FreeType, anti-
aliased, light and dark. The engine is the real one (PP-OCRv6 on onnxruntime); the helper is
the real ``python -m desktop_vlm.services.ocr.worker`` process.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from support import screen_text as st

from desktop_vlm.core.errors import ExitCode, ImageError, OfflineEngineError
from desktop_vlm.core.rawimage import RawImage
from desktop_vlm.services import ocr
from desktop_vlm.services.ocr import OcrEngine, OcrService

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not ocr.is_available(), reason="rapidocr/onnxruntime missing")


def squash(text: str) -> str:
    """Each line's whitespace runs as single spaces (indentation is not kept)."""
    return "\n".join(" ".join(line.split()) for line in text.split("\n"))


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    engine = OcrEngine()
    engine.load()
    return engine


def sample(name: str) -> st.Sample:
    return next(s for s in st.accuracy_samples() if s.name == name)


# --- reading in this process ------------------------------------------------------------------


def test_clean_16px_prose_reads_back_with_its_lines_and_paragraphs(engine: OcrEngine) -> None:
    # GIVEN two paragraphs of 16-px DejaVu Sans on white, as a screen shows them
    prose = sample("prose-light-16")
    # WHEN the engine reads the image
    result = engine.read(st.render_pillow(prose))
    # THEN the text is exactly what was drawn: the same lines, a blank line between paragraphs
    assert result.text == prose.text
    assert [line.block for line in result.lines] == [0, 0, 0, 1, 1]
    assert result.engine == ocr.engine_info() and "PP-OCRv6" in result.engine


def test_dark_theme_and_small_ui_text_read_back(engine: OcrEngine) -> None:
    # GIVEN light-on-dark 12-px UI text (a menu bar, settings rows, buttons)
    ui = sample("ui-dark-12")
    # WHEN read
    text = engine.read(st.render_pillow(ui)).text
    # THEN every row comes back, words joined by single spaces, groups apart
    assert text == squash(ui.text)


def test_code_in_monospace_keeps_its_symbols(engine: OcrEngine) -> None:
    # GIVEN Python in 13-px Liberation Mono on a dark editor background
    code = sample("code-dark-13")
    # WHEN read
    text = engine.read(st.render_pillow(code)).text
    # THEN quotes, brackets, operators and the blank line survive (indentation does not)
    assert text == squash(code.text)


def test_two_clear_columns_are_read_one_after_the_other(engine: OcrEngine) -> None:
    # GIVEN two columns of four lines each, with a wide gutter between them
    columns = sample("columns-15")
    # WHEN read
    result = engine.read(st.render_pillow(columns))
    # THEN the left column comes first, top to bottom, then the right one, as two blocks
    assert result.text == columns.text
    assert result.text.index("ends here") < result.text.index("The right column")


def test_every_kind_of_source_gives_the_same_reading(engine: OcrEngine, tmp_path: Path) -> None:
    # GIVEN one image as a PIL image, PNG bytes, a file and captured BGRA pixels
    img = st.render_pillow(sample("ui-light-13"))
    png = io.BytesIO()
    img.save(png, format="PNG")
    path = tmp_path / "shot.png"
    path.write_bytes(png.getvalue())
    bgra = img.convert("RGBA").tobytes("raw", "BGRA")
    raw = RawImage(img.width, img.height, bgra, "BGRA")
    # WHEN each is read
    texts = {engine.read(s).text for s in (img, png.getvalue(), str(path), raw)}
    # THEN they all read the same
    assert texts == {squash(sample("ui-light-13").text)}


def test_word_boxes_sit_on_the_words(engine: OcrEngine) -> None:
    # GIVEN one line of words at known positions
    font = ImageFont.truetype(str(st.font_path("DejaVu Sans")), 16)
    img = Image.new("RGB", (520, 40), "white")
    words = ["Settings", "window", "opens", "quickly", "after", "start"]
    draw = ImageDraw.Draw(img)
    draw.text((10, 10), " ".join(words), font=font, fill="black")
    expected, x = [], 10.0
    for word in words:
        expected.append((x, x + draw.textlength(word, font=font)))
        x += draw.textlength(word + " ", font=font)
    # WHEN read
    (line,) = engine.read(img).lines
    # THEN each word has its own box, within a few pixels of where it was drawn
    assert [w.text for w in line.words] == words
    for word, (left, right) in zip(line.words, expected, strict=True):
        assert abs(word.box[0] - left) <= 6 and abs(word.box[2] - right) <= 6, word
        assert line.box[1] <= word.box[1] and word.box[3] <= line.box[3]


def test_hostile_or_huge_input_is_refused_with_a_clear_error(engine: OcrEngine) -> None:
    # GIVEN bytes that are no image, and a capture of 80 megapixels
    # WHEN read / THEN an ImageError that says what to do, before any work is done
    with pytest.raises(ImageError, match="not an image"):
        engine.read(b"definitely not a picture")
    with pytest.raises(ImageError, match="too large") as info:
        engine.read(RawImage(10000, 8000, b"", "BGRA"))
    assert "smaller region" in str(info.value)


def test_a_reading_past_its_time_limit_is_stopped(engine: OcrEngine) -> None:
    # GIVEN a full screen of text and a time limit far too short for it
    img = st.render_pillow(st.timing_sample(), height=400)
    # WHEN read / THEN it stops with an error that says so, as an offline-engine failure
    with pytest.raises(OfflineEngineError, match="longer than") as info:
        engine.read(img, timeout=0.001)
    assert info.value.exit_code == ExitCode.CONFIG


def _read_with_shadow(
    tmp_path: Path, package: str, init: str, *args: str, picture: Image.Image | None = None
) -> subprocess.CompletedProcess:
    """The command line reading an image with ``package`` replaced by one made of ``init``."""
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text(init)
    image = tmp_path / "x.png"
    (picture or Image.new("RGB", (64, 32), "white")).save(image)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    return subprocess.run(
        [sys.executable, "-m", "desktop_vlm.services.ocr", *args, str(image)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_missing_engine_says_what_to_install(tmp_path: Path) -> None:
    # GIVEN an onnxruntime that cannot be imported shadowing the real one
    init = "raise ImportError('libonnxruntime.so: cannot open shared object file')\n"
    # WHEN the command line reads an image
    proc = _read_with_shadow(tmp_path, "onnxruntime", init)
    # THEN one line says what is missing and how to install it, with the CONFIG exit code
    assert proc.returncode == ExitCode.CONFIG
    assert "libonnxruntime.so" in proc.stderr
    assert "pip install" in proc.stderr and "onnxruntime" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_all_scripts_without_rapidocr_says_what_to_install(tmp_path: Path) -> None:
    # GIVEN a rapidocr package without its models shadowing the real one (the int8 Latin
    # models ship with the app; reading every script needs rapidocr's float recogniser)
    proc = _read_with_shadow(tmp_path, "rapidocr", "", "--all-scripts")
    # THEN one line says what is missing and how to install it, with the CONFIG exit code
    assert proc.returncode == ExitCode.CONFIG
    assert "pip install" in proc.stderr and "rapidocr" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_shipped_int8_models_read_without_rapidocr(tmp_path: Path) -> None:
    # GIVEN a rapidocr package without its models shadowing the real one
    picture = st.render_pillow(sample("prose-light-16"))
    # WHEN the command line reads screen text with the default (Latin, int8) models
    proc = _read_with_shadow(tmp_path, "rapidocr", "", "--json", picture=picture)
    # THEN it reads every word, with the int8 models that ship in the package
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert squash(result["text"]) == squash(sample("prose-light-16").text)
    assert "int8" in result["engine"]


def test_importing_the_package_loads_nothing_heavy() -> None:
    # GIVEN a fresh interpreter (the tray app's situation)
    code = textwrap.dedent(
        """
        import sys
        import desktop_vlm.services.ocr as ocr
        ocr.OcrService(); ocr.engine_info(); ocr.is_available()
        print(sorted(m for m in ("numpy", "onnxruntime", "PIL", "cv2", "rapidocr")
                     if m in sys.modules))
        """
    )
    # WHEN it imports the package and builds a service
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    # THEN numpy, onnxruntime, Pillow, OpenCV and rapidocr stay out of its memory
    assert out.stdout.strip() == "[]", out.stderr


def test_reading_works_without_any_network(tmp_path: Path) -> None:
    # GIVEN a network namespace with no interface at all (root only)
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("unshare -n is not permitted here")
    prose = sample("prose-light-16")
    image = tmp_path / "prose.png"
    st.render_pillow(prose).save(image)
    # WHEN the command line reads the image inside it
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "desktop_vlm.services.ocr", str(image)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    # THEN the text comes back all the same: nothing is fetched at run time
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip("\n") == prose.text


# --- the helper process -----------------------------------------------------------------------


@pytest.fixture
def service():
    svc = OcrService(idle_timeout=30)
    yield svc
    svc.close()


def test_helper_warms_up_reads_and_stops_when_idle(service: OcrService) -> None:
    # GIVEN a service whose helper is warmed up as the capture overlay opens
    service.warm_up()
    assert service.running
    prose = sample("prose-dark-14")
    img = st.render_pillow(prose)
    raw = RawImage(img.width, img.height, img.convert("RGBA").tobytes("raw", "BGRA"), "BGRA")
    # WHEN the captured pixels are read
    result = service.read(raw, timeout=60)
    # THEN the helper's reading is the full text, with lines and word boxes
    assert result.text == prose.text
    assert result.lines and all(line.words for line in result.lines)
    # AND once idle for its timeout, the helper process is gone
    pid = service.pid
    service.idle_timeout = 0.5
    service.read(raw, timeout=60)
    deadline = time.monotonic() + 15
    while (service.running or _alive(pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not service.running
    assert not _alive(pid)
    # AND the next reading starts a new one
    assert service.read(raw, timeout=60).text == prose.text


def test_helper_killed_while_idle_is_replaced(service: OcrService) -> None:
    # GIVEN a warm helper that then crashes (killed by the system, say)
    service.warm_up()
    first = service.pid
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(first) and time.monotonic() < deadline:
        time.sleep(0.05)
    # WHEN the person reads text
    img = st.render_pillow(sample("ui-light-13"))
    text = service.read(img, timeout=60).text
    # THEN a new helper answers it
    assert text == squash(sample("ui-light-13").text)
    assert service.pid not in (None, first)


def test_helper_dying_mid_reading_is_a_clear_error_and_the_next_works(tmp_path: Path) -> None:
    # GIVEN a helper that dies on its first request (as one might on a bad driver or OOM)
    dying = tmp_path / "dying.py"
    dying.write_text("import sys\nsys.stdin.buffer.readline()\nsys.exit(3)\n")
    svc = OcrService(command=[sys.executable, str(dying)])
    img = Image.new("RGB", (64, 32), "white")
    try:
        # WHEN a reading is asked of it / THEN the error says the helper stopped, and why
        with pytest.raises(OfflineEngineError, match="stopped unexpectedly.*exit code 3"):
            svc.read(img, timeout=20)
        # AND with a working helper again, the next reading succeeds
        svc.command = [sys.executable, "-m", "desktop_vlm.services.ocr.worker"]
        assert svc.read(img, timeout=60).text == ""
    finally:
        svc.close()


def test_a_helper_that_never_answers_is_killed_at_the_time_limit(tmp_path: Path) -> None:
    # GIVEN a helper that hangs
    hanging = tmp_path / "hang.py"
    hanging.write_text("import time\ntime.sleep(600)\n")
    svc = OcrService(command=[sys.executable, str(hanging)])
    svc.grace_s = 0.2
    try:
        svc.warm_up()
        pid = svc.pid
        # WHEN a reading is asked with a 1-second limit
        with pytest.raises(OfflineEngineError, match="longer than 1 s"):
            svc.read(Image.new("RGB", (64, 32), "white"), timeout=1)
        # THEN the hung process is gone
        assert not _alive(pid)
    finally:
        svc.close()


def test_helper_passes_on_image_errors(service: OcrService) -> None:
    # GIVEN a running helper / WHEN it is handed bytes that are no image
    # THEN the same ImageError as in process, and the helper keeps serving
    with pytest.raises(ImageError, match="not an image|cannot be decoded|damaged"):
        service.read(b"GIF89a but not really", timeout=30)
    pid = service.pid
    assert service.read(Image.new("RGB", (64, 32), "white"), timeout=60).text == ""
    assert service.pid == pid


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
