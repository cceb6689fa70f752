"""Fixtures shared by the integration tests that drive the chat harness."""

from __future__ import annotations

from dataclasses import replace

import pytest
from support.chat_harness import Harness

from desktop_vlm.core.config import Config, with_base_url
from desktop_vlm.services.secrets import KeyStore


@pytest.fixture
def make_chat(qtbot, fake_api):  # noqa: ANN001, ANN201
    """``make_chat(config=None, keys=None, **changes)``: a Harness against the loopback server
    (by default its URL, no retries, plus ``changes``), closed at the end of the test."""
    made: list[Harness] = []

    def make(config: Config | None = None, keys: KeyStore | None = None, **changes) -> Harness:  # noqa: ANN003
        if config is None:
            config = replace(with_base_url(Config(), fake_api.url), max_retries=0, **changes)
        harness = Harness(qtbot, fake_api, config, keys)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()
