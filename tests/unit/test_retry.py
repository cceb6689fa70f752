"""The retry policy: one budget for every kind of failure, exact waits with the jitter fixed."""

from __future__ import annotations

import pytest

from desktop_vlm.core import errors as E
from desktop_vlm.core.retry import RetryPolicy


def server_error() -> E.ServerError:
    return E.ServerError("The server failed (HTTP 503)", status=503)


def reset() -> E.APIConnectionError:
    return E.APIConnectionError("The connection to h failed (the connection was reset)")


def cut() -> E.APIConnectionError:
    return E.APIConnectionError("The server closed the stream in the middle of an event")


def test_max_retries_counts_every_kind_of_failure_in_one_budget() -> None:
    # GIVEN the default of two retries and a jitter that always takes the full delay
    policy = RetryPolicy(max_retries=2, jitter=lambda low, high: high)
    # WHEN a 503, a reset and a stream cut before its first token follow one another
    waits = [
        policy.next_delay(server_error()),
        policy.next_delay(reset()),
        policy.next_delay(cut()),
    ]
    # THEN the first two are retried with exponential backoff and the third gives up:
    # three requests in all
    assert waits == [0.5, 1.0, None]
    assert policy.failures == 3


@pytest.mark.parametrize("retries", [0, 1, 2, 5])
def test_at_most_n_plus_one_requests_whatever_the_mix(retries: int) -> None:
    policy = RetryPolicy(max_retries=retries, jitter=lambda low, high: low)
    kinds = [server_error, reset, cut] * 5
    sent = 1
    for make in kinds:
        if policy.next_delay(make()) is None:
            break
        sent += 1
    assert sent == retries + 1


def test_jitter_takes_three_quarters_to_all_of_the_delay_and_the_delay_is_capped() -> None:
    asked: list[tuple[float, float]] = []

    def jitter(low: float, high: float) -> float:
        asked.append((low, high))
        return 0.75

    policy = RetryPolicy(max_retries=10, jitter=jitter)
    waits = [policy.next_delay(server_error()) for _ in range(6)]
    assert waits == [0.375, 0.75, 1.5, 3.0, 6.0, 6.0]  # 8 s cap times 0.75
    assert set(asked) == {(0.75, 1.0)}


def test_retry_after_is_honoured_exactly_and_a_long_one_is_not_waited_for() -> None:
    policy = RetryPolicy(max_retries=3)
    assert policy.next_delay(E.RateLimitError("slow down", status=429, retry_after=2.5)) == 2.5
    assert policy.next_delay(E.RateLimitError("slow down", status=429, retry_after=600)) is None


@pytest.mark.parametrize(
    "error",
    [
        E.BadRequestError("bad", status=400),
        E.AuthenticationError("no", status=401),
        E.ModelNotFoundError("gone", status=404),
        E.StreamInterruptedError("the answer stopped"),
        E.ProtocolError("not the format"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_what_trying_again_cannot_fix_is_not_retried(error: E.APIError) -> None:
    assert RetryPolicy(max_retries=5).next_delay(error) is None
