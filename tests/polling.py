"""Waiting, in a test, for what another thread or process does."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], bool], timeout: float, *,
               interval: float = 0.01) -> bool:
    """True as soon as ``condition()`` holds (asked every ``interval`` seconds); once
    ``timeout`` seconds have passed, its last answer. Use as ``assert wait_until(...)``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
