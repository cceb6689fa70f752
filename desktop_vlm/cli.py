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
from desktop_vlm.core.vocabulary import CAPTURE_METHOD_NAMES, FORWARDED_COMMANDS

if TYPE_CHECKING:
    from desktop_vlm.core.config import Config

log = logging.getLogger(__name__)

FORWARDED = (*FORWARDED_COMMANDS, "show")


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
        "--profile", help="provider profile (see `providers`; default: config.toml's 'profile')"
    )
    # The global options are accepted after the command too (`ask IMAGE --profile offline`);
    # SUPPRESS keeps a subcommand from resetting what was given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log details to stderr",
    )
    common.add_argument("--profile", default=argparse.SUPPRESS, help="provider profile")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    add_parser = sub.add_parser

    def with_common(name: str, **kwargs):  # noqa: ANN202
        return add_parser(name, parents=[common], **kwargs)

    sub.add_parser = with_common  # type: ignore[method-assign]

    for name, text in (
        ("capture", "region capture in the running app (starting it if needed)"),
        ("clipboard", "ask about the clipboard image in the running app"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--preset", metavar="ID", help="preset to use (see `presets`)")
        if name == "capture":
            p.add_argument(
                "--handler",
                choices=CAPTURE_METHOD_NAMES,
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
    ask.add_argument(
        "--redact",
        choices=("auto", "off"),
        help="cover e-mail addresses, phone and card numbers, IBANs and keys before sending "
        "(default: [privacy] redact in config.toml)",
    )
    ask.add_argument(
        "--local-only",
        action="store_true",
        default=None,
        help="nothing leaves this machine: only the offline engine and local servers answer",
    )

    key = sub.add_parser("key", help="manage the API key in the OS keyring")
    key_sub = key.add_subparsers(dest="key_command", metavar="ACTION", parser_class=_Parser)
    add_key_parser = key_sub.add_parser
    key_sub.add_parser = lambda name, **kw: add_key_parser(name, parents=[common], **kw)  # type: ignore[method-assign]
    key_sub.required = True
    key_sub.add_parser("set", help="store the key (read from stdin or a hidden prompt)")
    key_sub.add_parser("delete", help="remove the stored key")
    key_sub.add_parser("status", help="say where the key comes from (never prints it)")

    models = sub.add_parser("models", help="list the models the endpoint serves")
    models.add_argument("--json", action="store_true", help="print a JSON array")
    sub.add_parser("presets", help="list presets")
    providers = sub.add_parser(
        "providers", help="list the built-in provider profiles and the local servers found"
    )
    providers.add_argument("--json", action="store_true", help="print a JSON array")
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
    # What a server said may be in the message: nothing of it may steer the terminal.
    if sys.stderr.isatty():
        from desktop_vlm.core.text import terminal_safe

        text = terminal_safe(text)
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
    if command == "providers":
        return _cmd_providers(args, _config(args))
    if command == "models":
        return _cmd_models(args, _config(args))
    if command == "ask":
        from dataclasses import replace

        from desktop_vlm.ask import run_ask

        config = _config(args)
        if args.redact is not None:
            config = replace(config, redact=args.redact)
        if args.local_only:
            config = replace(config, local_only=True)
        return run_ask(args, config)
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


# --- providers ----------------------------------------------------------------------------


def _cmd_providers(args: argparse.Namespace, config: Config) -> int:
    import json

    from desktop_vlm.core.errors import KeyringError
    from desktop_vlm.core.providers import provider
    from desktop_vlm.services.discovery import discover_local_servers
    from desktop_vlm.services.secrets import KeyStore

    keys = KeyStore()
    found = {server.base_url: server for server in discover_local_servers()}
    rows = []
    for name, profile in config.profiles.items():
        known = provider(name)
        variables = ", ".join(known.key_env) if known and known.key_env else "-"
        if profile.offline:
            key = "not needed (offline engine)"
        elif known is not None and known.local:
            key = "not needed (this machine)"
        else:
            try:
                key = keys.source(name).kind
                key = {"env": "from the environment", "keyring": "stored", "none": "no"}[key]
            except KeyringError:
                key = "keyring unavailable"
        server = found.get(profile.base_url)
        running = ""
        if server is not None:
            running = (
                f"running: {', '.join(server.vision_models[:3])}"
                if server.vision_models
                else "running, no vision model"
            )
        rows.append(
            {
                "profile": name,
                "title": profile.title,
                "base_url": profile.base_url or "-",
                "key_variables": variables,
                "key": key,
                "local_server": running,
                "active": name == config.profile,
            }
        )
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    widths = [max(len(r[k]) for r in rows) for k in ("profile", "base_url", "key_variables")]
    for r in rows:
        mark = "*" if r["active"] else " "
        print(
            f"{mark} {r['profile']:<{widths[0]}}  {r['base_url']:<{widths[1]}}  "
            f"{r['key_variables']:<{widths[2]}}  key: {r['key']}"
            + (f"  [{r['local_server']}]" if r["local_server"] else "")
        )
    print(
        "\n* active profile; use another with --profile NAME, store its key with "
        "`desktop-vlm key set --profile NAME`"
    )
    return 0


# --- key ----------------------------------------------------------------------------------


def _cmd_key(args: argparse.Namespace, config: Config) -> int:
    from desktop_vlm.services.secrets import KeyStore

    keys = KeyStore()
    profile = config.active.name
    if config.active.offline:
        raise UsageError("The offline profile needs no key", "Choose another with --profile NAME")
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
    env = keys.env_key(profile)
    if env:
        _error_line(f"note: {env[0]} is set in the environment and takes precedence")
    return 0


def _read_key(profile: str) -> str:
    if sys.stdin is None:
        raise UsageError("No key given", "Pipe it in: `desktop-vlm key set < keyfile`")
    if sys.stdin.isatty():
        import getpass

        try:
            key = getpass.getpass(f"API key for profile '{profile}' (input hidden): ")
        except EOFError:  # Ctrl+D at the prompt
            raise UsageError("No key given", "Run it again and paste the key") from None
    else:
        key = sys.stdin.read(64 * 1024)
    if not key.strip():
        raise UsageError("No key given (the input was empty)", "Paste the key and press Enter")
    from desktop_vlm.core.secrets_rules import validate_api_key

    return validate_api_key(key)


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


if __name__ == "__main__":
    raise SystemExit(main())
