"""The UPS policy, fed readings on a fake clock, and the watcher loop around it."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from kiosk.errors import DeviceTimeout
from kiosk.journal import Journal
from kiosk.power import PowerStatus
from kiosk.power.policy import PowerPolicy, Thresholds, refusal_reason
from kiosk.power.watcher import publish_state, read_published_state, watch
from tests.durability import record_fsyncs, run_on_a_full_disk

MAINS = PowerStatus("mains", 100.0, 3600.0, False)
BATTERY = PowerStatus("battery", 80.0, 2400.0, False)
BATTERY_SHORT = PowerStatus("battery", 60.0, 400.0, False)    # below min_runtime_s=600
BATTERY_LB = PowerStatus("battery", 25.0, 200.0, True)
CHARGING_LB = PowerStatus("mains", 5.0, 60.0, True)
UNKNOWN = PowerStatus("unknown", None, None, False)


def run(readings: Sequence[tuple[float, PowerStatus]], policy: PowerPolicy | None = None
        ) -> tuple[PowerPolicy, list[tuple[float, str]]]:
    policy = policy or PowerPolicy(Thresholds(debounce_s=2.0))
    seen = []
    for now, status in readings:
        seen += [(now, e.kind) for e in policy.observe(status, now)]
    return policy, seen


def test_a_flicker_shorter_than_the_debounce_is_ignored() -> None:
    policy, seen = run([(0, MAINS), (1, BATTERY), (2.5, MAINS), (3, BATTERY), (4.9, MAINS)])
    assert seen == [] and policy.accepting and not policy.on_battery


def test_mains_lost_after_debounce_then_restored() -> None:
    policy, seen = run([(0, MAINS), (1, BATTERY), (2, BATTERY), (3, BATTERY), (10, MAINS)])
    assert seen == [(3, "mains_lost"), (10, "mains_restored")]
    assert policy.accepting  # plenty of runtime: the kiosk kept enrolling on battery


def test_short_runtime_on_battery_stops_accepting_and_mains_resumes() -> None:
    policy, seen = run([(0, BATTERY_SHORT), (2, BATTERY_SHORT)])
    assert seen == [(2, "mains_lost"), (2, "stop_accepting")]
    assert not policy.accepting and "min_runtime_s" in policy.reason
    _, later = run([(5, MAINS)], policy)
    assert later == [(5, "mains_restored"), (5, "resume_accepting")]
    assert policy.accepting


def test_low_battery_on_battery_shuts_down_once() -> None:
    policy, seen = run([(0, BATTERY), (2, BATTERY), (3, BATTERY_LB), (4, BATTERY_LB),
                        (5, MAINS), (6, BATTERY_LB)])
    assert [kind for _, kind in seen].count("shutdown") == 1
    assert (3, "shutdown") in seen and not policy.accepting
    assert "shutting down" in policy.reason


@pytest.mark.parametrize(("status", "fragment"), [
    (PowerStatus("battery", 8.0, 900.0, False), "shutdown_battery_percent"),
    (PowerStatus("battery", 40.0, 90.0, False), "shutdown_runtime_s"),
    (BATTERY_LB, "low battery"),
])
def test_each_critical_reading_shuts_down_with_its_reason(status: PowerStatus,
                                                          fragment: str) -> None:
    policy = PowerPolicy(Thresholds())
    events = policy.observe(status, 0.0)
    assert [e.kind for e in events] == ["shutdown", "stop_accepting"]
    assert fragment in events[0].reason


@pytest.mark.parametrize(("status", "reason"), [
    (PowerStatus("battery", 25.0, 3000.0, False),
     "on battery at 25%, below power.min_battery_percent=30"),
    (PowerStatus("battery", 80.0, 400.0, False),
     "on battery with 400 s left, below power.min_runtime_s=600"),
    (PowerStatus("battery", 80.0, 3000.0, True), "on battery and the UPS reports low battery"),
    (PowerStatus("battery", 80.0, 3000.0, False), ""),
])
def test_a_new_enrollment_is_refused_below_the_lower_limits_with_the_option_named(
        status: PowerStatus, reason: str) -> None:
    assert refusal_reason(status, Thresholds()) == reason


def test_forced_shutdown_is_obeyed_even_on_mains() -> None:
    policy = PowerPolicy(Thresholds())
    fsd = PowerStatus("mains", 50.0, 900.0, False, forced_shutdown=True)
    assert "shutdown" in [e.kind for e in policy.observe(fsd, 0)]


def test_drained_battery_charging_on_mains_never_shuts_down() -> None:
    _, seen = run([(t, CHARGING_LB) for t in range(0, 30, 3)])
    assert seen == []


def test_flapping_mains_with_a_weak_battery_does_not_loop() -> None:
    readings = []
    for cycle in range(20):
        readings += [(cycle * 4.0, BATTERY_SHORT), (cycle * 4.0 + 1.5, MAINS)]
    _, seen = run(readings)
    assert seen == []  # never on battery long enough to count


def test_unknown_readings_keep_the_last_verdict() -> None:
    policy, seen = run([(0, BATTERY_SHORT), (2, BATTERY_SHORT), (3, UNKNOWN), (60, UNKNOWN)])
    assert seen == [(2, "mains_lost"), (2, "stop_accepting")]
    assert policy.on_battery and not policy.accepting


# -- the watcher loop ---------------------------------------------------------------------
class Script:
    """A UPS that plays a list of readings, one per poll, then repeats the last."""

    def __init__(self, readings: list[PowerStatus | Exception]) -> None:
        self.readings = readings
        self.calls = 0

    def __call__(self) -> PowerStatus:
        item = self.readings[min(self.calls, len(self.readings) - 1)]
        self.calls += 1
        if isinstance(item, Exception):
            raise item
        return item


def test_watch_journals_checkpoints_publishes_and_shuts_down_once(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    Journal.open(db, kiosk_id="test-01", boot_id="b", clock_trusted=lambda: False).close()
    ticks = iter(range(1000))
    commands: list[Sequence[str]] = []
    ups = Script([MAINS, BATTERY, BATTERY, BATTERY, DeviceTimeout("upsd slow"), BATTERY_LB])
    state = tmp_path / "power.json"

    result = watch(ups, thresholds=Thresholds(debounce_s=2.0), state_path=state,
                   journal_factory=lambda: Journal.open(db, kiosk_id="test-01", boot_id="b",
                                                        clock_trusted=lambda: False),
                   shutdown_command=["systemctl", "poweroff"], poll_interval_s=0.0,
                   run_shutdown=commands.append, clock=lambda: float(next(ticks)))

    assert result == 0
    assert commands == [["systemctl", "poweroff"]]
    with Journal.open(db, kiosk_id="test-01", boot_id="b", clock_trusted=lambda: False) as j:
        kinds = [e.event for e in j.audit_events(limit=50) if e.event.startswith("power_")]
    assert kinds == ["power_mains_lost", "power_shutdown", "power_stop_accepting"]
    doc = json.loads(state.read_text())
    assert doc["shutting_down"] and not doc["accepting"]
    assert doc["status"]["low_battery"] is True
    assert read_published_state(state) is not None


def test_watch_stops_when_asked_and_survives_an_unreadable_ups(tmp_path: Path) -> None:
    stop = threading.Event()
    ups = Script([DeviceTimeout("no answer")])
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    result = watch(ups, thresholds=Thresholds(), state_path=tmp_path / "power.json",
                   journal_factory=None, shutdown_command=["false"], poll_interval_s=0.01,
                   stop=stop, run_shutdown=lambda c: pytest.fail("must not shut down"))
    assert result == 0 and ups.calls > 3
    doc = json.loads((tmp_path / "power.json").read_text())
    assert doc["accepting"] is True and doc["status"] is None


def test_stale_published_state_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "power.json"
    path.write_text(json.dumps({"accepting": False, "reason": "old", "updated": 0}))
    assert read_published_state(path) is None
    path.write_text("not json")
    assert read_published_state(path) is None


#: ``updated`` stamps that do not say the state is fresh: as if there were no file.
BAD_STAMPS = {
    "an hour ahead": lambda now: json.dumps(now + 3600),  # written before the clock stepped back
    "a minute ahead": lambda now: json.dumps(now + 60),
    "null": lambda now: "null",
    "a string": lambda now: json.dumps(str(now)),
    "a bool": lambda now: "true",
    "a list": lambda now: json.dumps([now]),
    "NaN": lambda now: "NaN",
    "Infinity": lambda now: "Infinity",
    "-Infinity": lambda now: "-Infinity",
    "too large for a float": lambda now: "1" + "0" * 400,
}


@pytest.mark.parametrize("stamp", list(BAD_STAMPS))
def test_published_state_from_the_future_or_without_a_time_is_ignored(tmp_path: Path,
                                                                      stamp: str) -> None:
    """A clock stepped back (no RTC: fake-hwclock ahead, then NTP) leaves the last state
    in the future; a watcher stopped then must not keep the kiosk closed for that long."""
    import time

    path = tmp_path / "power.json"
    path.write_text('{"accepting": false, "reason": "shutting down", "on_battery": true, '
                    f'"shutting_down": true, "updated": {BAD_STAMPS[stamp](time.time())}}}')
    assert read_published_state(path) is None


def test_published_state_a_moment_ahead_still_counts(tmp_path: Path) -> None:
    """The writer and the readers share one clock; a small step back is tolerated."""
    import time

    path = tmp_path / "power.json"
    path.write_text(json.dumps({"accepting": False, "updated": time.time() + 0.5}))
    assert read_published_state(path) is not None


@pytest.mark.parametrize("stamp", ["an hour ahead", "null", "a string"])
def test_kiosk_status_and_acceptance_read_the_ups_past_a_bad_published_state(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], stamp: str) -> None:
    """Every reader of power.json (the acceptance check behind ``kiosk status``, ``kiosk
    demo`` and the touchscreen) treats it as missing: the UPS (sim: mains) is read."""
    import time

    from kiosk.cli import main
    from kiosk.config import load_config
    from kiosk.runtime import check_acceptance
    from tests.conftest import write_config

    config_path = write_config(tmp_path)
    config = load_config(config_path)
    config.data_dir.mkdir()
    (config.data_dir / "power.json").write_text(
        '{"accepting": false, "reason": "shutting down: on battery at 5%", '
        '"on_battery": true, "shutting_down": true, "status": {"source": "battery", '
        '"battery_percent": 5.0, "runtime_s": 60.0, "low_battery": false}, '
        f'"updated": {BAD_STAMPS[stamp](time.time())}}}')
    acceptance = check_acceptance(config)
    assert acceptance.accepting and not acceptance.on_battery, acceptance
    code = main(["status", "--json", "--config", str(config_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["power"]["source"] == "mains" and "Traceback" not in err
    assert doc["reason"] is None or "shutting down" not in doc["reason"], doc


FULL_DISK_WATCH = """
import logging
from pathlib import Path
from kiosk.power import PowerStatus
from kiosk.power.policy import Thresholds
from kiosk.power.watcher import watch
logging.basicConfig(level=logging.WARNING, format="%(message)s")
mains = PowerStatus("mains", 100.0, 3600.0, False)
battery = PowerStatus("battery", 80.0, 2400.0, False)
readings = iter([mains, battery, battery, battery, PowerStatus("battery", 25.0, 200.0, True)])
ticks = iter(range(1000))
commands = []
code = watch(lambda: next(readings), thresholds=Thresholds(debounce_s=2.0),
             state_path=Path(sys.argv[1]), journal_factory=None,
             shutdown_command=["systemctl", "poweroff"], poll_interval_s=0.0,
             run_shutdown=commands.append, clock=lambda: float(next(ticks)))
