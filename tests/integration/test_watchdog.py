"""Each service tells systemd READY=1, then WATCHDOG=1 from its own main loop: a loop that
hangs stops the pings (and systemd restarts the service), issue #12."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from kiosk.config import load_config
from kiosk.power import PowerStatus
from kiosk.power.policy import Thresholds
from kiosk.power.watcher import watch
from kiosk.runtime import open_journal
from kiosk.service import Notifier
from kiosk.upload.uploader import PassResult, Uploader, UploadSettings
from tests.conftest import KIOSK, REPO, kiosk_env, write_config
from tests.notify import NotifySocket
from tests.upload_helpers import closed_port_url, make_site

WATCHDOG_S = 0.9  # pings every 0.3 s


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    with NotifySocket(tmp_path / "notify") as sock:
        yield sock


@pytest.fixture
def under_systemd(notify: NotifySocket, monkeypatch: pytest.MonkeyPatch) -> NotifySocket:
    """This process's environment as systemd sets it (sd_notify reads it itself)."""
    for key, value in notify.env(WATCHDOG_S).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    return notify


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def pings_between(notify: NotifySocket, start: float, end: float) -> int:
    return sum(start <= t <= end for t in notify.times("WATCHDOG=1"))


# -- the power watcher -------------------------------------------------------------------------
def test_power_watch_is_ready_pings_from_its_poll_and_says_stopping(
        tmp_path: Path, notify: NotifySocket) -> None:
    config = write_config(tmp_path)
    env = kiosk_env(config) | notify.env(WATCHDOG_S)
    proc = subprocess.Popen([*KIOSK, "power", "watch"], env=env, stderr=subprocess.PIPE,
                            text=True)
    try:
        notify.wait_for("READY=1", timeout=30)
        pings = notify.wait_for("WATCHDOG=1", 6, timeout=10)
        assert max(gaps(pings)) < WATCHDOG_S  # never a whole interval without one
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    # A daemon's clean end (what systemd expects of `systemctl stop`), said in its log.
    assert "power watcher stopped (SIGTERM)" in err, err[-2000:]
    notify.wait_for("STOPPING=1", timeout=5)


def test_a_hung_power_poll_stops_the_pings(under_systemd: NotifySocket) -> None:
    hang = threading.Event()
    release = threading.Event()

    def read() -> PowerStatus:
        if hang.is_set():
            release.wait(30)  # a UPS read that never returns
        return PowerStatus("mains", 100.0, 3600.0, False, status="OL")

    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(read,), kwargs={
        "thresholds": Thresholds(), "state_path": Path(under_systemd.path.parent / "ps.json"),
        "journal_factory": None, "shutdown_command": ["true"], "poll_interval_s": 0.1,
        "stop": stop, "notifier": Notifier()}, daemon=True)
    thread.start()
    try:
        under_systemd.wait_for("WATCHDOG=1", 3, timeout=10)
        hang.set()
        time.sleep(0.3)  # the poll under way finishes and the next one hangs
        hung_at = time.monotonic()
        time.sleep(3 * WATCHDOG_S)
        assert thread.is_alive()
        assert pings_between(under_systemd, hung_at, time.monotonic()) == 0
        before = len(under_systemd.times("WATCHDOG=1"))
        release.set()
        under_systemd.wait_for("WATCHDOG=1", before + 1, timeout=10)  # pings again once free
    finally:
        release.set()
        stop.set()
        thread.join(10)


# -- the uploader -------------------------------------------------------------------------------
def test_the_uploader_pings_through_its_pauses_and_not_when_its_loop_hangs(
        tmp_path: Path, under_systemd: NotifySocket) -> None:
    site = make_site(tmp_path / "site")
    site.configure(closed_port_url())  # the link is down: passes, then growing pauses
    config = load_config(site.config)
    settings = replace(UploadSettings.from_config(config, site.intake_key), interval_s=1.0)
    stop = threading.Event()
    hang = threading.Event()
    hanging = threading.Event()
    release = threading.Event()
    with open_journal(config) as journal, Uploader(journal, settings, stop=stop,
                                                   notifier=Notifier()) as uploader:
        drain = uploader.drain

        def hanging_drain() -> PassResult:
            if hang.is_set():
                hanging.set()
                release.wait(30)  # a pass that never ends (a lock or a driver gone wrong)
            return drain()

        uploader.drain = hanging_drain  # type: ignore[method-assign]
        thread = threading.Thread(target=uploader.run_forever, daemon=True)
        thread.start()
        try:
            under_systemd.wait_for("READY=1", timeout=10)
            pings = under_systemd.wait_for("WATCHDOG=1", 8, timeout=15)
            assert max(gaps(pings)) < WATCHDOG_S  # passes and the pauses between them
            hang.set()
            assert hanging.wait(15)
            hung_at = time.monotonic()
            time.sleep(3 * WATCHDOG_S)
            assert thread.is_alive()
            assert pings_between(under_systemd, hung_at, time.monotonic()) == 0
        finally:
            release.set()
            stop.set()
            thread.join(10)
    under_systemd.wait_for("STOPPING=1", timeout=5)


# -- the touchscreen ----------------------------------------------------------------------------
@pytest.mark.gui
def test_the_touchscreen_pings_from_its_ui_thread(tmp_path: Path, xdisplay: str,
                                                  notify: NotifySocket) -> None:
    config = write_config(tmp_path, "[ui]\nwidth = 800\nheight = 480\nspeech = false\n")
    # 3 s (the unit's is 30 s): pings every second. A frame of the software renderer on a
    # machine loaded by other tests can hold the UI thread for a second or two (1.05 s seen
    # at load 5; 1.86 s in a clean CI run, where a 1.5 s watchdog called it a hang), which
    # is no hang; the hang made here is three watchdog intervals long.
    watchdog_s = 3.0
    env = kiosk_env(config) | notify.env(watchdog_s) | {"DISPLAY": xdisplay,
                                                        "KIVY_NO_CONSOLELOG": "1"}
    hang_s = 3 * watchdog_s
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(REPO / "tests" / "integration" / "ui_hang.py"), str(config),
         "4", str(hang_s), str(4 + hang_s + 4)], env=env, capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    ready = notify.wait_for("READY=1")[0]
    pings = [t for t in notify.times("WATCHDOG=1") if t >= ready]
    assert len(pings) >= 6, pings
    longest = max(gaps(pings))
    # The UI thread slept hang_s: no ping for that long, and never a silence otherwise.
    assert hang_s - 0.3 <= longest <= hang_s + 2 * watchdog_s, (longest, started)
    assert sorted(gaps(pings))[-2] < watchdog_s
    notify.wait_for("STOPPING=1")
