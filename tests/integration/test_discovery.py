"""Local-server discovery against real HTTP servers on 127.0.0.1 (``support/local_servers.py``):
one that behaves like Ollama, one like llama.cpp's llama-server, one like LM Studio, and the
hostile kinds a port can hold (accepts and never answers, endless bytes, a header byte at a
time, garbage JSON, nothing at all).

Discovery must come back with the right servers and vision models whatever the others do. The
hostile servers would hold a careless client for a minute or forever, so "it came back" is
checked with a generous guard: a hang detector, not a speed test (speed is for benchmarks).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
from support.local_servers import (
    LLAMA_SERVER_MODELS,
    OLLAMA_MODELS,
    LlamaServer,
    LMStudio,
    LocalServers,
    free_port,
    ollama_handler,
)

from desktop_vlm.services import discovery
from desktop_vlm.services.discovery import LocalServer, discover_local_servers

HANG_GUARD_S = 20.0  # far beyond any deadline used here; only a hang gets near it
QWEN_GGUF = LLAMA_SERVER_MODELS[0]


@pytest.fixture
def servers() -> Iterator[LocalServers]:
    with LocalServers() as running:
        yield running


def discover(**kwargs) -> list[LocalServer]:
    """discover_local_servers in a thread, failing the test if it does not come back."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(discover_local_servers(**kwargs)))
    thread.start()
    thread.join(HANG_GUARD_S)
    assert not thread.is_alive(), "discovery did not come back"
    return result[0]


def test_real_servers_are_found_among_hostile_ones(servers, caplog):
    # GIVEN an Ollama, a llama-server and an LM Studio, and between them a port that never
    # answers, one that sends an endless body, one that drips a header forever, one that
    # answers garbage, and one with nothing behind it
    ollama = servers.start(ollama_handler(OLLAMA_MODELS))
    llama = servers.start(LlamaServer)
    lmstudio = servers.start(LMStudio)
    hostile = servers.hostile_mix()
    candidates = [("ollama", ollama), *hostile[:2], ("llamacpp", llama), *hostile[2:]]
    candidates.append(("lmstudio", lmstudio))
    # WHEN discovery runs over all of them
    with caplog.at_level(logging.INFO, logger="desktop_vlm.services.discovery"):
        found = discover(timeout=0.5, candidates=candidates)
    # THEN exactly the three real servers come back, in candidate order
    assert [(s.provider_id, s.base_url) for s in found] == [
        ("ollama", f"http://127.0.0.1:{ollama}/v1"),
        ("llamacpp", f"http://127.0.0.1:{llama}/v1"),
        ("lmstudio", f"http://127.0.0.1:{lmstudio}/v1"),
    ]
    by_kind = {s.provider_id: s for s in found}
    # Ollama: every model listed; the vision ones are what /api/show says, best first
    assert set(by_kind["ollama"].models) == set(OLLAMA_MODELS)
    assert by_kind["ollama"].vision_models == ("gemma3:12b", "receipt-reader:latest")
    assert set(by_kind["ollama"].recognised_by.values()) == {"capabilities"}
    # llama-server lists file names; the name tells
    assert by_kind["llamacpp"].models == LLAMA_SERVER_MODELS
    assert by_kind["llamacpp"].vision_models == (QWEN_GGUF,)
    assert by_kind["llamacpp"].recognised_by == {QWEN_GGUF: "name"}
    # LM Studio's own API marks the vision model, whatever it is called
    assert by_kind["lmstudio"].vision_models == ("my-scanner-model",)
    assert by_kind["lmstudio"].recognised_by == {"my-scanner-model": "capabilities"}
    assert by_kind["lmstudio"].title == "LM Studio"
    # and a person reading the log sees what was found
    assert f"found Ollama at http://127.0.0.1:{ollama}/v1: 5 models" in caplog.text
    # AND no probe stays behind, stuck on a hostile server that is still running (a stuck
    # thread would also hold up the app's exit)
    assert probes_left_behind() == []


def probes_left_behind() -> list[str]:
    probes = [t for t in threading.enumerate() if t.name.startswith("discover")]
    for probe in probes:
        probe.join(HANG_GUARD_S)
    return [t.name for t in probes if t.is_alive()]


def test_nothing_listening_gives_an_empty_list():
    assert discover(candidates=[("ollama", free_port()), ("vllm", free_port())]) == []
    assert discover(candidates=[]) == []


def test_the_catalogs_own_ports_are_probed_by_default(servers):
    # whatever this machine runs on 11434, 1234, 8000 and 8080, the call comes back with
    # servers that are on those ports
    for server in discover():
        assert server.base_url.rsplit(":", 1)[1] in ("11434/v1", "1234/v1", "8000/v1", "8080/v1")


def test_a_slow_ollama_is_judged_by_names_within_the_deadline(servers):
    # GIVEN an Ollama whose /api/show answers only long after the whole discovery may take
    ollama = servers.start(ollama_handler(OLLAMA_MODELS, slow_show=servers.stop))
    # WHEN discovery runs
    (found,) = discover(timeout=0.5, candidates=[("ollama", ollama)])
    # THEN the server is still found, its vision models judged by their names (the custom
    # name is missed and the projector-less llava taken: what names cannot know)
    assert found.vision_models == ("gemma3:12b", "llava:7b")
    assert found.recognised_by == {"gemma3:12b": "name", "llava:7b": "name"}


def test_a_server_with_many_models_is_asked_about_a_bounded_number(servers):
    # GIVEN an Ollama with 201 models
    models = {f"model-{i}:latest": ["completion"] for i in range(200)}
    models["gemma3:4b"] = ["completion", "vision"]
    handler = ollama_handler(models)
    # WHEN discovery runs
    (found,) = discover(timeout=2.0, candidates=[("ollama", servers.start(handler))])
    # THEN every model is listed, but /api/show was asked about a bounded number only
    assert len(found.models) == 201
    assert 0 < len(handler.shown) <= discovery.MAX_SHOWN_MODELS


def test_proxy_settings_are_not_used_for_loopback(servers, monkeypatch):
    # GIVEN proxy variables pointing at a port where nothing listens
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    monkeypatch.setenv("NO_PROXY", "")
    llama = servers.start(LlamaServer)
    # WHEN discovery runs THEN it talks to the server directly and finds it
    (found,) = discover(candidates=[("llamacpp", llama)])
    assert found.vision_models == (QWEN_GGUF,)


def test_a_server_naming_itself_overrides_the_port_guess(servers):
    # GIVEN llama-server running on the port the catalog gives vLLM
    (found,) = discover(candidates=[("vllm", servers.start(LlamaServer))])
    # THEN it is reported as what it says it is
    assert found.provider_id == "llamacpp" and found.title == "llama.cpp llama-server"
