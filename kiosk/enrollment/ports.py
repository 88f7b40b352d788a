"""What the enrollment session needs from other parts, as structural types.

The session depends on these protocols, not on ``kiosk.hardware`` or ``kiosk.record_store``, so
the domain package imports nothing with I/O. They are re-exported by
:mod:`kiosk.enrollment.session`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kiosk.enrollment.demographics import Demographics
from kiosk.enrollment.nik import FamilyCardNumber, Nik

__all__ = ["Camera", "FingerprintImageLike", "FingerprintScanner", "PhotoLike", "RecordStore",
           "ReviewSummary"]


class RecordStore(Protocol):
    """Durable storage of a record's steps (``kiosk.record_store.JournalRecordStore``)."""

    def begin(self, *, assisted: bool, step: str, parts: Mapping[str, bytes]) -> str:
        """Create a record with its first step, durably, in one go; return its id."""
        ...
    def save_step(self, record_id: str, step: str, parts: Mapping[str, bytes], *,
                  resume_check: bytes | None = None) -> None:
        """Journal a step durably; ``resume_check`` (an assisted record's identity step)
        replaces the record's check of its numbers in the same commit."""
        ...
    def seal(self, record_id: str) -> None: ...
    def discard(self, record_id: str, reason: str) -> None: ...
    def mark_assisted(self, record_id: str, staff_id: str, *,
                      resume_check: bytes | None = None) -> None:
        """An officer took over the begun record: keep it to resume after a cut (with the
        check of the numbers typed so far, if any)."""
        ...
    def resume_check(self, record_id: str) -> bytes | None:
        """The check of the NIK and No. KK an unfinished assisted record was begun with."""
        ...


class FingerprintImageLike(Protocol):
    """What a fingerprint capture returns (``kiosk.hardware`` ``FingerprintImage``)."""

    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def ppi(self) -> int: ...
    @property
    def pixels(self) -> bytes: ...
    def to_png(self) -> bytes: ...
    def to_webp(self) -> bytes: ...


class PhotoLike(Protocol):
    """What a still capture returns (``kiosk.hardware`` ``Photo``)."""

    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def jpeg(self) -> bytes: ...


class FingerprintScanner(Protocol):
    """The part of a fingerprint scanner the session uses: capture, and the sensor's own
    templates to tell one finger from another (``kiosk.hardware`` ``FingerprintScanner``)."""

    def capture(self, *, timeout: float = ...) -> FingerprintImageLike: ...
    def extract_template(self) -> bytes: ...
    def find_match(self, probe: bytes, enrolled: Sequence[bytes]) -> int | None: ...


class Camera(Protocol):
    """The part of a camera the session uses."""

    def capture_still(self) -> PhotoLike: ...


@dataclass(frozen=True, repr=False)
class ReviewSummary:
    """What the review screen shows before the person confirms. ``repr`` is masked.

    A session resumed after a power cut names in ``kept_from_before`` the steps journaled
    before the cut (of "demographics", "portrait", "fingerprints", "signature"); the kiosk
    cannot read those back, so their fields here are ``None`` (the screen shows "kept from
    before"). In every other session they are all filled and ``kept_from_before`` is empty.
    """

    record_id: str
    language: str
    assisted: bool
    nik: Nik
    kk: FamilyCardNumber
    demographics: Demographics | None
    portrait_jpeg: bytes | None
    fingers_captured: tuple[str, ...] | None
    fingers_missing: Mapping[str, str] | None
    signature_png: bytes | None = field(default=b"")
    kept_from_before: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"ReviewSummary({self.record_id})"
