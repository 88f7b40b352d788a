"""The UPS policy end to end: the real upsd + dummy-ups, ``kiosk power watch`` as its own
process (as under systemd), and ``kiosk status --json`` as a maintainer would run it.

Timings are measured from the moment the test calls ``NutServer.set`` (the UPS "changes").
Where the time goes, for the budgets asserted here:

* dummy-ups re-reads its ``.dev`` file once a second (``pollinterval = 1``): the change
  reaches upsd 0-1 s after ``set`` (measured 0.3-1.0 s). A real UPS driver polls too
  (usbhid-ups: ``pollinterval`` 2 s by default), so on a kiosk this share is the driver's.
* ``kiosk status --json`` reads the UPS itself: one run takes about 0.5 s here (Python start
  + the self-test of every device). Polled back to back, the first run that starts after
  upsd has the change shows it: <= 1 s pickup + 2 runs ~ 2 s against the 3 s budget.
* The watcher polls every ``poll_interval_s`` (0.2 s here); the mains counts as lost after
  ``debounce_s`` (1.0 s here) on battery: then ``power.json`` says ``on_battery`` (the
  screen's banner) and, below a threshold, ``accepting`` false (``kiosk status`` takes its
  verdict from there): pickup + debounce + up to 2 polls, 1.3 s measured, 2.4 s at worst.
  (With the defaults, 2.0 s and 0.5 s, that is up to 4 s: measured 2.8-3.0 s.)
* A shutdown (LB, FSD, or below the shutdown thresholds on battery) is not debounced:
  <= 1 s pickup + 0.2 s poll + journal checkpoint + the command, against the 5 s budget
  (measured 0.8 s).

Missing NUT daemons FAIL these tests (``make test`` installs nut-server and nut-client).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kiosk.journal import Journal
from tests.conftest import REPO, kiosk_env, write_config
from tests.hil.nut_harness import NutServer, nut_or_fail

pytestmark = pytest.mark.hil

STATUS_BUDGET_S = 3.0     # upsd serves OB -> `kiosk status` shows battery
SHUTDOWN_BUDGET_S = 5.0   # OB LB -> shutdown_command has run
DEBOUNCE_S = 1.0
POLL_S = 0.2
#: On battery with too little runtime -> `accepting` false. The refusal is the watcher's
#: debounced verdict: pickup (<= 1 s) + debounce + 2 polls + up to 2 status runs (~1 s).
REFUSAL_BUDGET_S = 1.0 + DEBOUNCE_S + 2 * POLL_S + 1.6
#: The watcher's own deadline for anything else (starting, exiting, journaling).
SETTLE_S = 10.0


@pytest.fixture(scope="module")
def nut_server() -> Iterator[NutServer]:
    with nut_or_fail() as server:
        yield server


@pytest.fixture
def nut(nut_server: NutServer) -> NutServer:
    """The shared server back on line with a full battery (and upsd serving that)."""
    nut_server.reset()
    return nut_server


@dataclass
class Kiosk:
    """A kiosk data directory with ``kiosk power watch`` running on it."""

    tmp: Path
    config: Path
    env: dict[str, str]
    watcher: subprocess.Popen[bytes] | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def data(self) -> Path:
        return self.tmp / "data"

    @property
    def shutdown_file(self) -> Path:
        return self.tmp / "shutdown-ran"

    @property
    def snapshot(self) -> Path:
        """The journal's main file as it was when the shutdown command ran."""
        return self.tmp / "journal-at-shutdown.db"

    @property
    def log(self) -> str:
        path = self.tmp / "watcher.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def start(self) -> None:
        with open(self.tmp / "watcher.log", "wb") as out:
            self.watcher = subprocess.Popen(
                [sys.executable, "-m", "kiosk.cli", "power", "watch"], env=self.env, cwd=REPO,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        # Running once it has published its first verdict (on line, accepting).
        wait_until(lambda: self.published() is not None, SETTLE_S,
                   lambda: f"the watcher published no state\n{self.log}")

    def stop(self) -> int | None:
        """SIGTERM (systemd's stop); the exit status, or None if it had to be killed."""
        proc = self.watcher
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                return proc.wait(timeout=SETTLE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=SETTLE_S)
                return None
        return proc.returncode

    def status(self) -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-m", "kiosk.cli", "status", "--json"],
                             env=self.env, cwd=REPO, capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 0, f"kiosk status failed ({out.returncode}): {out.stderr}"
        return dict(json.loads(out.stdout))

    def poll_status(self, want: Callable[[dict[str, Any]], bool], since: float,
                    budget: float, what: str) -> tuple[dict[str, Any], float]:
        """Run ``kiosk status --json`` until ``want``; the seconds since ``since``."""
        last: dict[str, Any] = {}
        while True:
            last = self.status()
            took = time.monotonic() - since
            if want(last):
                return last, took
            if took > budget:
                pytest.fail(f"{what}: not within {budget} s; last status power="
                            f"{last.get('power')} accepting={last.get('accepting')} "
                            f"reason={last.get('reason')!r}\nwatcher log:\n{self.log}")

    def published(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads((self.data / "power.json").read_text()))
        except (OSError, ValueError):
            return None

    def events(self, path: Path | None = None) -> list[str]:
        """The journal's audit event names, oldest first (read-only, as tools read it)."""
        path = path or self.data / "journal.db"
        if not path.exists():  # the watcher creates it with its first event
            return []
        with Journal.open_readonly(path) as journal:
            return [e.event for e in journal.audit_events(1000)]

    def power_events(self, path: Path | None = None) -> list[str]:
        return [e for e in self.events(path) if e.startswith("power_")]


def wait_until(ready: Callable[[], bool], timeout: float, why: Callable[[], str]) -> float:
    start = time.monotonic()
    while not ready():
        if time.monotonic() - start > timeout:
            pytest.fail(f"timed out after {timeout} s: {why()}")
        time.sleep(0.02)
    return time.monotonic() - start


def upsd_pickup(nut: NutServer, variable: str, value: str) -> Callable[[], float]:
    """Measure, in the background, how long upsd takes to serve ``value``: call right
    after ``set``; the returned function gives the seconds (fails if never)."""
    result: list[float | BaseException] = []
    start = time.monotonic()

    def measure() -> None:
        try:
            nut.wait_for(variable, value, timeout=SETTLE_S)
            result.append(time.monotonic() - start)
        except BaseException as exc:  # reported by the caller
            result.append(exc)

    thread = threading.Thread(target=measure, daemon=True)
    thread.start()

    def took() -> float:
        thread.join(timeout=SETTLE_S + 1)
        assert result, "the upsd probe did not finish"
        if isinstance(result[0], BaseException):
            raise result[0]
        return result[0]

    return took


def upsd_status(nut: NutServer) -> str:
    """``ups.status`` straight from upsd (a raw socket: independent of the kiosk's client)."""
    try:
        with socket.create_connection((nut.host, nut.port), timeout=1.0) as s:
            s.sendall(f"GET VAR {nut.ups} ups.status\n".encode())
            answer = s.recv(512).decode(errors="replace").strip()
    except OSError as exc:
        return f"error: {exc}"
    return answer.partition('"')[2].rstrip('"')


def integrity(path: Path) -> list[str]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


@pytest.fixture
def kiosk(nut: NutServer, tmp_path: Path) -> Iterator[Kiosk]:
    # The command leaves what a real poweroff would find: the journal's main file as it was
    # (copied first, without its -wal), then a timestamp, renamed into place atomically.
    script = (f'cp "{tmp_path}/data/journal.db" "{tmp_path}/journal-at-shutdown.db"; '
              f'date +%s.%N > "{tmp_path}/shutdown.tmp" && '
              f'mv "{tmp_path}/shutdown.tmp" "{tmp_path}/shutdown-ran"')
    config = write_config(tmp_path, nut.power_config + f"""
debounce_s = {DEBOUNCE_S}
poll_interval_s = {POLL_S}
min_battery_percent = 30
min_runtime_s = 600
shutdown_battery_percent = 10
shutdown_runtime_s = 120
shutdown_command = ["sh", "-c", {json.dumps(script)}]
""")
    env = kiosk_env(config)
    env["KIOSK_SYSTEM_CONFIG"] = os.environ["KIOSK_SYSTEM_CONFIG"]  # never /etc/kiosk
    k = Kiosk(tmp_path, config, env)
    k.start()
    try:
        yield k
    finally:
        k.stop()
        if k.timings:
            print(f"\n[timings] {json.dumps({n: round(v, 2) for n, v in k.timings.items()})}")


def test_on_battery_shows_in_status_and_published_state_within_3_s(nut, kiosk):
    status = kiosk.status()
    assert (status["power"]["source"], status["accepting"]) == ("mains", True)

    since = time.monotonic()
    nut.set_status("OB DISCHRG", **{"battery.charge": "85", "battery.runtime": "2400"})
    pickup = upsd_pickup(nut, "ups.status", "OB DISCHRG")
    status, took = kiosk.poll_status(lambda s: s["power"]["source"] == "battery", since,
                                     SETTLE_S, "kiosk status showing battery")
    assert status["power"]["battery_percent"] == 85.0
    assert status["power"]["runtime_s"] == 2400.0
    assert status["accepting"] is True, "a healthy battery must not stop enrollment"
    upsd_s = pickup()
    kiosk.timings.update(upsd_pickup_s=upsd_s, status_battery_s=took)
    # The budget is the kiosk's: from the moment upsd serves the new status (dummy-ups
    # reads its file on its own schedule, slower still on a loaded machine) to `kiosk
    # status` showing it.
    assert took - upsd_s < STATUS_BUDGET_S, (took, upsd_s)

    # What the screen's banner reads: the watcher's verdict, after debounce_s on battery.
    wait_until(lambda: (kiosk.published() or {}).get("on_battery") is True,
               SETTLE_S, lambda: f"power.json {kiosk.published()}\n{kiosk.log}")
    banner = time.monotonic() - since
    kiosk.timings["published_on_battery_s"] = banner
    assert banner - upsd_s < STATUS_BUDGET_S, (banner, upsd_s)
    assert kiosk.watcher is not None and kiosk.watcher.poll() is None
    assert kiosk.power_events() == ["power_mains_lost"]


def test_low_runtime_stops_enrollment_and_mains_resumes_it(nut, kiosk):
    since = time.monotonic()
    # 300 s left: above shutdown_runtime_s (120), below min_runtime_s (600).
    nut.set_status("OB DISCHRG", **{"battery.charge": "60", "battery.runtime": "300"})
    pickup = upsd_pickup(nut, "battery.runtime", "300")
    status, took = kiosk.poll_status(lambda s: s["accepting"] is False, since,
                                     REFUSAL_BUDGET_S, "accepting false on a short runtime")
    kiosk.timings.update(upsd_pickup_s=pickup(), refused_s=took)
    assert "power.min_runtime_s=600" in status["reason"], status["reason"]
    assert status["power"]["source"] == "battery"
    # The watcher's own verdict (after debounce), which the kiosk app reads, agrees.
    wait_until(lambda: (kiosk.published() or {}).get("accepting") is False, SETTLE_S,
               lambda: f"power.json {kiosk.published()}\n{kiosk.log}")
    assert "power.min_runtime_s=600" in kiosk.published()["reason"]  # type: ignore[index]

    since = time.monotonic()
    nut.set_status("OL CHRG", **{"battery.charge": "61", "battery.runtime": "320"})
    status, took = kiosk.poll_status(lambda s: s["accepting"] is True, since,
                                     STATUS_BUDGET_S, "accepting again on mains")
    kiosk.timings["resumed_s"] = took
    assert status["power"]["source"] == "mains" and status["reason"] is None
    assert kiosk.power_events() == ["power_mains_lost", "power_stop_accepting",
                                    "power_mains_restored", "power_resume_accepting"]
    assert not kiosk.shutdown_file.exists()
    assert kiosk.watcher is not None and kiosk.watcher.poll() is None


def test_low_battery_runs_the_shutdown_command_once_with_the_journal_consistent(nut, kiosk):
    since_wall, since = time.time(), time.monotonic()
    nut.set_status("OB LB", **{"battery.charge": "8", "battery.runtime": "90"})
    pickup = upsd_pickup(nut, "ups.status", "OB LB")
    wait_until(kiosk.shutdown_file.exists, SHUTDOWN_BUDGET_S + 5,
               lambda: f"the shutdown command did not run\n{kiosk.log}")
    ran = float(kiosk.shutdown_file.read_text()) - since_wall
    kiosk.timings.update(upsd_pickup_s=pickup(), shutdown_ran_s=ran,
                         seen_at_s=time.monotonic() - since)
    assert ran < SHUTDOWN_BUDGET_S

    assert kiosk.watcher is not None
    assert kiosk.watcher.wait(timeout=SETTLE_S) == 0, kiosk.log
    assert kiosk.log.count("running shutdown command") == 1
    published = kiosk.published()
    assert published is not None
    assert (published["shutting_down"], published["accepting"]) == (True, False)
    assert "low battery" in published["reason"]

    # The journal as the shutdown command found it: its main file alone (the -wal
    # checkpointed into it first) is sound and already holds the shutdown event.
    assert integrity(kiosk.snapshot) == ["ok"]
    assert "power_shutdown" in kiosk.power_events(kiosk.snapshot)
    journal = kiosk.data / "journal.db"
    assert integrity(journal) == ["ok"]
    assert kiosk.power_events() == ["power_shutdown", "power_stop_accepting"]
    wal = Path(f"{journal}-wal")
    assert not wal.exists() or wal.stat().st_size == 0

    status = kiosk.status()  # the watcher is gone: its last verdict still stands
    assert status["accepting"] is False and "low battery" in status["reason"]


def test_flapping_mains_never_shuts_down(nut, kiosk):
    """The UPS changes every 0.5 s for 6 s: on battery, on mains with LB (a drained battery
    charging after a cut, which must not count), on mains charging; repeat. The battery
    phases are above every threshold.

    Three states, not a plain OB/OL alternation: dummy-ups samples its file once a second,
    so a strict 0.5 s alternation aliases to a single state there (seen: upsd served only
    the OL phases). With a cycle of three, each state reaches upsd every 3 s or so, checked
    below by an independent probe of upsd.
    """
    seen: set[str] = set()
    done = threading.Event()

    def watch_upsd() -> None:  # what upsd really served, independently of the kiosk
        while not done.is_set():
            seen.add(upsd_status(nut))
            time.sleep(0.05)

    probe = threading.Thread(target=watch_upsd, daemon=True)
    probe.start()
    cycle = ["OB DISCHRG", "OL CHRG LB", "OL CHRG"]
    end = time.monotonic() + 6.0
    n = 0
    while time.monotonic() < end:
        nut.set_status(cycle[n % len(cycle)],
                       **{"battery.charge": "45", "battery.runtime": "1500"})
        n += 1
        time.sleep(0.5)
        assert kiosk.watcher is not None and kiosk.watcher.poll() is None, kiosk.log
    nut.set_status("OL")
    nut.wait_for("ups.status", "OL", timeout=SETTLE_S)
    done.set()
    probe.join(timeout=SETTLE_S)
    assert {"OB DISCHRG", "OL CHRG LB"} <= seen, f"upsd served only {seen}: proves nothing"
    kiosk.timings["flap_changes"] = n

    kiosk.poll_status(lambda s: s["power"]["source"] == "mains", time.monotonic(),
                      STATUS_BUDGET_S, "back on mains")
    time.sleep(3 * POLL_S)  # the watcher's last reading is in
    assert not kiosk.shutdown_file.exists(), kiosk.log
    assert "power_shutdown" not in kiosk.power_events()
    assert "running shutdown command" not in kiosk.log
    assert kiosk.watcher.poll() is None
    assert (kiosk.published() or {}).get("accepting") is True
    assert kiosk.status()["accepting"] is True


def test_sigterm_stops_the_watcher_cleanly_on_battery(nut, kiosk):
    nut.set_status("OB DISCHRG", **{"battery.charge": "70", "battery.runtime": "2000"})
    wait_until(lambda: (kiosk.published() or {}).get("on_battery") is True, SETTLE_S,
               lambda: f"power.json {kiosk.published()}\n{kiosk.log}")
    start = time.monotonic()
    assert kiosk.stop() == 0, kiosk.log
    kiosk.timings["sigterm_exit_s"] = time.monotonic() - start
    assert time.monotonic() - start < 2.0
    assert not kiosk.shutdown_file.exists()
    assert "Traceback" not in kiosk.log, kiosk.log
    assert integrity(kiosk.data / "journal.db") == ["ok"]
    assert kiosk.power_events() == ["power_mains_lost"]
