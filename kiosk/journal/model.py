"""What the journal holds, as the rest of the kiosk sees it: record and audit-event rows
and the names of the steps (:mod:`kiosk.core.vocabulary`'s); package-internal helpers for
turning rows into them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiosk.core.vocabulary import STEPS
from kiosk.journal import database

__all__ = ["STEPS", "AuditEvent", "RecordInfo", "as_blob", "record_from_row"]


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


RECORD_COLUMNS = ("id, seq, state, assisted, boot_id, clock_trusted, created_at, updated_at,"
                  " attempts, last_error, manifest, upload_url, receipt IS NOT NULL")


def record_from_row(row: tuple[Any, ...]) -> RecordInfo:
    """A :class:`RecordInfo` from a row of :data:`RECORD_COLUMNS`."""
    (rid, seq, state, assisted, boot_id, trusted, created, updated, attempts, error,
     manifest, upload_url, has_receipt) = row
    return RecordInfo(
        id=rid, seq=seq, state=state, assisted=bool(assisted), boot_id=boot_id,
        clock_trusted=bool(trusted), created_at=created, updated_at=updated,
        attempts=attempts, last_error=error,
        manifest=None if manifest is None else bytes(manifest), upload_url=upload_url,
        has_receipt=bool(has_receipt))


def as_blob(blob: object) -> bytes:
    """``blob`` as bytes; a TypeError for anything else (a str is not a sealed blob)."""
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise TypeError("a step blob must be bytes")
    return bytes(blob)
