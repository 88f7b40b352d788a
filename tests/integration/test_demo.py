"""`kiosk demo`, `queue list` and `status` as a maintainer runs them, in subprocesses."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kiosk.journal import Journal
from tests.conftest import ENROLLED, KIOSK, kiosk_env, write_config

CITIZENS = 4  # a few: one line per record, in sequence order, whatever their number


def kiosk(config: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KIOSK, *args], env=kiosk_env(config), capture_output=True,
                          text=True, timeout=timeout)


def test_demo_prints_one_line_per_sealed_record_and_nothing_else(kiosk_config: Path) -> None:
    result = kiosk(kiosk_config, "demo", "--citizens", str(CITIZENS), "--seed", "3")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert len(lines) == CITIZENS
    assert all(ENROLLED.fullmatch(line) for line in lines), lines
    ids = [line.split()[1] for line in lines]
    assert len(set(ids)) == CITIZENS

    queue = kiosk(kiosk_config, "queue", "list", "--json")
    assert queue.returncode == 0, queue.stderr
    entries = json.loads(queue.stdout)
    assert [e["id"] for e in entries] == ids          # ordered by sequence number
    assert {e["state"] for e in entries} == {"sealed"}
    assert all(set(e) >= {"id", "state", "attempts", "last_error"} for e in entries)

    status = kiosk(kiosk_config, "status", "--json")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["records"]["sealed"] == CITIZENS
    assert doc["records"]["in_progress"] == 0
    assert (doc["upload"]["pending"], doc["upload"]["last_error"]) == (CITIZENS, None)
    assert doc["accepting"] is True
    assert doc["power"]["source"] == "mains"
    assert isinstance(doc["clock"]["trusted"], bool)
    assert doc["disk"]["free_bytes"] > 0
    assert all(v["ok"] for v in doc["hardware"].values()), doc["hardware"]


def test_demo_refuses_with_exit_3_on_low_battery(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[power]\ntype = "sim"\nsource = "battery"\n'
                                    "battery_percent = 12.0\n")
    result = kiosk(config, "demo", "--citizens", "3")
    assert result.returncode == 3
    assert result.stdout == ""
    assert "battery" in result.stderr
    status = json.loads(kiosk(config, "status", "--json").stdout)
    assert status["accepting"] is False
    assert status["power"]["source"] == "battery"


def test_demo_refuses_with_exit_3_below_disk_reserve(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[kiosk]\ndisk_reserve_bytes = 1099511627776\n")
    result = kiosk(config, "demo", "--citizens", "3")
    assert result.returncode == 3
    assert result.stdout == ""
    assert "disk reserve" in result.stderr


def test_status_and_queue_before_anything_was_recorded(kiosk_config: Path) -> None:
    (kiosk_config.parent / "data").mkdir()  # as the installer makes it (else: see below)
    status = kiosk(kiosk_config, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert set(json.loads(status.stdout)) >= {"accepting", "records", "power", "clock",
                                             "hardware", "disk"}
    queue = kiosk(kiosk_config, "queue", "list", "--json")
    assert json.loads(queue.stdout) == []


@pytest.mark.parametrize("citizens", ["-1", "x"])
def test_demo_rejects_bad_counts(kiosk_config: Path, citizens: str) -> None:
    result = kiosk(kiosk_config, "demo", "--citizens", citizens)
    assert result.returncode == 2
    assert result.stdout == ""


def test_a_citizen_whose_finger_no_try_reads_is_enrolled_by_an_officer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A worn finger the sensor never reads (seed 0's citizen #348, R5, in the simulator)
    stopped `kiosk demo --citizens 400` with exit 1 after 348 lines. The kiosk calls an
    officer, who enrolls the citizen in an assisted session and records that finger as
    missing; the self-service attempt is discarded. The demo goes on: one line per
    citizen, exit 0."""
    from kiosk.config import load_config
    from kiosk.demo import run_demo
    from kiosk.errors import CaptureRejected
    from kiosk.hardware.fingerprint.sim import SimFingerprint
    from kiosk.journal import Journal

    real = SimFingerprint.extract_template

    def worn(self: SimFingerprint) -> bytes:
        if self._presented == (1, 4):  # citizen #1's right little finger, every impression
            raise CaptureRejected("the sensor found too few feature points; place the "
                                  "finger again")
        return real(self)

    monkeypatch.setattr(SimFingerprint, "extract_template", worn)
    config = load_config(write_config(tmp_path), system_path=tmp_path / "none.toml")
    out = io.StringIO()
    assert run_demo(config, 3, 0, out) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and all(ENROLLED.fullmatch(line) for line in lines), lines
    ids = [line.split()[1] for line in lines]
    with Journal.open_readonly(config.journal_path) as journal:
        assert journal.counts().get("sealed") == 3 and not journal.counts().get("in_progress")
        assert [journal.record(i).assisted for i in ids] == [False, True, False]
    said = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "citizen #1" in said and "R5" in said and "unreadable" in said


