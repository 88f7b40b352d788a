"""The :class:`Journal`: opening and closing it (see :mod:`kiosk.journal`).

Its methods live beside their jobs and are gathered here:

* :mod:`kiosk.journal.writes`: creating a record, saving its steps, deleting one;
* :mod:`kiosk.journal.states`: the state table and the one method that moves a record;
* :mod:`kiosk.journal.reads`: records, listings, the outbox, blobs, history;
* :mod:`kiosk.journal.maintenance`: audit events, checkpoint, export, deep check;
* :mod:`kiosk.journal.connection`: the connection, its locks and transactions under them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from kiosk.core.ids import KIOSK_ID_RULE, is_kiosk_id
from kiosk.errors import JournalError
from kiosk.journal import database, migrations
from kiosk.journal.maintenance import JournalMaintenance
from kiosk.journal.model import STEPS, AuditEvent, RecordInfo
from kiosk.journal.reads import RecordReads
from kiosk.journal.states import (
    DELETABLE_STATES,
    MAX_ERROR_CHARS,
    OUTBOX_STATES,
    REFUSED_BY_OFFICE,
    STATES,
    TRANSITIONS,
    RecordStates,
)
from kiosk.journal.writes import RecordWrites

__all__ = ["DELETABLE_STATES", "MAX_ERROR_CHARS", "OUTBOX_STATES", "REFUSED_BY_OFFICE",
           "STATES", "STEPS", "TRANSITIONS", "AuditEvent", "Journal", "RecordInfo"]



class Journal(RecordWrites, RecordStates, RecordReads, JournalMaintenance):
    """The enrollment journal (see :mod:`kiosk.journal` for the single-writer rule).

    Open with :meth:`open` (the kiosk, the only writer) or :meth:`open_readonly` (status
    tools). A context manager; :meth:`close` twice is safe. Methods are thread-safe.
    """

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
        made = database.create_file(path)
        lock = database.WriterLock(Path(f"{path}.lock"), create=True)
        try:
            with lock:
                # an empty file found here (not made) is no new journal: a lost one
                conn = database.open_checked(path, boot_id, clock_trusted,
                                             quarantine_corrupt=owner, new=made)
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
        if path.exists() and not path.is_file():  # "no journal yet" would send one looking
            raise JournalError(f"journal {path} is not a file (a directory or device in its "
                               "place); move it out of kiosk.data_dir")
        if not path.is_file():
            raise JournalError(f"no journal at {path} yet")
        if database.is_empty(path):  # not "no journal yet": it was there, and is not now
            raise JournalError(database.empty_verdict(path))
        try:
            conn = database.connect_readonly(path)
        except sqlite3.Error as exc:
            raise database.unreadable(path, exc) from exc
        try:
            version = migrations.user_version(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise database.unreadable(path, exc) from exc
        if version != migrations.latest_version() and not (
                version > migrations.latest_version() and migrations.usable(conn)):
            conn.close()
            if version == 0:
                raise JournalError(f"no journal at {path} yet")
            raise JournalError(f"journal {path} has schema version {version}; this software "
                               f"reads version {migrations.latest_version()}")
        # No writer lock, not even to close: a read-only connection never checkpoints
        # (SQLite refuses to, read-only) nor deletes the -wal or -shm when it is the last
        # one to close (only a checkpoint that succeeded does); so a reader never waits for
        # a writer, nor makes one wait (kiosk status while a writer hangs: README).
        return cls(conn, path, None, kiosk_id="", boot_id="", clock_trusted=lambda: False,
                   readonly=True)

    def close(self) -> None:
        """Close the connection (a writer's under the writer lock: closing may checkpoint;
        a reader's without it, see :meth:`open_readonly`). Idempotent."""
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
