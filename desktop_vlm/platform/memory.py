"""Keep a long-running app's memory where its work left it, not where the allocator did.

Images are encoded, cut and checked on pool threads, and glibc gives every thread that allocates
its own malloc arena (up to 8 per core). Freed image buffers then stay mapped in many arenas:
a tray app that made 30 captures measured 37 MB above its size after 5, with nothing of them
alive, and well under 30 MB with one arena (tests/system/test_hostile.py). The threads hold the
GIL for most allocations anyway, and image buffers are large enough to be mapped on their own,
so one shared arena costs no measurable time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging
import sys

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's mallopt parameters
M_MMAP_THRESHOLD = -3
#: Blocks this large always get pages of their own, given back when freed. glibc otherwise
#: raises the threshold to the largest block freed (a 2-3 MB capture or request body), after
#: which such blocks come from the heap and leave it fragmented: RSS then grows by chance.
MMAP_THRESHOLD = 512 * 1024


@functools.cache
def _libc():  # noqa: ANN202
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc only (musl has neither)
    except (OSError, AttributeError):
        return None
    return libc


def cap_arenas(count: int = 1) -> None:
    """At most ``count`` malloc arenas for the threads started from now on, and large blocks
    always mapped on their own (glibc only)."""
    libc = _libc()
    if libc is None:
        return
    if not libc.mallopt(M_ARENA_MAX, count):
        log.debug("mallopt(M_ARENA_MAX) refused")
    if not libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD):
        log.debug("mallopt(M_MMAP_THRESHOLD) refused")


def trim() -> None:
    """Free what a capture left behind and hand it back to the system: an image's buffers caught
    in a reference cycle (a closure of a signal, a finished request) would otherwise wait for
    the next full collection, tens of MB at a time. Called after an image's preparation."""
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
