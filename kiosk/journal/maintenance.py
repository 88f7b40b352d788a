"""The journal's maintenance: free-form audit events, checkpoints, the support export, the
deep check, the effective settings and the quarantined files beside it."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from pathlib import Path

from kiosk.journal import database
from kiosk.journal.connection import JournalConnection

log = logging.getLogger(__name__)


class JournalMaintenance(JournalConnection):
    """The audit and maintenance methods of :class:`~kiosk.journal.Journal`."""

    def audit(self, event: str, **details: database.Detail) -> None:
        """Record an audit event. Details: ids, counts, reasons only (<= 200 characters)."""
        trusted = self._trusted()
        self._write(lambda c: database.insert_audit(c, event, details, self.boot_id, trusted))

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
            try:
                whole = database.full_check(conn)
            except sqlite3.DatabaseError as exc:  # damaged pages it cannot even walk
                whole = str(exc)
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
                try:
                    row = conn.execute("SELECT blob FROM payloads WHERE rowid = ?",
                                       (rowid,)).fetchone()
                except sqlite3.DatabaseError as exc:  # its pages are damaged: name it, go on
                    problems.append(f"record {record_id} step {step}: payload unreadable "
                                    f"({exc})")
                    continue
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
