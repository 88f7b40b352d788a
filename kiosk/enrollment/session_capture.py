"""The enrollment session's capture steps: portrait, fingerprints, signature.

This module owns how each capture is taken and checked, what of it the session keeps in
memory (the photo to accept or retake, each finger as PNG for the screen and as the
record's encoding, the sensor's template to refuse a repeated finger) and the parts it
journals (``portrait.jpg``; ``R1.png`` ... or ``R1.webp`` ... with ``exceptions.json``;
``signature.png``), with the errors a person can act on (:class:`LowQuality`,
:class:`DuplicateFinger`, :class:`AssistanceRequired`). It is a mixin of
:class:`~kiosk.enrollment.session.EnrollmentSession` and uses the session's locks, devices,
data and :meth:`_complete`. A capture runs outside the session's lock, so a UI thread may
abort meanwhile; a second capture while one runs raises :class:`~kiosk.errors.DeviceBusy`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from kiosk.core.canonical import compact_json
from kiosk.core.vocabulary import FINGERS, MISSING_FINGER_REASONS
from kiosk.enrollment.fingerprint_quality import assess_fingerprint
from kiosk.enrollment.portrait import background_for_year
from kiosk.enrollment.quality import QualityReport, prepare_portrait, signature_quality
from kiosk.enrollment.session_lifecycle import wipe_buffers
from kiosk.enrollment.steps import Step
from kiosk.errors import (
    CaptureRejected,
    DeviceBusy,
    DeviceNotFound,
    IllegalTransition,
    InvalidInput,
)
from kiosk.i18n import N_, bilingual

__all__ = [
    "FINGERPRINT_STORAGE",
    "AssistanceRequired",
    "DuplicateFinger",
    "LowQuality",
    "SessionCaptures",
]

# The session's one logger: its lines keep one name, whichever of its modules writes them.
log = logging.getLogger("kiosk.enrollment.session")

# How a record may keep the fingerprints (config [fingerprints] storage): the part names
# are R1.png ... or R1.webp ...; both lossless, both read by FingerprintImage.decode.
FINGERPRINT_STORAGE = ("png", "webp")


# -- errors a person can act on -------------------------------------------------------------
class LowQuality(CaptureRejected):
    """A capture was refused for its quality; ``report`` says why in both languages."""

    def __init__(self, report: QualityReport) -> None:
        self.report = report
        self.message_id = report.reason_id
        self.message_en = report.reason_en
        super().__init__(f"{report.reason_id} / {report.reason_en}")

    def message(self, language: str) -> str:
        """The reason in ``language`` ("id" or "en")."""
        return self.report.reason(language)


class DuplicateFinger(LowQuality):
    """The finger presented matches one already taken in this session (``matched``)."""

    def __init__(self, matched: str) -> None:
        self.matched = matched
        super().__init__(QualityReport(False, 0.0, *bilingual(
            'This finger was already scanned. Please place the finger shown.')))


class AssistanceRequired(InvalidInput):
    """Self-service cannot do this (e.g. record a missing finger); staff must help."""


class SessionCaptures:
    """The portrait, fingerprint and signature steps of the session."""

    # -- portrait --------------------------------------------------------------------------
    def capture_portrait(self) -> QualityReport:
        """Take a photo and check it; raises :class:`LowQuality` so the person retries."""
        with self._at(Step.PORTRAIT):
            camera = self._camera
        if camera is None:
            raise DeviceNotFound("no camera configured")
        with self._capturing():
            photo = camera.capture_still()
        with self._lock:
            born = self._birth_year()
        # Checked, cut to the ICAO-style geometry and given the e-KTP background for the
        # birth year (kiosk.enrollment.portrait); the camera's own still is not kept.
        report, jpeg = prepare_portrait(photo.jpeg, born)
        with self._at(Step.PORTRAIT):
            if not report.ok:
                raise LowQuality(report)
            if self._portrait_pending is not None:
                wipe_buffers(iter([self._portrait_pending]))
            self._portrait_pending = bytearray(jpeg)
            self._pending_year = born
        return report

    def _birth_year(self) -> int:
        """The year of birth the background colour follows (demographics, else the NIK)."""
        if self._demographics is not None:
            return self._demographics.date_of_birth.year
        if self._nik is not None:
            return self._nik.birth_date.year
        raise IllegalTransition("the portrait needs the identity first")

    @property
    def pending_portrait(self) -> bytes:
        """The photo just taken (JPEG), for the person to see before accepting it."""
        with self._lock:
            return bytes(self._portrait_pending or b"")

    def accept_portrait(self) -> None:
        """Keep the last good photo: journals ``portrait``."""
        with self._at(Step.PORTRAIT):
            if self._portrait_pending is None:
                raise IllegalTransition("no portrait captured yet")
            self._complete("portrait", {"portrait.jpg": bytes(self._portrait_pending)},
                           Step.FINGERPRINTS)
            self._portrait, self._portrait_pending = self._portrait_pending, None
            self._portrait_year = self._pending_year

    @property
    def portrait_fits(self) -> bool:
        """False when the kept photo's background is not the colour of the year of birth
        (a NIK of another year's colour entered since): it must be taken again."""
        with self._lock:
            if self._portrait_year is None or self._nik is None:
                return True
            if self._portrait is None and Step.PORTRAIT not in self._kept:
                return True  # no photo (a resumed one saved before has its year: kept)
            return (background_for_year(self._portrait_year)
                    == background_for_year(self._nik.birth_date.year))

    def _check_portrait_fits(self) -> None:
        if not self.portrait_fits:
            raise InvalidInput("portrait", *bilingual(
                "The photo's background colour follows your year of birth. Please take a "
                "new photo."))

    # -- fingerprints ----------------------------------------------------------------------
    def capture_finger(self, code: str) -> QualityReport:
        """Scan finger ``code`` (R1..R5, L1..L5); raises :class:`LowQuality` to retry.

        The report's score is 0-100 (:mod:`~kiosk.enrollment.fingerprint_quality`). A good
        print is then compared, by the sensor's own template matcher, with every other
        finger taken in this session: a match raises :class:`DuplicateFinger` (one finger
        presented twice would pass ten times over otherwise).
        """
        with self._at(Step.FINGERPRINTS):
            _check_finger(code)
            scanner = self._fingerprint
            visit = self._visits
            others = [(c, bytes(t)) for c, t in self._templates.items() if c != code]
        if scanner is None:
            raise DeviceNotFound("no fingerprint scanner configured")
        with self._capturing():
            image = scanner.capture(timeout=self._capture_timeout_s)
            assessment = assess_fingerprint(image.pixels, image.width, image.height,
                                            self._fingerprint_limits)
            report = assessment.report
            if not report.ok:
                raise LowQuality(report)
            template = scanner.extract_template()
            matched = scanner.find_match(template, [t for _, t in others])
        png = image.to_png()  # for the person to see (any screen shows PNG)
        # What the record keeps ([fingerprints] storage): the same PNG, or a lossless WebP
        # about 11 % smaller that costs a Pi 4 about 0.35 s of CPU a finger.
        kept = png if self._fingerprint_storage == "png" else image.to_webp()
        with self._at(Step.FINGERPRINTS):
            if visit != self._visits:  # the person went back meanwhile: not this step's
                raise IllegalTransition("the finger step was left during the capture")
            if matched is not None:
                repeated = others[matched][0]
                log.info("session %s: finger %s refused, the same as %s", self._tag, code,
                         repeated)
                raise DuplicateFinger(repeated)
            for held in (self._fingers, self._finger_files, self._templates):
                if code in held:
                    wipe_buffers(iter([held[code]]))
            self._fingers[code] = bytearray(png)
            self._finger_files[code] = bytearray(kept)
            self._templates[code] = bytearray(template)
            self._missing.pop(code, None)
        return report

    def record_missing_finger(self, code: str, reason: str) -> None:
        """Record that finger ``code`` cannot be captured (assisted sessions only), by the
        officer logged in (``staff_id``, kept with the exception) if any."""
        with self._at(Step.FINGERPRINTS):
            _check_finger(code)
            if not self.assisted:
                raise AssistanceRequired(
                    "assistance",
                    *bilingual(
                        'A finger that cannot be scanned must be recorded by staff. Press the '
                        'help button to call a member of staff.'))
            if reason not in MISSING_FINGER_REASONS:
                allowed = ", ".join(MISSING_FINGER_REASONS)
                raise InvalidInput("reason", *bilingual(
                    N_("The reason must be one of: {allowed}."), allowed=allowed))
            for held in (self._fingers, self._finger_files, self._templates):
                if code in held:
                    wipe_buffers(iter([held.pop(code)]))
            self._missing[code] = reason
            if self.staff_id is not None:
                self._missing_by[code] = self.staff_id
            # A scan of this finger still waiting on the sensor keeps nothing when it ends
            # (capture_finger compares the visits).
            self._visits += 1

    def finish_fingerprints(self) -> None:
        """Journal ``fingerprints`` once every finger is captured or recorded missing."""
        with self._at(Step.FINGERPRINTS):
            self._finish_fingerprints()

    def _finish_fingerprints(self) -> None:
        left = [c for c in FINGERS if c not in self._fingers and c not in self._missing]
        if left:
            raise IllegalTransition(f"fingers not yet done: {', '.join(left)}")
        ext = self._fingerprint_storage
        parts = {f"{code}.{ext}": bytes(buf) for code, buf in self._finger_files.items()}
        missing = {code: self._missing[code] for code in FINGERS if code in self._missing}
        exceptions: dict[str, object] = {"missing": missing}
        recorded_by = {code: self._missing_by[code] for code in missing
                       if code in self._missing_by}
        if recorded_by:
            exceptions["recorded_by"] = recorded_by  # the officer's staff id, per finger
        parts["exceptions.json"] = compact_json(exceptions)
        self._complete("fingerprints", parts, Step.SIGNATURE)
        self._drop_kept_fingers()

    # -- changing the fingers from review --------------------------------------------------
    def _keep_fingers(self) -> None:
        """A copy of the fingers as they are, for Back (:meth:`_restore_fingers`)."""
        self._drop_kept_fingers()
        self._fingers_kept = (
            {c: bytearray(b) for c, b in self._fingers.items()},
            {c: bytearray(b) for c, b in self._finger_files.items()},
            {c: bytearray(b) for c, b in self._templates.items()},
            dict(self._missing))

    def _restore_fingers(self) -> None:
        """Back without changing the fingers: those taken meanwhile are wiped."""
        if self._fingers_kept is None:
            return
        wipe_buffers(iter([*self._fingers.values(), *self._finger_files.values(),
                           *self._templates.values()]))
        self._fingers, self._finger_files, self._templates, self._missing = (
            self._fingers_kept)
        self._fingers_kept = None

    def _drop_kept_fingers(self) -> None:
        kept, self._fingers_kept = self._fingers_kept, None
        if kept is not None:
            wipe_buffers(iter([b for held in kept[:3] for b in held.values()]))

    def finger_png(self, code: str) -> bytes:
        """The captured image of finger ``code`` (PNG), for the person to see; b"" if none."""
        with self._lock:
            return bytes(self._fingers.get(code, b""))

    @property
    def fingers_captured(self) -> tuple[str, ...]:
        """Codes of the fingers captured so far in this session (not personal)."""
        return tuple(c for c in FINGERS if c in self._fingers)

    # -- signature -------------------------------------------------------------------------
    def submit_signature(self, png: bytes) -> None:
        """Check (a PNG, not blank) and journal the signature."""
        with self._at(Step.SIGNATURE):
            report = signature_quality(png)
            if not report.ok:
                raise InvalidInput("signature", report.reason_id, report.reason_en)
            self._complete("signature", {"signature.png": bytes(png)}, Step.REVIEW)
            self._signature = bytearray(png)

    # -- one capture at a time -------------------------------------------------------------
    @contextmanager
    def _capturing(self) -> Iterator[None]:
        if not self._capture_lock.acquire(blocking=False):
            raise DeviceBusy("a capture is already running")
        try:
            yield
        finally:
            self._capture_lock.release()


def _check_finger(code: str) -> None:
    if code not in FINGERS:
        raise InvalidInput("finger", *bilingual('Unknown finger code.'))
