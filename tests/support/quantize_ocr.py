"""Make the int8 OCR models the app ships (``desktop_vlm/resources/ocr/``) from the float
PP-OCRv6 small models in the rapidocr wheel. A maintainer's tool, run when rapidocr's models
change; it needs the ``onnx`` package, which the app does not::

    .venv/bin/pip install onnx && .venv/bin/python tests/support/quantize_ocr.py

For each model: opset 13 (per-channel quantisation needs it), onnxruntime's own fusions
(Conv+activation, GELU) saved offline so quantisation does not block them, then static int8
quantisation of the convolutions (QDQ, per channel, 7-bit weights: exact on CPUs without
VNNI too), calibrated on screen text drawn by Pillow (the README's lines, and the benchmark's
kinds of text in other fonts and sizes; the benchmark reads Chromium's renderings). Only the
ranges of the activations are learnt from it. The recogniser's classifier is first cut to the
Latin, Greek and Cyrillic classes (as ``models.load_recognizer`` does at load time for the
float model) and stays float: it is one matrix product, and its weights are what a cut reads.

Measure the result with ``python tests/benchmarks/bench_ocr.py`` (accuracy against the float
models' figures in the README, and speed).
"""

from __future__ import annotations

import dataclasses
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

from desktop_vlm.services.ocr import models  # noqa: E402
from support import screen_text as st  # noqa: E402

CALIBRATION_FONTS = (
    "Noto Sans",
    "DejaVu Serif",
    "Liberation Serif",
    "DejaVu Sans",
    "Liberation Mono",
)
CALIBRATION_SIZES = (11, 13, 18, 22)
#: The recogniser's calibration: every 6th line, 1024 columns, ranges at the 99.99th
#: percentile. Of the settings tried (min/max over whole batches, these), the one whose readings
#: of the benchmark's images came closest to the float model's.
RECOGNIZER_EVERY = 6
RECOGNIZER_WIDTH = 1024
RECOGNIZER_PERCENTILE = 99.99


def calibration_images(folder: Path) -> list[Path]:
    """Screen text drawn by Pillow (the benchmark's images are Chromium's): the README's own
    lines, and the benchmark's kinds of text (prose, UI, code) in other fonts and sizes."""
    readme = [
        line.strip("#*`|- ")[:90]
        for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
        if re.search(r"[A-Za-z]{3}", line) and "](" not in line
    ]
    readme = [line for line in readme if line][:240]
    fonts = [f for f in CALIBRATION_FONTS if _has_font(f)]
    samples = []
    for i in range(0, len(readme), 12):
        n = i // 12
        size = CALIBRATION_SIZES[n % len(CALIBRATION_SIZES)]
        block = readme[i : i + 12]
        sample = st.Sample(f"readme-{n}", [block], fonts[n % len(fonts)], size, dark=n % 2 == 1)
        if n % 5 == 4:
            sample = dataclasses.replace(sample, blocks=[block[:6], block[6:]], columns=True)
        samples.append(sample)
    for i, kind in enumerate(st.accuracy_samples()):
        for j, size in enumerate((11, 18, 22)):
            font = fonts[(i + j) % len(fonts)]
            name = f"{kind.name}-{font}-{size}".replace(" ", "")
            dark = (i + j) % 2 == 1
            samples.append(dataclasses.replace(kind, name=name, font=font, size=size, dark=dark))
    paths = [ROOT / "resources" / "examples" / "receipt.png"]
    for sample in samples:
        path = folder / f"{sample.name}.png"
        st.render_pillow(sample).save(path)
        paths.append(path)
    return paths


def _has_font(family: str) -> bool:
    try:
        st.font_path(family)
    except (FileNotFoundError, KeyError):
        return False
    return True


