"""The journal: schema, settings, sequence numbers, record state machine, audit, locking."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlite_utils

from kiosk.core.ids import is_record_id_for
from kiosk.errors import IllegalStateChange, JournalCorrupt, JournalError
from kiosk.journal import STATES, STEPS, TRANSITIONS, Journal, RecordInfo, database, migrations
from tests.durability import record_fsyncs

KIOSK = "poso-01"

# The version-1 schema exactly as released; a journal at version 1 must migrate from this.
V1_SCHEMA = (
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT",
    "CREATE TABLE records (id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, state TEXT NOT NULL,"
    " assisted INTEGER NOT NULL CHECK (assisted IN (0, 1)), boot_id TEXT NOT NULL,"
    " clock_trusted INTEGER NOT NULL CHECK (clock_trusted IN (0, 1)), created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
    " manifest BLOB) STRICT",
    "CREATE TABLE steps (record_id TEXT NOT NULL REFERENCES records (id) ON DELETE CASCADE,"
    " step TEXT NOT NULL, blob BLOB NOT NULL, seq INTEGER NOT NULL, boot_id TEXT NOT NULL,"
    " clock_trusted INTEGER NOT NULL CHECK (clock_trusted IN (0, 1)),"
    " created_at TEXT NOT NULL, PRIMARY KEY (record_id, step)) STRICT",
    "CREATE TABLE audit (seq INTEGER PRIMARY KEY, event TEXT NOT NULL, details TEXT NOT NULL,"
    " boot_id TEXT NOT NULL, clock_trusted INTEGER NOT NULL CHECK (clock_trusted IN (0, 1)),"
    " created_at TEXT NOT NULL) STRICT",
)


def open_journal(path: Path, *, boot_id: str = "boot-1", trusted: bool = True) -> Journal:
    return Journal.open(path, kiosk_id=KIOSK, boot_id=boot_id, clock_trusted=lambda: trusted)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with open_journal(tmp_path / "journal.db") as j:
        yield j


def sealed_record(j: Journal, manifest: bytes = b"manifest") -> str:
    rec = j.create_record(assisted=False)
    j.save_step(rec.id, "consent", b"c" * 100)
    j.mark_sealed(rec.id, manifest)
    return rec.id


def record_in(j: Journal, state: str) -> str:
    """A record driven to ``state`` along the normal path."""
    paths = {
        "in_progress": [], "sealed": [], "uploading": ["uploading"], "exported": ["exported"],
        "acknowledged": ["uploading", "acknowledged"],
        "purged": ["uploading", "acknowledged", "purged"],
        "rejected": ["uploading", "rejected"],
    }
    if state == "in_progress":
        return j.create_record(assisted=False).id
    record_id = sealed_record(j)
    for step in paths[state]:
        if step == "acknowledged":
            j.acknowledge(record_id, b"signed receipt")
        elif step == "rejected":
            j.reject(record_id, "intake refused the record [unknown_kiosk]")
        else:
            j.set_state(record_id, step)
    assert j.record(record_id).state == state
    return record_id


# -- schema and migrations -----------------------------------------------------------------
def test_fresh_journal_gets_latest_schema_version_and_tables(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with open_journal(path) as j:
        assert j.settings()["user_version"] == migrations.latest_version() == 6
        events = [e.event for e in j.audit_events()]
    assert events == ["journal_created"]
    db = sqlite_utils.Database(path)
    assert {"records", "steps", "payloads", "audit", "counters"} <= set(db.table_names())
    assert {"records_by_state", "audit_by_event"} <= {i.name for i in db["records"].indexes} | {
        i.name for i in db["audit"].indexes}
    db.close()


def test_journal_at_version_1_made_by_hand_is_migrated_keeping_its_records(
        tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    conn = sqlite3.connect(path)
    for statement in V1_SCHEMA:
        conn.execute(statement)
    conn.execute("INSERT INTO counters VALUES ('seq', 7)")
    conn.execute("INSERT INTO records (id, seq, state, assisted, boot_id, clock_trusted,"
                 " created_at, updated_at) VALUES ('poso-01-0000007-abcdef', 7, 'sealed', 1,"
                 " 'old-boot', 0, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO steps (record_id, step, blob, seq, boot_id, clock_trusted,"
                 " created_at) VALUES ('poso-01-0000007-abcdef', 'portrait', x'c0ffee', 6,"
                 " 'old-boot', 0, '2024-01-01T00:00:00Z')")
    conn.commit()
    conn.close()

    with open_journal(path) as j:
        assert j.settings()["user_version"] == 6
        old = j.record("poso-01-0000007-abcdef")
        assert (old.state, old.assisted, old.boot_id, old.clock_trusted) == (
            "sealed", True, "old-boot", False)
        migrated = j.audit_events(event="journal_migrated")
        assert [e.details for e in migrated] == [{"from_version": 1, "to_version": 6}]
        # A step saved before v3 has no stored digest: it is hashed from its blob.
        assert j.step_digests("poso-01-0000007-abcdef") == {
            "portrait": (3, hashlib.sha256(b"\xc0\xff\xee").hexdigest())}
        # ... and its blob moved to the payloads table (version 4) unchanged.
        assert j.step_blobs("poso-01-0000007-abcdef") == {"portrait": b"\xc0\xff\xee"}
        assert j.create_record(assisted=False).seq > migrated[0].seq > 7
    index_names = {row[0] for row in sqlite3.connect(path).execute(
        "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"records_by_state", "audit_by_event"} <= index_names


def _page_of(path: Path, sql: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def _smash_page(path: Path, page: int) -> None:
    size = database.PAGE_SIZE
    with open(path, "r+b") as f:
        f.seek((page - 1) * size)
        f.write(b"\xde\xad" * (size // 2))


def test_verify_of_a_sound_journal_finds_nothing(journal: Journal) -> None:
    for _ in range(3):
        sealed_record(journal)
    assert journal.verify() == []


def test_damage_in_the_record_tables_is_caught_at_open(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with open_journal(path) as j:
        for _ in range(3):
            sealed_record(j)
        j.checkpoint()
    _smash_page(path, _page_of(path, "SELECT rootpage FROM sqlite_schema WHERE name = 'steps'"))
    with pytest.raises(JournalCorrupt):
        open_journal(path)
    assert len(database.quarantined_files(path)) == 1


def test_damage_in_a_payload_is_not_read_at_open_but_refused_when_read(
        tmp_path: Path) -> None:
    """The start-up check skips the payload pages (most of the file); a damaged payload is
    named when the uploader reads it, and the full check finds it."""
    path = tmp_path / "journal.db"
    with open_journal(path) as j:
        good = sealed_record(j)
        rec = j.create_record(assisted=False)
        j.save_step(rec.id, "portrait", b"P" * 200_000)  # overflow pages
        j.mark_sealed(rec.id, b"manifest")
        j.checkpoint()
    data = path.read_bytes()
    # A page in the middle of the overflow chain: 4 bytes of next-page pointer, then data.
    where = data.find(b"P" * (database.PAGE_SIZE - 4), len(data) // 2)
    assert where > 0
    page = where // database.PAGE_SIZE + 1
    with open(path, "r+b") as f:  # flip payload bytes, keeping the overflow chain intact
        f.seek((page - 1) * database.PAGE_SIZE + 100)
        f.write(b"rot")
    with open_journal(path) as j:
        assert database.quarantined_files(path) == []
        assert j.step_blobs(good) == {"consent": b"c" * 100}
        with pytest.raises(JournalError, match=f"{rec.id} step portrait: payload is damaged"):
            j.step_blobs(rec.id)
    with Journal.open_readonly(path) as j:
        assert j.verify() == [f"record {rec.id} step portrait: payload is damaged"]
    _smash_page(path, page)  # a broken chain: the full check sees it, the start-up one not
    conn = sqlite3.connect(path)
    assert database.quick_check(conn, skip=migrations.BULK_TABLES) is None
    assert database.full_check(conn) is not None
    conn.close()


def test_journal_from_newer_software_is_refused_and_left_byte_for_byte(
        tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()

    with pytest.raises(JournalError, match=r"schema version 99, newer .*left untouched"):
        open_journal(path)

    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert not Path(f"{path}-wal").exists()
    assert database.quarantined_files(path) == []


def _future_release(conn: sqlite3.Connection, *, oldest_reader: int) -> None:
    """What a later release's migration might do: add a column (the older code never names
    it) and say which code may still use the file."""
    conn.execute("ALTER TABLE audit ADD COLUMN signed_by TEXT")
    migrations.set_oldest_reader(conn, oldest_reader)


def test_a_rollback_over_an_additive_migration_keeps_the_kiosk_working(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``kiosk update --rollback`` after a newer release migrated the journal: the newer
    release said this code may use it, so this code opens it as it is, reads, writes and
    seals; the newer release finds its own schema when it comes back."""
    path = tmp_path / "journal.db"
    with open_journal(path) as j:
        kept = sealed_record(j)
    latest = migrations.latest_version()
    with monkeypatch.context() as newer:
        newer.setattr(migrations, "MIGRATIONS", (
            *migrations.MIGRATIONS, lambda c: _future_release(c, oldest_reader=latest)))
        open_journal(path).close()
    with open_journal(path, boot_id="boot-2") as j:  # this release again: the rollback
        assert j.settings()["user_version"] == latest + 1  # untouched: not "migrated back"
        assert j.record(kept).state == "sealed"
        rid = sealed_record(j)
        assert [e.event for e in j.audit_events()][-1] != "journal_migrated"
    assert database.check(path) is None
    with Journal.open_readonly(path) as ro:
        assert {r.id for r in ro.records()} == {kept, rid}


