"""The journal under damage: corrupt files quarantined, readers beside a writer, kill -9."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiosk.errors import JournalCorrupt, JournalError
from kiosk.journal import STATES, Journal, database, quarantined_files
from tests.journal_copy import journal_copy_path

REPO = Path(__file__).resolve().parents[2]

# Seals records in a loop and prints each id once mark_sealed has returned.
WRITER = """
import os, sys
from pathlib import Path
from kiosk.journal import Journal
path, count, boot = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sizes = [("consent", 800), ("identity", 200), ("demographics", 1500),
         ("portrait", 60_000), ("fingerprints", 400_000), ("signature", 12_000)]
with Journal.open(path, kiosk_id="test-01", boot_id=boot, clock_trusted=lambda: False) as j:
    print("open", file=sys.stderr, flush=True)
    n = 0
    while count < 0 or n < count:
        rec = j.create_record(assisted=False)
        for step, size in sizes:
            j.save_step(rec.id, step, os.urandom(size))
        j.mark_sealed(rec.id, b"manifest " + rec.id.encode())
        print(rec.id, flush=True)
        n += 1
"""


def start_writer(path: Path, boot: str, count: int = -1) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(count), boot],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def open_journal(path: Path) -> Journal:
    return Journal.open(path, kiosk_id="test-01", boot_id="check", clock_trusted=lambda: True)


def quick_check(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("PRAGMA quick_check")]
    finally:
        conn.close()


# -- quarantine ----------------------------------------------------------------------------
def test_garbage_in_the_middle_of_a_journal_is_quarantined_byte_for_byte(
        tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with open_journal(path) as j:
        for _ in range(6):
            rec = j.create_record(assisted=False)
            j.save_step(rec.id, "portrait", os.urandom(40_000))
            j.mark_sealed(rec.id, b"m")
    assert not Path(f"{path}-wal").exists()  # checkpointed into the main file on close
    damaged = bytearray(path.read_bytes())
    start = database.PAGE_SIZE  # page 2 onwards: b-tree pages of the tables
    damaged[start:len(damaged) // 2] = random.Random(7).randbytes(len(damaged) // 2 - start)
    path.write_bytes(damaged)

    with pytest.raises(JournalCorrupt) as caught:
        open_journal(path)

    moved = quarantined_files(path)
    assert len(moved) == 1
    assert moved[0].name.startswith("journal.db.corrupt-")
    assert moved[0].read_bytes() == bytes(damaged)
    assert str(moved[0]) in str(caught.value)
    assert "refused" in str(caught.value)
    with open_journal(path) as fresh:
        assert fresh.counts() == dict.fromkeys(STATES, 0)
        events = fresh.audit_events(event="journal_quarantined")
        assert [e.details["file"] for e in events] == [moved[0].name]
        assert fresh.quarantined_files == moved
        fresh.create_record(assisted=False)


def test_a_file_that_is_no_database_is_moved_aside_with_its_wal_and_shm(
        tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    contents = {"": b"this is a text file, not a journal\n" * 200,
                "-wal": b"stale wal bytes", "-shm": b"stale shm bytes"}
    for suffix, data in contents.items():
        Path(f"{path}{suffix}").write_bytes(data)

    with pytest.raises(JournalCorrupt, match="moved to"):
        open_journal(path)

    [moved] = quarantined_files(path)
    for suffix, data in contents.items():
        assert Path(f"{moved}{suffix}").read_bytes() == data
    assert quick_check(path) == ["ok"]
    with open_journal(path) as fresh:
        [event] = fresh.audit_events(event="journal_quarantined")
        assert event.details["file"] == moved.name


def test_second_quarantine_keeps_the_first(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    for n in range(2):
        path.write_bytes(f"garbage {n}\n".encode() * 100)
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        with pytest.raises(JournalCorrupt):
            open_journal(path)
    kept = quarantined_files(path)
    assert sorted(p.read_bytes()[:9] for p in kept) == [b"garbage 0", b"garbage 1"]


@pytest.mark.parametrize(("code", "corrupt"), [
    (sqlite3.SQLITE_CORRUPT, True),
    (sqlite3.SQLITE_NOTADB, True),
    (sqlite3.SQLITE_CORRUPT | (1 << 8), True),  # SQLITE_CORRUPT_VTAB, an extended code
    (sqlite3.SQLITE_BUSY, False),
    (sqlite3.SQLITE_IOERR, False),
    (sqlite3.SQLITE_CANTOPEN, False),
    (sqlite3.SQLITE_FULL, False),
])
def test_only_corruption_codes_lead_to_quarantine(code: int, corrupt: bool) -> None:
    exc = sqlite3.DatabaseError("x")
    exc.sqlite_errorcode = code  # type: ignore[attr-defined]
    assert database.is_corruption(exc) is corrupt


# -- readers beside the writer -------------------------------------------------------------
def test_read_only_journal_works_while_another_process_writes(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    writer = start_writer(path, "boot-w")
    try:
        assert writer.stdout is not None
        first_id = writer.stdout.readline().decode().strip()
        assert first_id, "writer produced no record"
        sealed_seen: list[int] = []
        # Read for 1.5 s at least, and on (30 s at most) until a reader has seen a record
        # sealed meanwhile: on a loaded machine one record can take the writer longer.
        start = time.monotonic()
        while time.monotonic() - start < 1.5 or (
                sealed_seen[-1] == sealed_seen[0] and time.monotonic() - start < 30):
            with Journal.open_readonly(path) as ro:
                sealed_seen.append(ro.counts()["sealed"])
                assert len(ro.step_blobs(first_id)) == 6
                seqs = [r.seq for r in ro.records()]
                assert seqs == sorted(seqs)
            assert writer.poll() is None  # still writing while we read
    finally:
        writer.kill()
        writer.wait(10)
    assert sealed_seen == sorted(sealed_seen)
    assert sealed_seen[-1] > sealed_seen[0]
    assert quick_check(path) == ["ok"]


# -- kill -9 -------------------------------------------------------------------------------
def test_kill_9_at_random_moments_loses_no_sealed_record(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    rng = random.Random(20240611)
    promised: list[str] = []
    round_ = 0
    # Ten rounds at least, and on until the writers have promised ten records: on a loaded
    # machine a writer's start alone can take longer than the longest pause.
    while round_ < 10 or (len(promised) < 10 and round_ < 40):
        writer = start_writer(path, f"boot-{round_}")
        if round_ % 3 != 2:  # most kills while writing; every third one during start/recovery
            assert writer.stderr is not None
            assert writer.stderr.readline() == b"open\n", "writer failed to open the journal"
        time.sleep(rng.uniform(0.05, 0.7))
        writer.send_signal(signal.SIGKILL)
        out, _ = writer.communicate(timeout=30)
        assert writer.returncode == -signal.SIGKILL, "writer died before it was killed"
        promised += out.decode().split("\n")[:-1]  # complete lines only

        # On a copy: the next round's writer, not this check, is the first to open the
        # crashed files and recover their WAL.
        with journal_copy_path(tmp_path) as copy:
            assert quick_check(copy) == ["ok"], f"round {round_}"
            with open_journal(copy) as j:
                states = {r.id: r.state for r in j.records()}
        missing = [i for i in promised if states.get(i) != "sealed"]
        assert missing == [], f"round {round_}: sealed records lost"
        round_ += 1
    assert len(promised) >= 10  # the writer got far enough to prove something
    assert quarantined_files(path) == []


def test_readonly_open_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    open_journal(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 42")
    # ...and one this code may not use (kiosk.journal.migrations.usable)
    conn.execute("UPDATE journal_meta SET value = 42 WHERE key = 'oldest_reader'")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="schema version 42"):
        Journal.open_readonly(path)
