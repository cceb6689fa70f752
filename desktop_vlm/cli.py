"""The ``desktop-vlm`` command.

Start-up cost matters here: ``capture`` and ``clipboard`` are bound to keyboard shortcuts and
must hand off to the running app at once, so this module imports only the standard library at
the top, and each command imports what it needs. The headless ``ask`` never imports Qt.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

from desktop_vlm import APP_NAME, __version__
from desktop_vlm.core.errors import ExitCode, UsageError, VlmError

if TYPE_CHECKING:
    from desktop_vlm.core.config import Config

log = logging.getLogger(__name__)

FORWARDED = ("capture", "clipboard", "quit", "show")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, our exit code
        raise UsageError(f"{message}", f"See `{self.prog} --help`")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=APP_NAME,
        description="Ask a vision-language model about a region of the screen or an image.",
    )
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    parser.add_argument(
        "--profile", help="provider profile from config.toml (default: its 'profile')"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    for name, text in (
        ("capture", "region capture in the running app (starting it if needed)"),
        ("clipboard", "ask about the clipboard image in the running app"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--preset", metavar="ID", help="preset to use (see `presets`)")
        if name == "capture":
            p.add_argument(
                "--handler",
                choices=("auto", "qt", "portal", "grim", "spectacle"),
                help="force a screen-grab method (default: [capture] handler in config.toml)",
            )
    sub.add_parser("quit", help="stop the running app")

    ask = sub.add_parser(
        "ask",
        help="send one image and stream the answer to stdout",
        description="Send one image (a file, or - for stdin) and stream the answer to stdout.",
    )
    ask.add_argument("image", help="image file (PNG, JPEG, WebP, GIF, TIFF, BMP) or - for stdin")
    ask.add_argument("--preset", metavar="ID", help="preset to use (see `presets`)")
    ask.add_argument("--prompt", metavar="TEXT", help="your own prompt or question")
    ask.add_argument("--model", metavar="M", help="model id (see `models`)")
    ask.add_argument("--json", action="store_true", help="print one JSON object when done")

    key = sub.add_parser("key", help="manage the API key in the OS keyring")
    key_sub = key.add_subparsers(dest="key_command", metavar="ACTION", parser_class=_Parser)
    key_sub.required = True
    key_sub.add_parser("set", help="store the key (read from stdin or a hidden prompt)")
    key_sub.add_parser("delete", help="remove the stored key")
    key_sub.add_parser("status", help="say where the key comes from (never prints it)")

    models = sub.add_parser("models", help="list the models the endpoint serves")
    models.add_argument("--json", action="store_true", help="print a JSON array")
    sub.add_parser("presets", help="list presets")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        pass
    try:
        args = build_parser().parse_args(argv)
        _setup_logging(args.verbose)
        return _dispatch(args)
    except VlmError as exc:
        _error_line(str(exc))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        _error_line("Interrupted")
        return int(ExitCode.CANCELLED)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); silence the flush at exit too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.OK)
    except SystemExit as exc:  # argparse --help / --version
        return int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001 - one line for the person, the details in the log
        log.debug("unexpected error", exc_info=True)
        _error_line(
            f"Unexpected error ({type(exc).__name__}); this is a bug. "
            "Run again with --verbose and report what it prints"
        )
        return int(ExitCode.INTERNAL)


def _error_line(text: str) -> None:
    sys.stderr.write(f"{APP_NAME}: {text}\n")
    sys.stderr.flush()


def _setup_logging(verbose: bool) -> None:
    from desktop_vlm.core.logsafe import install_redaction

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    handler.setLevel(logging.DEBUG if verbose else logging.ERROR)
    root.setLevel(logging.DEBUG if verbose else logging.ERROR)
    install_redaction(handler)


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command in FORWARDED or command is None:
        from desktop_vlm.launcher import forward

        return forward(
            command or "show", getattr(args, "preset", None), getattr(args, "handler", None)
        )
    if command == "presets":
        return _cmd_presets(_config(args))
    if command == "key":
        return _cmd_key(args, _config(args))
    if command == "models":
        return _cmd_models(args, _config(args))
    if command == "ask":
        return _cmd_ask(args, _config(args))
    raise UsageError(f"unknown command {command!r}")


def _config(args: argparse.Namespace) -> Config:
    from dataclasses import replace

    from desktop_vlm.services.settings import load_config

    result = load_config()
    for warning in result.warnings:
        _error_line(f"warning: {warning}")
    config = result.config
    if args.profile:
        if args.profile not in config.profiles:
            raise UsageError(
                f"There is no profile {args.profile!r}",
                f"Known profiles: {', '.join(sorted(config.profiles))}",
            )
        config = replace(config, profile=args.profile)
    return config


# --- presets ------------------------------------------------------------------------------


def _cmd_presets(config: Config) -> int:
    rows = []
    for preset in config.presets.values():
        mark = "*" if preset.id == config.default_preset else " "
        actions = ",".join(sorted(a.value for a in preset.actions))
        rows.append((f"{mark} {preset.id}", preset.title, actions, preset.model or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
    print("\n* default preset; change it with default_preset in config.toml")
    return 0


# --- key ----------------------------------------------------------------------------------


def _cmd_key(args: argparse.Namespace, config: Config) -> int:
    from desktop_vlm.services.secrets import KeyStore

    keys = KeyStore()
    profile = config.active.name
    if args.key_command == "status":
        source = keys.source(profile)
        print(f"API key for profile '{profile}': {source.detail}")
        return 0 if source.kind != "none" else int(ExitCode.KEY_MISSING)
    if args.key_command == "delete":
        removed = keys.delete(profile)
        print(
            f"Removed the API key of profile '{profile}' from the keyring"
            if removed
            else f"No API key was stored for profile '{profile}'"
        )
        return 0
    key = _read_key(profile)
    keys.set(profile, key)
    print(f"Stored the API key for profile '{profile}' in the keyring")
    if keys.env_key():
        _error_line(f"note: {keys.env_key()[0]} is set in the environment and takes precedence")
    return 0


def _read_key(profile: str) -> str:
    if sys.stdin is None:
        raise UsageError("No key given", "Pipe it in: `desktop-vlm key set < keyfile`")
    if sys.stdin.isatty():
        import getpass

        key = getpass.getpass(f"API key for profile '{profile}' (input hidden): ")
    else:
        key = sys.stdin.read(64 * 1024)
    key = key.strip()
    if not key:
        raise UsageError("No key given (the input was empty)", "Paste the key and press Enter")
    if any(ch.isspace() for ch in key) or not key.isprintable():
        raise UsageError("The key contains spaces or control characters", "Check what you pasted")
    return key


# --- models -------------------------------------------------------------------------------


def _cmd_models(args: argparse.Namespace, config: Config) -> int:
    import json

    from desktop_vlm.core.pricing import PAGE_PRICES
    from desktop_vlm.services.endpoint import make_client, model_cache
    from desktop_vlm.services.models import looks_like_vision_model
    from desktop_vlm.services.secrets import KeyStore

    client = make_client(config, KeyStore())
    models = client.list_models()
    model_cache().put(client.base_url, models)
    if args.json:
        print(json.dumps(models))
        return 0
    prices = {**PAGE_PRICES, **config.prices}
    for model in models:
        notes = []
        if model in prices:
            notes.append(f"${prices[model]:.2f}/M tokens")
        if looks_like_vision_model(model):
            notes.append("vision")
        print(f"{model}  ({', '.join(notes)})" if notes else model)
    if not models:
        _error_line("the server lists no models")
    return 0


# --- ask ----------------------------------------------------------------------------------


def _cmd_ask(args: argparse.Namespace, config: Config) -> int:
    import json
    import time

    from desktop_vlm.core.completions import ChatRequest
    from desktop_vlm.core.conversation import Conversation, ImageRef
    from desktop_vlm.core.imageprep import prepare_image
    from desktop_vlm.core.pricing import estimate_cost, format_cost
    from desktop_vlm.services.endpoint import make_client, resolve_model
    from desktop_vlm.services.secrets import KeyStore

    started = time.monotonic()
    try:
        preset = config.preset(args.preset)
    except KeyError:
        raise UsageError(
            f"There is no preset {args.preset!r}",
            f"Known presets: {', '.join(config.presets)}",
        ) from None

    source = sys.stdin.buffer.read() if args.image == "-" else args.image
    if preset.asks_question and not args.prompt:
        args.prompt = _ask_question(preset.id, stdin_used=args.image == "-")
    if args.prompt is not None and not args.prompt.strip():
        raise UsageError("The prompt is empty", "Give a question with --prompt")
    prompt = (
        preset.first_prompt(args.prompt) if preset.asks_question else (args.prompt or preset.prompt)
    )

    image = prepare_image(
        source, image_format=config.image_format, jpeg_quality=config.jpeg_quality
    )
    import base64

    conversation = Conversation(
        image=ImageRef(
            image.mime, base64.b64encode(image.data).decode("ascii"), image.width, image.height
        ),
        preset_id=preset.id,
    )
    conversation.ask(prompt)

    client = make_client(config, KeyStore())
    model = resolve_model(config, preset, client, args.model)
    request = ChatRequest(
        model=model,
        messages=conversation.messages(),
        max_tokens=preset.max_tokens,
        temperature=preset.temperature,
    )
    status = _Status(enabled=not args.json and sys.stderr.isatty())
    status.show(f"{image.describe()} → {model} …")
    stream = client.stream_chat(request)
    wrote_newline = True
    try:
        for piece in stream:
            status.clear()
            if not args.json:
                sys.stdout.write(piece)
                sys.stdout.flush()
                wrote_newline = piece.endswith("\n")
    except KeyboardInterrupt:
        stream.cancel()
        status.clear()
        if not wrote_newline:
            sys.stdout.write("\n")
        raise
    finally:
        status.clear()
    if not args.json and not wrote_newline:
        sys.stdout.write("\n")
    result = stream.result
    assert result is not None
    usage = result.completion.usage
    cost = estimate_cost(
        result.completion.model, usage.prompt_tokens, usage.completion_tokens, config.prices
    )
    if args.json:
        out = {
            "answer": result.completion.text,
            "model": result.completion.model,
            "preset": preset.id,
            "finish_reason": result.completion.finish_reason,
            "usage": usage.to_dict(),
            "cost_usd": cost,
            "timings": {
                "time_to_first_token_s": _round(result.ttft_s),
                "request_s": _round(result.elapsed_s),
                "total_s": _round(time.monotonic() - started),
            },
            "image": {
                "mime": image.mime,
                "width": image.width,
                "height": image.height,
                "bytes": len(image.data),
                "source_width": image.source_width,
                "source_height": image.source_height,
            },
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
    elif sys.stderr.isatty():
        tokens = usage.total_tokens
        summary = [result.completion.model]
        if tokens is not None:
            summary.append(f"{tokens} tokens")
        summary.append(format_cost(cost))
        if result.ttft_s is not None:
            summary.append(f"first token {result.ttft_s:.2f} s")
        sys.stderr.write("\x1b[2m" + " · ".join(summary) + "\x1b[0m\n")
    if result.completion.finish_reason == "length":
        _error_line(
            f"note: the answer was cut at max_tokens ({preset.max_tokens}); raise it for "
            f"preset '{preset.id}' in config.toml"
        )
    return 0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _ask_question(preset_id: str, stdin_used: bool) -> str:
    if stdin_used or sys.stdin is None or not sys.stdin.isatty():
        raise UsageError(
            f"The '{preset_id}' preset needs your question", 'Give it with --prompt "..."'
        )
    try:
        return input("Question: ")
    except EOFError:
        raise UsageError("No question given", 'Give it with --prompt "..."') from None


class _Status:
    """A transient status line on a terminal's stderr, erased when the answer starts."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def show(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(f"\x1b[2m{text}\x1b[0m")
            sys.stderr.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False


if __name__ == "__main__":
    raise SystemExit(main())
