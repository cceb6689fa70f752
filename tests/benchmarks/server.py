"""The loopback fake API (tests/support/fake_api.py) as a process that reports its timings.

    python tests/benchmarks/server.py [--tokens N | --markdown N] [--delay S] [--first-token-delay S]

Prints ``{"url": ...}`` first, then one JSON line per event, times in time.monotonic():

- ``request``: a request has fully arrived (headers and the whole body read);
- ``first_token``: the first non-empty content token has been written to the socket;
- ``done``: the response is complete.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.fake_api import Behaviour, Exchange, FakeAPI, Stream  # noqa: E402

_lock = threading.Lock()


def report(event: str, **fields: object) -> None:
    line = json.dumps({"event": event, "t": time.monotonic(), **fields})
    with _lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Timed(Behaviour):
    """Serves like ``inner``, reporting arrival and the moment the first token is sent."""

    def __init__(self, inner: Behaviour) -> None:
        self.inner = inner

    def serve(self, ex: Exchange) -> None:
        report("request", path=ex.path, bytes=len(ex.recorded.body))
        write = ex.write
        state = {"first": False}

        def timed_write(data: bytes) -> None:
            write(data)  # unbuffered: once this returns, the bytes are in the socket
            if not state["first"] and _has_content(data):
                state["first"] = True
                report("first_token")

        ex.write = timed_write  # type: ignore[method-assign]
        try:
            self.inner.serve(ex)
        finally:
            ex.write = write  # type: ignore[method-assign]
            report("done")


class Paced(Behaviour):
    """A streamed answer whose token i leaves at first_token_delay + i * delay after the
    request (absolute times: sleep overheads do not add up, so 200 tokens/s means 200)."""

    def __init__(self, tokens: list[str], delay: float, first_token_delay: float) -> None:
        self.tokens, self.delay, self.first_token_delay = tokens, delay, first_token_delay

    def serve(self, ex: Exchange) -> None:
        if not ex.wants_stream:
            Stream(self.tokens, first_token_delay=self.first_token_delay).serve(ex)
            return
        events = ex.start_stream()
        events.delta({"role": "assistant", "content": ""})
        start = time.monotonic() + self.first_token_delay
        for index, token in enumerate(self.tokens):
            ex.pause(start + index * self.delay - time.monotonic())
            events.delta({"content": token})
        events.delta({}, finish_reason="stop")
        if events.include_usage:
            events.usage(ex.prompt_tokens(), len(self.tokens))
        events.done()
        events.end()


def _has_content(chunk: bytes) -> bool:
    start = chunk.find(b"data: {")
    if start < 0:
        return False
    try:
        event = json.loads(chunk[start + 6 :].split(b"\n", 1)[0])
        return bool(event["choices"][0]["delta"].get("content"))
    except (ValueError, KeyError, IndexError, TypeError):
        return False


def markdown_answer(tokens: int) -> list[str]:
    """A Markdown answer of exactly ``tokens`` word-sized tokens: headings, lists, code, tables."""
    from support.fake_api import split_tokens

    blocks = [
        "## Section {n}: what the screenshot shows\n\n",
        "The window on the left is a **code editor** with a Python file open; the right half "
        "is a documentation page with `release notes` and a table of {n} rows.\n\n",
        "- First item with *emphasis* and a [link](https://example.org/{n})\n"
        "- Second item: `inline code` and more words to read\n"
        "  - a nested point about latency, memory and the {n}th frame\n\n",
        "```python\ndef handler_{n}(event):\n    return render(event.payload, width={n})\n```\n\n",
        "| name | value | unit |\n| --- | ---: | --- |\n| width | {n} | px |\n"
        "| latency | {n}.5 | ms |\n\n",
        "> A quoted remark about item {n}, with a footnote.[^{n}]\n\n",
    ]
    out: list[str] = []
    n = 0
    while len(out) < tokens:
        out.extend(split_tokens(blocks[n % len(blocks)].format(n=n)))
        n += 1
    return out[:tokens]


def behaviour(spec: dict) -> Timed:
    """A Timed stream from a spec: tokens, markdown, delay, first_token_delay, marker."""
    if spec.get("markdown"):
        text = markdown_answer(int(spec["markdown"]))
    else:
        text = [f"word{i} " for i in range(int(spec.get("tokens", 8)))]
    if spec.get("marker"):
        text[0] = f"{spec['marker']} "
    delay = float(spec.get("delay", 0.0))
    return Timed(Paced(text, delay, float(spec.get("first_token_delay", 0.0))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--markdown", type=int, default=0, help="a Markdown answer of N tokens")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--first-token-delay", type=float, default=0.0)
    parser.add_argument("--marker", default="", help="the first token's text")
    args = parser.parse_args()
    api = FakeAPI(default=behaviour(vars(args))).start()
    sys.stdout.write(json.dumps({"url": api.url}) + "\n")
    sys.stdout.flush()
    # Each line on stdin (a JSON spec) replaces the answer every later request gets.
    for line in sys.stdin:
        if line.strip():
            api.default = behaviour(json.loads(line))
            report("configured")
    try:  # stdin closed (or never open): serve on until terminated
        threading.Event().wait()
    except KeyboardInterrupt:
        api.stop()


if __name__ == "__main__":
    main()
