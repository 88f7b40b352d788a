"""The systemd units in systemd/: they verify, they are notify services with a watchdog,
and their hardening holds (issue #12)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.config import load_config
from tests.conftest import REPO, write_config

UNITS = sorted((REPO / "systemd").glob("*.service"))
SERVICES = [u for u in UNITS if u.name != "kiosk-metrics.service"]  # the long-running ones
TIMERS = sorted((REPO / "systemd").glob("*.timer"))
MAX_EXPOSURE = 2.5  # systemd-analyze security: 0 = locked down, 10 = fully exposed
HARDENING = ("ProtectSystem=strict", "ReadWritePaths=/var/lib/kiosk", "ProtectHome=yes",
             "PrivateTmp=yes", "NoNewPrivileges=yes", "DevicePolicy=closed", "LimitCORE=0",
             "CapabilityBoundingSet=", "UMask=0077")


def settings(unit: Path) -> list[str]:
    return [line.strip() for line in unit.read_text().splitlines()
            if line.strip() and not line.startswith(("#", "["))]


def value(unit: Path, key: str) -> str:
    found = [s.split("=", 1)[1] for s in settings(unit) if s.startswith(f"{key}=")]
    assert len(found) == 1, (unit.name, key, found)
    return found[0]


@pytest.fixture
def installed(tmp_path: Path) -> list[Path]:
    """The units with ExecStart pointing at this checkout's ``kiosk`` (verify checks that
    the program exists)."""
    kiosk = Path(sys.executable).parent / "kiosk"
    assert kiosk.exists(), "the venv's kiosk entry point (pip install -e .)"
    out = []
    for unit in [*UNITS, *TIMERS]:
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/opt/kiosk/current/bin/kiosk", str(kiosk)))
        out.append(copy)
    return out


def test_the_units_are_there() -> None:
    assert [u.name for u in SERVICES] == ["kiosk-power.service", "kiosk-ui.service",
                                         "kiosk-upload.service"]
    assert [u.name for u in TIMERS] == ["kiosk-metrics.timer"]


def test_systemd_analyze_verify_passes_without_a_warning(installed: list[Path]) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing; `make test` installs it (package systemd)")
    result = subprocess.run(["systemd-analyze", "verify", *map(str, installed)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout + result.stderr == "", (
        result.stdout + result.stderr)


@pytest.mark.parametrize("unit", SERVICES, ids=lambda u: u.name)
def test_each_unit_is_a_hardened_notify_service_with_a_watchdog(unit: Path) -> None:
    assert value(unit, "Type") == "notify"
    assert value(unit, "NotifyAccess") == "main"
    assert int(value(unit, "WatchdogSec")) > 0
    assert value(unit, "Restart") == "always"
    present = settings(unit)
    assert [h for h in HARDENING if h not in present] == []


def test_the_metrics_job_is_a_hardened_oneshot_without_network() -> None:
    unit = REPO / "systemd" / "kiosk-metrics.service"
    assert value(unit, "Type") == "oneshot"
    assert value(unit, "PrivateNetwork") == "yes"
    assert "--hardware" not in value(unit, "ExecStart")  # the touchscreen holds the devices
    present = settings(unit)
    assert [h for h in HARDENING if h not in present and not h.startswith(
        ("ReadWritePaths", "UMask"))] == []


def test_the_metrics_job_sees_the_data_directory_as_the_kiosk_does() -> None:
    """ProtectSystem=strict mounts everything read-only but the ReadWritePaths: without
    the data directory among them, the acceptance check in the metrics job found a
    read-only file system, and every kiosk's dashboard said it refused enrollments."""
    metrics = REPO / "systemd" / "kiosk-metrics.service"
    data_dirs = {line.partition("=")[2] for unit in SERVICES
                 for line in unit.read_text().splitlines()
                 if line.startswith("ReadWritePaths=")}
    assert data_dirs == {"/var/lib/kiosk"}
    mine = {line.partition("=")[2] for line in metrics.read_text().splitlines()
            if line.startswith("ReadWritePaths=")}
    assert data_dirs <= mine, mine


def test_watchdog_intervals_outlast_what_each_loop_may_legitimately_wait(
        tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    units = {u.name: u for u in UNITS}
    # A request waits at most upload.timeout_s between two pings of the upload loop.
    assert int(value(units["kiosk-upload.service"], "WatchdogSec")) >= (
        3 * config["upload"]["timeout_s"])
    # The power watcher pings on every poll.
    assert int(value(units["kiosk-power.service"], "WatchdogSec")) >= (
        10 * config["power"]["poll_interval_s"])


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_exposure_stays_low(installed: list[Path], unit: Path) -> None:
    copy = next(c for c in installed if c.name == unit.name)
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(copy)],
                            capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert match, result.stdout[-500:] + result.stderr[-500:]
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout[-3000:]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_each_unit_runs_the_active_release(unit: Path) -> None:
    """scripts/install-pi.sh and `kiosk update`: /opt/kiosk/releases/<name>/ are venvs,
    /opt/kiosk/current points at the active one."""
    assert value(unit, "ExecStart").split()[0] == "/opt/kiosk/current/bin/kiosk"


def test_the_touchscreen_starts_without_a_desktop() -> None:
    """The installer makes multi-user.target the default: a unit wanted only by
    graphical.target would never start, one ordered after it would make a cycle."""
    unit = REPO / "systemd" / "kiosk-ui.service"
    assert value(unit, "WantedBy") == "multi-user.target"
    assert "graphical.target" not in " ".join(settings(unit))


@pytest.mark.parametrize("name", ["kiosk-ui.service", "kiosk-power.service"])
def test_a_gpio_unit_gives_lgpio_a_writable_working_directory(name: str) -> None:
    """lgpio makes its notification pipe (.lgd-nfy*) in the working directory when it is
    imported, or in $LG_WD: under ProtectSystem=strict "/" (systemd's default) is read-only,
    and gpiozero would fall back to no GPIO at all (gpiozero issue 1106)."""
    unit = REPO / "systemd" / name
    runtime = value(unit, "RuntimeDirectory")
    assert value(unit, "WorkingDirectory") == f"%t/{runtime}"
    assert f"LG_WD=%t/{runtime}" in [s.split("=", 1)[1] for s in settings(unit)
                                    if s.startswith("Environment=")]


def test_the_units_groups_are_the_kiosk_users_groups() -> None:
    """What a unit lists in SupplementaryGroups the kiosk user is a member of (sysusers):
    the two lists agree, so a maintainer's `sudo kiosk hw selftest` (the wrapper runs it as
    the kiosk user) reaches what the service reaches."""
    sysusers = REPO / "scripts" / "pi" / "etc" / "sysusers.d" / "kiosk.conf"
    members = {line.split()[2] for line in sysusers.read_text().splitlines()
               if line.startswith("m kiosk ")}
    for unit in SERVICES:
        wanted = {group for s in settings(unit) if s.startswith("SupplementaryGroups=")
                  for group in s.split("=", 1)[1].split()}
        assert wanted <= members, (unit.name, wanted - members)


def test_the_touchscreen_may_speak() -> None:
    """Spoken prompts (espeak-ng through ALSA): /dev/snd/* is root:audio, and
    DevicePolicy=closed allows only what DeviceAllow lists."""
    unit = REPO / "systemd" / "kiosk-ui.service"
    assert "audio" in value(unit, "SupplementaryGroups").split()
    assert "DeviceAllow=char-alsa rw" in settings(unit)