def test_a_newer_release_that_says_this_code_may_not_use_the_journal_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.db"
    open_journal(path).close()
    latest = migrations.latest_version()
    with monkeypatch.context() as newer:
        newer.setattr(migrations, "MIGRATIONS", (
            *migrations.MIGRATIONS, lambda c: _future_release(c, oldest_reader=latest + 1)))
        open_journal(path).close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(JournalError, match=rf"schema version {latest + 1}, newer"):
        open_journal(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_failing_migration_is_rolled_back_whole(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.db"
    open_journal(path).close()

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("disk on fire")

    latest = migrations.latest_version()
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, broken))
    with pytest.raises(JournalError,
                       match=rf"migration {latest} -> {latest + 1} failed.*disk on fire"):
        open_journal(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == latest
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'"
                        ).fetchone()[0] == 0
    conn.close()


def test_table_rebuild_by_transform_keeps_the_rows_that_reference_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration that rebuilds ``steps`` (sqlite-utils' transform: copy, drop, rename) must
    not fire ``ON DELETE CASCADE`` into ``payloads``: migrate() turns foreign keys off around
    the transaction, checks them before the commit, and turns them back on."""
    path = tmp_path / "journal.db"
    with open_journal(path) as j:
        rid = sealed_record(j)
        blobs = j.step_blobs(rid)

    def steps_length_not_null(conn: sqlite3.Connection) -> None:
        migrations.schema_tools(conn)["steps"].transform(not_null={"length"})

    latest = migrations.latest_version()
    monkeypatch.setattr(migrations, "MIGRATIONS",
                        (*migrations.MIGRATIONS, steps_length_not_null))
    with open_journal(path) as j:
        assert j.step_blobs(rid) == blobs
        assert j.settings()["user_version"] == latest + 1
        assert j.settings()["foreign_keys"] == 1
    conn = sqlite3.connect(path)
    columns = {row[1]: row[3] for row in conn.execute("PRAGMA table_info(steps)")}
    conn.close()
    assert columns["length"] == 1  # NOT NULL now


def test_migration_that_leaves_a_dangling_foreign_key_is_rolled_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.db"
    with open_journal(path) as j:
        rid = sealed_record(j)

    def orphan_payloads(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM steps")  # payloads now point nowhere (cascade is off)

    latest = migrations.latest_version()
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, orphan_payloads))
    with pytest.raises(JournalError,
                       match=rf"migration {latest} -> {latest + 1} failed.*payloads row"):
        open_journal(path)
    monkeypatch.undo()
    with open_journal(path) as j:  # still the latest version, steps intact
        assert j.settings()["user_version"] == latest
        assert set(j.step_blobs(rid)) == {"consent"}


# -- settings and durability of creation ---------------------------------------------------
def test_journal_runs_wal_with_synchronous_full_and_foreign_keys(
        journal: Journal) -> None:
    settings = journal.settings()
    assert settings["journal_mode"] == "wal"
    assert settings["synchronous"] == 2  # FULL
    assert settings["foreign_keys"] == 1
    assert settings["secure_delete"] == 1
    assert settings["page_size"] == database.PAGE_SIZE
    assert settings["busy_timeout"] > 0
    assert 0 < settings["wal_autocheckpoint"] * settings["page_size"] <= 8 * 1024 * 1024
    header = journal.path.read_bytes()[:20]
    assert header[:16] == b"SQLite format 3\x00"
    assert (header[18], header[19]) == (2, 2)  # file format 2 = WAL, persistently


def test_creating_the_journal_fsyncs_its_directory(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    synced = record_fsyncs(monkeypatch)
    path = tmp_path / "data" / "journal.db"
    open_journal(path).close()
    assert str(path) in synced
    assert str(path.parent) in synced
    assert str(tmp_path) in synced  # the new data directory's own entry


# -- records, ids and sequence numbers -----------------------------------------------------
def test_record_ids_carry_kiosk_id_and_sequence_number(journal: Journal) -> None:
    rec = journal.create_record(assisted=True)
    assert is_record_id_for(rec.id, "poso-01", rec.seq)
    assert int(rec.id.split("-")[2]) == rec.seq
    assert (rec.state, rec.assisted, rec.attempts, rec.boot_id) == (
        "in_progress", True, 0, "boot-1")
    assert journal.record(rec.id) == rec


def test_sequence_never_reused_after_delete_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with open_journal(path) as j:
        first = j.create_record(assisted=False)
        last = j.create_record(assisted=False)
        j.delete_record(last.id, "session_timeout")
        deleted_event = j.audit_events(limit=1)[0]
    with open_journal(path, boot_id="boot-2") as j:
        again = j.create_record(assisted=False)
    assert first.seq < last.seq < deleted_event.seq < again.seq
    assert again.boot_id == "boot-2"


def test_every_row_takes_the_next_sequence_number_even_when_the_clock_goes_back(
        journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    times = iter(f"2030-01-01T00:00:{59 - i:02d}.000Z" for i in range(60))
    monkeypatch.setattr(database, "utc_now", lambda: next(times))
    a = journal.create_record(assisted=False)
    journal.save_step(a.id, "consent", b"1")
    b = journal.create_record(assisted=False)
    journal.save_step(b.id, "consent", b"2")
    journal.audit("test_event", n=1)
    assert b.created_at < a.created_at  # the wall clock went backwards...
    assert [r.id for r in journal.records()] == [a.id, b.id]  # ...the order did not
    conn = sqlite3.connect(journal.path)
    seqs = [row[0] for row in conn.execute(
        "SELECT seq FROM records UNION ALL SELECT seq FROM steps UNION ALL"
        " SELECT seq FROM audit")]
    conn.close()
    assert len(seqs) == len(set(seqs))
    assert max(seqs) == journal.audit_events(limit=1)[0].seq


def test_rows_carry_boot_id_and_clock_trust(tmp_path: Path) -> None:
    with open_journal(tmp_path / "j.db", boot_id="b-42", trusted=False) as j:
        rec = j.create_record(assisted=False)
        j.save_step(rec.id, "consent", b"x")
        event = j.audit_events(limit=1)[0]
    conn = sqlite3.connect(tmp_path / "j.db")
    step = conn.execute("SELECT boot_id, clock_trusted FROM steps").fetchone()
    conn.close()
    assert (rec.boot_id, rec.clock_trusted) == ("b-42", False)
    assert step == ("b-42", 0)
    assert (event.boot_id, event.clock_trusted) == ("b-42", False)


def test_failing_clock_check_records_untrusted_clock(tmp_path: Path) -> None:
    def broken() -> bool:
        raise OSError("timedatectl missing")

    with Journal.open(tmp_path / "j.db", kiosk_id=KIOSK, boot_id="b",
                      clock_trusted=broken) as j:
        assert j.create_record(assisted=False).clock_trusted is False


def test_steps_are_stored_replaced_and_returned_in_save_order(journal: Journal) -> None:
    rec = journal.create_record(assisted=False)
    blobs = {step: os.urandom(1000 * (i + 1)) for i, step in enumerate(STEPS)}
    for step, blob in blobs.items():
        journal.save_step(rec.id, step, blob)
    journal.save_step(rec.id, "consent", b"retaken")
    got = journal.step_blobs(rec.id)
    assert got == {**blobs, "consent": b"retaken"}
    assert list(got) == [*STEPS[1:], "consent"]
    assert journal.step_blobs(journal.create_record(assisted=False).id) == {}


@pytest.mark.parametrize(("call", "error"), [
    (lambda j, r: j.save_step(r, "selfie", b"x"), ValueError),
    (lambda j, r: j.save_step("poso-01-9999999-000000", "consent", b"x"), JournalError),
    (lambda j, r: j.step_blobs("poso-01-9999999-000000"), JournalError),
    (lambda j, r: j.record("poso-01-9999999-000000"), JournalError),
    (lambda j, r: j.set_state(r, "lost"), ValueError),
    (lambda j, r: j.records("lost"), ValueError),
    (lambda j, r: j.save_step(r, "consent", "text, not bytes"), TypeError),
])
def test_bad_arguments_are_refused(journal: Journal, call: Callable[[Journal, str], object],
                                   error: type[Exception]) -> None:
    rec = journal.create_record(assisted=False)
    with pytest.raises(error):
        call(journal, rec.id)
    assert journal.step_blobs(rec.id) == {}


# -- state machine -------------------------------------------------------------------------
ALL_PAIRS = [(old, new) for old in STATES for new in STATES]


@pytest.mark.parametrize(("old", "new"), ALL_PAIRS)
def test_set_state_allows_exactly_the_transition_table(journal: Journal, old: str,
                                                       new: str) -> None:
    record_id = record_in(journal, old)
    if new in TRANSITIONS[old] and old not in ("in_progress", "rejected") and (
            new not in ("acknowledged", "rejected")):
        journal.set_state(record_id, new)
        assert journal.record(record_id).state == new
    else:
        with pytest.raises(IllegalStateChange):
            journal.set_state(record_id, new)
        assert journal.record(record_id).state == old


def test_transition_table_matches_the_contract() -> None:
    assert {(old, new) for old, news in TRANSITIONS.items() for new in news} == {
        ("in_progress", "sealed"), ("sealed", "uploading"), ("sealed", "exported"),
        ("sealed", "acknowledged"),
        ("uploading", "acknowledged"), ("uploading", "sealed"), ("exported", "acknowledged"),
        ("exported", "uploading"), ("acknowledged", "purged"),
        ("sealed", "rejected"), ("uploading", "rejected"), ("rejected", "sealed"),
        # an upload begun before the link died for days: the record goes by USB stick
        ("uploading", "exported")}


def test_a_rejected_record_is_kept_with_its_reason_until_requeued(journal: Journal) -> None:
    record_id = record_in(journal, "uploading")
    journal.start_upload(record_id, "http://intake/files/abc")
    journal.reject(record_id, "intake refused the record [wrong_key]: not its key")
    info = journal.record(record_id)
    assert (info.state, info.upload_url, info.attempts) == ("rejected", None, 2)
    assert info.last_error == "intake refused the record [wrong_key]: not its key"
    assert record_id not in [r.id for r in journal.outbox()]
    assert journal.step_blobs(record_id)  # the payload stays
    with pytest.raises(IllegalStateChange):
        journal.delete_record(record_id, "tidy")
    with pytest.raises(IllegalStateChange):
        journal.reject(record_id, "again")
    journal.requeue(record_id, "kiosk queue retry")
    info = journal.record(record_id)
    assert (info.state, info.attempts) == ("sealed", 0)
    assert [r.id for r in journal.outbox()] == [record_id]
    with pytest.raises(IllegalStateChange):
        journal.requeue(record_id, "kiosk queue retry")  # only rejected ones
    moves = [(e.details["from_state"], e.details["to_state"], e.details.get("reason"))
             for e in journal.audit_events(100, event="record_state")
             if e.details["record"] == record_id][-2:]
    assert moves == [("uploading", "rejected",
                      "intake refused the record [wrong_key]: not its key"),
                     ("rejected", "sealed", "kiosk queue retry")]


def test_mark_sealed_is_the_way_out_of_in_progress_and_happens_once(journal: Journal) -> None:
    rec = journal.create_record(assisted=False)
    journal.mark_sealed(rec.id, b"signed manifest")
    info = journal.record(rec.id)
    assert (info.state, info.manifest) == ("sealed", b"signed manifest")
    with pytest.raises(IllegalStateChange):
        journal.mark_sealed(rec.id, b"another")
    with pytest.raises(IllegalStateChange, match="in_progress"):
        journal.save_step(rec.id, "consent", b"late")
    assert journal.record(rec.id).manifest == b"signed manifest"


def test_upload_attempts_and_last_error_are_kept(journal: Journal) -> None:
    record_id = sealed_record(journal)
    journal.set_state(record_id, "uploading")
    journal.set_state(record_id, "sealed", error="link down")
    journal.set_state(record_id, "uploading")
    info = journal.record(record_id)
    assert (info.attempts, info.last_error) == (2, "link down")
    journal.acknowledge(record_id, b"receipt")
    info = journal.record(record_id)
    assert (info.attempts, info.last_error) == (2, None)
    moves = [(e.details["from_state"], e.details["to_state"])
             for e in journal.audit_events(event="record_state")]
    assert moves == [("in_progress", "sealed"), ("sealed", "uploading"),
                     ("uploading", "sealed"), ("sealed", "uploading"),
                     ("uploading", "acknowledged")]


def test_purging_drops_the_payload_and_keeps_the_receipt(journal: Journal) -> None:
    record_id = record_in(journal, "purged")
    info = journal.record(record_id)
    assert (info.state, info.manifest, info.has_receipt) == ("purged", b"manifest", True)
    assert journal.step_blobs(record_id) == {}
    assert journal.receipt(record_id) == b"signed receipt"
    conn = sqlite3.connect(journal.path)
    assert conn.execute("SELECT count(*) FROM payloads WHERE record_id = ?",
                        (record_id,)).fetchone()[0] == 0
    conn.close()


# -- the outbox ------------------------------------------------------------------------------
def test_acknowledged_only_with_a_receipt_in_the_same_commit(journal: Journal) -> None:
    record_id = record_in(journal, "uploading")
    with pytest.raises(IllegalStateChange, match="acknowledge"):
        journal.set_state(record_id, "acknowledged")
    with pytest.raises(ValueError, match="receipt"):
        journal.acknowledge(record_id, b"")
    assert (journal.record(record_id).state, journal.receipt(record_id)) == ("uploading", None)
    journal.acknowledge(record_id, b"R" * 100)
    info = journal.record(record_id)
    assert (info.state, info.has_receipt, info.upload_url) == ("acknowledged", True, None)
    assert journal.receipt(record_id) == b"R" * 100
    with pytest.raises(IllegalStateChange):
        journal.acknowledge(record_id, b"again")
    in_progress = journal.create_record(assisted=False).id
    with pytest.raises(IllegalStateChange):
        journal.acknowledge(in_progress, b"R")


def test_outbox_upload_url_failures_and_forgetting(journal: Journal) -> None:
    first, second = sealed_record(journal), sealed_record(journal)
    record_in(journal, "acknowledged")
    journal.create_record(assisted=False)
    assert [r.id for r in journal.outbox()] == [first, second]
    journal.start_upload(second, "http://intake/files/abc")
    info = journal.record(second)
    assert (info.state, info.upload_url, info.attempts) == (
        "uploading", "http://intake/files/abc", 0)
    journal.upload_failed(second, "connection refused")
    info = journal.record(second)
    assert (info.state, info.upload_url, info.attempts, info.last_error) == (
        "uploading", "http://intake/files/abc", 1, "connection refused")
    journal.upload_failed(second, "intake lost the upload", forget_url=True)
    info = journal.record(second)
    assert (info.state, info.upload_url, info.attempts) == ("sealed", None, 2)
    # A receipt found before any upload was journaled acknowledges a sealed record.
    journal.acknowledge(first, b"receipt")
    assert [r.id for r in journal.outbox()] == [second]
    with pytest.raises(IllegalStateChange):
        journal.start_upload(first, "http://intake/files/x")
    with pytest.raises(IllegalStateChange):
        journal.upload_failed(first, "no")


def test_a_damaged_payload_is_named_when_read(journal: Journal) -> None:
    record_id = sealed_record(journal)
    with journal._writer("test") as conn:  # what an SD card's bit rot would do
        conn.execute("UPDATE payloads SET blob = ? WHERE record_id = ?", (b"d" * 100, record_id))
    with pytest.raises(JournalError, match="consent: payload is damaged"):
        journal.step_blobs(record_id)


def test_delete_removes_an_aborted_record_and_its_steps_with_an_audit_event(
        journal: Journal) -> None:
    rec = journal.create_record(assisted=True)
    journal.save_step(rec.id, "consent", b"x")
    journal.save_step(rec.id, "identity", b"y")
    journal.delete_record(rec.id, "session_timeout")
    with pytest.raises(JournalError, match="no record"):
        journal.record(rec.id)
    conn = sqlite3.connect(journal.path)
    assert conn.execute("SELECT count(*) FROM steps").fetchone()[0] == 0
    conn.close()
    event = journal.audit_events(limit=1)[0]
    assert (event.event, event.details) == ("record_deleted", {
        "record": rec.id, "state": "in_progress", "steps": 2, "reason": "session_timeout"})


@pytest.mark.parametrize("state", ["sealed", "uploading", "exported", "acknowledged"])
def test_delete_refuses_records_not_yet_purged(journal: Journal, state: str) -> None:
    record_id = record_in(journal, state)
    with pytest.raises(IllegalStateChange):
        journal.delete_record(record_id, "oops")
    assert journal.record(record_id).state == state
    assert journal.step_blobs(record_id) != {}


def test_deleted_blob_bytes_do_not_stay_in_the_file(journal: Journal) -> None:
    marker = b"PERSONAL-DATA-MARKER-" * 2000
    rec = journal.create_record(assisted=False)
    journal.save_step(rec.id, "portrait", marker)
    journal.checkpoint()
    assert marker[:40] in journal.path.read_bytes()
    journal.delete_record(rec.id, "aborted")
    journal.checkpoint()
    for suffix in ("", "-wal"):
        f = Path(f"{journal.path}{suffix}")
        assert not f.exists() or marker[:40] not in f.read_bytes()


def test_counts_has_every_state_even_when_zero(journal: Journal) -> None:
    assert journal.counts() == dict.fromkeys(STATES, 0)
    for state in ("in_progress", "in_progress", "sealed", "exported", "purged", "rejected"):
        record_in(journal, state)
    assert journal.counts() == {"in_progress": 2, "sealed": 1, "uploading": 0,
                                "exported": 1, "acknowledged": 0, "purged": 1, "rejected": 1}
    assert [r.state for r in journal.records("in_progress")] == ["in_progress"] * 2


# -- audit ---------------------------------------------------------------------------------
def test_audit_events_are_the_latest_oldest_first(journal: Journal) -> None:
    for i in range(5):
        journal.audit("test_event", n=i, ok=True, note=None)
    events = journal.audit_events(limit=3)
    assert [e.details["n"] for e in events] == [2, 3, 4]
    assert events[0].details == {"n": 2, "ok": True, "note": None}
    assert [e.seq for e in events] == sorted(e.seq for e in events)


@pytest.mark.parametrize(("event", "details"), [
    ("test_event", {"reason": "x" * 201}),
    ("Bad Event", {}),
    ("test_event", {"nik": ["3171", "0101"]}),
    ("test_event", {"Bad-Key": 1}),
])
def test_audit_refuses_long_or_odd_details(journal: Journal, event: str,
                                           details: dict[str, object]) -> None:
    before = journal.audit_events()
    with pytest.raises(ValueError):
        journal.audit(event, **details)  # type: ignore[arg-type]
    assert journal.audit_events() == before


# -- lifecycle and locking -----------------------------------------------------------------
def test_close_is_idempotent_and_a_closed_journal_refuses_work(tmp_path: Path) -> None:
    with open_journal(tmp_path / "j.db") as j:
        pass
    assert j.closed
    j.close()
    with pytest.raises(JournalError, match="closed"):
        j.create_record(assisted=False)
    with pytest.raises(JournalError, match="closed"):
        j.counts()


def _hold_flock(path: Path) -> int:
    fd = os.open(f"{path}.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


@pytest.mark.parametrize("action", ["create_record", "checkpoint", "close"])
def test_writes_checkpoints_and_close_wait_for_the_writer_lock(journal: Journal,
                                                                action: str) -> None:
    calls = {"create_record": lambda: journal.create_record(assisted=False),
             "checkpoint": journal.checkpoint, "close": journal.close}
    fd = _hold_flock(journal.path)
    worker = threading.Thread(target=calls[action])
    try:
        worker.start()
        time.sleep(0.3)
        assert worker.is_alive()  # blocked on the lock
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    worker.join(5)
    assert not worker.is_alive()


def test_writer_lock_held_too_long_is_a_clear_error(journal: Journal,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "LOCK_TIMEOUT_S", 0.2)
    fd = _hold_flock(journal.path)
    try:
        with pytest.raises(JournalError, match=r"journal\.db\.lock held by another process"):
            journal.create_record(assisted=False)
    finally:
        os.close(fd)
    assert journal.counts()["in_progress"] == 0
    journal.create_record(assisted=False)  # the lock was released with the error


def test_busy_database_is_an_error_not_corruption(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA journal_mode = WAL")
    for statement in V1_SCHEMA:
        other.execute(statement)
    other.execute("INSERT INTO counters VALUES ('seq', 0)")
    other.execute("PRAGMA user_version = 1")
    other.execute("BEGIN IMMEDIATE")  # a rogue writer that ignores the lock file
    monkeypatch.setattr(database, "BUSY_TIMEOUT_S", 0.2)
    try:
        with pytest.raises(JournalError, match="locked") as exc:
            open_journal(path)
        assert not isinstance(exc.value, JournalCorrupt)
        assert database.quarantined_files(path) == []
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_read_only_journal_reads_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with open_journal(path) as j:
        record_id = sealed_record(j)
    with Journal.open_readonly(path) as ro:
        assert ro.counts()["sealed"] == 1
        assert ro.step_blobs(record_id) == {"consent": b"c" * 100}
        for write in (lambda: ro.create_record(assisted=False), ro.checkpoint,
                      lambda: ro.audit("test_event")):
            with pytest.raises(JournalError, match="read-only"):
                write()


def test_a_reader_never_waits_for_the_writer_lock(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`flock -x journal.db.lock sleep 100`: kiosk status, queue list, metrics and the doctor
    waited 30 s (LOCK_TIMEOUT_S) to close their read-only journal, then called it
    unreadable. A reader opens, reads and closes at once while a writer holds the lock."""
    path = tmp_path / "journal.db"
    with open_journal(path) as j:
        sealed_record(j)
    monkeypatch.setattr(database, "LOCK_TIMEOUT_S", 2.0)
    fd = _hold_flock(path)
    try:
        started = time.monotonic()
        with Journal.open_readonly(path) as ro:
            assert ro.counts()["sealed"] == 1
        assert time.monotonic() - started < 1.0
        # ... and says who holds it, after a short wait
        started = time.monotonic()
        held = database.held_writer_lock(Path(f"{path}.lock"), patience_s=0.3)
        assert held is not None and f"process {os.getpid()}" not in held
        assert "held for more than 0.3 s by another process" in held, held
        assert time.monotonic() - started < 1.0
    finally:
        os.close(fd)
    assert database.held_writer_lock(Path(f"{path}.lock"), patience_s=0.3) is None


def test_a_readers_close_neither_checkpoints_nor_removes_the_wal(tmp_path: Path) -> None:
    """Why a reader needs no writer lock to close (the single-writer rule): the last
    connection to close checkpoints and deletes the -wal, but not a read-only one. A writer
    killed with commits still in its -wal: a reader's open and close leave the database
    file and the -wal as they were."""
    path = tmp_path / "journal.db"
    child = (
        "import os, sys\n"
        "from kiosk.journal import Journal\n"
        f"j = Journal.open({str(path)!r}, kiosk_id={KIOSK!r}, boot_id='b', "
        "clock_trusted=lambda: True)\n"
        "j._conn.execute('PRAGMA wal_autocheckpoint = 0')\n"
        "for _ in range(5): j.create_record(assisted=False)\n"
        "os._exit(0)\n")
    import subprocess
    import sys
    subprocess.run([sys.executable, "-c", child], check=True, timeout=60)
    wal = Path(f"{path}-wal")
    before = (hashlib.sha256(path.read_bytes()).digest(), wal.stat().st_size)
    assert before[1] > 0
    with Journal.open_readonly(path) as ro:
        assert ro.counts()["in_progress"] == 5
    assert (hashlib.sha256(path.read_bytes()).digest(), wal.stat().st_size) == before
    assert Path(f"{path}-shm").exists()


def test_read_only_open_without_a_journal_says_so(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with pytest.raises(JournalError, match=f"no journal at {re.escape(str(path))} yet"):
        Journal.open_readonly(path)


def test_an_empty_journal_file_is_a_lost_journal_not_a_new_one(tmp_path: Path) -> None:
    """`: > journal.db; rm journal.db-*`: status said "no journal yet", the doctor the same
    with a contradictory fix, and `kiosk demo` enrolled into it, the sequence restarted.
    Readers name it (empty: possibly truncated, what to do); a writer other than the
    enrolling one leaves it as found; the enrolling one moves it aside (refused until a
    maintainer has looked), as a corrupt journal."""
    path = tmp_path / "journal.db"
    with open_journal(path) as j:
        sealed_record(j)
    path.write_bytes(b"")
    for name in ("journal.db-wal", "journal.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    with pytest.raises(JournalError, match=r"journal\.db is empty \(0 bytes\): if this kiosk "
                       r"has made records, the journal was lost") as exc:
        Journal.open_readonly(path)
    assert "restore journal.db from a backup" in str(exc.value)
    assert database.check(path) == database.EMPTY_PROBLEM
    with pytest.raises(JournalCorrupt, match="left as found"):
        Journal.open(path, kiosk_id=KIOSK, boot_id="b", clock_trusted=lambda: True,
                     owner=False)
    assert path.stat().st_size == 0
    with pytest.raises(JournalCorrupt, match=r"file is empty"):
        open_journal(path)
    assert [p.stat().st_size for p in database.quarantined_files(path)] == [0]
    # a journal the writer makes starts empty: that one is new, not lost
    fresh = tmp_path / "new" / "journal.db"
    fresh.parent.mkdir()
    with open_journal(fresh) as j:
        assert sealed_record(j)


def test_read_only_open_of_a_directory_in_the_journals_place_says_so(tmp_path: Path) -> None:
    """`kiosk status` on a kiosk with a directory named journal.db said "no journal yet"."""
    path = tmp_path / "journal.db"
    path.mkdir()
    with pytest.raises(JournalError, match="is not a file") as info:
        Journal.open_readonly(path)
    assert "yet" not in str(info.value)


def test_record_created_with_its_first_step_in_one_commit(tmp_path: Path) -> None:
    with open_journal(tmp_path / "journal.db") as j:
        seen: list[str] = []

        def make_blob(record_id: str) -> bytes:
            seen.append(record_id)
            return b"sealed-consent"

        info = j.create_record(assisted=False, first_step=("consent", make_blob))
        assert seen == [info.id]
        assert j.step_blobs(info.id) == {"consent": b"sealed-consent"}
        assert j.step_digests(info.id) == {
            "consent": (14, hashlib.sha256(b"sealed-consent").hexdigest())}


def test_seal_makes_the_manifest_from_the_record_and_its_digests_in_one_commit(
        tmp_path: Path) -> None:
    with open_journal(tmp_path / "journal.db") as j:
        rid = j.create_record(assisted=True, first_step=("consent", lambda r: b"c")).id
        j.save_step(rid, "portrait", b"face")
        seen: list[tuple[str, str, dict[str, tuple[int, str]]]] = []

        def make_manifest(info: RecordInfo, digests: dict[str, tuple[int, str]]) -> bytes:
            seen.append((info.id, info.state, digests))
            return b"signed manifest"

        assert j.seal(rid, make_manifest) == b"signed manifest"
        assert seen == [(rid, "in_progress", j.step_digests(rid))]
        assert list(seen[0][2]) == ["consent", "portrait"]
        info = j.record(rid)
        assert (info.state, info.manifest) == ("sealed", b"signed manifest")
        assert [(e.event, e.details["to_state"]) for e in j.record_events(rid)
                if e.event == "record_state"] == [("record_state", "sealed")]
        with pytest.raises(IllegalStateChange, match="sealed -> sealed"):
            j.seal(rid, make_manifest)
        assert len(seen) == 1  # refused before the manifest is made
        with pytest.raises(JournalError, match="no record"):
            j.seal("poso-01-9999999-000000", make_manifest)


def test_seal_changes_nothing_when_the_manifest_cannot_be_made(tmp_path: Path) -> None:
    with open_journal(tmp_path / "journal.db") as j:
        rid = j.create_record(assisted=False, first_step=("consent", lambda r: b"c")).id

        def explode(info: RecordInfo, digests: dict[str, tuple[int, str]]) -> bytes:
            raise RuntimeError("sealer failed")

        with pytest.raises(RuntimeError, match="sealer failed"):
            j.seal(rid, explode)
        info = j.record(rid)
        assert (info.state, info.manifest) == ("in_progress", None)
        assert j.audit_events(event="record_state") == []


def test_failing_first_step_leaves_no_record(tmp_path: Path) -> None:
    with open_journal(tmp_path / "journal.db") as j:
        def explode(record_id: str) -> bytes:
            raise RuntimeError("sealer failed")

        with pytest.raises(RuntimeError, match="sealer failed"):
            j.create_record(assisted=False, first_step=("consent", explode))
        assert j.records() == []
        assert j.counts()["in_progress"] == 0


def test_step_digests_follow_a_replaced_step(tmp_path: Path) -> None:
    with open_journal(tmp_path / "journal.db") as j:
        rid = j.create_record(assisted=True).id
        j.save_step(rid, "portrait", b"first")
        j.save_step(rid, "portrait", b"second try")
        assert j.step_digests(rid) == {
            "portrait": (10, hashlib.sha256(b"second try").hexdigest())}
