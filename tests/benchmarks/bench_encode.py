"""Issue item 1: a 4K text-heavy screenshot to the request body, and `desktop-vlm ask FILE`.

Reference: the helper on the API page (Pillow thumbnail to 2048x2048 with LANCZOS, PNG with
default settings, base64) and its Python example (encode_image + requests.post), run in the same
process / against the same loopback server, interleaved with ours.
"""

from __future__ import annotations

import base64
import io
import json
import math
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from PIL import Image, ImageChops, ImageMath, ImageStat, JpegImagePlugin

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    PYTHON,
    Figure,
    ServerProcess,
    emit,
    median,
    ms,
    quick_flag,
    spread,
)
from benchmarks.screenshot import make_screenshot  # noqa: E402
from desktop_vlm.core.completions import ChatRequest  # noqa: E402
from desktop_vlm.core.imageprep import RawImage, prepare_image  # noqa: E402

PROMPT = "Extract all the text in this image."
MODEL = "Qwen/Qwen2.5-VL-72B-Instruct"

# --- the reference, as the API page writes it ---------------------------------------------------


def reference_encode_image(image_path: str | Image.Image) -> str:
    """The page's helper (with Image.open skipped when handed pixels already in memory)."""
    img = Image.open(image_path) if isinstance(image_path, str) else image_path.copy()
    with img:
        max_size = (2048, 2048)
        img.thumbnail(max_size, Image.Resampling.LANCZOS)
        buffered = io.BytesIO()
        img.save(buffered, format="PNG")
        return base64.b64encode(buffered.getvalue()).decode("utf-8")


def reference_body(base64_image: str) -> bytes:
    data = {
        "model": MODEL,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": PROMPT},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{base64_image}"},
                    },
                ],
            }
        ],
        "max_tokens": 512,
        "temperature": 0.1,
    }
    return json.dumps(data, allow_nan=False).encode("utf-8")  # what requests does with json=


REFERENCE_SCRIPT = textwrap.dedent(
    '''
    import base64
    import sys
    import requests
    from PIL import Image
    from io import BytesIO

    def encode_image(image_path):
        """Encode an image file to base64 string."""
        with Image.open(image_path) as img:
            # Resize if larger than max resolution
            max_size = (2048, 2048)
            img.thumbnail(max_size, Image.Resampling.LANCZOS)
            buffered = BytesIO()
            img.save(buffered, format="PNG")
            return base64.b64encode(buffered.getvalue()).decode("utf-8")

    base64_image = encode_image(sys.argv[1])
    url = sys.argv[2] + "/chat/completions"
    headers = {"Content-Type": "application/json", "Authorization": "Bearer YOUR_API_KEY"}
    data = {
        "model": "Qwen/Qwen2.5-VL-72B-Instruct",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{base64_image}"}},
                ],
            }
        ],
        "max_tokens": 512,
        "temperature": 0.1,
    }
    response = requests.post(url, headers=headers, json=data)
    print(response.json()["choices"][0]["message"]["content"])
    '''
)

# --- ours: the same path the app and `ask` take --------------------------------------------------


def our_body(source: str | RawImage) -> tuple[bytes, str, bytes]:
    """(request body, mime, encoded image) as desktop-vlm builds them."""
    image = prepare_image(source)
    b64 = base64.b64encode(image.data).decode("ascii")
    request = ChatRequest(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": PROMPT},
                    {"type": "image_url", "image_url": {"url": f"data:{image.mime};base64,{b64}"}},
                ],
            }
        ],
        max_tokens=512,
        temperature=0.1,
    )
    body = request.body(stream=True)
    # services/client.py serialises exactly like this
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return data, image.mime, image.data


# --- legibility --------------------------------------------------------------------------------


def psnr(a: Image.Image, b: Image.Image) -> float:
    """Peak signal-to-noise ratio over R, G and B, in dB (inf when identical)."""
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    mse = sum(ImageStat.Stat(diff).sum2) / (3 * a.width * a.height)
    return math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)


