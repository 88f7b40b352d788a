"""The doctor's parts: budgets, exit codes, the table, the clock probe, and how each answer
of the intake, each TLS failure and each UPS reading becomes a finding with its fix."""

from __future__ import annotations

import io
import os
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kiosk.cli import main
from kiosk.clock import ClockState, clock_state
from kiosk.config import Config, load_config
from kiosk.doctor import (
    Check,
    Finding,
    exit_code,
    fail,
    ok,
    render,
    run_checks,
    summary,
    warn,
)
from kiosk.doctor.checks import (
    UPS_UNKNOWN,
    check_central_key,
    check_clock,
    check_disk,
    check_staff_ca,
    check_ups,
    plan,
)
from kiosk.doctor.intake import registration, tls_failure
from kiosk.doctor.journal import check_journal, describe_age
from kiosk.errors import ConfigError, DeviceError, DeviceNotFound, UnknownKey, UnknownSection
from kiosk.journal import Journal
from kiosk.power import PowerStatus, nut_client
from kiosk.power.nut import NutUps
from kiosk.runtime import check_acceptance
from kiosk.sealing import generate_central_keypair
from tests.conftest import write_config


# -- budgets ---------------------------------------------------------------------------------
def test_a_hanging_check_is_reported_at_its_budget_and_the_rest_still_answer() -> None:
    release = threading.Event()

    def hangs() -> Iterator[Finding]:
        yield ok("first", "answered")
        release.wait(30)  # a device that never answers
        yield ok("second", "too late")

    started = time.monotonic()
    findings = run_checks([
        Check(("first", "second", "third"), hangs, budget_s=0.5, hint="`kiosk hw selftest`"),
        Check(("quick",), lambda: [ok("quick", "fine")], budget_s=5),
    ])
    elapsed = time.monotonic() - started
    release.set()
    assert elapsed < 2.0
    assert [(f.check, f.status) for f in findings] == [
        ("first", "ok"), ("second", "fail"), ("third", "skip"), ("quick", "ok")]
    assert findings[1].detail == "no answer within 0.5 s"
    assert findings[1].fix == "`kiosk hw selftest`"
    assert "second" in findings[2].detail


def test_checks_run_side_by_side_so_slow_ones_cost_their_time_once() -> None:
    def slow(name: str) -> list[Finding]:
        time.sleep(0.4)
        return [ok(name, "slow but fine")]

    started = time.monotonic()
    findings = run_checks([Check((f"c{i}",), lambda i=i: slow(f"c{i}"), budget_s=5)
                           for i in range(5)])
    assert time.monotonic() - started < 1.5  # not 5 x 0.4 s
    assert all(f.status == "ok" for f in findings)


def test_a_check_that_raises_is_a_failure_not_a_crash() -> None:
    def broken() -> list[Finding]:
        raise RuntimeError("boom")

    (finding,) = run_checks([Check(("x",), broken, budget_s=5)])
    assert finding.status == "fail"
    assert "the check itself failed: RuntimeError: boom" in finding.detail


# -- exit codes and output ---------------------------------------------------------------------
@pytest.mark.parametrize(("statuses", "code"), [
    (["ok", "ok"], 0),
    (["ok", "warn"], 0),  # a warning does not fail the run
    (["ok", "fail"], 1),
    (["fail", "skip"], 1),
    (["ok", "skip"], 1),  # something could not be vouched for
])
def test_exit_code(statuses: list[str], code: int) -> None:
    findings = [Finding(f"c{i}", s, "d", "" if s in ("ok", "skip") else "f")
                for i, s in enumerate(statuses)]
    assert exit_code(findings) == code
    assert summary(findings).endswith(f"exit {code}")


