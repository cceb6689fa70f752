"""How long local-server discovery takes: with nothing listening, with three real-behaving
servers (Ollama with /api/show per model, llama-server, LM Studio), and with the same three
among the hostile ports of ``support/local_servers.py`` (silent, endless, dripping, garbage).

The promise is "well under a second" with the default 0.4 s deadline: the hostile mix must end
at the deadline, not at a timeout per port. Reference: one plain TCP connect and close to each
port, sequentially, which is the floor any probe has to pay.

    python tests/benchmarks/bench_discovery.py [--quick]
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.local_servers import (  # noqa: E402
    OLLAMA_MODELS,
    LlamaServer,
    LMStudio,
    LocalServers,
    free_port,
    ollama_handler,
)

from benchmarks.common import Figure, emit, median, ms, quick_flag, spread  # noqa: E402
from desktop_vlm.services.discovery import discover_local_servers  # noqa: E402

DEADLINE_S = 0.4  # discover_local_servers' default


def timed(candidates: list[tuple[str, int]], rounds: int) -> tuple[list[float], int]:
    took, found = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        found = len(discover_local_servers(candidates=candidates))
        took.append(time.perf_counter() - started)
    return took, found


def connect_floor(candidates: list[tuple[str, int]], rounds: int) -> list[float]:
    took = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _, port in candidates:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            except OSError:
                pass
        took.append(time.perf_counter() - started)
    return took


def main() -> None:
    rounds = 5 if quick_flag() else 20
    with LocalServers() as servers:
        real = [
            ("ollama", servers.start(ollama_handler(OLLAMA_MODELS))),
            ("llamacpp", servers.start(LlamaServer)),
            ("lmstudio", servers.start(LMStudio)),
        ]
        nothing = [("ollama", free_port()), ("lmstudio", free_port()), ("vllm", free_port())]
        mixed = real + servers.hostile_mix()
        empty_t, _ = timed(nothing, rounds)
        real_t, real_n = timed(real, rounds)
        mixed_t, mixed_n = timed(mixed, max(3, rounds // 4))
        floor_real = connect_floor(real, rounds)
    figures = [
        Figure(
            "Discovery, nothing listening (3 ports)",
            ms(median(empty_t)),
            target="≤ 50 ms",
            met=median(empty_t) <= 0.050,
            how="discover_local_servers over 3 closed loopback ports",
        ),
        Figure(
            "Discovery, Ollama + llama-server + LM Studio",
            f"{ms(median(real_t))} ({real_n} found)",
            reference=ms(median(floor_real)),
            ratio=median(real_t) / median(floor_real),
            target="≤ 200 ms, 3 found",
            met=median(real_t) <= 0.200 and real_n == 3,
            how="/v1/models each, /api/tags and 5 × /api/show, LM Studio /api/v0/models; "
            "reference: a TCP connect to each port",
        ),
        Figure(
            "Discovery, the same among 5 hostile ports",
            f"{ms(median(mixed_t))} ({mixed_n} found)",
            target=f"≤ {DEADLINE_S + 0.1:.1f} s, 3 found",
            met=max(mixed_t) <= DEADLINE_S + 0.1 and mixed_n == 3,
            how="silent, endless body, dripped header, garbage JSON, closed; default deadline",
        ),
    ]
    notes = [
        f"discovery: nothing {spread(empty_t)}; real {spread(real_t)}; "
        f"with hostile ports {spread(mixed_t)} (max {ms(max(mixed_t))})",
    ]
    emit(figures, notes)


if __name__ == "__main__":
    main()
