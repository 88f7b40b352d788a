"""Purge: an acknowledged record's payload is deleted once the retention period has passed.

Without it the sealed portraits and fingerprints of every citizen ever enrolled would stay
on the SD card: the card fills, the disk reserve is reached and the kiosk stops taking
enrollments, months after everything reached the intake. After the intake's receipt is
older than ``[upload] retention_days`` the record moves to ``purged``: its step blobs are
deleted (the journal zeroes freed pages, ``secure_delete``), the row, the signed manifest
and the receipt stay, so the kiosk can still prove what it sent and when it was received.

Age is measured from the receipt's ``received_at`` (the intake's clock, signed), against
this kiosk's clock, and only while that clock is trusted (synchronised): a Pi without an RTC
that booted in 1970 or in 2038 purges nothing until it knows the date. A clock that later
turns out wrong can make a purge early or late; an early one loses nothing the intake does
not already hold, and the intake's receipt is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from kiosk.errors import IllegalStateChange, SealingError
from kiosk.journal import Journal
from kiosk.receipts import receipt_fields

log = logging.getLogger(__name__)

DAY_S = 86400.0


def _received_at(receipt: bytes) -> datetime:
    text = receipt_fields(receipt)["received_at"]
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def purge_expired(journal: Journal, retention_days: float, *,
                  clock_trusted: Callable[[], bool],
                  now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> list[str]:
    """Move acknowledged records whose receipt is older than ``retention_days`` to
    ``purged``; return their ids. Nothing is purged while the clock is untrusted."""
    if not clock_trusted():
        return []
    limit = now().timestamp() - retention_days * DAY_S
    purged: list[str] = []
    for info in journal.records("acknowledged"):
        receipt = journal.receipt(info.id)
        if receipt is None:  # cannot happen (acknowledge() stores it); keep the payload
            continue
        try:
            received = _received_at(receipt).timestamp()
        except (SealingError, ValueError) as exc:
            log.warning("record %s: receipt date unreadable (%s); payload kept", info.id, exc)
            continue
        if received > limit:
            continue
        try:
            journal.set_state(info.id, "purged")
        except IllegalStateChange as exc:  # moved on meanwhile
            log.warning("record %s: not purged: %s", info.id, exc)
            continue
        purged.append(info.id)
    if purged:
        # Push the zeroed pages through the WAL now, so no old frame keeps a payload.
        journal.checkpoint()
        log.info("purged the payload of %d record(s) acknowledged more than %g days ago",
                 len(purged), retention_days)
    return purged
