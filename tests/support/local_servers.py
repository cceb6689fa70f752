"""Stand-ins for the model servers people run on their own machine, and for the hostile things
a port can hold, all as real HTTP (or raw TCP) servers on 127.0.0.1 ephemeral ports.

``LocalServers`` starts them and stops everything on exit. The well-behaved ones answer as the
real servers do: Ollama (``/v1/models``, ``/api/tags``, ``/api/show`` with "capabilities"),
llama.cpp's llama-server (``/v1/models`` only, ``owned_by: llamacpp``), LM Studio (``/v1/models``
and ``/api/v0/models`` with ``"type": "vlm"``). The hostile ones: a port that accepts and never
answers, an endless body, a header dripped a byte at a time, garbage JSON.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: Model -> what Ollama's /api/show says it can do.
OLLAMA_MODELS = {
    "gemma3:12b": ["completion", "vision"],
    "llama3.1:8b": ["completion", "tools"],
    "receipt-reader:latest": ["completion", "vision"],  # a person's own name: only /api/show knows
    "llava:7b": ["completion"],  # imported without its projector: it cannot see
    "nomic-embed-text:latest": ["embedding"],
}
LLAMA_SERVER_MODELS = (
    "Qwen2.5-VL-7B-Instruct-Q4_K_M.gguf",
    "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
)
LM_STUDIO_MODELS = {"my-scanner-model": "vlm", "qwen2.5-7b-instruct": "llm"}


class Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def send_json(self, payload, status: int = 200) -> None:
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up waiting, as it should


def ollama_handler(models: dict[str, list[str]], slow_show: threading.Event | None = None):
    """An Ollama; with ``slow_show``, /api/show answers only once that event is set. The class
    records in ``shown`` every model /api/show was asked about."""
    shown: list[str] = []

    class Ollama(Quiet):
        def do_GET(self) -> None:
            if self.path == "/v1/models":
                data = [{"id": m, "object": "model", "owned_by": "library"} for m in models]
                self.send_json({"object": "list", "data": data})
            elif self.path == "/api/tags":
                self.send_json({"models": [{"name": m, "model": m} for m in models]})
            else:
                self.send_json({"error": "not found"}, 404)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            name = json.loads(self.rfile.read(length)).get("model")
            shown.append(name)
            if slow_show is not None:
                slow_show.wait(60)
            if self.path == "/api/show" and name in models:
                # the real answer carries the license text and more: tens of kilobytes
                self.send_json({"license": "x" * 20_000, "capabilities": models[name]})
            else:
                self.send_json({"error": f"model '{name}' not found"}, 404)

    Ollama.shown = shown
    return Ollama


class LlamaServer(Quiet):
    def do_GET(self) -> None:
        if self.path == "/v1/models":
            data = [
                {"id": m, "object": "model", "owned_by": "llamacpp"} for m in LLAMA_SERVER_MODELS
            ]
            self.send_json({"object": "list", "data": data})
        else:
            self.send_json({"error": "not found"}, 404)


class LMStudio(Quiet):
    def do_GET(self) -> None:
        if self.path == "/v1/models":
            data = [{"id": i, "object": "model"} for i in LM_STUDIO_MODELS]
            self.send_json({"object": "list", "data": data})
        elif self.path == "/api/v0/models":
            data = [{"id": i, "type": t} for i, t in LM_STUDIO_MODELS.items()]
            self.send_json({"object": "list", "data": data})
        else:
            self.send_json({"error": "not found"}, 404)


class Garbage(Quiet):
    def do_GET(self) -> None:
        body = b'{"object": "list", "data": [{"id": "qwen2.5vl:7b"}, \x00\xff oops'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def streaming_handler(stop: threading.Event, *, drip: bool):
    """``drip=False``: a plausible start, then a JSON body that never ends, as fast as it goes.
    ``drip=True``: a status line, then one header byte every 20 ms, forever."""

    class Streaming(Quiet):
        def do_GET(self) -> None:
            if drip:
                start, chunk, pause = b"HTTP/1.1 200 OK\r\nX-Slow: ", b"x", 0.02
            else:
                start = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"data": ['
                chunk, pause = b'{"id": "x"}, ' * 4096, 0.0
            try:
                self.wfile.write(start)
                while not stop.is_set():
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    if pause:
                        stop.wait(pause)
            except OSError:
                pass  # the client hung up, as it should

    return Streaming


def free_port() -> int:
    """A port with nothing behind it (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalServers:
    """Start servers on ephemeral 127.0.0.1 ports; ``with`` stops them all."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._servers: list[ThreadingHTTPServer] = []
        self._silent: list[socket.socket] = []

    def start(self, handler) -> int:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._servers.append(server)
        return server.server_address[1]

    def silent(self) -> int:
        """A port that accepts (the kernel completes the handshake) and never answers."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        self._silent.append(sock)
        return sock.getsockname()[1]

    def hostile_mix(self) -> list[tuple[str, int]]:
        """(provider id, port) candidates that must all be left out: silent, endless, drip,
        garbage, nothing listening."""
        return [
            ("vllm", self.silent()),
            ("vllm", self.start(streaming_handler(self.stop, drip=False))),
            ("llamacpp", self.start(streaming_handler(self.stop, drip=True))),
            ("lmstudio", self.start(Garbage)),
            ("vllm", free_port()),
        ]

    def close(self) -> None:
        self.stop.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for sock in self._silent:
            sock.close()

    def __enter__(self) -> LocalServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
