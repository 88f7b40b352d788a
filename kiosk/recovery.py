"""What to do, at start, with sessions a power cut or a crash left unfinished.

A record still ``in_progress`` when the kiosk starts belongs to a session that never
reached its seal. Its steps are encrypted on disk, so nothing leaks, but a self-service
citizen has walked away long ago: the record is deleted (its freed pages zeroed) and an
audit event says so. A staff-assisted record is kept for the officer to resume at its last
completed step when ``kiosk.resume_assisted`` is true (the default): field staff may be
hours into a village queue when the battery runs out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kiosk.journal import Journal

log = logging.getLogger(__name__)

DISCARD_REASON = "unfinished at start (power cut or crash)"


@dataclass
class Recovery:
    """What start-up recovery did."""

    discarded: list[str] = field(default_factory=list)
    resumable: list[str] = field(default_factory=list)


def recover_unfinished(journal: Journal, *, resume_assisted: bool) -> Recovery:
    """Delete unfinished self-service records; keep (or delete) assisted ones."""
    result = Recovery()
    for record in journal.records("in_progress"):
        if record.assisted and resume_assisted:
            result.resumable.append(record.id)
            continue
        journal.delete_record(record.id, DISCARD_REASON)
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
