"""kiosk/service.py: sd_notify through systemd's bindings, to a socket like systemd's."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.service import Notifier
from tests.notify import NotifySocket


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    with NotifySocket(tmp_path / "notify") as sock:
        yield sock


def under_systemd(monkeypatch: pytest.MonkeyPatch, notify: NotifySocket,
                  watchdog_s: float) -> dict[str, str]:
    """The process environment systemd would give (sd_notify reads it itself)."""
    env = notify.env(watchdog_s)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    return env


def test_ready_status_and_stopping_reach_the_socket(notify: NotifySocket,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    under_systemd(monkeypatch, notify, 3.0)
    notifier = Notifier()
    notifier.ready("watching the UPS")
    notifier.status("a\nforged line")
    notifier.stopping()
    notify.wait_for("STOPPING=1")
    messages = [m for _, m in notify.messages]
    assert messages[:3] == ["READY=1", "STATUS=watching the UPS", "WATCHDOG=1"]
    assert "STATUS=a forged line" in messages  # one line: no forged second message


def test_pings_are_spaced_a_third_of_the_interval(notify: NotifySocket,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    under_systemd(monkeypatch, notify, 3.0)
    clock = [100.0]
    notifier = Notifier(clock=lambda: clock[0])
    assert notifier.tick_s == pytest.approx(1.0)
    for step in range(31):  # 3 s of a loop turning every 0.1 s
        clock[0] = 100.0 + step * 0.1
        notifier.alive()
    assert len(notify.wait_for("WATCHDOG=1", 4)) == 4  # at 0, 1, 2 and 3 s
    time.sleep(0.3)
    assert len(notify.times("WATCHDOG=1")) == 4


def test_a_wait_keeps_pinging_and_ends_early_on_stop(notify: NotifySocket,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    under_systemd(monkeypatch, notify, 0.3)
    notifier = Notifier()
    stop = threading.Event()
    started = time.monotonic()
    assert notifier.wait(stop, 0.5) is False
    assert time.monotonic() - started >= 0.5
    assert len(notify.wait_for("WATCHDOG=1", 4)) >= 4
    threading.Timer(0.1, stop.set).start()
    assert notifier.wait(stop, 30) is True


def test_silent_outside_systemd_and_for_another_process(notify: NotifySocket,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    env = under_systemd(monkeypatch, notify, 1.0)
    outside = Notifier({})
    outside.ready()
    outside.alive()
    assert outside.tick_s is None
    other = Notifier({**env, "WATCHDOG_PID": str(os.getpid() + 1)})
    other.ready()
    other.alive()
    notify.wait_for("READY=1")
    time.sleep(0.3)
    # One READY (the second notifier's), no watchdog ping: the interval is another's.
    assert [m for _, m in notify.messages] == ["READY=1"] and other.tick_s is None
