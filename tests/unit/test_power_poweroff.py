"""The kill-power flag: written by the watcher on a battery shutdown only, before the
shutdown command, durably; removed at start and when the command fails. Its config keys.

The hook that reads the flag, against the real upsd + dummy-ups, is in
tests/integration/test_ups_poweroff.py.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from kiosk.config import load_config
from kiosk.core.exits import EXIT_FAIL
from kiosk.devices import create_device
from kiosk.errors import ConfigError
from kiosk.power import PowerStatus
from kiosk.power.policy import Thresholds
from kiosk.power.poweroff import FLAG_NAME, clear_flag, current_boot_id, plan, write_flag
from kiosk.power.watcher import watch
from tests.conftest import REPO, write_config
from tests.durability import record_fsyncs

MAINS = PowerStatus("mains", 100.0, 3600.0, False)
BATTERY = PowerStatus("battery", 80.0, 2400.0, False)
BATTERY_LB = PowerStatus("battery", 25.0, 200.0, True, status="OB LB")
BATTERY_LOW = PowerStatus("battery", 5.0, 3000.0, False)   # below shutdown_battery_percent
FSD_ON_MAINS = PowerStatus("mains", 100.0, 3600.0, False, forced_shutdown=True)
FSD_ON_BATTERY = PowerStatus("battery", 50.0, 900.0, False, forced_shutdown=True)
CHARGING_LB = PowerStatus("mains", 5.0, 60.0, True)
NUT = {"type": "nut", "ups": "ups"}


def parse(path: Path) -> dict[str, str]:
    """The flag as the hook reads it: key=value lines, comments ignored."""
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and line[0] != "#")


def run_watch(tmp_path: Path, readings: list[PowerStatus], *, code: int | None = 0,
              poweroff: dict[str, str] | None = NUT) -> tuple[list[dict[str, str] | None], Path]:
    """Run the watcher on scripted readings until it shuts down (or the readings run out);
    what the flag said at the moment the shutdown command ran (None: no flag)."""
    flag = tmp_path / FLAG_NAME
    seen: list[dict[str, str] | None] = []
    stop = threading.Event()
    calls = iter(readings)

    def read() -> PowerStatus:
        try:
            return next(calls)
        except StopIteration:
            stop.set()
            return readings[-1]

    def shutdown(command: Sequence[str]) -> int | None:
        seen.append(parse(flag) if flag.exists() else None)
        return code

    watch(read, thresholds=Thresholds(debounce_s=0.0), state_path=tmp_path / "power.json",
          journal_factory=None, shutdown_command=["systemctl", "poweroff"],
          poll_interval_s=0.0, stop=stop, run_shutdown=shutdown,
          poweroff_flag=flag, poweroff=poweroff)
    return seen, flag


@pytest.mark.parametrize("reading", [BATTERY_LB, BATTERY_LOW, FSD_ON_BATTERY])
def test_a_battery_shutdown_writes_the_flag_before_the_command(tmp_path: Path,
                                                              reading: PowerStatus) -> None:
    seen, flag = run_watch(tmp_path, [MAINS, BATTERY, reading])
    assert len(seen) == 1 and seen[0] is not None, "no flag when the command ran"
    assert seen[0]["type"] == "nut" and seen[0]["ups"] == "ups"
    assert seen[0]["boot_id"] == current_boot_id() != ""
    assert seen[0]["reason"]
    assert flag.exists()  # left for the hook: the command succeeded
    assert not flag.with_name(flag.name + ".tmp").exists()


@pytest.mark.parametrize(("readings", "shutdowns"), [
    ([MAINS, FSD_ON_MAINS], 1),          # a forced shutdown with the mains present
    ([MAINS, CHARGING_LB, MAINS], 0),    # a drained battery charging: no shutdown at all
    ([MAINS, BATTERY, MAINS], 0),        # a cut and the mains back
])
def test_no_flag_unless_the_shutdown_is_decided_on_battery(
        tmp_path: Path, readings: list[PowerStatus], shutdowns: int) -> None:
    seen, flag = run_watch(tmp_path, readings)
    assert seen == [None] * shutdowns
    assert not flag.exists()


def test_no_flag_when_the_kiosk_has_nothing_to_cut(tmp_path: Path) -> None:
    seen, flag = run_watch(tmp_path, [BATTERY_LB], poweroff=None)
    assert seen == [None] and not flag.exists()


@pytest.mark.parametrize("code", [1, 127])
def test_a_failed_shutdown_command_removes_the_flag(tmp_path: Path, code: int) -> None:
    seen, flag = run_watch(tmp_path, [BATTERY_LB], code=code)
    assert seen[0] is not None  # it was there while the command ran
    assert not flag.exists()


def test_a_shutdown_command_that_raises_removes_the_flag(tmp_path: Path) -> None:
    flag = tmp_path / FLAG_NAME

    def shutdown(command: Sequence[str]) -> None:
        assert flag.exists()
        raise FileNotFoundError(2, "No such file or directory", command[0])

    code = watch(lambda: BATTERY_LB, thresholds=Thresholds(), state_path=tmp_path / "p.json",
                 journal_factory=None, shutdown_command=["nonexistent"], poll_interval_s=0.0,
                 run_shutdown=shutdown, poweroff_flag=flag, poweroff=NUT)
    assert code == EXIT_FAIL
    assert not flag.exists()


def test_a_shutdown_command_interrupted_removes_the_flag_and_stops(tmp_path: Path) -> None:
    flag = tmp_path / FLAG_NAME

    def shutdown(command: Sequence[str]) -> None:
        assert flag.exists()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        watch(lambda: BATTERY_LB, thresholds=Thresholds(), state_path=tmp_path / "p.json",
              journal_factory=None, shutdown_command=["systemctl", "poweroff"],
              poll_interval_s=0.0, run_shutdown=shutdown, poweroff_flag=flag, poweroff=NUT)
    assert not flag.exists()


# -- a shutdown command that fails: an error naming it, exit 1 (README: Power) -------------
FAILURES = {
    "status 1": (1, "exited with status 1"),
    "status 127": (127, "exited with status 127"),
    "killed": (-9, "killed by signal SIGKILL"),
    "hangs": (subprocess.TimeoutExpired(["systemctl", "poweroff"], 60),
              "still running after 60 s"),
    "missing": (FileNotFoundError(2, "No such file or directory", "systemctl"),
                "could not be started: No such file or directory"),
    "not executable": (PermissionError(13, "Permission denied", "systemctl"),
                       "could not be started: Permission denied"),
}


@pytest.mark.parametrize("poweroff", [NUT, None], ids=["ups-poweroff", "no-ups-poweroff"])
@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_failed_shutdown_command_is_an_error_and_the_watcher_exits_1(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, failure: str,
        poweroff: dict[str, str] | None) -> None:
    """Not a silent exit 0 (systemd: "Deactivated successfully" while the battery runs
    down), nor a traceback: one error line naming the command and what went wrong. It runs
    once: no retry in this process, and never a cut of the UPS's output (the flag goes)."""
    outcome, said = FAILURES[failure]
    flag = tmp_path / FLAG_NAME
    calls: list[list[str]] = []

    def shutdown(command: Sequence[str]) -> int:
        calls.append(list(command))
        assert flag.exists() == (poweroff is not None)
        if isinstance(outcome, BaseException):
            raise outcome
        return int(outcome)

    with caplog.at_level(logging.INFO, logger="kiosk.power.watcher"):
        code = watch(lambda: BATTERY_LB, thresholds=Thresholds(),
                     state_path=tmp_path / "power.json", journal_factory=None,
                     shutdown_command=["systemctl", "poweroff"], poll_interval_s=0.0,
                     run_shutdown=shutdown, poweroff_flag=flag, poweroff=poweroff)
    assert code == EXIT_FAIL
    assert calls == [["systemctl", "poweroff"]]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert "shutdown command `systemctl poweroff` failed" in errors[0], errors
    assert said in errors[0], errors
    assert not flag.exists()