print(code, commands)
"""


def test_watch_on_a_full_disk_still_shuts_down_and_leaves_no_temporary(tmp_path: Path) -> None:
    """The published state cannot be written: said once, and the watcher carries on."""
    directory = tmp_path / "data"
    directory.mkdir()
    state = directory / "power.json"
    state.write_text("the last state")
    done = run_on_a_full_disk(FULL_DISK_WATCH, str(state), limit=64, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0 [['systemctl', 'poweroff']]"
    assert done.stderr.count("cannot publish the power state") == 1, done.stderr
    assert state.read_text() == "the last state"
    assert [p.name for p in directory.iterdir()] == ["power.json"]


def test_published_state_is_not_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    """Every poll: no fsync (SD-card wear), yet no temporary file is left beside it."""
    synced = record_fsyncs(monkeypatch)
    publish_state(tmp_path / "power.json", PowerPolicy(Thresholds()), MAINS)
    publish_state(tmp_path / "power.json", PowerPolicy(Thresholds()), BATTERY)
    assert synced == []
    assert read_published_state(tmp_path / "power.json")["status"]["source"] == "battery"
    assert [p.name for p in tmp_path.iterdir()] == ["power.json"]


def test_watch_sweeps_the_temp_files_an_earlier_watcher_left(tmp_path: Path) -> None:
    """A power cut while the state was being written leaves a temp file beside it; a
    kiosk that loses power every day must not collect one a day."""
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # its process id is now free
    gone.wait()
    left = tmp_path / f".power.json.tmp-{gone.pid}-0123abcd"
    left.write_text('{"accepting"')
    stop = threading.Event()
    stop.set()
    watch(Script([MAINS]), thresholds=Thresholds(), state_path=tmp_path / "power.json",
          journal_factory=None, shutdown_command=["false"], poll_interval_s=0.0, stop=stop,
          run_shutdown=lambda c: pytest.fail("must not shut down"))
    assert not left.exists()
