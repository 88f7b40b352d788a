"""Writing a record: creating it, saving its steps' sealed blobs, deleting an aborted or
purged one. (Moving it between states is :mod:`kiosk.journal.states`.)"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable

from kiosk.core.ids import new_record_id
from kiosk.errors import IllegalStateChange
from kiosk.journal import database
from kiosk.journal.connection import JournalConnection
from kiosk.journal.model import STEPS, RecordInfo, as_blob
from kiosk.journal.states import DELETABLE_STATES

log = logging.getLogger(__name__)


class RecordWrites(JournalConnection):
    """The record- and step-writing methods of :class:`~kiosk.journal.Journal`."""

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
                self._insert_step(conn, info.id, step, as_blob(make_blob(info.id)),
                                  trusted, now)
            return info

        info = self._write(body)
        log.info("record %s created (assisted=%s)", info.id, info.assisted)
        return info

    def _insert_step(self, conn: sqlite3.Connection, record_id: str, step: str, blob: bytes,
                     trusted: bool, now: str) -> None:
        """Store the step, only while the record is ``in_progress``; else refused (raises)
        with nothing stored. The state is checked by the insert itself (one statement
        fewer per step); a refusal then looks the state up to say why."""
        digest = hashlib.sha256(blob).hexdigest()
        database.take_seq(conn)
        stored = conn.execute(
            "INSERT INTO steps (record_id, step, length, sha256, seq, boot_id, clock_trusted,"
            " created_at) SELECT id, ?, ?, ?, (SELECT value FROM counters WHERE name = 'seq'),"
            " ?, ?, ? FROM records"
            " WHERE id = ? AND state = 'in_progress' ON CONFLICT (record_id, step)"
            " DO UPDATE SET length = excluded.length, sha256 = excluded.sha256,"
            " seq = excluded.seq, boot_id = excluded.boot_id,"
            " clock_trusted = excluded.clock_trusted, created_at = excluded.created_at",
            (step, len(blob), digest, self.boot_id, int(trusted), now, record_id)).rowcount
        if stored != 1:
            state = self._state_in(conn, record_id)  # raises for an unknown record
            raise IllegalStateChange(
                f"record {record_id} is {state}; steps are saved only while in_progress")
        conn.execute(
            "INSERT INTO payloads (record_id, step, blob) VALUES (?, ?, ?)"
            " ON CONFLICT (record_id, step) DO UPDATE SET blob = excluded.blob",
            (record_id, step, blob))

    def save_step(self, record_id: str, step: str, blob: bytes, *,
                  resume_check: bytes | None = None) -> None:
        """Store (or replace) one step's sealed blob; durable on return. With
        ``resume_check`` (an assisted record's identity step: :mod:`kiosk.enrollment.
        resume_check`) the record's check is replaced in the same commit."""
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}; steps are {', '.join(STEPS)}")
        blob = as_blob(blob)
        trusted, now = self._trusted(), database.utc_now()

        def body(conn: sqlite3.Connection) -> None:
            self._insert_step(conn, record_id, step, blob, trusted, now)
            if resume_check is not None:  # in_progress: the insert above checked it
                conn.execute("UPDATE records SET resume_check = ? WHERE id = ?",
                             (bytes(resume_check), record_id))

        self._write(body)

    def mark_assisted(self, record_id: str, staff_id: str, *,
                      resume_check: bytes | None = None) -> None:
        """An officer (``staff_id``, from the staff card) took over the ``in_progress``
        record: it is kept to resume after a power cut like any assisted record
        (:mod:`kiosk.recovery`); audited with who it was. ``resume_check``: the check of
        the numbers already typed, stored with it. Durable on return; a record in another
        state is refused."""
        database.check_details({"record": record_id, "staff": staff_id})
        check = None if resume_check is None else bytes(resume_check)

        def body(conn: sqlite3.Connection) -> None:
            changed = conn.execute(
                "UPDATE records SET assisted = 1,"
                " resume_check = coalesce(?, resume_check)"
                " WHERE id = ? AND state = 'in_progress'",
                (check, record_id)).rowcount
            if changed != 1:
                state = self._state_in(conn, record_id)  # raises for an unknown record
                raise IllegalStateChange(
                    f"record {record_id} is {state}; only an in_progress record can be "
                    "taken over by an officer")
            database.insert_audit(conn, "record_assisted",
                                  {"record": record_id, "staff": staff_id},
                                  self.boot_id, self._trusted())

        self._write(body)
        log.info("record %s taken over by an officer", record_id)

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
