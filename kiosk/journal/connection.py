"""The journal's connection and its locks: the plumbing every part of :class:`Journal` uses.

:class:`JournalConnection` holds the SQLite connection, the process lock and the
cross-process writer lock (the single-writer rule, see :mod:`kiosk.journal`). Its
``_reading`` and ``_writer`` turn SQLite errors into :class:`~kiosk.errors.JournalError`;
``_write`` runs one write transaction and, only once it has committed, the work queued with
``_after_commit`` (log lines about what is now durable).
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from kiosk.errors import JournalError, StorageFull, UnknownRecord
from kiosk.journal import database

_T = TypeVar("_T")


class JournalConnection:
    """The connection, its locks and the transaction helpers (package-internal base)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, lock: database.WriterLock | None,
                 *, kiosk_id: str, boot_id: str, clock_trusted: Callable[[], bool],
                 readonly: bool) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._writer_lock = lock
        self._lock = threading.RLock()
        self._committed: list[Callable[[], None]] = []
        self.path = path
        self.kiosk_id = kiosk_id
        self.boot_id = boot_id
        self._clock_trusted = clock_trusted
        self.is_readonly = readonly

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise JournalError(f"journal {self.path} is closed")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                if self.is_readonly and database.is_corruption(exc):  # status, queue...
                    raise database.unreadable(self.path, exc) from exc
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
                    raise self._failed(what, exc) from exc

    def _failed(self, what: str, exc: sqlite3.Error) -> JournalError:
        """The JournalError for a failed write (StorageFull when the disk is full: the
        transaction was rolled back, the journal is intact)."""
        if database.is_full(exc):
            return StorageFull(f"journal {self.path} {what} failed: {exc}")
        return JournalError(f"journal {self.path} {what} failed: {exc}")

    def _write(self, body: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``body`` in one write transaction (one commit) under both locks, as
        :meth:`_writer` would (written out: a record makes seven); then, once it is durable,
        what ``body`` queued with :meth:`_after_commit`."""
        if self.is_readonly or self._writer_lock is None:
            raise JournalError(f"journal {self.path} was opened read-only")
        with self._lock:
            conn = self._conn
            if conn is None:
                raise JournalError(f"journal {self.path} is closed")
            with self._writer_lock:
                self._committed = []
                try:
                    result = database.write_in(conn, body)
                    done = self._committed
                except sqlite3.Error as exc:
                    raise self._failed("write", exc) from exc
                finally:
                    self._committed = []
        for then in done:
            then()
        return result

    def _after_commit(self, then: Callable[[], None]) -> None:
        """Queue ``then`` to run after the current write transaction commits (never if it
        rolls back)."""
        self._committed.append(then)

    def _trusted(self) -> bool:
        return database.ask_clock(self._clock_trusted)

    @staticmethod
    def _state_in(conn: sqlite3.Connection, record_id: str) -> str:
        row = conn.execute("SELECT state FROM records WHERE id = ?", (record_id,)).fetchone()
        if row is None:
            raise UnknownRecord(f"no record {record_id!r} in the journal")
        return str(row[0])

    @classmethod
    def _digests_in(cls, conn: sqlite3.Connection, record_id: str) -> dict[str, tuple[int, str]]:
        """Each step's (length, SHA-256 hex) in the order saved, without reading the blobs
        (except for rows from before schema version 3, which are hashed here); raises for
        an unknown record."""
        rows = conn.execute(
            "SELECT step, length, sha256 FROM steps WHERE record_id = ? ORDER BY seq",
            (record_id,)).fetchall()
        if not rows:
            cls._state_in(conn, record_id)  # raises for an unknown record
        out: dict[str, tuple[int, str]] = {}
        for step, length, digest in rows:
            if digest is None:
                (blob,) = conn.execute(
                    "SELECT blob FROM payloads WHERE record_id = ? AND step = ?",
                    (record_id, step)).fetchone()
                digest = hashlib.sha256(blob).hexdigest()
            out[step] = (int(length), digest)
        return out
