"""When to try a request again, and how long to wait: one budget for every kind of failure.

``max_retries = N`` means at most N + 1 requests for one question, whatever the mix of 5xx
statuses, resets, timeouts and streams cut before their first token: the client asks this policy
after each failure and it counts them all against the same budget. Never retried: failures that
trying again cannot fix (4xx other than 408/409/429), and anything after the first piece of an
answer arrived (the person has already seen part of it; that is StreamInterruptedError, which is
not retryable).

Pure, with the random jitter injectable so the arithmetic is tested exactly.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from desktop_vlm.core.errors import APIError, RateLimitError

#: A Retry-After longer than this is not waited for; the error is shown instead.
MAX_RETRY_AFTER = 60.0


@dataclass
class RetryPolicy:
    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = MAX_RETRY_AFTER
    #: ``jitter(low, high)``: the fraction of the full delay to wait (random.uniform when None).
    jitter: Callable[[float, float], float] | None = field(default=None, repr=False)
    failures: int = 0

    def next_delay(self, error: APIError) -> float | None:
        """Record one failed attempt; the seconds to wait before the next, or None to give up."""
        self.failures += 1
        if not error.retryable or self.failures > self.max_retries:
            return None
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            if error.retry_after > self.max_retry_after:
                return None
            return error.retry_after
        full = min(self.max_delay, self.base_delay * 2 ** (self.failures - 1))
        return full * (self.jitter or random.uniform)(0.75, 1.0)

    @property
    def attempts(self) -> int:
        """Requests sent so far, counting the one in flight."""
        return self.failures + 1
