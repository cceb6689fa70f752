"""Where the PP-OCR models are, and how to load them lean.

The float PP-OCRv6 small models ship inside the ``rapidocr`` wheel
(``rapidocr/models/*.onnx``); we find that folder without importing rapidocr (its import pulls
in OpenCV, OmegaConf, Shapely and a YAML config, about a second on a 2-core machine) and drive
onnxruntime ourselves. What the app reads with by default are int8 versions of them that ship
in this package (``desktop_vlm/resources/ocr``, made by ``tests/support/quantize_ocr.py``): a
reading in about half the time once loaded (convolutions are most of the work, and int8 ones
run two to three times faster on today's CPUs), at the cost of a rare misread (README: 0.04 %
against 0.00 % of characters on the benchmark's screens). ``INT8_SOURCE`` must name the
rapidocr release they were made from; the tool refuses to write them from another. Nothing is
downloaded: a missing file is an :class:`OfflineEngineError` that says what to install.

The float recogniser's last layer scores 18,710 classes (Chinese, Japanese, Korean, Latin, ...)
at every 8 pixels of each line; for Latin-script screen text nearly all of that is wasted work
and memory (a 13-line crop produces 200 MB of scores). With ``alphabet="latin"`` we read that
layer's weights from the model file and hand onnxruntime a classifier cut down to the ~900
Latin, Greek and Cyrillic letters, digits and symbols, which makes recognition about a third
faster and gives the same text for those scripts. ``alphabet="all"`` keeps every class (and
reads with the float recogniser). The int8 recogniser carries the Latin classes only.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from desktop_vlm.core.errors import OfflineEngineError
from desktop_vlm.services.ocr import onnxfile

log = logging.getLogger(__name__)

MODEL_PACKAGE = "rapidocr"
DETECTOR_FILE = "PP-OCRv6_det_small.onnx"
RECOGNIZER_FILE = "PP-OCRv6_rec_small.onnx"
MODEL_NAME = "PP-OCRv6 small"
#: The int8 models this package ships, and the rapidocr release they were made from.
BUNDLED_DIR = Path(__file__).resolve().parents[2] / "resources" / "ocr"
INT8_DETECTOR = "PP-OCRv6_det_small.int8.onnx"
INT8_RECOGNIZER = "PP-OCRv6_rec_small.latin.int8.onnx"
INT8_SOURCE = "3.10.0"
PRECISIONS = ("int8", "float")
#: The recogniser's fixed input height.
LINE_HEIGHT = 48
#: Class 0 is the CTC blank, the last class is the space (PaddleOCR's convention).
BLANK = "blank"
INSTALL_HINT = "Install it with: pip install 'rapidocr>=3.10,<4' 'onnxruntime>=1.20'"
REINSTALL_HINT = "Reinstall desktop-vlm (bash resources/install.sh)"
#: Code-point ranges kept by alphabet="latin" (beyond them a class is dropped).
LATIN_RANGES = (
    (0x0021, 0x024F),  # ASCII, Latin-1, Latin Extended-A/B
    (0x0370, 0x03FF),  # Greek
    (0x0400, 0x04FF),  # Cyrillic
    (0x2010, 0x205E),  # dashes, quotes, bullets, ellipsis, primes
    (0x20A0, 0x20C0),  # currency signs (€, ₹, ₽, ...)
    (0x2100, 0x214F),  # ™, №, ℃, ...
    (0x2190, 0x21FF),  # arrows
    (0x2200, 0x22FF),  # mathematical operators
    (0x2500, 0x25FF),  # box drawing, blocks, shapes
    (0x2713, 0x2718),  # check marks and crosses
)


@cache
def model_dir() -> Path | None:
    """The folder holding the bundled ONNX models, or None when rapidocr is not installed."""
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)  # locates, does not import
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    return folder if folder.is_dir() else None


@cache
def package_version() -> str:
    folder = model_dir()
    if folder is None:
        return "?"
    # _version.py is a generated two-line file; reading it avoids importlib.metadata's scan.
    try:
        for line in (folder.parent / "_version.py").read_text(encoding="utf-8").splitlines():
            if line.startswith("__version__ ="):
                return line.split("=")[-1].strip().strip("'\"")
    except OSError:
        pass
    return "?"


@dataclass(frozen=True)
class ModelFiles:
    detector: Path
    recognizer: Path
    #: What the engine is called in a reading's ``engine``, e.g. "rapidocr 3.10.0 (PP-OCRv6
    #: small, int8)".
    name: str


def files(alphabet: str = "latin", precision: str = "int8") -> ModelFiles:
    """The model files a reading of ``alphabet`` at ``precision`` uses (they may be missing)."""
    float_dir = model_dir() or Path(MODEL_PACKAGE, "models")
    if precision == "int8":
        detector = BUNDLED_DIR / INT8_DETECTOR
        if alphabet == "latin":
            name = f"rapidocr {INT8_SOURCE} ({MODEL_NAME}, int8)"
            return ModelFiles(detector, BUNDLED_DIR / INT8_RECOGNIZER, name)
        name = f"rapidocr {package_version()} ({MODEL_NAME}, int8 detector, all scripts)"
        return ModelFiles(detector, float_dir / RECOGNIZER_FILE, name)
    scripts = "" if alphabet == "latin" else ", all scripts"
    name = f"rapidocr {package_version()} ({MODEL_NAME}{scripts})"
    return ModelFiles(float_dir / DETECTOR_FILE, float_dir / RECOGNIZER_FILE, name)


def missing(alphabet: str = "latin", precision: str = "int8") -> str:
    """Why the engine cannot run ("" when it can), without importing anything heavy."""
    return _problem(alphabet, precision)[0]


def require(alphabet: str = "latin", precision: str = "int8") -> ModelFiles:
    why, hint = _problem(alphabet, precision)
    if why:
        raise OfflineEngineError(f"The offline OCR engine cannot run: {why}", hint)
    return files(alphabet, precision)


def _problem(alphabet: str, precision: str) -> tuple[str, str]:
    chosen = files(alphabet, precision)
    for path in (chosen.detector, chosen.recognizer):
        if path.is_file():
            continue
        if path.parent == BUNDLED_DIR:
            return f"the model file {path.name} is missing from {BUNDLED_DIR}", REINSTALL_HINT
        if model_dir() is None:
            why = "the rapidocr package (which carries the OCR models) is not installed"
            return why, INSTALL_HINT
        return f"the model file {path.name} is missing from {path.parent}", INSTALL_HINT
    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime is not installed", INSTALL_HINT
    if importlib.util.find_spec("numpy") is None:
        return "numpy is not installed", INSTALL_HINT
    return "", ""


def default_threads() -> int:
    """Threads per inference: all cores up to 4 (more only adds contention for these sizes)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def session_options(threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    # Spinning threads would burn both cores between the steps of a reading and while idle.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def load_detector(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    try:
        return ort.InferenceSession(
            str(path), session_options(threads), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own unexported exception types
        raise _unreadable(path, exc) from exc


@dataclass
class Recognizer:
    """An onnxruntime session of the line recogniser and the characters its classes stand for."""

    session: Any
    classes: list[str]
    #: The arrays handed to onnxruntime as initializers must outlive the session.
    keep_alive: tuple[Any, ...] = ()


def load_recognizer(path: Path, threads: int, alphabet: str = "latin") -> Recognizer:
    import numpy as np
    import onnxruntime as ort

    try:
        model = path.read_bytes()
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    characters = onnxfile.metadata(model).get("character", "").splitlines()
    options = session_options(threads)
    keep_alive: tuple[Any, ...] = ()
    classes = [BLANK, *characters, " "] if characters else []
    # The shipped int8 recogniser has the Latin classes only, so nothing is cut from it.
    kept = latin_classes(classes) if alphabet == "latin" and classes else None
    if kept is not None and len(kept) < len(classes):
        layer = _classifier_layer(model, len(classes))
        if layer is None:
            log.warning("no classifier layer of %d classes found: keeping all", len(classes))
        else:
            (weight_name, weight), (bias_name, bias) = layer
            cut_weight = np.ascontiguousarray(weight[:, kept])
            cut_bias = np.ascontiguousarray(bias[kept])
            values = (
                ort.OrtValue.ortvalue_from_numpy(cut_weight),
                ort.OrtValue.ortvalue_from_numpy(cut_bias),
            )
            options.add_initializer(weight_name, values[0])
            options.add_initializer(bias_name, values[1])
            keep_alive = (cut_weight, cut_bias, *values)
            classes = [classes[i] for i in kept]
    try:
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - see load_detector
        raise _unreadable(path, exc) from exc
    if not classes:
        raise OfflineEngineError(f"{path.name} carries no character list", _reinstall(path))
    return Recognizer(session, classes, keep_alive)


def latin_classes(classes: list[str]) -> list[int]:
    """Indices of the classes a Latin reading keeps: the blank (first), the characters of
    ``LATIN_RANGES`` and the space (last)."""
    return [0, *(i for i, c in enumerate(classes) if _latin(c)), len(classes) - 1]


def _latin(char: str) -> bool:
    if len(char) != 1:
        return False
    code = ord(char)
    return any(low <= code <= high for low, high in LATIN_RANGES)


def _classifier_layer(model: bytes, n_classes: int) -> Any:
    """((name, weight[D, n]), (name, bias[n])) of the final fully connected layer, or None."""
    import numpy as np

    found = onnxfile.initializers(model, lambda dims: bool(dims) and dims[-1] == n_classes)
    weights = [t for t in found if len(t.dims) == 2 and t.data_type == onnxfile.FLOAT]
    biases = [t for t in found if len(t.dims) == 1 and t.data_type == onnxfile.FLOAT]
    if len(weights) != 1 or len(biases) != 1:
        return None
    w, b = weights[0], biases[0]
    weight = np.frombuffer(w.raw, dtype="<f4").reshape(w.dims)
    bias = np.frombuffer(b.raw, dtype="<f4").reshape(b.dims)
    return (w.name, weight), (b.name, bias)


def _unreadable(path: Path, exc: BaseException) -> OfflineEngineError:
    return OfflineEngineError(
        f"The OCR model {path.name} cannot be loaded ({str(exc).splitlines()[0][:200]})",
        _reinstall(path),
    )


def _reinstall(path: Path) -> str:
    return REINSTALL_HINT if path.parent == BUNDLED_DIR else "Reinstall rapidocr: " + INSTALL_HINT