def ssim(a: Image.Image, b: Image.Image, block: int = 8) -> float:
    """Mean SSIM of the luma over non-overlapping ``block``-pixel windows (Wang et al. 2004)."""
    x = a.convert("L").convert("F")
    y = b.convert("L").convert("F")

    def product(p: Image.Image, q: Image.Image) -> Image.Image:
        return ImageMath.lambda_eval(lambda e: e["p"] * e["q"], p=p, q=q)

    mx, my = x.reduce(block), y.reduce(block)
    xx, yy, xy = (product(p, q).reduce(block) for p, q in ((x, x), (y, y), (x, y)))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    index = ImageMath.lambda_eval(
        lambda e: (
            ((2 * e["mx"] * e["my"] + c1) * (2 * (e["xy"] - e["mx"] * e["my"]) + c2))
            / (
                (e["mx"] * e["mx"] + e["my"] * e["my"] + c1)
                * (e["xx"] - e["mx"] * e["mx"] + e["yy"] - e["my"] * e["my"] + c2)
            )
        ),
        mx=mx,
        my=my,
        xx=xx,
        yy=yy,
        xy=xy,
    )
    return index.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))


def _decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


# --- the measurements ----------------------------------------------------------------------------


def interleaved(runs: int, ref, ours) -> tuple[list[float], list[float]]:  # noqa: ANN001
    """Wall times of ``ref()`` and ``ours()``, alternating which goes first, after a warm-up."""
    ref(), ours()  # imports, caches, first allocations
    times: dict[str, list[float]] = {"ref": [], "ours": []}
    for i in range(runs):
        for name in ("ref", "ours") if i % 2 == 0 else ("ours", "ref"):
            fn = ref if name == "ref" else ours
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times["ref"], times["ours"]


def encode_figures(shot: Path, runs: int) -> tuple[list[Figure], list[str]]:
    path = str(shot)
    ref_times, our_times = interleaved(
        runs, lambda: reference_body(reference_encode_image(path)), lambda: our_body(path)
    )
    ref_b64 = reference_encode_image(path)
    ref_body = reference_body(ref_b64)
    ref_img = _decode(base64.b64decode(ref_b64)).convert("RGB")
    body, mime, data = our_body(path)
    ours_img = _decode(data)
    sampling = JpegImagePlugin.get_sampling(ours_img) if mime == "image/jpeg" else None
    ours_rgb = ours_img.convert("RGB")
    p, s = psnr(ours_rgb, ref_img), ssim(ours_rgb, ref_img)
    legible = (
        ours_rgb.size == ref_img.size
        and max(ours_rgb.size) == 2048
        and sampling in (None, 0)
        and p >= 35.0
        and s >= 0.99
    )

    # The app's own path: pixels captured by Qt (BGRX rows) rather than a PNG file.
    pixels = Image.open(path).convert("RGB")
    raw = RawImage(pixels.width, pixels.height, pixels.tobytes("raw", "BGRX"), "BGRX")

    def ref_pixels() -> bytes:
        img = Image.frombytes("RGB", (raw.width, raw.height), raw.data, "raw", "BGRX")
        return reference_body(reference_encode_image(img))

    cap_ref, cap_ours = interleaved(runs, ref_pixels, lambda: our_body(raw))

    t_ratio = median(our_times) / median(ref_times)
    c_ratio = median(cap_ours) / median(cap_ref)
    size_ratio = len(body) / len(ref_body)
    fmt = "JPEG 4:4:4" if sampling == 0 else mime
    figures = [
        Figure(
            "Encode: 4K screenshot file → request body",
            ms(median(our_times)),
            ms(median(ref_times)),
            t_ratio,
            "≤ 0.20",
            t_ratio <= 0.20,
            "in-process, median of interleaved runs, file read to JSON body bytes",
        ),
        Figure(
            "Encode: 4K captured pixels → request body",
            ms(median(cap_ours)),
            ms(median(cap_ref)),
            c_ratio,
            "≤ 0.20",
            c_ratio <= 0.20,
            "the app's path: BGRX pixels as Qt captures them; reference starts from the same",
        ),
        Figure(
            "Encode: request body size",
            f"{len(body) / 1e6:.2f} MB ({fmt}, {ours_rgb.width}x{ours_rgb.height})",
            f"{len(ref_body) / 1e6:.2f} MB (PNG, {ref_img.width}x{ref_img.height})",
            size_ratio,
            "≤ 0.60",
            size_ratio <= 0.60,
            "bytes of the JSON body with the base64 data URL",
        ),
        Figure(
            "Encode: legibility vs the reference's image",
            f"PSNR {p:.1f} dB, SSIM {s:.4f}",
            "PSNR ∞, SSIM 1",
            None,
            "same size, 4:4:4, PSNR ≥ 35 dB, SSIM ≥ 0.99",
            legible,
            "our decoded image against the reference's decoded PNG (SSIM: luma, 8x8 windows)",
        ),
    ]
    notes = [
        f"encode file→body: ours {spread(our_times)}, reference {spread(ref_times)}",
        f"encode pixels→body: ours {spread(cap_ours)}, reference {spread(cap_ref)}; against "
        f"the page's helper reading the screenshot from its PNG file (what the helper is written "
        f"for): {median(cap_ours) / median(ref_times):.2f}",
    ]
    return figures, notes


