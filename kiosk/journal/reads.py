"""Reading the journal: one record, listings, the outbox, step blobs checked against their
digests, receipts, a record's history and the audit trail."""

from __future__ import annotations

import hashlib
import json

from kiosk.errors import JournalError, UnknownRecord
from kiosk.journal.connection import JournalConnection
from kiosk.journal.model import RECORD_COLUMNS, AuditEvent, RecordInfo, record_from_row
from kiosk.journal.states import OUTBOX_STATES, STATES


class RecordReads(JournalConnection):
    """The reading methods of :class:`~kiosk.journal.Journal`."""

    def record(self, record_id: str) -> RecordInfo:
        """One record; :class:`JournalError` if there is none with that id."""
        with self._reading() as conn:
            row = conn.execute(f"SELECT {RECORD_COLUMNS} FROM records WHERE id = ?",  # noqa: S608
                               (record_id,)).fetchone()
        if row is None:
            raise UnknownRecord(f"no record {record_id!r} in the journal")
        return record_from_row(row)

    def records(self, state: str | None = None) -> list[RecordInfo]:
        """All records, or those in ``state``, ordered by sequence number."""
        if state is not None and state not in STATES:
            raise ValueError(f"unknown state {state!r}; states are {', '.join(STATES)}")
        query = f"SELECT {RECORD_COLUMNS} FROM records"  # noqa: S608 -- constant columns
        with self._reading() as conn:
            if state is None:
                rows = conn.execute(f"{query} ORDER BY seq").fetchall()
            else:
                rows = conn.execute(f"{query} WHERE state = ? ORDER BY seq", (state,)).fetchall()
        return [record_from_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Number of records in each state; every state is a key (0 when none)."""
        counts = dict.fromkeys(STATES, 0)
        with self._reading() as conn:
            for state, n in conn.execute("SELECT state, count(*) FROM records GROUP BY state"):
                counts[state] = n
        return counts

    def outbox(self) -> list[RecordInfo]:
        """Records waiting for the uploader (``sealed`` or ``uploading``), oldest first."""
        query = f"SELECT {RECORD_COLUMNS} FROM records"  # noqa: S608 -- constant columns
        with self._reading() as conn:
            rows = conn.execute(f"{query} WHERE state IN (?, ?) ORDER BY seq",
                                OUTBOX_STATES).fetchall()
        return [record_from_row(r) for r in rows]

    def step_digests(self, record_id: str) -> dict[str, tuple[int, str]]:
        """Each step's (length, SHA-256 hex) in the order saved, without reading the blobs
        (except for rows from before schema version 3, which are hashed here)."""
        with self._reading() as conn:
            return self._digests_in(conn, record_id)

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

    def receipt(self, record_id: str) -> bytes | None:
        """The intake's signed receipt for the record, or None before it is acknowledged."""
        with self._reading() as conn:
            row = conn.execute("SELECT receipt FROM records WHERE id = ?",
                               (record_id,)).fetchone()
        if row is None:
            raise UnknownRecord(f"no record {record_id!r} in the journal")
        return None if row[0] is None else bytes(row[0])

    def resume_check(self, record_id: str) -> bytes | None:
        """The check of the NIK and No. KK an unfinished assisted record was begun with
        (:mod:`kiosk.enrollment.resume_check`); None when it has none (self-service, sealed,
        or begun before the kiosk kept one)."""
        with self._reading() as conn:
            row = conn.execute("SELECT resume_check FROM records WHERE id = ?",
                               (record_id,)).fetchone()
        if row is None:
            raise UnknownRecord(f"no record {record_id!r} in the journal")
        return None if row[0] is None else bytes(row[0])

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
