"""What to do, at start, with sessions a power cut or a crash left unfinished.

A record still ``in_progress`` when the kiosk starts belongs to a session that never
reached its seal. Its steps are encrypted on disk, so nothing leaks, but a self-service
citizen has walked away long ago: the record is deleted (its freed pages zeroed) and an
audit event says so. A staff-assisted record is kept for the officer to resume at its last
completed step when ``kiosk.resume_assisted`` is true (the default): field staff may be
hours into a village queue when the battery runs out. :func:`resumable_sessions` lists them
with their journaled step names, which is all
:meth:`kiosk.enrollment.session.EnrollmentSession.resume` needs (the kiosk cannot read the
encrypted steps back; the session checks the NIK and No. KK typed again against the
record's salted check, :mod:`kiosk.enrollment.resume_check`).
An assisted record without its consent step cannot be resumed and is discarded like a
self-service one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kiosk.enrollment.steps import Step
from kiosk.errors import UnknownRecord
from kiosk.journal import Journal

log = logging.getLogger(__name__)

DISCARD_REASON = "unfinished at start (power cut or crash)"
NO_CONSENT_REASON = "unfinished at start without a consent step (cannot be resumed)"


@dataclass
class Recovery:
    """What start-up recovery did."""

    discarded: list[str] = field(default_factory=list)
    resumable: list[str] = field(default_factory=list)


def recover_unfinished(journal: Journal, *, resume_assisted: bool) -> Recovery:
    """Delete unfinished self-service records; keep (or delete) assisted ones.

    With ``resume_assisted`` an assisted record is kept when it has its consent step (every
    record is created with it) and deleted otherwise, since it could never be resumed.
    """
    result = Recovery()
    for record in journal.records("in_progress"):
        reason = DISCARD_REASON
        if record.assisted and resume_assisted:
            if Step.CONSENT.value in journal.step_digests(record.id):
                result.resumable.append(record.id)
                continue
            reason = NO_CONSENT_REASON
        journal.delete_record(record.id, reason)
        result.discarded.append(record.id)
    if result.discarded:
        # Push the deletions through the WAL into the zeroed database pages now, so no
        # stale frame of a discarded record waits in the WAL file.
        journal.checkpoint()
        log.info("discarded %d unfinished session(s) at start", len(result.discarded))
    if result.resumable:
        journal.audit("sessions_resumable", count=len(result.resumable))
        log.info("%d unfinished assisted session(s) kept for resuming", len(result.resumable))
    return result


@dataclass(frozen=True)
class Resumable:
    """An unfinished assisted record an officer may continue (or discard): its id, when
    it was begun (the journal's UTC time, and whether the clock was trusted then) and the
    names of its journaled steps. Nothing a citizen gave: the steps are encrypted."""

    record_id: str
    created_at: str
    clock_trusted: bool
    steps: frozenset[str]


def list_resumable(journal: Journal) -> list[Resumable]:
    """:func:`resumable_sessions` with when each was begun, oldest first.

    A record deleted between the two reads (the officer's delete on another worker) is
    left out, not an error: the others are still listed."""
    out: list[Resumable] = []
    for record in journal.records("in_progress"):
        if not record.assisted:
            continue
        try:
            steps = frozenset(journal.step_digests(record.id).keys())
        except UnknownRecord:
            log.debug("record %s went while the unfinished ones were listed", record.id)
            continue
        if Step.CONSENT.value in steps:
            out.append(Resumable(record.id, record.created_at, record.clock_trusted, steps))
    return out


def resumable_sessions(journal: Journal) -> list[tuple[str, set[str]]]:
    """Unfinished assisted records that can be resumed, with their journaled step names.

    Run after :func:`recover_unfinished` (with ``resume_assisted=True``); the list is in
    sequence order. Self-service records and records without a consent step are never
    listed. Pass each entry to ``EnrollmentSession.resume(store, record_id, steps, ...)``.
    """
    return [(r.record_id, set(r.steps)) for r in list_resumable(journal)]