@pytest.mark.parametrize(("signum", "status", "says"), [
    (signal.SIGINT, 130, "interrupted (Ctrl-C)"),
    (signal.SIGTERM, 143, "stopped by SIGTERM"),
])
def test_demo_stopped_by_a_signal_discards_the_citizen_in_progress_and_says_so(
        kiosk_config: Path, signum: int, status: int, says: str) -> None:
    """Ctrl-C and SIGTERM (`kill`, `systemctl stop`) mid-demo: only whole `enrolled` lines,
    each of them a sealed record, none left in progress, and one line on stderr. SIGTERM
    killed the demo outright (status -15), its record in progress left to the next start."""
    demo = subprocess.Popen(
        [*KIOSK, "demo", "--citizens", "100000"], env=kiosk_env(kiosk_config),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as a terminal's
    assert demo.stdout is not None
    first = demo.stdout.readline()  # one sealed: the next is under way
    time.sleep(0.3)
    demo.send_signal(signum)
    rest, err = demo.communicate(timeout=120)
    assert demo.returncode == status, err[-2000:]
    assert says in err and "Traceback" not in err, err[-2000:]
    lines = (first + rest).split("\n")
    assert lines[-1] == "" and all(ENROLLED.fullmatch(line) for line in lines[:-1]), lines
    queue = json.loads(kiosk(kiosk_config, "queue", "list", "--json").stdout)
    states = {e["id"]: e["state"] for e in queue}
    assert all(states[line.split()[1]] == "sealed" for line in lines[:-1])
    assert "in_progress" not in states.values(), states


@pytest.mark.parametrize(("body", "reason"), [
    ('[sealing]\ncentral_key = "missing-central.pub"\n', "sealing keys unusable"),
    ('[hardware.fingerprint]\ntype = "zfm"\nport = "/dev/ttyNOPE"\n'
     '[sealing]\ncentral_key = "central.pub"\n', "fingerprint device not ready"),
])
def test_status_is_not_accepting_when_the_demo_would_refuse(
        tmp_path: Path, body: str, reason: str) -> None:
    """`kiosk status` said accepting: true while `kiosk demo` refused with exit 3 (the
    central key missing, the sensor's port absent): both now give the same reason."""
    from kiosk.sealing import generate_central_keypair

    generate_central_keypair(tmp_path / "central")
    (tmp_path / "central.pub").write_bytes((tmp_path / "central" / "central.pub").read_bytes())
    config = write_config(tmp_path, body)
    demo = kiosk(config, "demo", "--citizens", "1")
    assert (demo.returncode, demo.stdout) == (3, ""), demo.stderr[-2000:]
    assert reason in demo.stderr
    status = kiosk(config, "status", "--json")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["accepting"] is False and doc["reason"].startswith(reason), doc["reason"]
    if "missing-central" in body:  # a mistyped path, most likely: never "a new pair"
        assert "check sealing.central_key" in demo.stderr
        assert "keys/central.pub" in demo.stderr and "key pair" not in demo.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_right_after_a_seal_lets_its_line_out_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture, signum: int) -> None:
    """SIGTERM (or Ctrl-C) arriving just as a record was sealed left it sealed but not
    printed, logged an ERROR (the discard of a sealed record refused) and ended with "any
    citizen in progress was discarded". The signal now waits for the line (a few ms)."""
    from kiosk.cli import main
    from kiosk.enrollment.session import EnrollmentSession

    real = EnrollmentSession.confirm
    sealed: list[str] = []

    def confirm(self: EnrollmentSession) -> str:
        record_id = real(self)
        sealed.append(record_id)
        if len(sealed) == 2:  # the worst moment: sealed, not yet printed
            os.kill(os.getpid(), signum)
        return record_id

    monkeypatch.setattr(EnrollmentSession, "confirm", confirm)
    path = write_config(tmp_path)
    before = signal.getsignal(signal.SIGTERM)
    try:
        code = main(["demo", "--citizens", "4", "--seed", "2", "--config", str(path)])
    finally:
        signal.signal(signal.SIGTERM, before)
    out, err = capsys.readouterr()
    assert code == (143 if signum == signal.SIGTERM else 130), err
    assert out.splitlines() == [f"enrolled {rid}" for rid in sealed]  # both, and no more
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    with Journal.open_readonly(tmp_path / "data" / "journal.db") as journal:
        assert {r.id: r.state for r in journal.records()} == dict.fromkeys(sealed, "sealed")


def test_a_second_signal_stops_the_demo_even_while_its_line_cannot_be_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The line after a seal is written with the signals held; stdout may block there
    (``kiosk demo | less``, a terminal paused with Ctrl-S). A second Ctrl-C acts at once."""
    import threading

    import kiosk.demo
    from kiosk.cli import main

    printed: list[str] = []

    def stuck(out: object, record_id: str) -> None:
        printed.append(record_id)
        if len(printed) == 2:  # the reader stopped reading
            def press_twice() -> None:
                time.sleep(0.3)
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.3)
                os.kill(os.getpid(), signal.SIGINT)

            threading.Thread(target=press_twice, daemon=True).start()
            threading.Event().wait(30)

    monkeypatch.setattr(kiosk.demo, "_print_enrolled", stuck)
    path = write_config(tmp_path)
    before = signal.getsignal(signal.SIGTERM)
    began = time.monotonic()
    try:
        code = main(["demo", "--citizens", "4", "--seed", "2", "--config", str(path)])
    finally:
        signal.signal(signal.SIGTERM, before)
    took = time.monotonic() - began
    assert code == 130, capsys.readouterr().err
    assert took < 15, f"the second Ctrl-C took {took:.1f} s"
    assert len(printed) == 2
