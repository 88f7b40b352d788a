"""The kiosk comes back with the mains: the shutdown hook
``systemd/system-shutdown/kiosk-ups-poweroff``, run as systemd-shutdown runs it
(``hook poweroff``), against the real upsd + dummy-ups of tests/hil/nut_harness.py.

What dummy-ups shows: NUT 2.8.0 (Debian bookworm) runs ``upsdrvctl shutdown <ups>`` as
``/lib/nut/dummy-ups -a <ups> -k``; the driver reads ups.conf, opens its device (the
``.dev`` file), logs "Initiating UPS shutdown" (drivers/main.c, ``forceshutdown()``) and
calls its ``upsdrv_shutdown()``, which in dummy-ups is ``fatalx(EXIT_FAILURE, "shutdown
not supported")``. So the observable is the driver's own two lines and upsdrvctl's
"Driver failed to start (exit status=1)": the whole real chain ran, from the flag to the
driver's shutdown routine on the configured device, and only the last step (a real UPS
would get shutdown.return) is one dummy-ups does not have. The hook's other paths use
recording stand-ins for upsdrvctl, upsmon and pinctrl, and prove first that the stand-in
is called where it should be.

Missing NUT daemons FAIL these tests (``make test`` installs nut-server and nut-client).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.power.poweroff import FLAG_NAME, current_boot_id, write_flag
from tests.conftest import REPO, kiosk_env, write_config
from tests.hil.nut_harness import NutServer, find_program, nut_or_fail

HOOK = REPO / "systemd" / "system-shutdown" / "kiosk-ups-poweroff"
NUT = {"type": "nut", "ups": "ups"}
REASON = "on battery and the UPS reports low battery"


@pytest.fixture(scope="module")
def nut() -> Iterator[NutServer]:
    with nut_or_fail() as server:
        yield server


def run_hook(action: str, env: dict[str, str], *, timeout: float = 90
             ) -> tuple[subprocess.CompletedProcess[str], str]:
    """``kiosk-ups-poweroff ACTION`` as systemd-shutdown runs it; (result, its kmsg lines)."""
    log = Path(env["KIOSK_UPS_POWEROFF_LOG"])
    log.unlink(missing_ok=True)
    result = subprocess.run([str(HOOK), action], env=env, capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    return result, log.read_text() if log.exists() else ""


def hook_env(tmp_path: Path, nut: NutServer | None = None, **extra: str) -> dict[str, str]:
    env = dict(nut.env if nut is not None else os.environ)
    env.update(KIOSK_UPS_POWEROFF_FLAG=str(tmp_path / FLAG_NAME),
               KIOSK_UPS_POWEROFF_LOG=str(tmp_path / "kmsg"))
    if nut is not None:
        # The real upsmon, not Debian's /sbin wrapper (which reads /etc/nut/nut.conf): with
        # the test's NUT config it has no POWERDOWNFLAG, so NUT's own hook would do nothing.
        env["KIOSK_UPSMON"] = find_program("upsmon")
    env.update(extra)
    return env


def recorder(tmp_path: Path, name: str, body: str = "") -> tuple[str, Path]:
    """A stand-in program that appends its arguments to a file; (its path, that file)."""
    calls = tmp_path / f"{name}.calls"
    path = tmp_path / name
    path.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\n{body}\n')
    path.chmod(0o755)
    return str(path), calls


def calls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


# -- the real thing ---------------------------------------------------------------------------
def test_poweroff_with_the_flag_runs_the_drivers_shutdown_on_dummy_ups(
        nut: NutServer, tmp_path: Path) -> None:
    write_flag(tmp_path / FLAG_NAME, NUT, reason=REASON)
    started = time.monotonic()
    result, log = run_hook("poweroff", hook_env(tmp_path, nut))
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout == result.stderr == ""  # everything goes to the kernel log
    lines = log.splitlines()
    assert all(line.startswith(("<3>kiosk-ups-poweroff: ", "<5>kiosk-ups-poweroff: "))
               for line in lines), log
    assert f"battery shutdown ({REASON})" in log and "upsdrvctl shutdown ups" in log
    # dummy-ups itself, started by upsdrvctl with -k for UPS "ups" of the test's ups.conf:
    assert "upsdrvctl: Network UPS Tools - Device simulation and repeater driver" in log
    assert "upsdrvctl: Initiating UPS shutdown" in log
    assert "upsdrvctl: shutdown not supported" in log  # dummy-ups's upsdrv_shutdown (2.8.0)
    assert "upsdrvctl: Driver failed to start (exit status=1)" in log
    assert "upsdrvctl shutdown ups failed (status 1)" in log
    assert took < 30
    assert nut.driver is not None and nut.driver.poll() is None  # the serving driver stays


def test_the_flag_must_name_a_ups_of_ups_conf(nut: NutServer, tmp_path: Path) -> None:
    """The control for the test above: another UPS name never reaches dummy-ups."""
    write_flag(tmp_path / FLAG_NAME, {"type": "nut", "ups": "other"}, reason=REASON)
    result, log = run_hook("poweroff", hook_env(tmp_path, nut))
    assert result.returncode == 0
    assert "UPS other not found in ups.conf" in log
    assert "Initiating UPS shutdown" not in log


def test_battery_shutdown_end_to_end_then_the_next_start_clears_the_flag(
        nut: NutServer, tmp_path: Path) -> None:
    """``kiosk power watch`` on the real upsd: OB LB -> the flag is on disk when the
    shutdown command runs -> the hook on it reaches dummy-ups's shutdown -> a new start of
    the watcher removes the flag."""
    nut.reset()
    seen = tmp_path / "flag-at-shutdown"
    data = tmp_path / "data"
    script = f'cp "{data / FLAG_NAME}" "{seen}.tmp" && mv "{seen}.tmp" "{seen}"'
    config = write_config(tmp_path, nut.power_config + f"""
