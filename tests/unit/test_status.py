"""`kiosk status`, `kiosk queue list` and `kiosk queue show` as text for a person: what the
journal and the intake said is shown as said, never read as rich's markup."""

from __future__ import annotations

import io
import json
import os
import socket
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from kiosk.cli import main
from kiosk.config import load_config
from kiosk.doctor.journal import check_journal
from kiosk.sealing import generate_central_keypair
from kiosk.status import render_history, render_queue, render_status
from tests.conftest import write_config

REFUSAL = ("intake refused the record [wrong_key] (HTTP 403 creating the upload) "
           "[/odd] [bold]")


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=400, color_system=None), out


def test_queue_list_shows_the_intakes_refusal_code() -> None:
    console, out = _console()
    render_queue([{"id": "test-01-0000002-963b2c", "state": "rejected", "attempts": 1,
                   "last_error": REFUSAL}], console)
    assert REFUSAL in out.getvalue()


def test_queue_show_shows_the_refusal_in_the_history() -> None:
    console, out = _console()
    render_history({"id": "test-01-0000002-963b2c", "state": "rejected", "assisted": False,
                    "created_at": "2026-11-30T14:21:56.101Z", "clock_trusted": True,
                    "attempts": 1, "last_error": REFUSAL,
                    "events": [{"seq": 9, "at": "2026-11-30T14:22:00.000Z",
                                "event": "record_state", "clock_trusted": True,
                                "details": {"from_state": "sealed", "to_state": "rejected",
                                            "reason": REFUSAL}}]}, console)
    assert out.getvalue().count(REFUSAL) == 2, out.getvalue()


def test_status_shows_the_last_error_reason_and_device_detail_as_said() -> None:
    console, out = _console()
    render_status({
        "kiosk_id": "test-01", "accepting": False, "reason": "power watcher: [low] battery",
        "records": {"sealed": 1}, "upload": {"pending": 1, "last_error": REFUSAL},
        "power": {"source": "battery", "battery_percent": 20.0},
        "clock": {"trusted": True}, "disk": {"free_bytes": 2**30},
        "hardware": {"camera": {"ok": False, "detail": "v4l2 [/dev/video0] busy"}}},
        console)
    text = out.getvalue()
    assert REFUSAL in text
    assert "power watcher: [low] battery" in text
    assert "v4l2 [/dev/video0] busy" in text
    assert "clock: synchronised" in text and "True" not in text  # words, not a Python bool


def test_status_says_an_unreadable_ups_stops_nothing_and_what_to_run() -> None:
    """Power unknown (upsd down) does not stop enrollments (fail-open: README, Power); the
    status says so, with the UPS's error, instead of a bare "power: unknown"."""
    console, out = _console()
    render_status({
        "kiosk_id": "test-01", "accepting": True, "reason": None, "records": {},
        "upload": {"pending": 0, "last_error": None},
        "power": {"source": "unknown", "battery_percent": None, "runtime_s": None,
                  "error": "upsd at 127.0.0.1:3493 refused the connection"},
        "clock": {"trusted": True}, "disk": {"free_bytes": 2**30}, "hardware": {}}, console)
    text = out.getvalue()
    assert "upsd at 127.0.0.1:3493 refused the connection" in text
    assert "enrollments are not stopped" in text and "kiosk doctor" in text


