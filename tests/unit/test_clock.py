"""The clock is trusted only once the kernel says it is synchronized (a Pi has no RTC)."""

from __future__ import annotations

import pytest

from kiosk import clock, runtime


class FakeLibc:
    def __init__(self, state: int) -> None:
        self.state = state

    def adjtimex(self, _buffer: object) -> int:
        return self.state


@pytest.mark.parametrize(("state", "trusted"), [
    (0, True),    # TIME_OK
    (1, True),    # TIME_INS: leap second pending, still synchronized
    (5, False),   # TIME_ERROR: not synchronized (fresh boot, no NTP yet)
    (-1, False),  # the call failed
])
def test_clock_trust_follows_adjtimex(monkeypatch: pytest.MonkeyPatch, state: int,
                                      trusted: bool) -> None:
    monkeypatch.setattr(clock.ctypes, "CDLL", lambda *a, **k: FakeLibc(state))
    assert runtime.clock_is_synchronized() is trusted


def test_no_libc_means_untrusted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock.ctypes.util, "find_library", lambda name: None)
    assert runtime.clock_is_synchronized() is False
