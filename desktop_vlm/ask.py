"""`desktop-vlm ask IMAGE`: one image, one answer streamed to stdout (or one JSON object).

What reaches a terminal passes a filter first: an answer or a server's error message cannot
write escape sequences (OSC 52 sets the clipboard in many terminals, others retitle the window
or move the cursor) or control characters to it. Thinking a reasoning model streams apart from
its answer never goes to stdout; ``--json`` carries it as ``reasoning``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from desktop_vlm.ask_checks import OfflineCheck, disagreement_line, settle
from desktop_vlm.core.answer_checks import RECEIPT
from desktop_vlm.core.errors import UsageError
from desktop_vlm.core.text import TerminalFilter, terminal_safe

if TYPE_CHECKING:
    from desktop_vlm.core.config import Config


def run_ask(args: argparse.Namespace, config: Config) -> int:
    import time

    from desktop_vlm.services.routing import route
    from desktop_vlm.services.secrets import KeyStore

    started = time.monotonic()
    if config.active.offline and args.preset is None:
        args.preset = "ocr"  # the one thing the offline engine does
    try:
        preset = config.preset(args.preset)
    except KeyError:
        raise UsageError(
            f"There is no preset {args.preset!r}",
            f"Known presets: {', '.join(config.presets)}",
        ) from None
    from desktop_vlm.core.imageprep import read_image_bytes

    # The image is checked before anything else: a wrong file is the first thing to hear about.
    source = read_image_bytes(_read_stdin() if args.image == "-" else args.image)
    if preset.asks_question and not args.prompt:
        args.prompt = _ask_question(preset.id, stdin_used=args.image == "-")
    if args.prompt is not None and not args.prompt.strip():
        raise UsageError("The prompt is empty", "Give a question with --prompt")
    keys = KeyStore()
    chosen = route(config, preset, keys)
    if chosen.notice:
        note(f"note: {chosen.notice}")
    if chosen.offline:
        return _answer_offline(args, preset, source, started)
    return _answer_with_model(args, chosen.config, preset, source, keys, started)


def _answer_offline(args: argparse.Namespace, preset, source, started: float) -> int:  # noqa: ANN001
    """The embedded engine reads the image's text, in reading order, line breaks kept."""
    import json
    import time

    from desktop_vlm.services.ocr import read_text

    reading = read_text(source)
    if args.json:
        out = {
            "answer": reading.text,
            "model": reading.engine,
            "provider": "offline",
            "preset": preset.id,
            "finish_reason": "stop",
            "usage": {"prompt_tokens": None, "completion_tokens": None, "total_tokens": None},
            "cost_usd": 0.0,
            "timings": {
                "time_to_first_token_s": None,
                "request_s": _round(reading.elapsed_s),
                "total_s": _round(time.monotonic() - started),
            },
            "image": {"width": reading.width, "height": reading.height},
            "lines": len(reading.lines),
            "warnings": [] if reading.text else ["no text was found in the image"],
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    out = _Output(enabled=True)
    out.write(reading.text)
    out.finish()
    if not reading.text:
        note("note: no text was found in the image")
    return 0


def _answer_with_model(args, config, preset, source, keys, started: float) -> int:  # noqa: ANN001
    import json
    import time

    from desktop_vlm.core.conversation import Conversation
    from desktop_vlm.core.outgoing import prepare_outgoing
    from desktop_vlm.core.pricing import estimate_cost, format_cost
    from desktop_vlm.core.providers import limits_for
    from desktop_vlm.services.endpoint import choose, make_client

    prompt = (
        preset.first_prompt(args.prompt) if preset.asks_question else (args.prompt or preset.prompt)
    )
    outgoing = prepare_outgoing(
        source,
        image_format=config.image_format,
        jpeg_quality=config.jpeg_quality,
        max_base64_bytes=limits_for(
            config.active.name, config.active.base_url
        ).max_base64_image_bytes,
        redact=config.redact == "auto",
        read_text=_offline_reader(),
    )
    image = outgoing.image
    if outgoing.redaction is not None:
        note(f"note: {outgoing.redaction.describe()} before sending")
    conversation = Conversation(image=outgoing.ref, preset_id=preset.id, meta=outgoing.meta())
    conversation.ask(prompt)

    offline = OfflineCheck(source) if preset.verify and args.prompt is None else None
    client = make_client(config, keys)
    model, automatic = choose(config, preset, client, args.model)
    status = _Status(enabled=not args.json and sys.stderr.isatty())
    status.show(f"{image.describe()} → {model} …")
    stream = _open_stream(client, conversation, preset, model, automatic, config)
    # A receipt is printed once validated (it may be asked for again); the rest streams.
    out = _Output(enabled=not args.json and preset.structured != RECEIPT)
    try:
        for piece in stream:
            if not piece.text:
                continue  # thinking stays off stdout (it is in --json as "reasoning")
            status.clear()
            out.write(piece.text)
    except KeyboardInterrupt:
        stream.cancel()
        status.clear()
        out.finish()
        raise
    finally:
        status.clear()
    out.finish()
    result = stream.result
    assert result is not None
    completion = result.completion
    structured = None
    if preset.structured:
        model = completion.model

        def ask_again(question: str) -> str:
            answer = conversation.begin_answer(model)
            answer.text, answer.complete = completion.text, True
            conversation.ask(question)
            again = _open_stream(client, conversation, preset, model, False, config)
            return "".join(piece.text for piece in again)

        completion.text, structured = settle(preset.structured, completion.text, ask_again)
        if preset.structured == RECEIPT and not args.json:
            shown = structured.exports.get("json") if structured and structured.data else None
            out = _Output(enabled=True)
            out.write(shown or completion.text)
            out.finish()
        for warning in structured.warnings if structured else ():
            note(f"warning: {warning}")
        if structured is not None and structured.problem:
            note(f"warning: the answer is not a usable {preset.structured}: {structured.problem}")
    check = offline.compare(completion.text) if offline is not None else None
    if check is not None and disagreement_line(check):
        note(f"note: {disagreement_line(check)}")
    usage = completion.usage
    cost = estimate_cost(
        completion.model, usage.prompt_tokens, usage.completion_tokens, config.prices
    )
    if args.json:
        data = {
            "answer": completion.text,
            "model": completion.model,
            "provider": config.active.name,
            "preset": preset.id,
            "finish_reason": completion.finish_reason,
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
            "warnings": list(structured.warnings) if structured else [],
        }
        if outgoing.redaction is not None:
            data["redactions"] = conversation.meta["redactions"]
        if completion.reasoning:
            data["reasoning"] = completion.reasoning
        if check is not None:
            data["check"] = check
        if structured is not None:
            data["structured"] = structured.data
            if structured.problem:
                data["warnings"].append(structured.problem)
        print(json.dumps(data, ensure_ascii=False, indent=2))
    elif sys.stderr.isatty():
        tokens = usage.total_tokens
        summary = [completion.model]
        if tokens is not None:
            summary.append(f"{tokens} tokens")
        summary.append(format_cost(cost))
        if result.ttft_s is not None:
            summary.append(f"first token {result.ttft_s:.2f} s")
        sys.stderr.write("\x1b[2m" + terminal_safe(" · ".join(summary)) + "\x1b[0m\n")
    if completion.finish_reason == "length":
        note(
            f"note: the answer was cut at max_tokens ({preset.max_tokens}); raise it for "
            f"preset '{preset.id}' in config.toml"
        )
    return 0


def _open_stream(client, conversation, preset, model: str, automatic: bool, config):  # noqa: ANN001, ANN202
    """The answer's stream, opened up to its first piece; a model chosen automatically from a
    stale list that turns out to be gone is chosen again once, from a fresh list."""
    from desktop_vlm.core.completions import ChatRequest
    from desktop_vlm.core.errors import ModelNotFoundError
    from desktop_vlm.services.endpoint import choose, forget_models

    def opened(name: str, again: bool):  # noqa: ANN202
        request = ChatRequest(
            model=name,
            messages=conversation.messages(),
            max_tokens=preset.max_tokens,
            temperature=preset.temperature,
        )
        stream = client.stream_chat(request)
        pieces = iter(stream)
        try:
            first = next(pieces, None)
        except ModelNotFoundError:
            if not again:
                raise
            return None
        return _Opened(stream, first, pieces)

    result = opened(model, again=automatic)
    if result is None:
        forget_models(client)
        result = opened(choose(config, preset, client, None)[0], again=False)
    return result


class _Opened:
    """A stream whose first piece was read already (to see whether the model exists)."""

    def __init__(self, stream, first, rest) -> None:  # noqa: ANN001
        self._stream, self._first, self._rest = stream, first, rest

    @property
    def result(self):  # noqa: ANN201
        return self._stream.result

    def cancel(self) -> None:
        self._stream.cancel()

    def __iter__(self):  # noqa: ANN204
        if self._first is not None:
            yield self._first
        yield from self._rest


def _offline_reader():  # noqa: ANN202 - the offline engine, for automatic redaction
    from desktop_vlm.services.ocr import is_available, read_text

    return read_text if is_available() else None


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


MAX_STDIN_BYTES = 200 * 1024 * 1024


def _read_stdin() -> bytes:
    data = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        from desktop_vlm.core.errors import ImageError

        raise ImageError("The image on stdin is larger than 200 MB", "Use a smaller image.")
    return data


def note(text: str) -> None:
    """One line on stderr, safe for a terminal."""
    sys.stderr.write(f"desktop-vlm: {terminal_safe(text) if sys.stderr.isatty() else text}\n")
    sys.stderr.flush()


class _Output:
    """The answer on stdout as it streams; on a terminal, through the escape filter."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._filter = TerminalFilter() if enabled and sys.stdout.isatty() else None
        self._ends_with_newline = True

    def write(self, text: str) -> None:
        if not self.enabled:
            return
        shown = self._filter.feed(text) if self._filter is not None else text
        if shown:
            sys.stdout.write(shown)
            sys.stdout.flush()
            self._ends_with_newline = shown.endswith("\n")

    def finish(self) -> None:
        if not self.enabled:
            return
        if self._filter is not None:
            rest = self._filter.finish()
            if rest:
                sys.stdout.write(rest)
                self._ends_with_newline = rest.endswith("\n")
        if not self._ends_with_newline:
            sys.stdout.write("\n")
            self._ends_with_newline = True
        sys.stdout.flush()
        self.enabled = False


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