def test_the_table_reads_without_colour_and_shows_each_fix() -> None:
    out = io.StringIO()  # not a terminal: what a maintainer gets through a pipe or `| less`
    render([ok("disk", "12.0 GiB free"), warn("ups", "on battery", "restore mains power"),
            fail("clock", "not synchronised", "sudo timedatectl set-ntp true")], out)
    text = out.getvalue()
    assert "\x1b[" not in text
    for words in ("disk", "ok", "WARN", "FAIL", "fix: sudo timedatectl set-ntp true",
                  "1 failed, 1 warning(s) of 3 checks: exit 1"):
        assert words in text, text
    lines = text.splitlines()
    # Over SSH the first line names the columns and the last is the verdict: no blank
    # edge rows around the table, no margin before the check names.
    assert lines[0].split() == ["check", "status", "detail", "/", "fix"], lines[0]
    assert lines[2].startswith("disk "), lines[2]
    assert lines[-2].strip() and lines[-1].startswith("1 failed"), lines[-3:]


def test_a_finding_has_one_of_four_statuses() -> None:
    with pytest.raises(ValueError):
        Finding("x", "maybe", "d")
    assert warn("x", "d", "f").as_json() == {"check": "x", "ok": True, "detail": "d",
                                             "fix": "f", "status": "warn"}


# -- clock -------------------------------------------------------------------------------------
def _timedatectl(stdout: str, returncode: int = 0
                 ) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        assert argv[:2] == ["timedatectl", "show"]
        assert kwargs["timeout"] == 3.0
        return subprocess.CompletedProcess(argv, returncode, stdout, "")
    return run


@pytest.mark.parametrize(("stdout", "returncode", "kernel", "want"), [
    ("NTPSynchronized=yes\nNTP=yes\n", 0, False, ClockState(True, True, "timedatectl")),
    ("NTPSynchronized=no\nNTP=no\n", 0, True, ClockState(False, False, "timedatectl")),
    ("NTPSynchronized=no\n", 0, True, ClockState(False, None, "timedatectl")),
    ("", 1, True, ClockState(True, None, "kernel")),  # no systemd: ask the kernel
    ("garbage", 0, False, ClockState(False, None, "kernel")),
])
def test_clock_state_from_timedatectl_or_the_kernel(stdout: str, returncode: int,
                                                    kernel: bool, want: ClockState) -> None:
    assert clock_state(run=_timedatectl(stdout, returncode), kernel=lambda: kernel) == want


