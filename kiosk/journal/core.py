"""The :class:`Journal` and the record state machine (see :mod:`kiosk.journal`)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from kiosk.core.ids import KIOSK_ID_RULE, is_kiosk_id, new_record_id
from kiosk.core.vocabulary import STEPS
from kiosk.errors import IllegalStateChange, JournalError, StorageFull
from kiosk.journal import database, migrations

log = logging.getLogger(__name__)

STATES: tuple[str, ...] = (
    "in_progress", "sealed", "uploading", "exported", "acknowledged", "purged", "rejected")
TRANSITIONS: dict[str, frozenset[str]] = {
    "in_progress": frozenset({"sealed"}),  # only through mark_sealed (it stores the manifest)
    # -> acknowledged: the intake's receipt turned up before this kiosk journaled the upload;
    # -> rejected: the intake refused the upload's creation for good (an unknown kiosk)
    "sealed": frozenset({"uploading", "exported", "acknowledged", "rejected"}),
    # -> sealed: upload given up for now; -> rejected: the intake refused it for good
    "uploading": frozenset({"acknowledged", "sealed", "rejected"}),
    "exported": frozenset({"acknowledged", "uploading"}),
    "acknowledged": frozenset({"purged"}),
    "purged": frozenset(),
    # kept with its reason, never deleted, never resent by itself: only a maintainer's
    # `kiosk queue retry` puts it back in the outbox (requeue)
    "rejected": frozenset({"sealed"}),
}
# An aborted session's record goes entirely; a purged one's receipt row may go later.
DELETABLE_STATES = frozenset({"in_progress", "purged"})
MAX_ERROR_CHARS = 1000
_T = TypeVar("_T")


@dataclass(frozen=True)
class RecordInfo:
    """One enrollment record as the journal holds it (no personal data)."""

    id: str
    seq: int
    state: str
    assisted: bool
    boot_id: str
    clock_trusted: bool
    created_at: str
    updated_at: str
    attempts: int
    last_error: str | None
    manifest: bytes | None
    upload_url: str | None = None  # the tus upload being resumed (``uploading``)
    has_receipt: bool = False  # the intake's signed receipt is stored (``acknowledged``)


@dataclass(frozen=True)
class AuditEvent:
    """One audit event: what happened, to which ids, and why."""

    seq: int
    event: str
    details: dict[str, database.Detail]
    boot_id: str
    clock_trusted: bool
    created_at: str


_RECORD_COLUMNS = ("id, seq, state, assisted, boot_id, clock_trusted, created_at, updated_at,"
                   " attempts, last_error, manifest, upload_url, receipt IS NOT NULL")
# Records waiting for the uploader, oldest first.
OUTBOX_STATES: tuple[str, ...] = ("sealed", "uploading")


def _record_from_row(row: tuple[Any, ...]) -> RecordInfo:
    (rid, seq, state, assisted, boot_id, trusted, created, updated, attempts, error,
     manifest, upload_url, has_receipt) = row
    return RecordInfo(
        id=rid, seq=seq, state=state, assisted=bool(assisted), boot_id=boot_id,
        clock_trusted=bool(trusted), created_at=created, updated_at=updated,
        attempts=attempts, last_error=error,
        manifest=None if manifest is None else bytes(manifest), upload_url=upload_url,
        has_receipt=bool(has_receipt))


def _as_blob(blob: object) -> bytes:
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise TypeError("a step blob must be bytes")
    return bytes(blob)


class Journal:
    """The enrollment journal (see :mod:`kiosk.journal` for the single-writer rule).

    Open with :meth:`open` (the kiosk, the only writer) or :meth:`open_readonly` (status
    tools). A context manager; :meth:`close` twice is safe. Methods are thread-safe.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, lock: database.WriterLock | None,
                 *, kiosk_id: str, boot_id: str, clock_trusted: Callable[[], bool],
                 readonly: bool) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._writer_lock = lock
        self._lock = threading.RLock()
        self.path = path
        self.kiosk_id = kiosk_id
        self.boot_id = boot_id
        self._clock_trusted = clock_trusted
        self.is_readonly = readonly

    # -- opening and closing ------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, *, kiosk_id: str, boot_id: str,
             clock_trusted: Callable[[], bool], owner: bool = True) -> Journal:
        """Open (creating if needed), check, migrate; quarantine a corrupt file.

        Raises :class:`JournalCorrupt` after moving a corrupt file aside and starting a
        fresh journal, :class:`JournalError` for a journal from newer software (untouched).
        Only the journal's ``owner`` (the process that enrolls) quarantines: any other
        writer (the uploader, the power watcher) gets :class:`JournalCorrupt` with the file
        left as found.
        """
        path = Path(path)
        if not is_kiosk_id(kiosk_id):
            raise ValueError(f"kiosk id {kiosk_id!r} must be {KIOSK_ID_RULE}")
        database.create_file(path)
        lock = database.WriterLock(Path(f"{path}.lock"), create=True)
        try:
            with lock:
                conn = database.open_checked(path, boot_id, clock_trusted,
                                             quarantine_corrupt=owner)
        except BaseException:
            lock.close()
            raise
        return cls(conn, path, lock, kiosk_id=kiosk_id, boot_id=boot_id,
                   clock_trusted=clock_trusted, readonly=False)

    @classmethod
    def open_readonly(cls, path: Path) -> Journal:
        """Open for reading only (status tools); works while the kiosk writes.

        Raises :class:`JournalError` ``"no journal at PATH yet"`` when there is none.
        """
        path = Path(path)
        if not path.is_file():
            raise JournalError(f"no journal at {path} yet")
        try:
            conn = database.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot read journal {path}: {exc}") from exc
        try:
            version = migrations.user_version(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise JournalError(f"cannot read journal {path}: {exc}") from exc
        if version != migrations.latest_version():
            conn.close()
            if version == 0:
                raise JournalError(f"no journal at {path} yet")
            raise JournalError(f"journal {path} has schema version {version}; this software "
                               f"reads version {migrations.latest_version()}")
        lock: database.WriterLock | None
        try:  # only to close under the lock; a reader that may not open it cannot write either
            lock = database.WriterLock(Path(f"{path}.lock"), create=False)
        except OSError:
            lock = None
        return cls(conn, path, lock, kiosk_id="", boot_id="", clock_trusted=lambda: False,
                   readonly=True)

    def close(self) -> None:
        """Close the connection (under the writer lock: closing may checkpoint). Idempotent."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            try:
                if self._writer_lock is not None:
                    with self._writer_lock:
                        conn.close()
                else:
                    conn.close()
            finally:
                if self._writer_lock is not None:
                    self._writer_lock.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._conn is None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise JournalError(f"journal {self.path} is closed")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise JournalError(f"journal {self.path} read failed: {exc}") from exc

    @contextlib.contextmanager
    def _writer(self, what: str) -> Iterator[sqlite3.Connection]:
        """The connection, under the process lock and the cross-process writer lock (the
        single-writer rule); SQLite errors become JournalError naming ``what`` (StorageFull
        when the disk is full: the transaction was rolled back, the journal is intact)."""
        if self.is_readonly or self._writer_lock is None:
            raise JournalError(f"journal {self.path} was opened read-only")
        with self._lock:
            if self._conn is None:
                raise JournalError(f"journal {self.path} is closed")
            with self._writer_lock:
                try:
                    yield self._conn
                except sqlite3.Error as exc:
                    if database.is_full(exc):
                        raise StorageFull(f"journal {self.path} {what} failed: {exc}"
                                          ) from exc
                    raise JournalError(f"journal {self.path} {what} failed: {exc}") from exc

    def _write(self, body: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._writer("write") as conn:
            return database.write_in(conn, body)

    def _trusted(self) -> bool:
        return database.ask_clock(self._clock_trusted)

    # -- records ---------------------------------------------------------------------------
    def create_record(self, *, assisted: bool,
                      first_step: tuple[str, Callable[[str], bytes]] | None = None
                      ) -> RecordInfo:
        """A new ``in_progress`` record with the next sequence number; durable on return.

        ``first_step`` is ``(step name, make_blob)``: ``make_blob(record_id)`` is called inside
        the same transaction and its blob stored with the record, so creating a record and
        its first step costs one commit (one fsync) instead of two.
        """
        if first_step is not None and first_step[0] not in STEPS:
            raise ValueError(f"unknown step {first_step[0]!r}; steps are {', '.join(STEPS)}")
        trusted, now = self._trusted(), database.utc_now()

        def body(conn: sqlite3.Connection) -> RecordInfo:
            seq = database.next_seq(conn)
            info = RecordInfo(
                id=new_record_id(self.kiosk_id, seq), seq=seq,
                state="in_progress", assisted=bool(assisted), boot_id=self.boot_id,
                clock_trusted=trusted, created_at=now, updated_at=now, attempts=0,
                last_error=None, manifest=None)
            conn.execute(
                "INSERT INTO records (id, seq, state, assisted, boot_id, clock_trusted,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (info.id, seq, info.state, int(info.assisted), self.boot_id, int(trusted),
                 now, now))
            if first_step is not None:
                step, make_blob = first_step
                self._insert_step(conn, info.id, step, _as_blob(make_blob(info.id)),
                                  trusted, now)
            return info

        info = self._write(body)
        log.info("record %s created (assisted=%s)", info.id, info.assisted)
        return info

    def _insert_step(self, conn: sqlite3.Connection, record_id: str, step: str, blob: bytes,
                     trusted: bool, now: str) -> None:
        conn.execute(
            "INSERT INTO steps (record_id, step, length, sha256, seq, boot_id, clock_trusted,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (record_id, step)"
            " DO UPDATE SET length = excluded.length, sha256 = excluded.sha256,"
            " seq = excluded.seq, boot_id = excluded.boot_id,"
            " clock_trusted = excluded.clock_trusted, created_at = excluded.created_at",
            (record_id, step, len(blob), hashlib.sha256(blob).hexdigest(),
             database.next_seq(conn), self.boot_id, int(trusted), now))
        conn.execute(
            "INSERT INTO payloads (record_id, step, blob) VALUES (?, ?, ?)"
            " ON CONFLICT (record_id, step) DO UPDATE SET blob = excluded.blob",
            (record_id, step, blob))

    def save_step(self, record_id: str, step: str, blob: bytes) -> None:
        """Store (or replace) one step's sealed blob; durable on return."""
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}; steps are {', '.join(STEPS)}")
        blob = _as_blob(blob)
        trusted, now = self._trusted(), database.utc_now()

        def body(conn: sqlite3.Connection) -> None:
            state = self._state_in(conn, record_id)
            if state != "in_progress":
                raise IllegalStateChange(
                    f"record {record_id} is {state}; steps are saved only while in_progress")
            self._insert_step(conn, record_id, step, blob, trusted, now)

        self._write(body)

    def step_digests(self, record_id: str) -> dict[str, tuple[int, str]]:
        """Each step's (length, SHA-256 hex) in the order saved, without reading the blobs
        (except for rows from before schema version 3, which are hashed here)."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT step, length, sha256 FROM steps WHERE record_id = ? ORDER BY seq",
                (record_id,)).fetchall()
            if not rows:
                self._state_in(conn, record_id)  # raises for an unknown record
            out: dict[str, tuple[int, str]] = {}
            for step, length, digest in rows:
                if digest is None:
                    (blob,) = conn.execute(
                        "SELECT blob FROM payloads WHERE record_id = ? AND step = ?",
                        (record_id, step)).fetchone()
                    digest = hashlib.sha256(blob).hexdigest()
                out[step] = (int(length), digest)
        return out

    def step_blobs(self, record_id: str) -> dict[str, bytes]:
        """The record's step blobs by step name, in the order they were saved.

        Each blob is checked against the length and SHA-256 stored when it was saved (the
        start-up integrity check skips the payload pages): a damaged one raises
        :class:`JournalError` naming the record and step.
        """
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT s.step, s.length, s.sha256, p.blob FROM steps s LEFT JOIN payloads p"
                " ON p.record_id = s.record_id AND p.step = s.step"
                " WHERE s.record_id = ? ORDER BY s.seq", (record_id,)).fetchall()
            if not rows:
                self._state_in(conn, record_id)  # raises for an unknown record
        out: dict[str, bytes] = {}
        for step, length, digest, blob in rows:
            if blob is None:
                raise JournalError(f"record {record_id} step {step}: payload is missing")
            data = bytes(blob)
            if (length is not None and len(data) != length) or (
                    digest is not None and hashlib.sha256(data).hexdigest() != digest):
                raise JournalError(f"record {record_id} step {step}: payload is damaged "
                                   "(its SHA-256 differs from the one journaled)")
            out[step] = data
        return out

    def mark_sealed(self, record_id: str, manifest: bytes) -> None:
        """``in_progress`` -> ``sealed`` with its signed manifest; durable on return."""
        now = database.utc_now()

        def body(conn: sqlite3.Connection) -> None:
            state = self._state_in(conn, record_id)
            if state != "in_progress":
                raise IllegalStateChange(f"record {record_id}: {state} -> sealed is not allowed")
            conn.execute(
                "UPDATE records SET state = 'sealed', manifest = ?, updated_at = ? WHERE id = ?",
                (bytes(manifest), now, record_id))
            # In the same transaction, so `kiosk queue show` tells when it was sealed.
            database.insert_audit(conn, "record_state",
                                  {"record": record_id, "from_state": "in_progress",
                                   "to_state": "sealed"}, self.boot_id, self._trusted())

        self._write(body)
        log.info("record %s: in_progress -> sealed", record_id)

    # -- the outbox (see docs/upload.md) ----------------------------------------------------
    def outbox(self) -> list[RecordInfo]:
        """Records waiting for the uploader (``sealed`` or ``uploading``), oldest first."""
        query = f"SELECT {_RECORD_COLUMNS} FROM records"  # noqa: S608 -- constant columns
        with self._reading() as conn:
            rows = conn.execute(f"{query} WHERE state IN (?, ?) ORDER BY seq",
                                OUTBOX_STATES).fetchall()
        return [_record_from_row(r) for r in rows]

    def start_upload(self, record_id: str, url: str) -> None:
        """``sealed`` -> ``uploading`` (or a new URL for an ``uploading`` record): the tus
        upload ``url`` is journaled, so a restarted uploader resumes it; durable on return."""
        if not url:
            raise ValueError("an upload URL is required")

        def body(conn: sqlite3.Connection) -> str:
            old = self._state_in(conn, record_id)
            if old not in OUTBOX_STATES:
                raise IllegalStateChange(
                    f"record {record_id} is {old}; only sealed records are uploaded")
            conn.execute("UPDATE records SET state = 'uploading', upload_url = ?,"
                         " updated_at = ? WHERE id = ?", (url, database.utc_now(), record_id))
            if old != "uploading":
                database.insert_audit(
                    conn, "record_state",
                    {"record": record_id, "from_state": old, "to_state": "uploading"},
                    self.boot_id, self._trusted())
            return old

        if self._write(body) != "uploading":
            log.info("record %s: sealed -> uploading", record_id)

    def upload_failed(self, record_id: str, error: str, *, forget_url: bool = False) -> None:
        """One failed attempt: ``attempts`` + 1 and ``last_error``. With ``forget_url`` the
        journaled upload is dropped (the intake lost or refused it) and the record goes back
        to ``sealed``, to be uploaded afresh."""
        error = error[:MAX_ERROR_CHARS]

        def body(conn: sqlite3.Connection) -> None:
            old = self._state_in(conn, record_id)
            if old not in OUTBOX_STATES:
                raise IllegalStateChange(f"record {record_id} is {old}, not in the outbox")
            new = "sealed" if forget_url else old
            conn.execute(
                "UPDATE records SET attempts = attempts + 1, last_error = ?, updated_at = ?,"
                " state = ?, upload_url = CASE WHEN ? THEN NULL ELSE upload_url END"
                " WHERE id = ?",
                (error, database.utc_now(), new, int(forget_url), record_id))
            if new != old:
                database.insert_audit(
                    conn, "record_state",
                    {"record": record_id, "from_state": old, "to_state": new},
                    self.boot_id, self._trusted())

        self._write(body)

    def reject(self, record_id: str, reason: str) -> None:
        """``sealed``/``uploading`` -> ``rejected``: the intake refused the record for good.

        ``reason`` (the intake's, one line, no personal data) becomes ``last_error``; the
        journaled upload is dropped; the payload stays. Durable on return."""
        reason = reason[:MAX_ERROR_CHARS]

        def body(conn: sqlite3.Connection) -> str:
            old = self._state_in(conn, record_id)
            if "rejected" not in TRANSITIONS[old]:
                raise IllegalStateChange(f"record {record_id}: {old} -> rejected is not allowed")
            conn.execute(
                "UPDATE records SET state = 'rejected', attempts = attempts + 1,"
                " last_error = ?, upload_url = NULL, updated_at = ? WHERE id = ?",
                (reason, database.utc_now(), record_id))
            database.insert_audit(
                conn, "record_state",
                {"record": record_id, "from_state": old, "to_state": "rejected",
                 "reason": reason[:database.MAX_DETAIL_CHARS]},
                self.boot_id, self._trusted())
            return old

        old = self._write(body)
        log.warning("record %s: %s -> rejected: %s", record_id, old, reason)

    def requeue(self, record_id: str, why: str) -> None:
        """``rejected`` -> ``sealed`` (a maintainer fixed the cause): back in the outbox, its
        attempts counted from zero, the last reason kept until the next attempt. Audited
        with ``why``."""
        database.check_details({"reason": why})

        def body(conn: sqlite3.Connection) -> None:
            old = self._state_in(conn, record_id)
            if old != "rejected":
                raise IllegalStateChange(
                    f"record {record_id} is {old}; only rejected records are requeued")
            conn.execute("UPDATE records SET state = 'sealed', attempts = 0, updated_at = ?"
                         " WHERE id = ?", (database.utc_now(), record_id))
            database.insert_audit(
                conn, "record_state",
                {"record": record_id, "from_state": "rejected", "to_state": "sealed",
                 "reason": why}, self.boot_id, self._trusted())

        self._write(body)
        log.info("record %s: rejected -> sealed (%s)", record_id, why)

    def acknowledge(self, record_id: str, receipt: bytes) -> None:
        """-> ``acknowledged`` with the intake's receipt, in one commit (so no record is ever
        acknowledged without its receipt); the caller has verified the receipt."""
        receipt = _as_blob(receipt)
        if not receipt:
            raise ValueError("a receipt is required to acknowledge a record")
        now = database.utc_now()

        def body(conn: sqlite3.Connection) -> str:
            old = self._state_in(conn, record_id)
            if "acknowledged" not in TRANSITIONS[old]:
                raise IllegalStateChange(
                    f"record {record_id}: {old} -> acknowledged is not allowed")
            conn.execute(
                "UPDATE records SET state = 'acknowledged', receipt = ?, acknowledged_at = ?,"
                " upload_url = NULL, last_error = NULL, updated_at = ? WHERE id = ?",
                (receipt, now, now, record_id))
            database.insert_audit(
                conn, "record_state",
                {"record": record_id, "from_state": old, "to_state": "acknowledged"},
                self.boot_id, self._trusted())
            return old

        old = self._write(body)
        log.info("record %s: %s -> acknowledged", record_id, old)

    def receipt(self, record_id: str) -> bytes | None:
        """The intake's signed receipt for the record, or None before it is acknowledged."""
        with self._reading() as conn:
            row = conn.execute("SELECT receipt FROM records WHERE id = ?",
                               (record_id,)).fetchone()
        if row is None:
            raise JournalError(f"no record {record_id!r} in the journal")
        return None if row[0] is None else bytes(row[0])

    def delete_record(self, record_id: str, reason: str) -> None:
        """Delete an ``in_progress`` (aborted) or ``purged`` record and its steps; audited.

        Freed pages are zeroed (``secure_delete``). Sealed data is never deleted here.
        """
        database.check_details({"reason": reason})

        def body(conn: sqlite3.Connection) -> None:
            state = self._state_in(conn, record_id)
            if state not in DELETABLE_STATES:
                raise IllegalStateChange(
                    f"record {record_id} is {state}; only records that are "
                    f"{' or '.join(sorted(DELETABLE_STATES))} can be deleted")
            steps = conn.execute("SELECT count(*) FROM steps WHERE record_id = ?",
                                 (record_id,)).fetchone()[0]
            conn.execute("DELETE FROM records WHERE id = ?", (record_id,))
            database.insert_audit(
                conn, "record_deleted",
                {"record": record_id, "state": state, "steps": steps, "reason": reason},
                self.boot_id, self._trusted())

        self._write(body)
        log.info("record %s deleted: %s", record_id, reason)

    def set_state(self, record_id: str, state: str, *, error: str | None = None) -> None:
        """Move a record along the state machine (:data:`TRANSITIONS`); audited.

        Each move to ``uploading`` counts an attempt. ``error`` replaces ``last_error``;
        without it the last error is kept, until ``acknowledged`` clears it. Moving to
        ``purged`` deletes the step blobs (the payload) and keeps the row and manifest.
        """
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; states are {', '.join(STATES)}")
        if error is not None:
            error = error[:MAX_ERROR_CHARS]

        def body(conn: sqlite3.Connection) -> str:
            old = self._state_in(conn, record_id)
            if old == "in_progress" and state == "sealed":
                raise IllegalStateChange(
                    f"record {record_id}: use mark_sealed(), which stores the manifest")
            if state == "acknowledged":
                raise IllegalStateChange(
                    f"record {record_id}: use acknowledge(), which stores the receipt")
            if state == "rejected" or old == "rejected":
                raise IllegalStateChange(
                    f"record {record_id}: use reject() (it stores the reason) or requeue()")
            if state not in TRANSITIONS[old]:
                allowed = ", ".join(sorted(TRANSITIONS[old])) or "nothing"
                raise IllegalStateChange(
                    f"record {record_id}: {old} -> {state} is not allowed "
                    f"(from {old}: {allowed})")
            conn.execute(
                "UPDATE records SET state = ?, updated_at = ?,"
                " attempts = attempts + ?,"
                " last_error = CASE WHEN ? THEN NULL ELSE coalesce(?, last_error) END"
                " WHERE id = ?",
                (state, database.utc_now(), int(state == "uploading"),
                 int(state == "acknowledged" and error is None), error, record_id))
            if state == "purged":
                conn.execute("DELETE FROM steps WHERE record_id = ?", (record_id,))
            database.insert_audit(conn, "record_state",
                                  {"record": record_id, "from_state": old, "to_state": state},
                                  self.boot_id, self._trusted())
            return old

        old = self._write(body)
        log.info("record %s: %s -> %s", record_id, old, state)

    @staticmethod
    def _state_in(conn: sqlite3.Connection, record_id: str) -> str:
        row = conn.execute("SELECT state FROM records WHERE id = ?", (record_id,)).fetchone()
        if row is None:
            raise JournalError(f"no record {record_id!r} in the journal")
        return str(row[0])

    def record(self, record_id: str) -> RecordInfo:
        """One record; :class:`JournalError` if there is none with that id."""
        with self._reading() as conn:
            row = conn.execute(f"SELECT {_RECORD_COLUMNS} FROM records WHERE id = ?",  # noqa: S608
                               (record_id,)).fetchone()
        if row is None:
            raise JournalError(f"no record {record_id!r} in the journal")
        return _record_from_row(row)

    def records(self, state: str | None = None) -> list[RecordInfo]:
        """All records, or those in ``state``, ordered by sequence number."""
        if state is not None and state not in STATES:
            raise ValueError(f"unknown state {state!r}; states are {', '.join(STATES)}")
        query = f"SELECT {_RECORD_COLUMNS} FROM records"  # noqa: S608 -- constant columns
        with self._reading() as conn:
            if state is None:
                rows = conn.execute(f"{query} ORDER BY seq").fetchall()
            else:
                rows = conn.execute(f"{query} WHERE state = ? ORDER BY seq", (state,)).fetchall()
        return [_record_from_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Number of records in each state; every state is a key (0 when none)."""
        counts = dict.fromkeys(STATES, 0)
        with self._reading() as conn:
            for state, n in conn.execute("SELECT state, count(*) FROM records GROUP BY state"):
                counts[state] = n
        return counts

    def record_events(self, record_id: str) -> list[AuditEvent]:
        """One record's history, oldest first: each step journaled (event ``step_saved``:
        the step's name and size) and every audit event about it (state changes, reasons).
        Ids, names, sizes and reasons only, never the record's contents."""
        with self._reading() as conn:
            audit = conn.execute(
                "SELECT seq, event, details, boot_id, clock_trusted, created_at FROM audit"
                " WHERE json_extract(details, '$.record') = ?", (record_id,)).fetchall()
            steps = conn.execute(
                "SELECT seq, step, length, boot_id, clock_trusted, created_at FROM steps"
                " WHERE record_id = ?", (record_id,)).fetchall()
        events = [AuditEvent(seq=s, event=e, details=json.loads(d), boot_id=b,
                             clock_trusted=bool(t), created_at=c)
                  for s, e, d, b, t, c in audit]
        events += [AuditEvent(seq=s, event="step_saved",
                              details={"record": record_id, "step": step,
                                       "bytes": length if length is not None else 0},
                              boot_id=b, clock_trusted=bool(t), created_at=c)
                   for s, step, length, b, t, c in steps]
        return sorted(events, key=lambda e: e.seq)

    def last_acknowledged_at(self) -> str | None:
        """When the intake last acknowledged a record (the audit event's time, ISO 8601),
        or None if it never did: a fleet monitor's "last successful upload"."""
        with self._reading() as conn:
            row = conn.execute(
                "SELECT created_at FROM audit WHERE event = 'record_state'"
                " AND json_extract(details, '$.to_state') = 'acknowledged'"
                " ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    # -- audit and maintenance -------------------------------------------------------------
    def audit(self, event: str, **details: database.Detail) -> None:
        """Record an audit event. Details: ids, counts, reasons only (<= 200 characters)."""
        trusted = self._trusted()
        self._write(lambda c: database.insert_audit(c, event, details, self.boot_id, trusted))

    def audit_events(self, limit: int = 100, *, event: str | None = None) -> list[AuditEvent]:
        """The latest ``limit`` events (optionally of one kind), oldest first."""
        query = "SELECT seq, event, details, boot_id, clock_trusted, created_at FROM audit"
        with self._reading() as conn:
            if event is None:
                rows = conn.execute(f"{query} ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
            else:
                rows = conn.execute(f"{query} WHERE event = ? ORDER BY seq DESC LIMIT ?",
                                    (event, limit)).fetchall()
        return [AuditEvent(seq=s, event=e, details=json.loads(d), boot_id=b,
                           clock_trusted=bool(t), created_at=c) for s, e, d, b, t, c in
                reversed(rows)]

    def checkpoint(self) -> None:
        """Copy the WAL into the database file and truncate it (e.g. before a shutdown)."""
        with self._writer("checkpoint") as conn:
            busy, log_pages, done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            log.warning("journal checkpoint incomplete (%s of %s pages): a reader was active",
                        done, log_pages)

    def export_metadata(self, out: Path, *, kiosk_id: str) -> dict[str, int]:
        """Write the metadata (records, steps, audit; never a payload, manifest, receipt or
        upload URL) to a new SQLite file ``out`` for support; return rows per table. Reads
        one consistent snapshot; safe on a read-only journal while the kiosk writes."""
        from kiosk.journal import export

        with self._reading() as conn:
            snapshot = export.read_snapshot(conn)
        return export.write_export(snapshot, out, kiosk_id=kiosk_id,
                                   exported_at=database.utc_now())

    def verify(self) -> list[str]:
        """The maintainer's deep check: ``PRAGMA integrity_check`` over the whole file, then
        every payload against its journaled length and SHA-256. Returns the problems found
        (record ids and step names only), empty when all is sound. Reads the whole file."""
        problems: list[str] = []
        with self._reading() as conn:
            whole = database.full_check(conn)
            if whole is not None:
                problems.append(f"integrity_check: {whole}")
            rows = conn.execute(
                "SELECT s.record_id, s.step, s.length, s.sha256, p.rowid FROM steps s"
                " LEFT JOIN payloads p ON p.record_id = s.record_id AND p.step = s.step"
                " ORDER BY s.seq").fetchall()
        for record_id, step, length, digest, rowid in rows:
            if rowid is None:
                problems.append(f"record {record_id} step {step}: payload is missing")
                continue
            with self._reading() as conn:  # one blob at a time: others may write meanwhile
                row = conn.execute("SELECT blob FROM payloads WHERE rowid = ?",
                                   (rowid,)).fetchone()
            data = b"" if row is None else bytes(row[0])
            if (length is not None and len(data) != length) or (
                    digest is not None and hashlib.sha256(data).hexdigest() != digest):
                problems.append(f"record {record_id} step {step}: payload is damaged")
        return problems

    def settings(self) -> dict[str, int | str]:
        """The connection's effective settings, for diagnostics and tests."""
        names = ("journal_mode", "synchronous", "foreign_keys", "secure_delete", "page_size",
                 "wal_autocheckpoint", "busy_timeout", "user_version", "journal_size_limit")
        with self._reading() as conn:
            return {n: conn.execute(f"PRAGMA {n}").fetchone()[0] for n in names}

    @property
    def quarantined_files(self) -> list[Path]:
        """Corrupt journals moved aside beside this one (see :func:`quarantined_files`)."""
        return database.quarantined_files(self.path)