def ask_figure(shot: Path, runs: int) -> tuple[list[Figure], list[str]]:
    with tempfile.TemporaryDirectory(prefix="bench-ask-") as tmp, ServerProcess() as server:
        base = Path(tmp)
        script = base / "reference.py"
        script.write_text(REFERENCE_SCRIPT)
        env = _clean_env(base)
        env.update(DESKTOP_VLM_BASE_URL=server.url, DESKTOP_VLM_API_KEY="bench-key")
        ours_cmd = [_console_script(), "ask", str(shot), "--model", "fake-org/fake-vlm-7b"]
        ref_cmd = [PYTHON, str(script), str(shot), server.url]

        def once(cmd: list[str]) -> float:
            server.drain()
            start = time.monotonic()
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            while True:
                event = server.next("request", timeout=120)
                if event["path"].endswith("/chat/completions"):
                    break
            _, err = proc.communicate(timeout=120)
            if proc.returncode != 0:
                raise RuntimeError(f"{cmd[0]} failed: {err.decode(errors='replace')[-500:]}")
            return event["t"] - start

        once(ref_cmd), once(ours_cmd)  # warm the page cache and .pyc files
        ref_times, our_times = [], []
        for i in range(runs):
            order = ((ref_cmd, ref_times), (ours_cmd, our_times))
            for cmd, times in order if i % 2 == 0 else order[::-1]:
                times.append(once(cmd))
    ratio = median(our_times) / median(ref_times)
    figure = Figure(
        "`desktop-vlm ask FILE`: start → request at server",
        ms(median(our_times)),
        ms(median(ref_times)),
        ratio,
        "≤ 0.50",
        ratio <= 0.50,
        "process start to the whole body read by the loopback server; API page's script as reference",
    )
    return [figure], [f"ask: ours {spread(our_times)}, reference script {spread(ref_times)}"]


def _console_script() -> str:
    script = Path(PYTHON).with_name("desktop-vlm")
    return str(script) if script.exists() else "desktop-vlm"


def _clean_env(base: Path) -> dict[str, str]:
    import os

    from support import desktop

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DESKTOP_VLM_", "HYPERBOLIC_", "DISPLAY", "WAYLAND"))
    }
    env.update(desktop.user_dirs(base / "user"), HOME=str(base))
    return env


def screenshot_file(folder: Path) -> Path:
    """The 4K screenshot as a screenshot tool saves it (PNG, default compression)."""
    path = folder / "screenshot-3840x2160.png"
    make_screenshot().save(path, format="PNG")
    return path


def main() -> None:
    quick = quick_flag()
    with tempfile.TemporaryDirectory(prefix="bench-encode-") as tmp:
        shot = screenshot_file(Path(tmp))
        figures, notes = encode_figures(shot, 3 if quick else 9)
        more, more_notes = ask_figure(shot, 3 if quick else 7)
    emit(figures + more, notes + more_notes)


if __name__ == "__main__":
    main()
