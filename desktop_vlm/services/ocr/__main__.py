"""``python -m desktop_vlm.services.ocr IMAGE [--json]``: print the text of an image, read
offline. For measuring the engine; ``desktop-vlm ask IMAGE --profile offline`` is the product's
way in."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from desktop_vlm.core.errors import VlmError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m desktop_vlm.services.ocr")
    parser.add_argument("image", help="an image file (PNG, JPEG, WebP, ...)")
    parser.add_argument("--json", action="store_true", help="the whole result as JSON")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--all-scripts", action="store_true", help="every script the model knows")
    parser.add_argument(
        "--precision",
        choices=("int8", "float"),
        default="int8",
        help="int8 models shipped with the app (default) or rapidocr's float ones",
    )
    args = parser.parse_args(argv)

    from desktop_vlm.services.ocr.engine import OcrEngine

    engine = OcrEngine(alphabet="all" if args.all_scripts else "latin", precision=args.precision)
    try:
        result = engine.read(args.image, timeout=args.timeout)
    except VlmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    if args.json:
        print(json.dumps(asdict(result), ensure_ascii=False))
    else:
        print(result.text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