poll_interval_s = 0.2
shutdown_command = ["sh", "-c", {json.dumps(script)}]
""")
    env = kiosk_env(config)
    watch = [sys.executable, "-m", "kiosk.cli", "power", "watch"]
    with open(tmp_path / "watcher.log", "wb") as out:
        watcher = subprocess.Popen(watch, env=env, cwd=REPO, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not (data / "power.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not (data / FLAG_NAME).exists()  # on line: nothing decided
        nut.set_status("OB LB", **{"battery.charge": "8"})
        assert watcher.wait(timeout=15) == 0, (tmp_path / "watcher.log").read_text()
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
        nut.reset()
    flag = seen.read_text()
    assert "type=nut\n" in flag and "ups=ups\n" in flag
    assert f"boot_id={current_boot_id()}\n" in flag and "reason=on battery" in flag
    assert (data / FLAG_NAME).read_text() == flag  # left for the hook

    result, log = run_hook("poweroff", hook_env(tmp_path, nut,
                                                KIOSK_UPS_POWEROFF_FLAG=str(data / FLAG_NAME)))
    assert result.returncode == 0 and "upsdrvctl: Initiating UPS shutdown" in log, log

    # The next boot: the watcher starts on mains and the flag goes before its first poll.
    with open(tmp_path / "watcher2.log", "wb") as out:
        watcher = subprocess.Popen(watch, env=env, cwd=REPO, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while (data / FLAG_NAME).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not (data / FLAG_NAME).exists(), (tmp_path / "watcher2.log").read_text()
        assert watcher.poll() is None
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
    _, log = run_hook("poweroff", hook_env(tmp_path, nut,
                                           KIOSK_UPS_POWEROFF_FLAG=str(data / FLAG_NAME)))
    assert log == ""  # an ordinary poweroff now


# -- the other paths, with recording stand-ins ---------------------------------------------------
def test_the_stand_in_is_called_on_poweroff_with_the_flag(tmp_path: Path) -> None:
    drvctl, drvctl_calls = recorder(tmp_path, "upsdrvctl")
    write_flag(tmp_path / FLAG_NAME, NUT, reason=REASON)
    result, log = run_hook("poweroff", hook_env(tmp_path, KIOSK_UPSDRVCTL=drvctl,
                                                KIOSK_NUTSHUTDOWN="/nonexistent"))
    assert result.returncode == 0
    assert calls(drvctl_calls) == ["shutdown ups"]
    assert "UPS ups told to shut down" in log


@pytest.mark.parametrize(("action", "flag"), [
    ("reboot", "this boot"), ("halt", "this boot"), ("kexec", "this boot"),
    ("poweroff", None), ("reboot", None),
    ("poweroff", "another boot"),
    ("", "this boot"),
])
def test_nothing_happens_on_reboot_or_without_a_flag_of_this_boot(
        tmp_path: Path, action: str, flag: str | None) -> None:
    drvctl, drvctl_calls = recorder(tmp_path, "upsdrvctl")
    path = tmp_path / FLAG_NAME
    if flag is not None:
        write_flag(path, NUT, reason=REASON)
    if flag == "another boot":
        path.write_text(path.read_text().replace(current_boot_id(),
                                                 "00000000-0000-0000-0000-000000000000"))
    result, log = run_hook(action, hook_env(tmp_path, KIOSK_UPSDRVCTL=drvctl,
                                            KIOSK_NUTSHUTDOWN="/nonexistent"))
    assert result.returncode == 0 and result.stdout == result.stderr == ""
    assert calls(drvctl_calls) == []
    if flag is None:
        assert log == ""  # an ordinary reboot or poweroff leaves no trace
    elif flag == "another boot":
        assert "from another boot" in log
    else:
        assert "not poweroff: leaving the UPS on" in log


def test_nut_own_hook_is_left_to_do_it_when_upsmon_set_its_flag(tmp_path: Path) -> None:
    """NUT's nutshutdown runs ``upsdrvctl shutdown`` itself when ``upsmon -K`` says its
    POWERDOWNFLAG is set: two drivers must not talk to one UPS at once."""
    drvctl, drvctl_calls = recorder(tmp_path, "upsdrvctl")
    upsmon_yes, _ = recorder(tmp_path, "upsmon-yes", "exit 0")
    upsmon_no, _ = recorder(tmp_path, "upsmon-no", "exit 1")
    nutshutdown, _ = recorder(tmp_path, "nutshutdown")
    write_flag(tmp_path / FLAG_NAME, NUT, reason=REASON)
    env = hook_env(tmp_path, KIOSK_UPSDRVCTL=drvctl, KIOSK_NUTSHUTDOWN=nutshutdown)
    _, log = run_hook("poweroff", dict(env, KIOSK_UPSMON=upsmon_yes))
    assert calls(drvctl_calls) == [] and "NUT's nutshutdown hook" in log
    run_hook("poweroff", dict(env, KIOSK_UPSMON=upsmon_no))
    assert calls(drvctl_calls) == ["shutdown ups"]


def test_the_hook_never_waits_forever(tmp_path: Path) -> None:
    drvctl, drvctl_calls = recorder(tmp_path, "upsdrvctl", "exec sleep 60")
    write_flag(tmp_path / FLAG_NAME, NUT, reason=REASON)
    started = time.monotonic()
    result, log = run_hook("poweroff", hook_env(tmp_path, KIOSK_UPSDRVCTL=drvctl,
                                                KIOSK_NUTSHUTDOWN="/nonexistent",
                                                KIOSK_UPS_POWEROFF_TIMEOUT="1"), timeout=30)
    assert result.returncode == 0
    assert time.monotonic() - started < 10
    assert calls(drvctl_calls) == ["shutdown ups"]
    assert "took over 1 s and was stopped" in log


@pytest.mark.parametrize(("fields", "reboots"), [
    ({"type": "nut", "ups": "ups", "wait_s": "1"}, ["reboot --force --force"]),
    ({"type": "gpio", "pin": "26", "active": "high", "wait_s": "1"}, ["reboot --force --force"]),
    ({"type": "nut", "ups": "ups"}, []),
    ({"type": "nut", "ups": "ups", "wait_s": "0"}, []),
])
def test_power_race_guard_reboots_if_the_power_stays_on(tmp_path: Path, fields: dict[str, str],
                                                        reboots: list[str]) -> None:
    drvctl, drvctl_calls = recorder(tmp_path, "upsdrvctl")
    pinctrl, pinctrl_calls = recorder(tmp_path, "pinctrl")
    systemctl, systemctl_calls = recorder(tmp_path, "systemctl")
    write_flag(tmp_path / FLAG_NAME, fields, reason=REASON)
    started = time.monotonic()
    result, log = run_hook("poweroff", hook_env(
        tmp_path, KIOSK_UPSDRVCTL=drvctl, KIOSK_NUTSHUTDOWN="/nonexistent",
        KIOSK_PINCTRL=pinctrl, KIOSK_SYSTEMCTL=systemctl))
    assert result.returncode == 0
    assert len(calls(drvctl_calls) + calls(pinctrl_calls)) == 1  # the UPS was told first
    assert calls(systemctl_calls) == reboots
    if reboots:
        assert time.monotonic() - started >= 1.0
        assert "power is still on after 1 s" in log


@pytest.mark.parametrize(("fields", "want"), [
    ({"type": "gpio", "pin": "26", "active": "high"}, ["set 26 op dh"]),
    ({"type": "gpio", "pin": "4", "active": "low"}, ["set 4 op dl"]),
    ({"type": "gpio", "pin": "28", "active": "high"}, []),
    ({"type": "gpio", "pin": "26;reboot", "active": "high"}, []),
    ({"type": "sim"}, []),
])
def test_a_gpio_hat_gets_its_power_off_pin_driven(tmp_path: Path, fields: dict[str, str],
                                                  want: list[str]) -> None:
    pinctrl, pinctrl_calls = recorder(tmp_path, "pinctrl")
    flag = tmp_path / FLAG_NAME
    if ";" in fields.get("pin", ""):  # write_flag refuses it; a damaged file might not
        flag.write_text("".join(f"{k}={v}\n" for k, v in fields.items()))
    else:
        write_flag(flag, fields, reason=REASON)
    result, log = run_hook("poweroff", hook_env(tmp_path, KIOSK_PINCTRL=pinctrl))
    assert result.returncode == 0
    assert calls(pinctrl_calls) == want, log
    if not want:
        assert "<3>" in log  # said why not


def test_the_hook_is_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (Debian package shellcheck)")
    result = subprocess.run(["shellcheck", "-s", "sh", str(HOOK)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout
    assert os.access(HOOK, os.X_OK)
    assert HOOK.read_text().startswith("#!/bin/sh\n")
