"""The record store the enrollment session writes through: seal each step, journal it.

:class:`JournalRecordStore` joins the :class:`~kiosk.journal.Journal` (durability) and the
:class:`~kiosk.sealing.Sealer` (confidentiality, authenticity). Each step's parts are
encrypted to the central office's key *before* they reach the journal, so no personal data
or biometric is ever written to disk in the clear. ``seal`` signs the manifest over the
stored step blobs (their lengths and SHA-256, kept by the journal) and marks the record
sealed in one durable commit, inside the transaction that read them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from kiosk.journal import Journal, RecordInfo
from kiosk.sealing import RecordMeta, Sealer

log = logging.getLogger(__name__)


class JournalRecordStore:
    """A :class:`~kiosk.enrollment.session.RecordStore` on a journal and a sealer."""

    def __init__(self, journal: Journal, sealer: Sealer, *, kiosk_id: str) -> None:
        self.journal = journal
        self.sealer = sealer
        self.kiosk_id = kiosk_id

    def begin(self, *, assisted: bool, step: str, parts: Mapping[str, bytes]) -> str:
        """Create the record together with its first step, in one durable commit."""
        info = self.journal.create_record(
            assisted=assisted,
            first_step=(step, lambda record_id: self.sealer.seal_step(record_id, step, parts)))
        log.info("record %s begun (assisted=%s)", info.id, assisted)
        return info.id

    def save_step(self, record_id: str, step: str, parts: Mapping[str, bytes], *,
                  resume_check: bytes | None = None) -> None:
        blob = self.sealer.seal_step(record_id, step, parts)
        self.journal.save_step(record_id, step, blob, resume_check=resume_check)
        log.debug("record %s step %s journaled (%d bytes sealed)", record_id, step, len(blob))

    def seal(self, record_id: str) -> None:
        """Sign the manifest and mark the record sealed: one write transaction, which reads
        the record and its step digests and stores the manifest (durable on return)."""
        steps = 0

        def manifest(info: RecordInfo, digests: dict[str, tuple[int, str]]) -> bytes:
            nonlocal steps
            steps = len(digests)
            meta = RecordMeta(
                record_id=info.id,
                kiosk_id=self.kiosk_id,
                seq=info.seq,
                boot_id=info.boot_id,
                clock_trusted=info.clock_trusted,
                created_at=info.created_at,
                sealed_at=datetime.now(UTC).isoformat(timespec="seconds"),
                assisted=info.assisted,
            )
            return self.sealer.seal_record(meta, digests)

        self.journal.seal(record_id, manifest)
        log.info("record %s sealed (%d steps)", record_id, steps)

    def mark_assisted(self, record_id: str, staff_id: str, *,
                      resume_check: bytes | None = None) -> None:
        """An officer (``staff_id``) took over the begun record; durable and audited."""
        self.journal.mark_assisted(record_id, staff_id, resume_check=resume_check)

    def resume_check(self, record_id: str) -> bytes | None:
        """The check of the numbers the unfinished record was begun with (or None)."""
        return self.journal.resume_check(record_id)

    def discard(self, record_id: str, reason: str) -> None:
        self.journal.delete_record(record_id, reason)
        log.info("record %s discarded: %s", record_id, reason)