def test_clock_state_without_timedatectl_or_when_it_hangs() -> None:
    def missing(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError("timedatectl")

    def hangs(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(argv, 3.0)

    for run in (missing, hangs):
        assert clock_state(run=run, kernel=lambda: True) == ClockState(True, None, "kernel")


@pytest.mark.parametrize(("state", "status", "fix"), [
    (ClockState(True, True, "timedatectl"), "ok", ""),
    (ClockState(False, False, "timedatectl"), "fail", "sudo timedatectl set-ntp true"),
    (ClockState(False, True, "timedatectl"), "fail", "timedatectl timesync-status"),
    (ClockState(False, None, "kernel"), "fail", "the first sync needs the link"),
])
def test_check_clock(state: ClockState, status: str, fix: str) -> None:
    finding = check_clock(state)
    assert finding.status == status
    assert fix in finding.fix


# -- the intake's answers ------------------------------------------------------------------------
@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(write_config(tmp_path, '[upload]\nurl = "https://intake.example/"\n'
                                               'ca_file = ""\n'))


@pytest.mark.parametrize(("status", "body", "want", "fix"), [
    (200, {"registered": True, "key_id": "0123456789abcdef"}, "ok", ""),
    (403, {"code": "unknown_kiosk", "error": "x"}, "fail", "kiosk-intake register"),
    (403, {"code": "revoked_kiosk", "error": "revoked"}, "fail", "register this kiosk's key"),
    (403, {"code": "wrong_key", "error": "x"}, "fail", "restore the old device.key"),
    (401, {"error": "missing or wrong bearer token"}, "fail", "[upload] token"),
    (404, {"error": "not found"}, "warn", "update the intake"),
    (400, {"error": "odd"}, "fail", "Kiosk authentication"),
])
def test_registration_from_the_intakes_answer(config: Config, status: int, body: dict[str, object],
                                              want: str, fix: str) -> None:
    finding = registration(config, status, body, signed=True)
    assert finding.check == "registration" and finding.status == want, finding
    assert fix in finding.fix


def test_registration_is_not_asked_without_a_device_key(config: Config) -> None:
    assert registration(config, 200, {"registered": True}, signed=False).status == "skip"


def _verify_error(code: int, message: str) -> Exception:
    error = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    error.verify_code = code
    error.verify_message = message
    wrapper = OSError("HTTPSConnectionPool: Max retries exceeded")
    wrapper.__cause__ = error
    return wrapper


@pytest.mark.parametrize(("exc", "detail", "fix"), [
    (_verify_error(10, "certificate has expired"), "has expired", "renew the certificate"),
    (_verify_error(9, "certificate is not yet valid"), "clock is behind", "set-ntp true"),
    (_verify_error(62, "Hostname mismatch"), "does not name intake.example (wrong host)",
     "--tls-name intake.example"),
    (_verify_error(20, "unable to get local issuer certificate"), "unknown CA",
     "upload.tls_fingerprint"),
    (_verify_error(18, "self-signed certificate"), "unknown CA", "upload.tls_fingerprint"),
    (OSError("Fingerprints did not match. Expected x, got y"), "not the pinned one",
     "set upload.tls_fingerprint"),
    (OSError("[SSL: WRONG_VERSION_NUMBER] wrong version number"), "does not speak TLS",
     "http://"),
])
def test_tls_failures_are_named(config: Config, exc: Exception, detail: str,
                                fix: str) -> None:
    got_detail, got_fix = tls_failure(exc, config)
    assert detail in got_detail
    assert fix in got_fix


# -- the data directory ------------------------------------------------------------------------
def _read_only(real: Callable[..., os.statvfs_result]) -> Callable[..., os.statvfs_result]:
    """os.statvfs as on a card the kernel remounted read-only after errors."""
    def statvfs(path: object) -> os.statvfs_result:
        got = real(path)
        return os.statvfs_result((*got[:8], got.f_flag | os.ST_RDONLY, got.f_namemax))
    return statvfs


@pytest.mark.parametrize("how", ["a file", "read-only"])
def test_an_unusable_data_directory_fails_the_disk_check_and_stops_enrolling(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """`kiosk status` said accepting and the doctor ok, while every enrollment and upload
    failed on the first write."""
    config = load_config(write_config(tmp_path))
    if how == "a file":
        config.data_dir.write_text("")
        words = f"data directory {config.data_dir} is not a directory"
        fix = "kiosk.data_dir"
    else:
        config.data_dir.mkdir()
        monkeypatch.setattr(os, "statvfs", _read_only(os.statvfs))
        words = f"data directory {config.data_dir} is on a read-only file system"
        fix = "findmnt"
    finding = check_disk(config)
    assert finding.status == "fail"
    assert words in finding.detail and fix in finding.fix, finding
    acceptance = check_acceptance(config)
    assert not acceptance.accepting and words in (acceptance.reason or "")


# -- the UPS through its backend -----------------------------------------------------------------
@pytest.mark.parametrize(("power", "status", "words"), [
    ('source = "mains"', "ok", "source mains"),
    ('source = "battery"\nbattery_percent = 55', "warn", "on battery"),
    ('source = "battery"\nbattery_percent = 5\nlow_battery = true', "fail", "LOW BATTERY"),
])
def test_ups_reading_becomes_a_finding(tmp_path: Path, power: str, status: str,
                                       words: str) -> None:
    config = load_config(write_config(tmp_path, f'[power]\ntype = "sim"\n{power}\n'))
    finding = check_ups(config, 1.0)
    assert finding.status == status
    assert words in finding.detail


@pytest.mark.parametrize(("error", "fix"), [
    (nut_client.UpsdRefused, "sudo systemctl start nut-server"),
    (nut_client.NutDriverDown, "start the UPS driver: `sudo upsdrvctl start`"),
    (nut_client.UnknownUps, "set power.ups to the UPS's section name"),
    (nut_client.NutDataStale, "the driver lost the UPS: check its cable"),
    (nut_client.UpsdTimeout, "nothing answered at 127.0.0.1:3493 in time"),
    (DeviceNotFound, "check [power] host, port and ups"),
])
def test_a_upsd_failure_gets_its_fix_by_its_type_not_its_words(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type[DeviceError],
        fix: str) -> None:
    """kiosk.power.nut_client says what went wrong by the type it raises; the doctor's fix
    follows the type, whatever the message's words (here none of upsd's)."""
    def read(self: NutUps) -> PowerStatus:
        raise error("the words of this message are not the doctor's to read")

    monkeypatch.setattr(NutUps, "read", read)
    config = load_config(write_config(tmp_path, '[power]\ntype = "nut"\n'))
    finding = check_ups(config, 1.0)
    assert finding.status == "fail"
    assert finding.detail == ("nut: the words of this message are not the doctor's to read"
                              + UPS_UNKNOWN)
    assert "enrollments go on" in finding.detail  # fail-open, and said
    assert fix in finding.fix, finding.fix


# -- the keys ------------------------------------------------------------------------------------
def test_a_missing_central_key_is_named_whole_even_with_a_semicolon_in_its_path(
        tmp_path: Path) -> None:
    """The problem comes from the KeyFileMissing's ``problem``, not from cutting its message
    at the first ';' (which the path here holds)."""
    missing = tmp_path / "keys;old" / "central.pub"
    config = load_config(write_config(tmp_path, f'[sealing]\ncentral_key = "{missing}"\n'))
    finding = check_central_key(config)
    assert finding.status == "fail"
    assert finding.detail == f"central public key {missing} is missing"
    assert "copy central.pub from the central office" in finding.fix


def test_a_central_key_of_another_kind_is_named_whole(tmp_path: Path) -> None:
    private, _public = generate_central_keypair(tmp_path / "central")
    config = load_config(write_config(tmp_path, f'[sealing]\ncentral_key = "{private}"\n'))
    finding = check_central_key(config)
    assert finding.status == "fail"
    assert finding.detail == (f"{private} is not a central public key (expected header "
                              "'ektp-central-public-key v1'; it is ektp-central-private-key v1)")


def _ca_pem(path: Path, *, expired: bool = False) -> Path:
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives import serialization

    from kiosk.hardware.card import devca

    dates = {"not_before": datetime(2019, 1, 1, tzinfo=UTC),
             "not_after": datetime(2020, 1, 1, tzinfo=UTC)} if expired else {}
    ca = devca.make_ca_certificate(devca.derived_key(b"doctor test CA"), "Office staff CA",
                                   **dates)
    path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.mark.parametrize(("body", "status", "detail", "fix"), [
    ("", "ok", "development staff CA trusted (simulated card reader only)", ""),
    ('[hardware.card]\ntype = "pcsc"\n', "warn",
     "staff.ca is not set: with hardware.card.type = 'pcsc' no staff card can be checked, so "
     "no officer can log in", "set [staff] ca to its path"),
    ('[hardware.card]\ntype = "pcsc"\n[staff]\nca = "ca.pem"\n', "ok",
     "1 staff-card CA: CN=Office staff CA (until 2049-12-31)", ""),
    ('[staff]\nca = "old.pem"\n', "fail", "none is valid now: every officer's card is refused",
     "install the office's renewed staff-card CA certificate"),
    ('[staff]\nca = "both.pem"\n', "warn", "1 not valid now: cards it issued are refused",
     "install the office's renewed staff-card CA certificate"),
    ('[staff]\nca = "missing.pem"\n', "fail", "cannot read", "set [staff] ca to its path"),
    ('[staff]\nca = "kiosk.toml"\n', "fail", "no PEM certificate", "[staff] ca"),
])
def test_the_staff_ca_check(tmp_path: Path, body: str, status: str, detail: str,
                            fix: str) -> None:
    _ca_pem(tmp_path / "ca.pem")
    _ca_pem(tmp_path / "old.pem", expired=True)
    # a new CA beside the old one, while cards are issued again
    (tmp_path / "both.pem").write_bytes((tmp_path / "ca.pem").read_bytes()
                                        + (tmp_path / "old.pem").read_bytes())
    config = load_config(write_config(tmp_path, body))
    finding = check_staff_ca(config)
    assert (finding.check, finding.status) == ("key.staff", status), finding
    assert detail in finding.detail
    assert fix in finding.fix and bool(finding.fix) == (status != "ok")
    if "ca = " in body:  # relative to the config file, like the other paths
        assert str(tmp_path) in finding.detail


def _crl_pem(path: Path, *, signer: bytes = b"doctor test CA", days_old: int = 1) -> Path:
    """A CRL of the doctor's test CA (``signer``: the label of the key that signs it),
    revoking two serials, issued ``days_old`` days ago, its next update 30 days later."""
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import serialization

    from kiosk.hardware.card import devca

    ca = devca.make_ca_certificate(devca.derived_key(b"doctor test CA"), "Office staff CA")
    issued = datetime(2026, 3, 1, tzinfo=UTC) - timedelta(days=days_old)
    crl = devca.issue_crl(devca.derived_key(signer), ca, [7, 8], last_update=issued)
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.mark.parametrize(("crl", "status", "detail", "fix"), [
    ("", "ok", "ca.pem: 1 staff-card CA: CN=Office staff CA (until 2049-12-31); no CRL ([staff] "
     "crl): no card is refused as revoked", ""),
    ("crl.pem", "ok", "crl.pem: CRL of CN=Office staff CA: 2 revoked, issued 2026-02-28, next "
     "update 2026-03-30", ""),
    ("stale.pem", "warn", "the office's CRL is out of date since 2026-02-18; revoked cards stay "
     "refused, newly revoked ones are not known", "issue a new CRL at the office (openssl ca "
     "-gencrl"),
    ("missing.pem", "fail", "cannot read the CRL", "readable by the kiosk user"),
    ("ca.pem", "fail", "no PEM CRL (-----BEGIN X509 CRL-----) in it; no officer can log in",
     "copy the office's latest CRL"),
    ("rogue.pem", "fail", "a CRL in it is signed by no trusted staff-card CA", "[staff] crl"),
])
def test_the_staff_ca_check_reports_the_crl(tmp_path: Path, crl: str, status: str, detail: str,
                                            fix: str) -> None:
    from datetime import UTC, datetime

    _ca_pem(tmp_path / "ca.pem")
    _crl_pem(tmp_path / "crl.pem")
    _crl_pem(tmp_path / "stale.pem", days_old=41)
    _crl_pem(tmp_path / "rogue.pem", signer=b"not the office's CA key")
    body = '[hardware.card]\ntype = "pcsc"\n[staff]\nca = "ca.pem"\n'
    config = load_config(write_config(tmp_path, body + (f'crl = "{crl}"\n' if crl else "")))
    finding = check_staff_ca(config, now=datetime(2026, 3, 1, tzinfo=UTC))
    assert (finding.check, finding.status) == ("key.staff", status), finding
    assert detail in finding.detail
    assert fix in finding.fix and bool(finding.fix) == (status != "ok")


def test_the_staff_ca_check_reads_the_crl_of_the_development_ca(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives import serialization

    from kiosk.hardware.card import devca

    crl = devca.issue_crl(devca.dev_ca_key(), devca.dev_ca_certificate(), [1],
                          last_update=datetime(2026, 1, 1, tzinfo=UTC))
    (tmp_path / "crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    config = load_config(write_config(tmp_path, '[staff]\ncrl = "crl.pem"\n'))
    finding = check_staff_ca(config, now=datetime(2026, 1, 2, tzinfo=UTC))
    assert finding.status == "ok" and finding.detail.startswith("development staff CA")
    assert "1 revoked" in finding.detail
    (tmp_path / "crl.pem").write_bytes(b"\x30\x03garbage")  # not a CRL: officer login off
    assert check_staff_ca(config).status == "fail"


def test_describe_age() -> None:
    assert [describe_age(s) for s in (90, 5400, 3 * 86400)] == ["2 min", "1.5 h", "3.0 days"]


# -- the journal ---------------------------------------------------------------------------------
@pytest.fixture
def journal_config(tmp_path: Path) -> Config:
    config = load_config(write_config(tmp_path))
    config.data_dir.mkdir()
    with Journal.open(config.journal_path, kiosk_id="test-01", boot_id="boot",
                      clock_trusted=lambda: True) as journal:
        journal.create_record(assisted=False)
    return config


def test_journal_sound_and_read_in_full(journal_config: Config) -> None:
    finding = check_journal(journal_config)
    assert finding.status == "ok"
    assert finding.detail == "1 records; every page and payload read"


def test_a_deep_check_past_its_budget_is_a_warning_naming_journal_check(
        journal_config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    monkeypatch.setattr(Journal, "verify", lambda self: release.wait(10) and [])
    started = time.monotonic()
    finding = check_journal(journal_config, budget_s=0.3)
    release.set()
    assert time.monotonic() - started < 2
    assert finding.status == "warn"
    assert "the tables are sound" in finding.detail
    assert "kiosk journal check" in finding.fix


def test_a_quarantined_journal_fails(journal_config: Config) -> None:
    kept = journal_config.journal_path.with_name("journal.db.corrupt-20261129T000000Z")
    kept.write_bytes(b"old")
    finding = check_journal(journal_config)
    assert finding.status == "fail"
    assert str(kept) in finding.detail and "move it out of" in finding.fix


# -- the configuration ---------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "detail", "fix"), [
    ("[kiosk]\ncolour = \"red\"\n", "kiosk.colour", "remove or rename kiosk.colour"),
    ("[colour]\nred = 1\n", "[colour]", "remove or rename the section [colour]"),
    ("[upload]\nretries = -1\n", "upload.retries", "upload.retries must be a number from 0"),
    ("[hardware.camera]\ntype = \"webcam\"\n", "hardware.camera.type", "must be one of"),
])
def test_a_config_that_does_not_load_is_named_and_the_rest_skipped(
        tmp_path: Path, body: str, detail: str, fix: str) -> None:
    path = write_config(tmp_path, body)
    findings = run_checks(plan(str(path)))
    config, *rest = findings
    assert config.check == "config" and config.status == "fail"
    assert detail in config.detail
    assert fix in config.fix and str(path) in config.fix and "kiosk config check" in config.fix
    assert {f.status for f in rest} == {"skip"}
    assert exit_code(findings) == 1


@pytest.mark.parametrize("where", ["nope.toml", "a-directory"])
def test_a_config_path_that_is_no_file_says_where_to_point_not_edit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """``$KIOSK_CONFIG`` naming no file, or a directory: the fix said "edit" that path."""
    (tmp_path / "a-directory").mkdir()
    monkeypatch.setenv("KIOSK_CONFIG", str(tmp_path / where))
    config, *_rest = run_checks(plan(None))
    assert config.status == "fail"
    assert "edit" not in config.fix and "point $KIOSK_CONFIG" in config.fix, config.fix


@pytest.mark.parametrize(("error", "body", "fix"), [
    (UnknownKey, "[kiosk]\ncolour = \"red\"\n", "remove or rename kiosk.colour in "),
    (UnknownSection, "[colour]\nred = 1\n", "remove or rename the section [colour] in "),
])
def test_an_unknown_config_name_is_told_by_its_type_not_its_words(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type[ConfigError], body: str,
        fix: str) -> None:
    """kiosk.config says a name is unknown by the error's type; the doctor's fix follows it
    whatever the words of ``allowed`` (reworded here)."""
    def reworded(self: ConfigError, key: str, value: object, known: list[str]) -> None:
        self.known = list(known)
        ConfigError.__init__(self, key, value, "something the doctor has never read")

    def reworded_section(self: ConfigError, section: str, known: list[str]) -> None:
        reworded(self, f"[{section}]", "(section)", known)

    monkeypatch.setattr(error, "__init__", reworded if error is UnknownKey else reworded_section)
    path = write_config(tmp_path, body)
    config, *_rest = run_checks(plan(str(path)))
    assert config.status == "fail"
    assert "something the doctor has never read" in config.detail
    assert config.fix.startswith(fix + str(path)), config.fix
    if error is UnknownKey:
        assert "(known keys: " in config.fix and "default_language" in config.fix



# -- a data directory this user cannot write ------------------------------------------------------
def _unwritable(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """``directory`` as the kiosk user sees a directory owned by root, mode 0755 (the tests
    run as root, for whom a real chmod changes nothing)."""
    real = os.access

    def access(path: object, mode: int, **kwargs: object) -> bool:
        if Path(os.fsdecode(path)) == directory and mode & os.W_OK:  # type: ignore[arg-type]
            return False
        return real(path, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)


def test_a_data_directory_the_kiosk_cannot_write_stops_enrolling_and_fails_the_doctor(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """status said accepting and the doctor ok while `kiosk demo` failed on its first write
    ("permission denied: .../journal.db.lock")."""
    config_path = write_config(tmp_path)
    config = load_config(config_path)
    config.data_dir.mkdir()
    _unwritable(monkeypatch, config.data_dir)
    words = f"data directory {config.data_dir} is not writable"
    acceptance = check_acceptance(config)
    assert not acceptance.accepting and words in (acceptance.reason or ""), acceptance
    finding = check_disk(config)
    assert finding.status == "fail" and words in finding.detail, finding
    assert "chown" in finding.fix, finding
    assert main(["demo", "--citizens", "1", "--config", str(config_path)]) == 3
    out, err = capsys.readouterr()
    assert out == "" and words in err and "Traceback" not in err, err
    assert list(config.data_dir.iterdir()) == []  # refused before the first write


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes a mode-0500 directory anyway")
def test_a_data_directory_of_mode_0500_is_not_writable(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    config.data_dir.mkdir(mode=0o500)
    try:
        assert "is not writable" in (check_acceptance(config).reason or "")
    finally:
        config.data_dir.chmod(0o700)


def test_records_stamped_in_the_future_have_no_age_and_say_so(tmp_path: Path) -> None:
    """`UPDATE records SET created_at = '2031-05-01T10:00:00.000Z'`: the doctor said "backlog
    ok ... since -2319502 min" and the metrics clamped the age to 0, so no alert fired.
    The doctor warns (the clock), the metrics leave the age out and say how far ahead."""
    from datetime import UTC, datetime, timedelta

    from prometheus_client.parser import text_string_to_metric_families

    from kiosk.doctor.journal import check_outbox
    from kiosk.metrics import render

    config = load_config(write_config(tmp_path))
    config.data_dir.mkdir()
    with Journal.open(config.journal_path, kiosk_id="test-01", boot_id="boot",
                      clock_trusted=lambda: True) as journal:
        record = journal.create_record(assisted=False)
        journal.save_step(record.id, "consent", b"c" * 10)
        journal.mark_sealed(record.id, b"manifest")
        journal.create_record(assisted=True)  # kept for an officer to continue
    past = datetime(2020, 1, 1, tzinfo=UTC)  # the records' times are years ahead of it
    found = {f.check: f for f in check_outbox(config, now=past)}
    backlog, unfinished = found["backlog"], found["unfinished"]
    assert backlog.status == "warn" and "in the future" in backlog.detail, backlog
    assert "-" not in backlog.detail.split("in the future")[0].split(record.id)[1], backlog
    assert "timedatectl" in backlog.fix
    assert unfinished.status == "warn" and "in the future" in unfinished.detail, unfinished
    # a few seconds ahead (NTP stepping back) is age 0, no warning
    created = datetime.fromisoformat(record.created_at.replace("Z", "+00:00"))
    found = {f.check: f for f in check_outbox(config, now=created - timedelta(seconds=5))}
    assert found["backlog"].status == "ok" and "since 0 min" in found["backlog"].detail
    from kiosk.status import collect_status

    status = collect_status(config, hardware=False)
    got = {s.name: s.value
           for family in text_string_to_metric_families(render(status, now=past.timestamp())
                                                        .decode())
           for s in family.samples}
    assert "kiosk_upload_oldest_pending_age_seconds" not in got, got
    assert got["kiosk_upload_oldest_pending_ahead_seconds"] > 86400
    got = {s.name: s.value
           for family in text_string_to_metric_families(render(status).decode())
           for s in family.samples}
    assert "kiosk_upload_oldest_pending_ahead_seconds" not in got
    assert 0 <= got["kiosk_upload_oldest_pending_age_seconds"] < 600