def record_inputs(images: list[Path]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The detector's and recogniser's input tensors while the float models read ``images``."""
    from desktop_vlm.services.ocr import OcrEngine

    source = models.model_dir()
    assert source is not None, "rapidocr is not installed"
    engine = OcrEngine(precision="float")
    engine.load()
    det_inputs: list[np.ndarray] = []
    rec_inputs: list[np.ndarray] = []

    class Recording:
        def __init__(self, session, sink):
            self.session, self.sink = session, sink

        def run(self, names, feed):
            self.sink.append(next(iter(feed.values())).copy())
            return self.session.run(names, feed)

        def get_inputs(self):
            return self.session.get_inputs()

    engine._detector = Recording(engine._detector, det_inputs)
    engine._recognizer.session = Recording(engine._recognizer.session, rec_inputs)
    for image in images:
        engine.read(image, timeout=None)
    return det_inputs, rec_inputs


def cut_classifier(model) -> None:  # noqa: ANN001 - an onnx.ModelProto
    """Keep only the Latin-script classes in the final layer and the character list."""
    from onnx import numpy_helper

    meta = {p.key: p for p in model.metadata_props}
    characters = meta["character"].value.splitlines()
    classes = [models.BLANK, *characters, " "]
    kept = models.latin_classes(classes)
    for tensor in model.graph.initializer:
        if tensor.dims and tensor.dims[-1] == len(classes):
            cut = np.ascontiguousarray(numpy_helper.to_array(tensor)[..., kept])
            tensor.CopyFrom(numpy_helper.from_array(cut, tensor.name))
    meta["character"].value = "\n".join(classes[i] for i in kept[1:-1])
    # Shapes recorded for the old class count would contradict the cut layer.
    del model.graph.value_info[:]
    for output in model.graph.output:
        dims = output.type.tensor_type.shape.dim
        if dims and dims[-1].dim_value == len(classes):
            dims[-1].dim_value = len(kept)


def quantize(  # noqa: PLR0913
    model,  # noqa: ANN001 - an onnx.ModelProto
    inputs: list[np.ndarray],
    target: Path,
    work: Path,
    note: str,
    percentile: float | None = None,
) -> None:
    """Write ``model`` quantised to ``target``: activation ranges from the smallest and
    largest values seen, or (``percentile``) from a histogram of them, which ignores rare
    outliers and keeps finer steps where the values are (all ``inputs`` must then share one
    shape)."""
    import onnx
    import onnxruntime as ort
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    upgraded = work / f"{target.stem}-13.onnx"
    onnx.save(version_converter.convert_version(model, 13), upgraded)
    fused = work / f"{target.stem}-fused.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(fused)
    ort.InferenceSession(str(upgraded), options, providers=["CPUExecutionProvider"])
    graph = onnx.load(fused)
    name = graph.graph.input[0].name
    products = [n.name for n in graph.graph.node if n.op_type in ("MatMul", "FusedMatMul", "Gemm")]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter([{name: x} for x in inputs])

        def get_next(self):
            return next(self.feeds, None)

    quantize_static(
        str(fused),
        str(target),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        reduce_range=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["Conv"],
        nodes_to_exclude=products[-1:],
        calibrate_method=CalibrationMethod.Percentile if percentile else CalibrationMethod.MinMax,
        extra_options={"CalibPercentile": percentile} if percentile else {},
    )
    result = onnx.load(target)
    result.metadata_props.add(key="desktop_vlm", value=note)
    onnx.save(result, target)
    print(f"{target.name}: {target.stat().st_size / 1e6:.1f} MB")


def single_lines(batches: list[np.ndarray], width: int, every: int) -> list[np.ndarray]:
    """Every ``every``-th line of the recogniser's batches, alone, cut or padded (with the
    grey the padding is) to ``width`` columns: a histogram needs one shape, and all of it in
    memory at once (a 24 GB machine ran out with every line at full width)."""
    lines = [batch[i : i + 1] for batch in batches for i in range(batch.shape[0])]
    shaped = []
    for line in lines[::every]:
        fitted = np.zeros((1, *line.shape[1:3], width), np.float32)
        used = min(width, line.shape[3])
        fitted[..., :used] = line[..., :used]
        shaped.append(fitted)
    return shaped


def main() -> None:
    import onnx

    source = models.model_dir()
    assert source is not None, "rapidocr is not installed"
    models.BUNDLED_DIR.mkdir(parents=True, exist_ok=True)
    version = models.package_version()
    if version != models.INT8_SOURCE:
        raise SystemExit(
            f"rapidocr {version} is installed, models.INT8_SOURCE says {models.INT8_SOURCE}: "
            "set it to the release these models are made from, then run this again"
        )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        det_inputs, rec_inputs = record_inputs(calibration_images(work))
        print(f"calibration: {len(det_inputs)} images, {len(rec_inputs)} line batches")
        detector = onnx.load(source / models.DETECTOR_FILE)
        note = f"int8 of {models.DETECTOR_FILE} from rapidocr {version}"
        quantize(detector, det_inputs, models.BUNDLED_DIR / models.INT8_DETECTOR, work, note)
        recognizer = onnx.load(source / models.RECOGNIZER_FILE)
        cut_classifier(recognizer)
        note = f"int8, Latin classes, of {models.RECOGNIZER_FILE} from rapidocr {version}"
        lines = single_lines(rec_inputs, RECOGNIZER_WIDTH, RECOGNIZER_EVERY)
        target = models.BUNDLED_DIR / models.INT8_RECOGNIZER
        quantize(recognizer, lines, target, work, note, RECOGNIZER_PERCENTILE)


if __name__ == "__main__":
    main()
