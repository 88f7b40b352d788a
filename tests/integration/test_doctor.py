"""`kiosk doctor` names each failure it is given, with its fix, and exits 1; all green exits 0.

Every case runs the real command on a simulated kiosk (two sealed demo records) beside a
running local intake (`kiosk-intake serve`), breaks one thing, and checks that exactly
that check fails (and those that need it are skipped) while everything else stays ok. The
clock is the one outside input: a `timedatectl` on PATH answers as systemd-timedated would
(this machine's own may have no systemd behind it).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import serial

from tests.conftest import KIOSK, REPO, kiosk_env
from tests.doctor_helpers import ALL, configure, doctor, fake_timedatectl, intake_fixture
from tests.upload_helpers import (
    IntakeServer,
    Site,
    closed_port_url,
    demo_site_fixtures,
    intake_cli,
)

pytestmark = pytest.mark.timeout(240)

template, site, ids = demo_site_fixtures(2, seed=12)
intake = intake_fixture()


def test_all_green_on_the_simulated_kiosk_with_a_local_intake(
        site: Site, intake: IntakeServer) -> None:
    code, found, done = doctor(site)
    assert code == 0, done.stdout
    assert {name for name, f in found.items() if f["status"] != "ok"} == set(), done.stdout
    assert "registered as test-01" in found["registration"]["detail"]
    assert "2 waiting" in found["backlog"]["detail"]
    assert "2 records; every page and payload read" in found["journal"]["detail"]
    # the human table says the same, readable without colour (not a terminal here)
    env = dict(kiosk_env(site.config), PATH=f"{site.root / 'bin'}{os.pathsep}"
               f"{os.environ['PATH']}")
    human = subprocess.run([*KIOSK, "doctor"], env=env, capture_output=True, text=True,
                           timeout=90)
    assert human.returncode == 0
    assert "\x1b[" not in human.stdout
    assert "registration" in human.stdout and f"all {len(ALL)} checks ok" in human.stdout
    assert human.stderr == ""


def test_an_assisted_enrollment_kept_for_days_is_a_warning(site: Site,
                                                            intake: IntakeServer) -> None:
    """A record an officer may continue (a power cut, a session left idle) is listed; once
    it has waited longer than doctor.max_unsent_age_s, its person has likely gone: a
    warning that says where it is continued or deleted."""
    from kiosk.journal import Journal

    with Journal.open(site.journal_path, kiosk_id="test-01", boot_id="boot-t",
                      clock_trusted=lambda: True) as journal:
        kept = journal.create_record(assisted=True).id
        journal.create_record(assisted=False)  # a citizen's, mid-session: not counted
    code, found, done = doctor(site)
    assert code == 0 and found["unfinished"]["status"] == "ok", done.stdout
    assert f"1 assisted enrollment(s) kept to continue; the oldest, {kept}" in (
        found["unfinished"]["detail"])
    then = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=3)
    conn = sqlite3.connect(site.journal_path)
    conn.execute("UPDATE records SET created_at = ? WHERE id = ?",
                 (then.isoformat(timespec="milliseconds").replace("+00:00", "Z"), kept))
    conn.commit()
    conn.close()
    code, found, done = doctor(site)
    assert code == 0, done.stdout  # a warning, not a failure
    assert found["unfinished"]["status"] == "warn"
    assert "3.0 days ago" in found["unfinished"]["detail"]
    assert "officer's home" in found["unfinished"]["fix"]


# -- one thing broken at a time --
Breaker = Callable[[Site, IntakeServer, Path], None]


def _append(text: str) -> Breaker:
    def breaker(site: Site, intake: IntakeServer, tmp: Path) -> None:
        with site.config.open("a") as out:
            out.write(text)
    return breaker


def _kiosk_key(site: Site, intake: IntakeServer, tmp: Path) -> None:
    text = site.config.read_text()  # write_config puts [kiosk] first: add to it
    site.config.write_text(text.replace("[kiosk]\n", "[kiosk]\ncolour = \"red\"\n", 1))


def _reserve(site: Site, intake: IntakeServer, tmp: Path) -> None:
    text = site.config.read_text()
    site.config.write_text(text.replace("disk_reserve_bytes = 0",
                                        "disk_reserve_bytes = 1099511627776"))


def _device_key_mode(site: Site, intake: IntakeServer, tmp: Path) -> None:
    (site.root / "data" / "device.key").chmod(0o644)


def _device_key_gone(site: Site, intake: IntakeServer, tmp: Path) -> None:
    (site.root / "data" / "device.key").unlink()


def _central_key_gone(site: Site, intake: IntakeServer, tmp: Path) -> None:
    (site.intake_dir / "keys" / "central.pub").unlink()


def _intake_key_unset(site: Site, intake: IntakeServer, tmp: Path) -> None:
    site.configure(intake.url, intake_key=None)


def _intake_down(site: Site, intake: IntakeServer, tmp: Path) -> None:
    site.configure(closed_port_url())


def _unregistered(site: Site, intake: IntakeServer, tmp: Path) -> None:
    (site.intake_dir / "devices" / "test-01.json").unlink()


def _revoked(site: Site, intake: IntakeServer, tmp: Path) -> None:
    intake_cli("revoke", "--data", str(site.intake_dir), "--kiosk", "test-01")


def _other_central_key(site: Site, intake: IntakeServer, tmp: Path) -> None:
    """The kiosk holds another office's central.pub: valid, but not the intake's."""
    intake_cli("keys", "init", "--data", str(tmp / "other"))
    text = site.config.read_text()
    site.config.write_text(text.replace("intake/keys/central.pub",
                                        str(tmp / "other" / "keys" / "central.pub")))


def _other_intake_key(site: Site, intake: IntakeServer, tmp: Path) -> None:
    intake_cli("keys", "init", "--data", str(tmp / "other"))
    site.configure(intake.url, intake_key=str(tmp / "other" / "keys" / "intake.pub"))


def _battery_low(site: Site, intake: IntakeServer, tmp: Path) -> None:
    _append('[power]\ntype = "sim"\nsource = "battery"\nbattery_percent = 20.0\n'
            'runtime_s = 3000.0\n')(site, intake, tmp)


def _bad_toml(site: Site, intake: IntakeServer, tmp: Path) -> None:
    _append('[kiosk]\nid = "unterminated\n')(site, intake, tmp)


def _corrupt_journal(site: Site, intake: IntakeServer, tmp: Path) -> None:
    with open(site.journal_path, "r+b") as db:  # the header, as a bad SD card would
        db.write(b"this is no longer SQLite")


def _rotten_payload(site: Site, intake: IntakeServer, tmp: Path) -> None:
    conn = sqlite3.connect(site.journal_path)
    (blob,) = conn.execute("SELECT blob FROM payloads WHERE step = 'portrait' "
                           "ORDER BY rowid LIMIT 1").fetchone()
    rotten = bytearray(blob)
    rotten[len(rotten) // 2] ^= 0x40
    conn.execute("UPDATE payloads SET blob = ? WHERE blob = ?", (bytes(rotten), blob))
    conn.commit()
    conn.close()


def _old_backlog(site: Site, intake: IntakeServer, tmp: Path) -> None:
    then = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=3))
    conn = sqlite3.connect(site.journal_path)
    conn.execute("UPDATE records SET created_at = ?",
                 (then.isoformat(timespec="milliseconds").replace("+00:00", "Z"),))
    conn.commit()
    conn.close()


def _missing_camera(site: Site, intake: IntakeServer, tmp: Path) -> None:
    _append('[hardware.camera]\ntype = "v4l2"\ndevice = "/dev/video-none"\n')(site, intake, tmp)


def _missing_fingerprint(site: Site, intake: IntakeServer, tmp: Path) -> None:
    _append('[hardware.fingerprint]\ntype = "zfm"\nport = "/dev/ttyNOSUCH"\n')(site, intake, tmp)


CASES: list[tuple[str, Breaker, str, str, str]] = [
    # (case, what breaks, the check that fails, words of its detail, words of its fix)
    ("bad config key", _kiosk_key, "config", "kiosk.colour", "remove or rename kiosk.colour"),
    ("missing fingerprint port", _missing_fingerprint, "device.fingerprint",
     "/dev/ttyNOSUCH", "hardware.fingerprint.port"),
    ("missing camera", _missing_camera, "device.camera", "/dev/video-none", "hardware.camera"),
    ("disk below reserve", _reserve, "disk", "disk reserve reached",
     "kiosk.disk_reserve_bytes"),
    ("device key mode 0644", _device_key_mode, "key.device", "mode 644", "chmod 600"),
    ("device key missing", _device_key_gone, "key.device", "is missing", "kiosk keys init"),
    ("central key missing", _central_key_gone, "key.central", "is missing",
     "copy central.pub"),
    ("intake key not set", _intake_key_unset, "key.intake", "upload.intake_key is not set",
     "intake.pub"),
    ("intake down", _intake_down, "intake", "connection refused", "start the intake"),
    ("another central key", _other_central_key, "registration",
     "every record would be refused (undecryptable)", "DIR/keys/central.pub"),
    ("another intake key", _other_intake_key, "registration", "no receipt would verify",
     "DIR/keys/intake.pub"),
    ("battery below the limits", _battery_low, "ups", "new enrollments are refused",
     "restore mains power"),
    ("config not TOML", _bad_toml, "config", "is not valid TOML", "kiosk.toml at line "),
    ("kiosk not registered", _unregistered, "registration",
     "does not know kiosk test-01", "kiosk-intake register"),
    ("kiosk revoked", _revoked, "registration", "revoked kiosk test-01",
     "kiosk-intake register"),
    ("corrupt journal", _corrupt_journal, "journal", "corrupt", "copy"),
    ("rotten payload", _rotten_payload, "journal", "step portrait: payload is damaged",
     "kiosk journal check"),
    ("oldest unsent record too old", _old_backlog, "backlog", "since 3.0 days",
     "kiosk upload --once"),
]
# what else a failure takes with it: checks that need it are skipped, not failed
NEEDS = {"key.device": {"registration"}, "intake": {"registration"},
         "config": set(ALL) - {"config"}, "journal": {"backlog", "rejected", "unfinished"}}


@pytest.mark.parametrize(("case", "breaker", "check", "detail", "fix"), CASES,
                         ids=[c[0] for c in CASES])
def test_doctor_names_the_failure_and_its_fix(
        site: Site, intake: IntakeServer, tmp_path: Path, case: str, breaker: Breaker,
        check: str, detail: str, fix: str) -> None:
    breaker(site, intake, tmp_path)
    code, found, done = doctor(site)
    assert code == 1, done.stdout
    finding = found[check]
    assert finding["status"] == "fail" and finding["ok"] is False
    assert detail in finding["detail"], finding
    assert fix in finding["fix"], finding
    others = {name: f["status"] for name, f in found.items() if name != check}
    skipped = NEEDS.get(check, set())
    assert {n for n, s in others.items() if s == "fail"} == set(), done.stdout
    assert {n for n, s in others.items() if s == "skip"} <= skipped, done.stdout
    assert done.stderr == ""
    # never a key: the device key's seed, the intake's private keys
    seed = (site.root / "data" / "device.key")
    if seed.exists():
        assert seed.read_bytes().hex() not in done.stdout


@pytest.mark.parametrize("fault", [None, "mute", "held"])
def test_fingerprint_sensor_on_its_port_then_a_dead_sensor(
        site: Site, intake: IntakeServer, tmp_path: Path, fault: str | None) -> None:
    """The ZhianTec emulator on a pty: answering, it is ok; mute (a dead sensor on a live
    port), the doctor names it within its budget and says what to check."""
    link = tmp_path / "fp0"
    emulator = subprocess.Popen(
        [sys.executable, "-m", "kiosk.hardware.fingerprint.emulator", "--link", str(link),
         *(["--fault", fault] if fault == "mute" else [])],
        env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)
    try:
        assert emulator.stdout is not None
        assert emulator.stdout.readline().startswith("fingerprint emulator on /dev/")
        configure(site, intake.url, f'[hardware.fingerprint]\ntype = "zfm"\nport = "{link}"\n')
        with contextlib.ExitStack() as stack:
            if fault == "held":  # the touchscreen holds the port, as kiosk-ui does
                stack.enter_context(serial.Serial(str(link), exclusive=True))
            started = time.monotonic()
            code, found, done = doctor(site)
            elapsed = time.monotonic() - started
            selftest = subprocess.run([*KIOSK, "hw", "selftest"],
                                      env=kiosk_env(site.config), capture_output=True,
                                      text=True, timeout=60)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    sensor = found["device.fingerprint"]
    if fault is None:
        assert code == 0, done.stdout
        assert f"ZFM sensor on {link}" in sensor["detail"]
        return
    if fault == "held":  # the normal state of a running kiosk: a warning, not a failure
        assert code == 0, done.stdout
        assert sensor["status"] == "warn"
        assert "held by another program" in sensor["detail"]
        assert "sudo systemctl stop kiosk-ui" in sensor["fix"]
        # `kiosk hw selftest` (a health check of `kiosk update`) says the same, exit 0.
        assert selftest.returncode == 0, selftest.stdout
        assert "held fingerprint" in selftest.stdout
        assert "not tested, held by another program (the running kiosk?): fingerprint." in (
            selftest.stdout)
        return
    assert selftest.returncode == 1
    assert "FAIL fingerprint" in selftest.stdout
    assert code == 1
    assert sensor["status"] == "fail"
    assert "did not answer" in sensor["detail"], sensor
    assert "hardware.fingerprint.port" in sensor["fix"]
    assert elapsed < 30, elapsed
    # A real sensor beside the simulated card reader: the development staff CA is not
    # trusted beside real hardware, so no officer could log in (a warning).
    assert [n for n, f in found.items() if f["status"] != "ok"] == [
        "device.fingerprint", "key.staff"]
    assert found["key.staff"]["status"] == "warn"
    assert "hardware.fingerprint is real" in found["key.staff"]["detail"]


def test_clock_not_synchronised_names_timedatectl_and_the_fix(
        site: Site, intake: IntakeServer) -> None:
    bin_dir = fake_timedatectl(site.root / "bin-unsynced", synced=False, ntp=False)
    code, found, _done = doctor(site, bin_dir=bin_dir)
    assert code == 1
    clock = found["clock"]
    assert clock["status"] == "fail"
    assert "not synchronised (timedatectl)" in clock["detail"]
    assert "no NTP client is enabled" in clock["detail"]
    assert "sudo timedatectl set-ntp true" in clock["fix"]
    assert [n for n, f in found.items() if f["status"] != "ok"] == ["clock"]


def test_doctor_runs_from_the_repo_checkout(site: Site, intake: IntakeServer) -> None:
    """The console script's module, from another working directory (as over SSH)."""
    env = dict(kiosk_env(site.config), PYTHONPATH=str(REPO),
               PATH=f"{fake_timedatectl(site.root / 'bin')}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run([*KIOSK, "doctor", "--config", str(site.config)], env=env,
                          capture_output=True, text=True, timeout=90, cwd="/")
    assert done.returncode == 0, done.stdout + done.stderr