# -- the maintainer commands on a data directory they cannot use ---------------------------
def _kiosk(capsys: pytest.CaptureFixture[str], config: Path, *args: str
           ) -> tuple[int, str, str]:
    """``kiosk ARGS --config CONFIG`` in this process: (exit status, stdout, stderr)."""
    code = main([*args, "--config", str(config)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_data_directory_that_is_a_file_is_named_not_read_as_an_empty_journal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """status said records all zeros and exit 0, queue list "queue empty", the doctor "no
    journal yet": a mistyped data_dir looked like a new kiosk. README: a journal that cannot
    be read fails status with 1, `records` empty (unknown, not zeros)."""
    config_path = write_config(tmp_path)
    (tmp_path / "data").write_text("")
    words = f"data directory {tmp_path / 'data'} is not a directory"
    code, out, err = _kiosk(capsys, config_path, "status", "--json")
    status = json.loads(out)
    assert code == 1 and status["records"] == {} and status["accepting"] is False
    assert words in status["journal"]["error"] and words in err, err
    assert status["upload"]["pending"] is None
    for args in (("queue", "list"), ("queue", "list", "--json"), ("queue", "show", "x-1")):
        code, out, err = _kiosk(capsys, config_path, *args)
        assert out == ("[]\n" if "--json" in args else ""), (args, out)  # JSON all the same
        assert code == 1 and words in err, (args, out, err)
        assert err.startswith(f"kiosk {' '.join(args[:2])}: "), err
        # the doctor gives the fix (below); journal check would only say the same
        assert "(kiosk doctor says what to do)" in err, err
    code, out, err = _kiosk(capsys, config_path, "journal", "check")
    assert code == 1 and words in err, err  # the same words
    finding = check_journal(load_config(config_path))
    assert finding.status == "fail" and words in finding.detail, finding
    assert "kiosk.data_dir" in finding.fix


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreadable_ups_leaves_low_battery_unknown_and_metrics_say_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """upsd down: status said "low_battery": false and metrics kiosk_power_low_battery 0,
    a made-up "the battery is fine". Unknown is null, the metric absent, and
    kiosk_power_readable 0 shows the UPS could not be read."""
    config_path = write_config(tmp_path, f'[power]\ntype = "nut"\nport = {_closed_port()}\n')
    (tmp_path / "data").mkdir()  # as the installer makes it
    code, out, _err = _kiosk(capsys, config_path, "status", "--json")
    power = json.loads(out)["power"]
    assert code == 0 and power["source"] == "unknown" and power["low_battery"] is None
    code, out, _err = _kiosk(capsys, config_path, "metrics")
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value
           for family in text_string_to_metric_families(out) for s in family.samples}
    assert code == 0
    assert ("kiosk_power_low_battery", ()) not in got
    assert ("kiosk_power_on_battery", ()) not in got
    assert got[("kiosk_power_readable", ())] == 0


def test_metrics_never_call_a_kiosk_accepting_whose_devices_they_did_not_check(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A zfm sensor on a missing port: status said not accepting ("fingerprint device not
    ready"), the metrics timer's `kiosk_accepting 1`: it does not open the devices (the
    touchscreen holds them), so it cannot know. Without --hardware kiosk_accepting is left
    out (unknown) and kiosk_accepting_before_devices says what was checked; with it, the
    metrics agree with status."""
    _private, public = generate_central_keypair(tmp_path / "keys")
    config_path = write_config(tmp_path, (
        '[hardware.fingerprint]\ntype = "zfm"\nport = "/dev/ttyNOPE0"\n'
        f'[sealing]\ncentral_key = "{public}"\n'))
    (tmp_path / "data").mkdir()  # as the installer makes it
    code, out, _err = _kiosk(capsys, config_path, "status", "--json")
    status = json.loads(out)
    assert code == 0 and status["accepting"] is False
    assert status["reason"].startswith("fingerprint device not ready")
    assert status["accepting_before_devices"] is True

    def metrics(*args: str) -> dict[str, float]:
        code, out, err = _kiosk(capsys, config_path, "metrics", *args)
        assert code == 0, err
        return {s.name: s.value for family in text_string_to_metric_families(out)
                for s in family.samples if not s.labels}

    timer = metrics()
    assert "kiosk_accepting" not in timer, timer
    assert timer["kiosk_accepting_before_devices"] == 1
    checked = metrics("--hardware")
    assert checked["kiosk_accepting"] == 0 and checked["kiosk_accepting_before_devices"] == 1


def test_a_device_key_open_to_others_or_damaged_is_not_accepting(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``kiosk demo`` refuses a device key readable by others or not a key (exit 3,
    "sealing keys unusable"); status and the metrics timer said accepting all the same."""
    _private, public = generate_central_keypair(tmp_path / "keys")
    config_path = write_config(tmp_path, f'[sealing]\ncentral_key = "{public}"\n')
    config = load_config(config_path)
    config.data_dir.mkdir()
    config.device_key_path.write_bytes(os.urandom(32))
    config.device_key_path.chmod(0o600)

    def accepting() -> tuple[bool, str | None, float]:
        code, out, err = _kiosk(capsys, config_path, "status", "--json")
        assert code == 0, err
        status = json.loads(out)
        code, out, err = _kiosk(capsys, config_path, "metrics")
        assert code == 0, err
        before = {s.name: s.value for family in text_string_to_metric_families(out)
                  for s in family.samples if not s.labels}["kiosk_accepting_before_devices"]
        return status["accepting_before_devices"], status["reason"], before

    assert accepting() == (True, None, 1)
    config.device_key_path.chmod(0o640)
    opened, reason, before = accepting()
    assert (opened, before) == (False, 0) and reason is not None
    assert reason.startswith("sealing keys unusable: ") and "chmod 600" in reason
    config.device_key_path.chmod(0o600)
    config.device_key_path.write_bytes(b"garbage!!!")
    opened, reason, before = accepting()
    assert (opened, before) == (False, 0) and reason is not None and "10 bytes" in reason


def test_keys_show_reads_and_creates_nothing_keys_init_makes_the_identity(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`kiosk keys show` with a mistyped data_dir made a directory, a device key and a
    development central pair, and printed a "register with:" line for that new identity."""
    config_path = write_config(tmp_path)
    data = tmp_path / "data"
    code, out, err = _kiosk(capsys, config_path, "keys", "show")
    assert code == 1 and out == "" and "register with" not in err
    assert err.startswith(f"kiosk keys show: no device key at {data / 'device.key'}"), err
    assert "kiosk keys init" in err and "kiosk.data_dir" in err
    assert not data.exists()
    code, out, err = _kiosk(capsys, config_path, "keys", "init")
    assert code == 0, err
    made = out
    assert "register with:   kiosk-intake register" in made and (data / "device.key").exists()
    code, out, err = _kiosk(capsys, config_path, "keys", "show")
    assert code == 0 and out == made, err  # the same identity, shown
    code, out, err = _kiosk(capsys, config_path, "keys", "init")
    assert code == 0 and out == made, err  # init again keeps it


def test_keys_show_with_a_file_as_the_data_directory_does_not_suggest_keys_init(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_path = write_config(tmp_path)
    (tmp_path / "data").write_text("not a directory\n")
    code, out, err = _kiosk(capsys, config_path, "keys", "show")
    assert code == 1 and out == ""
    assert "is not a directory" in err and "keys init" not in err, err


def test_uploader_running_is_read_from_the_lock_never_taken(tmp_path: Path) -> None:
    import fcntl

    from kiosk.status import uploader_running

    assert uploader_running(tmp_path) is False  # no uploader ever ran here
    lock = tmp_path / "upload.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        assert uploader_running(tmp_path) is False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as `kiosk upload` holds it
        assert uploader_running(tmp_path) is True
        # asking did not take it: the uploader still holds it alone
        other = os.open(lock, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
        fcntl.flock(fd, fcntl.LOCK_UN)
        assert uploader_running(tmp_path) is False
    finally:
        os.close(fd)


# -- kiosk queue list / show: the whole id, and only what the output can hold --------------
LONG_ID = "poso-pamona-selatan-01-0000002-fc8c63"
ENTRIES = [{"id": LONG_ID, "state": "rejected", "attempts": 12,
            "last_error": "intake refused the record [wrong_key]\n(HTTP 403 creating the upload)"},
           {"id": "poso-pamona-selatan-01-0000010-1b6a37", "state": "sealed", "attempts": 0,
            "last_error": None}]


def test_queue_list_in_a_pipe_is_one_plain_line_per_record_with_the_whole_id() -> None:
    """Piped, rich's table squeezed to 80 columns cut the ids (`poso-pamona-selatan-01-0…`):
    `kiosk queue retry ID` needs them whole. Plain lines, no header, awk's fields."""
    out = io.StringIO()
    render_queue(ENTRIES, Console(file=out, width=60))
    lines = out.getvalue().splitlines()
    assert [line.split()[:3] for line in lines] == [
        [LONG_ID, "rejected", "12"], ["poso-pamona-selatan-01-0000010-1b6a37", "sealed", "0"]]
    assert lines[0].endswith("[wrong_key] (HTTP 403 creating the upload)"), lines
    out = io.StringIO()
    render_queue([], Console(file=out))
    assert out.getvalue() == ""  # nothing for grep or awk to take for an id


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_queue_list_on_a_terminal_never_cuts_an_id(width: int) -> None:
    out = io.StringIO()
    render_queue(ENTRIES, Console(file=out, width=width, force_terminal=True,
                                  color_system=None))
    text = out.getvalue()
    assert LONG_ID in text and "poso-pamona-selatan-01-0000010-1b6a37" in text, text
    assert sum(LONG_ID in line for line in text.splitlines()) == 1
    assert "intake refused" in text or width < 120


def _latin1_stdout(monkeypatch: pytest.MonkeyPatch) -> io.BytesIO:
    raw = io.BytesIO()
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(raw, encoding="latin-1"))
    monkeypatch.setenv("COLUMNS", "40")
    return raw


def test_queue_show_on_a_latin1_output_prints_no_character_it_cannot_hold(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`COLUMNS=40 PYTHONIOENCODING=latin-1 kiosk queue show ID`: a UnicodeEncodeError
    traceback on rich's ellipsis '\u2026'. ASCII in its place, the record shown."""
    from kiosk.commands.output import show

    raw = _latin1_stdout(monkeypatch)
    history = {"id": LONG_ID, "state": "rejected", "assisted": False,
               "created_at": "2026-11-30T14:21:56.101Z", "clock_trusted": False,
               "attempts": 1, "last_error": "refused \u2192 kept \u2026 \u4e2d",
               "events": [{"seq": 9, "at": "2026-11-30T14:22:00.000Z",
                           "event": "record_state", "clock_trusted": True,
                           "details": {"from_state": "sealed", "to_state": "rejected",
                                       "reason": "a_very_long_word_" * 6}}]}
    assert show(history, False, render_history) == 0
    sys_stdout = __import__("sys").stdout
    sys_stdout.flush()
    text = raw.getvalue().decode("latin-1")
    assert "refused -> kept ... ?" in " ".join(text.split()) and LONG_ID in text, text
    assert show(ENTRIES, False, render_queue) == 0  # queue list, the same way
    sys_stdout.flush()
    assert LONG_ID in raw.getvalue().decode("latin-1")


def test_a_writer_lock_held_long_is_named_by_status_and_doctor_without_waiting(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`flock -x DATA/journal.db.lock sleep 100`: status, queue list, metrics and the doctor
    waited 30 s, then called the journal unreadable (the doctor blamed the payloads and the
    backlog). They answer in seconds: status not accepting, naming the process that holds
    the lock; the doctor's journal line fails with it, the backlog is read."""
    import subprocess
    import sys
    import time

    from kiosk.doctor.journal import check_outbox
    from kiosk.journal import Journal

    _private, public = generate_central_keypair(tmp_path / "keys")
    config_path = write_config(tmp_path, f'[sealing]\ncentral_key = "{public}"\n')
    config = load_config(config_path)
    with Journal.open(config.journal_path, kiosk_id="test-01", boot_id="b",
                      clock_trusted=lambda: True) as journal:
        journal.create_record(assisted=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time\n"
         f"f = open({str(config.journal_path) + '.lock'!r})\n"
         "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        code, out, err = _kiosk(capsys, config_path, "status", "--json")
        status = json.loads(out)
        assert code == 0, err
        assert status["records"]["in_progress"] == 1 and status["journal"]["error"] is None
        assert status["accepting"] is False
        assert f"held for more than 2 s by process {holder.pid} (" in status["reason"]
        assert status["journal"]["writer_lock_held"] == status["reason"]
        code, out, err = _kiosk(capsys, config_path, "queue", "list")
        assert code == 0 and "in_progress" in out, err
        finding = check_journal(config)
        assert finding.status == "fail" and f"process {holder.pid}" in finding.detail
        assert "kill" in finding.fix
        assert [f.status for f in check_outbox(config)] == ["ok", "ok", "ok"]
        assert time.monotonic() - started < 15  # the writer lock's 30 s never waited
    finally:
        holder.kill()
        holder.wait()


def test_a_missing_data_directory_is_named_and_never_made_by_a_maintainers_command(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`kiosk queue retry --all` with a mistyped data_dir made a new journal there ("journal
    schema migrated 0 -> 6"), after which journal check and the doctor said all was well.
    A maintainer's command makes no data directory and no journal; status and queue list
    name the missing directory (README: a mistyped kiosk.data_dir is not a new kiosk)."""
    config_path = write_config(tmp_path)
    data = tmp_path / "data"
    words = f"data directory {data} does not exist"
    for args in (("queue", "retry", "--all"), ("queue", "retry", "test-01-0000002-aaaaaa")):
        code, out, err = _kiosk(capsys, config_path, *args)
        assert code == 1 and out == "", (args, out)
        assert err.startswith("kiosk queue retry: ") and words in err, err
        assert len(err.strip().splitlines()) == 1, err
        assert not data.exists()
    stick = tmp_path / "stick"
    stick.mkdir()
    code, out, err = _kiosk(capsys, config_path, "queue", "export", "--to", str(stick))
    assert code == 1 and words in err and len(err.strip().splitlines()) == 1, (out, err)
    assert not data.exists() and list(stick.iterdir()) == []
    code, out, err = _kiosk(capsys, config_path, "status", "--json")
    status = json.loads(out)
    assert code == 1 and status["accepting"] is False and status["records"] == {}
    assert words in status["journal"]["error"] and words in status["reason"]
    assert err.startswith("kiosk status: ") and words in err, err
    for args in (("queue", "list"), ("queue", "list", "--json"), ("journal", "check")):
        code, out, err = _kiosk(capsys, config_path, *args)
        assert out == ("[]\n" if "--json" in args else ""), (args, out)  # JSON all the same
        assert code == 1 and words in err, (args, out, err)
    finding = check_journal(load_config(config_path))
    assert finding.status == "fail" and words in finding.detail and "kiosk.data_dir" in finding.fix
    assert not data.exists()
    # a data directory without a journal: no journal made either
    data.mkdir()
    code, out, err = _kiosk(capsys, config_path, "queue", "retry", "--all")
    assert code == 1 and f"no journal at {data / 'journal.db'}" in err, err
    assert list(data.iterdir()) == []
    code, out, err = _kiosk(capsys, config_path, "queue", "list", "--json")
    assert code == 0 and json.loads(out) == [], err  # a new kiosk's: empty, not an error


def test_a_lost_device_key_is_named_and_never_replaced_behind_the_maintainers_back(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rm DATA/device.key` on a kiosk with sealed records: status said accepting (exit 0)
    and the next enrollment made a new key (an INFO line), after which the intake refused
    every upload. Status is not accepting, saying why and what to do; demo refuses (3);
    keys init makes a new one only with --replace; the doctor's key.device says it."""
    from kiosk.doctor.checks import check_device_key
    from kiosk.journal import Journal

    _private, public = generate_central_keypair(tmp_path / "keys")
    config_path = write_config(tmp_path, f'[sealing]\ncentral_key = "{public}"\n')
    config = load_config(config_path)
    key = config.device_key_path
    code, _out, err = _kiosk(capsys, config_path, "keys", "init")
    assert code == 0 and key.exists(), err
    with Journal.open(config.journal_path, kiosk_id="test-01", boot_id="b",
                      clock_trusted=lambda: True) as journal:
        journal.create_record(assisted=False)
    key.unlink()
    code, out, err = _kiosk(capsys, config_path, "status", "--json")
    status = json.loads(out)
    assert code == 0 and status["accepting"] is False, err
    assert status["reason"].startswith(f"sealing keys unusable: the device key {key} is "
                                       "missing, but the journal holds 1 record(s)")
    assert "backup" in status["reason"] and "kiosk keys init --replace" in status["reason"]
    code, out, err = _kiosk(capsys, config_path, "demo", "--citizens", "1")
    assert code == 3 and out == "" and "device key" in err and not key.exists(), err
    finding = check_device_key(config)
    assert finding.status == "fail" and "is missing, but the journal holds" in finding.detail
    assert "--replace" in finding.fix
    code, out, err = _kiosk(capsys, config_path, "keys", "init")
    assert code == 1 and out == "" and "--replace" in err and not key.exists(), err
    code, out, err = _kiosk(capsys, config_path, "keys", "init", "--replace")
    assert code == 0 and "register with" in out and key.exists(), err
    code, out, err = _kiosk(capsys, config_path, "status", "--json")
    assert json.loads(out)["accepting"] is True, out


def test_an_empty_journal_file_has_one_verdict_in_status_queue_and_doctor(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kiosk.journal import Journal

    config_path = write_config(tmp_path)
    config = load_config(config_path)
    with Journal.open(config.journal_path, kiosk_id="test-01", boot_id="b",
                      clock_trusted=lambda: True) as journal:
        journal.create_record(assisted=False)
    config.journal_path.write_bytes(b"")
    for leftover in config.data_dir.glob("journal.db-*"):
        leftover.unlink()
    words = f"journal {config.journal_path} is empty (0 bytes)"
    code, out, err = _kiosk(capsys, config_path, "status", "--json")
    status = json.loads(out)
    assert code == 1 and status["accepting"] is False and status["records"] == {}
    assert words in status["journal"]["error"] and "no journal" not in err, err
    code, out, err = _kiosk(capsys, config_path, "queue", "list")
    assert code == 1 and words in err, err
    finding = check_journal(config)
    assert finding.status == "fail" and words in finding.detail, finding
    assert "restore journal.db from a backup" in finding.fix and "mv " in finding.fix