@pytest.mark.parametrize(("command", "said"), [
    (["sh", "-c", "echo 'Failed to power off system: Access denied' >&2; exit 1"],
     "exited with status 1"),
    (["/nonexistent/kiosk-poweroff"], "could not be started: No such file or directory"),
    (["sleep", "30"], "still running after 0.5 s"),
], ids=["fails", "missing", "hangs"])
def test_the_real_shutdown_runner_reports_a_status_a_missing_command_and_a_timeout(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
        command: list[str], said: str) -> None:
    import kiosk.power.watcher as watcher

    monkeypatch.setattr(watcher, "SHUTDOWN_TIMEOUT_S", 0.5)
    flag = tmp_path / FLAG_NAME
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="kiosk.power.watcher"):
        code = watch(lambda: BATTERY_LB, thresholds=Thresholds(),
                     state_path=tmp_path / "power.json", journal_factory=None,
                     shutdown_command=command, poll_interval_s=0.0, poweroff_flag=flag,
                     poweroff=NUT)
    assert code == EXIT_FAIL
    assert time.monotonic() - started < 10  # the hung command was killed at the timeout
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and said in errors[0], errors
    assert not flag.exists()


def test_kiosk_power_watch_exits_1_naming_a_failed_shutdown_command(tmp_path: Path) -> None:
    """The command line, as systemd runs it: exit 1 and the error on stderr."""
    import os
    import sys

    config = write_config(tmp_path, """
[power]
type = "sim"
source = "battery"
battery_percent = 5
runtime_s = 60
ups_poweroff = false
shutdown_command = ["sh", "-c", "echo 'Failed to power off system: Access denied' >&2; exit 1"]
""")
    env = {**os.environ, "KIOSK_CONFIG": str(config)}
    done = subprocess.run([sys.executable, "-m", "kiosk.cli", "power", "watch", "--config",
                           str(config)], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == EXIT_FAIL, done.stderr
    assert "Failed to power off system: Access denied" in done.stderr
    error = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(error) == 1 and "exited with status 1" in error[0], done.stderr
    assert "Traceback" not in done.stderr


def test_the_flag_is_cleared_at_start(tmp_path: Path) -> None:
    flag = tmp_path / FLAG_NAME
    write_flag(flag, NUT, reason="an earlier battery shutdown")
    (tmp_path / (FLAG_NAME + ".tmp")).write_text("half")
    seen_at_first_read: list[bool] = []
    stop = threading.Event()

    def read() -> PowerStatus:
        seen_at_first_read.append(flag.exists())
        stop.set()
        return MAINS

    watch(read, thresholds=Thresholds(), state_path=tmp_path / "power.json",
          journal_factory=None, shutdown_command=["false"], poll_interval_s=0.0, stop=stop,
          run_shutdown=lambda c: pytest.fail("must not shut down"), poweroff_flag=flag,
          poweroff=NUT)
    assert seen_at_first_read == [False]
    assert not flag.exists() and not (tmp_path / (FLAG_NAME + ".tmp")).exists()
    assert clear_flag(flag) is False


def test_write_flag_is_durable_and_plain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    synced = record_fsyncs(monkeypatch)
    flag = tmp_path / FLAG_NAME
    (tmp_path / (FLAG_NAME + ".tmp")).write_text("half")  # a watcher killed while writing
    write_flag(flag, {"type": "gpio", "pin": "26", "active": "high"},
               reason='battery at 5%, below "x"\nrm -rf /; $(reboot)')
    # the file (under the temporary name clear_flag knows), then the directory
    assert synced == [str(tmp_path / (FLAG_NAME + ".tmp")), str(tmp_path)]
    assert [p.name for p in tmp_path.iterdir()] == [FLAG_NAME]
    doc = parse(flag)
    assert doc["pin"] == "26" and "\n" not in doc["reason"]
    assert not set(doc["reason"]) & set("\"$;`'\\\n")
    with pytest.raises(ValueError):
        write_flag(flag, {"type": "nut", "ups": "ups\nrm"})


@pytest.mark.parametrize(("power", "want"), [
    ({"type": "nut", "host": "127.0.0.1", "ups": "apc"}, {"type": "nut", "ups": "apc"}),
    ({"type": "nut", "host": "localhost", "ups": "ups"}, {"type": "nut", "ups": "ups"}),
    ({"type": "nut", "host": "10.0.0.5", "ups": "ups"}, None),   # the driver is elsewhere
    ({"type": "nut", "host": "127.0.0.1", "ups": "ups", "ups_poweroff": False}, None),
    ({"type": "gpio"}, None),                                    # no power-off pin
    ({"type": "gpio", "poweroff_pin": 26}, {"type": "gpio", "pin": "26", "active": "high"}),
    ({"type": "gpio", "poweroff_pin": 4, "poweroff_active_high": False},
     {"type": "gpio", "pin": "4", "active": "low"}),
    ({"type": "sim"}, None),
    ({"type": "nut", "ups": "ups", "ups_poweroff_wait_s": 45},
     {"type": "nut", "ups": "ups", "wait_s": "45"}),
    ({"type": "gpio", "poweroff_pin": 26, "ups_poweroff_wait_s": 0},
     {"type": "gpio", "pin": "26", "active": "high"}),
])
def test_plan(power: dict[str, object], want: dict[str, str] | None) -> None:
    assert plan(power) == want


def test_config_keys_are_validated(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, '[power]\ntype = "nut"\n'))
    assert config["power"]["ups_poweroff"] is True
    config = load_config(write_config(tmp_path, '[power]\nups_poweroff = false\n'))
    assert config["power"]["ups_poweroff"] is False
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, '[power]\nups_poweroff = "yes"\n'))
    assert caught.value.key == "power.ups_poweroff"
    for bad in ("51", "-1", "2.5"):
        with pytest.raises(ConfigError) as caught:
            load_config(write_config(tmp_path, f"[power]\nups_poweroff_wait_s = {bad}\n"))
        assert caught.value.key == "power.ups_poweroff_wait_s"
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, '[power]\ntype = "nut"\npoweroff_pin = 26\n'))
    assert caught.value.key == "power.poweroff_pin"  # a GPIO HAT's key only


@pytest.mark.parametrize("options", [{"poweroff_pin": 28}, {"poweroff_pin": -1},
                                     {"poweroff_pin": 24, "power_fail_pin": 24}])
def test_gpio_poweroff_pin_is_checked(options: dict[str, int]) -> None:
    with pytest.raises(ConfigError) as caught:
        create_device("power", {"type": "gpio", "gauge": "none", **options})
    assert caught.value.key == "power.poweroff_pin"
    ups = create_device("power", {"type": "gpio", "gauge": "none", "poweroff_pin": 26})
    assert ups.poweroff_pin == 26
