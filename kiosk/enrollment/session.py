"""One person's enrollment: an explicit state machine the screens and the demo drive.

The session holds the person's data in memory, runs captures through the drivers, checks
quality, and hands each completed step to a :class:`RecordStore` *before* moving on; if the
store fails, the step stays where it was and the caller may retry. It does no I/O of its own
and never logs personal data (only step names and the record id).

Steps, each reached only from the one before it (or ``ABORTED`` from any unfinished step)::

    LANGUAGE -> CONSENT -> IDENTITY -> DEMOGRAPHICS -> PORTRAIT -> FINGERPRINTS
             -> SIGNATURE -> REVIEW -> SEALED

The session expires after ``timeout_s`` without a call (checked at the start of every
method, and by :meth:`EnrollmentSession.check_timeout` for the UI's timer). Expiry and
:meth:`~EnrollmentSession.abort` wipe the in-memory data and discard the begun record.

After a power cut, :meth:`EnrollmentSession.resume` continues an unfinished staff-assisted
record (kept by :func:`kiosk.recovery.recover_unfinished`). The kiosk cannot read the
journaled steps back (they are encrypted to the central office), so the resumed session knows
only *which* steps exist: staff re-enter the NIK and No. KK (IDENTITY, journaled again,
replacing the old blob), then the session skips, one logged transition at a time, over every
later step already journaled and continues at the first missing one. The skipped steps' data
stays only on disk; :meth:`~EnrollmentSession.review` names them in ``kept_from_before``.

>>> session = EnrollmentSession(store, fingerprint=scanner, camera=camera)  # doctest: +SKIP
>>> session.choose_language("id"); session.give_consent(True)               # doctest: +SKIP
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from enum import Enum

from kiosk.core.canonical import compact_json
from kiosk.core.vocabulary import FINGERS, LANGUAGES, MISSING_FINGER_REASONS, STEPS
from kiosk.enrollment.fingerprint_quality import FingerprintThresholds, assess_fingerprint
from kiosk.enrollment.nik import FamilyCardNumber, Nik, parse_kk, parse_nik
from kiosk.enrollment.ports import (
    Camera,
    FingerprintImageLike,
    FingerprintScanner,
    PhotoLike,
    RecordStore,
    ReviewSummary,
)
from kiosk.enrollment.quality import (
    QualityReport,
    prepare_portrait,
    signature_quality,
)
from kiosk.enrollment.record import Demographics, validate_demographics
from kiosk.errors import (
    CaptureRejected,
    DeviceBusy,
    DeviceNotFound,
    IllegalTransition,
    InvalidInput,
    SessionExpired,
)
from kiosk.i18n import N_, bilingual

__all__ = [
    "EDITABLE",
    "FINGERS",
    "MISSING_FINGER_REASONS",
    "AssistanceRequired",
    "Camera",
    "DuplicateFinger",
    "EnrollmentSession",
    "FingerprintImageLike",
    "FingerprintScanner",
    "LowQuality",
    "PhotoLike",
    "RecordStore",
    "ReviewSummary",
    "Step",
]

log = logging.getLogger(__name__)

CONSENT_VERSION = "1"


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


# -- state machine -------------------------------------------------------------------------
class Step(Enum):
    """Where the session is: the step whose input it waits for."""

    LANGUAGE = "language"
    CONSENT = "consent"
    IDENTITY = "identity"
    DEMOGRAPHICS = "demographics"
    PORTRAIT = "portrait"
    FINGERPRINTS = "fingerprints"
    SIGNATURE = "signature"
    REVIEW = "review"
    SEALED = "sealed"
    ABORTED = "aborted"


_FORWARD = {
    Step.LANGUAGE: Step.CONSENT,
    Step.CONSENT: Step.IDENTITY,
    Step.IDENTITY: Step.DEMOGRAPHICS,
    Step.DEMOGRAPHICS: Step.PORTRAIT,
    Step.PORTRAIT: Step.FINGERPRINTS,
    Step.FINGERPRINTS: Step.SIGNATURE,
    Step.SIGNATURE: Step.REVIEW,
    Step.REVIEW: Step.SEALED,
}
#: Steps the person may go back to from REVIEW to change (MOSIP's "preview with edit").
EDITABLE = (Step.IDENTITY, Step.DEMOGRAPHICS, Step.PORTRAIT, Step.FINGERPRINTS,
            Step.SIGNATURE)
#: The only moves there are: one step forward, or abort from any unfinished step; from
#: REVIEW back to an editable step, and from an edited step straight back to REVIEW (an
#: edited IDENTITY goes through DEMOGRAPHICS, which must agree with the new NIK).
ALLOWED_TRANSITIONS: dict[Step, frozenset[Step]] = {
    step: frozenset({nxt, Step.ABORTED} | ({Step.REVIEW} if step in EDITABLE[1:] else set())
                    | (set(EDITABLE) if step is Step.REVIEW else set()))
    for step, nxt in _FORWARD.items()
} | {Step.SEALED: frozenset(), Step.ABORTED: frozenset()}
TERMINAL = frozenset({Step.SEALED, Step.ABORTED})
#: Steps a resumed session keeps from before the cut (skips) when they were journaled.
#: Consent is never re-asked (the record is created with it); identity is always re-entered,
#: because the later steps validate against the NIK, which only the memory held.
KEEPABLE = (Step.DEMOGRAPHICS, Step.PORTRAIT, Step.FINGERPRINTS, Step.SIGNATURE)
# How a record may keep the fingerprints (config [fingerprints] storage): the part names
# are R1.png ... or R1.webp ...; both lossless, both read by FingerprintImage.decode.
FINGERPRINT_STORAGE = ("png", "webp")
#: The steps a record may have journaled (:data:`kiosk.core.vocabulary.STEPS`).
JOURNAL_STEPS = STEPS


def _wipe(buffers: Iterator[bytearray]) -> None:
    for buf in buffers:
        buf[:] = bytes(len(buf))


class EnrollmentSession:
    """One person's enrollment, step by step; see the module docstring for the flow.

    Thread-safe: a UI thread may call :meth:`abort` or :meth:`check_timeout` while a worker
    runs a capture. A second capture while one runs raises :class:`DeviceBusy`.
    """

    def __init__(self, store: RecordStore, *, fingerprint: FingerprintScanner | None,
                 camera: Camera | None, assisted: bool = False, timeout_s: float = 300,
                 clock: Callable[[], float] = time.monotonic,
                 today: Callable[[], date] = date.today,
                 capture_timeout_s: float = 10.0,
                 fingerprint_limits: FingerprintThresholds | None = None,
                 fingerprint_storage: str = "png") -> None:
        if fingerprint_storage not in FINGERPRINT_STORAGE:
            raise ValueError(f"fingerprint_storage must be one of {FINGERPRINT_STORAGE}")
        self._store = store
        self._fingerprint_limits = fingerprint_limits or FingerprintThresholds()
        self._fingerprint_storage = fingerprint_storage
        self._fingerprint = fingerprint
        self._camera = camera
        self.assisted = assisted
        self.timeout_s = float(timeout_s)
        self._clock = clock
        self._today = today
        self._capture_timeout_s = capture_timeout_s
        self._lock = threading.RLock()
        self._capture_lock = threading.Lock()
        self._tag = secrets.token_hex(3)  # names this session in logs; not personal
        self._step = Step.LANGUAGE
        self._expired = False
        self._deadline = clock() + self.timeout_s
        self.language = "id"
        self.record_id: str | None = None
        self._kept: frozenset[Step] = frozenset()  # steps a resumed session skips
        self._editing = False  # True between edit() from REVIEW and the return to it
        self._reset_data()

    @classmethod
    def resume(cls, store: RecordStore, record_id: str, journaled: Collection[str], *,
               fingerprint: FingerprintScanner | None, camera: Camera | None,
               timeout_s: float = 300, clock: Callable[[], float] = time.monotonic,
               today: Callable[[], date] = date.today, capture_timeout_s: float = 10.0,
               language: str = "id") -> EnrollmentSession:
        """Continue the unfinished assisted record ``record_id`` after a power cut.

        ``journaled`` names the steps the journal holds for it (e.g.
        ``journal.step_digests(record_id).keys()``; see
        :func:`kiosk.recovery.resumable_sessions`). The session is always assisted and
        starts at IDENTITY: staff re-enter the NIK and No. KK (journaled again, replacing
        the old identity step); it then skips over the later steps already journaled and
        waits at the first missing one. No new record is begun.

        Raises :class:`IllegalTransition` when ``consent`` is not among ``journaled`` (such
        a record cannot be resumed and should be discarded) or a step name is unknown.

        >>> s = EnrollmentSession.resume(store, rid, {"consent", "identity", "portrait"},
        ...                              fingerprint=scanner, camera=camera)  # doctest: +SKIP
        >>> s.step                                                         # doctest: +SKIP
        <Step.IDENTITY: 'identity'>
        """
        names = set(journaled)
        unknown = sorted(names - set(JOURNAL_STEPS))
        if unknown:
            raise IllegalTransition(f"record {record_id} cannot be resumed: unknown step(s) "
                                    f"{', '.join(unknown)}")
        if "consent" not in names:
            raise IllegalTransition(f"record {record_id} cannot be resumed: it has no consent "
                                    "step; discard it and start a new session")
        if language not in LANGUAGES:
            raise InvalidInput("language", *bilingual('Unknown language.'))
        session = cls(store, fingerprint=fingerprint, camera=camera, assisted=True,
                      timeout_s=timeout_s, clock=clock, today=today,
                      capture_timeout_s=capture_timeout_s)
        with session._lock:
            session.language = language
            session.record_id = record_id
            session._kept = frozenset(step for step in KEEPABLE if step.value in names)
            log.info("session %s: resuming record %s (journaled before the cut: %s)",
                     session._tag, record_id,
                     ", ".join(n for n in JOURNAL_STEPS if n in names))
            # Through the one transition method, step by step: language and consent were
            # done before the cut; identity is always entered again.
            session._transition(Step.CONSENT, note="resumed")
            session._transition(Step.IDENTITY, note="resumed")
        return session

    def _reset_data(self) -> None:
        self._nik: Nik | None = None
        self._kk: FamilyCardNumber | None = None
        self._demographics: Demographics | None = None
        self._portrait_pending: bytearray | None = None
        self._portrait: bytearray | None = None
        self._fingers: dict[str, bytearray] = {}  # PNG, shown on the screen
        self._finger_files: dict[str, bytearray] = {}  # lossless WebP, journaled
        self._templates: dict[str, bytearray] = {}  # the sensor's, to refuse a repeated finger
        self._missing: dict[str, str] = {}
        self._signature: bytearray | None = None

    # -- state -----------------------------------------------------------------------------
    @property
    def step(self) -> Step:
        """The current step."""
        return self._step

    @property
    def is_finished(self) -> bool:
        """True once sealed or aborted."""
        return self._step in TERMINAL

    def remaining_s(self) -> float:
        """Seconds left before the session expires (0 when finished or expired)."""
        if self._step in TERMINAL:
            return 0.0
        return max(0.0, self._deadline - self._clock())

    @property
    def kept_from_before(self) -> tuple[str, ...]:
        """Steps a resumed session keeps from before the cut (their data is only on disk)."""
        return tuple(step.value for step in KEEPABLE if step in self._kept)

    def _transition(self, new: Step, *, note: str = "") -> None:
        """The one place the step changes: checks the table, logs ``old -> new``."""
        old = self._step
        if new not in ALLOWED_TRANSITIONS[old]:
            raise IllegalTransition(f"cannot go from {old.value} to {new.value}")
        self._step = new
        log.info("session %s: %s -> %s%s", self._tag, old.value, new.value,
                 f" ({note})" if note else "")

    @contextmanager
    def _at(self, *steps: Step) -> Iterator[None]:
        """Hold the lock, enforce the timeout and that the session is at one of ``steps``."""
        with self._lock:
            self._check_live()
            if self._step not in steps:
                raise IllegalTransition(f"not allowed at step {self._step.value}")
            yield
            self._deadline = self._clock() + self.timeout_s

    def _check_live(self) -> None:
        if self._expired:
            raise SessionExpired("the session timed out; its data has been wiped")
        if self._step not in TERMINAL and self._clock() >= self._deadline:
            self._finish_aborted("timeout")
            self._expired = True
            raise SessionExpired("the session timed out; its data has been wiped")

    def _complete(self, step_name: str, parts: Mapping[str, bytes], new: Step) -> None:
        """Journal a finished step, then move on; a failing store leaves the step as is.

        While editing from REVIEW, the step journaled again replaces the old one and the
        session goes back to REVIEW (an edited identity first through DEMOGRAPHICS).
        """
        done = self._step
        if self._editing and done is not Step.IDENTITY:
            new = Step.REVIEW
        if new not in ALLOWED_TRANSITIONS[self._step]:
            raise IllegalTransition(f"cannot go from {self._step.value} to {new.value}")
        assert self.record_id is not None  # noqa: S101 - begun at consent, before any step
        self._store.save_step(self.record_id, step_name, parts)
        self._kept = self._kept - {done}
        self._transition(new, note="edited" if self._editing else "")
        if new is Step.REVIEW:
            self._editing = False
        while self._step in self._kept and not self._editing:  # resumed: journaled before
            self._transition(_FORWARD[self._step], note="kept from before the cut")

    # -- steps -----------------------------------------------------------------------------
    def choose_language(self, language: str) -> None:
        """Pick the language of the screens and messages: "id" or "en"."""
        with self._at(Step.LANGUAGE):
            if language not in LANGUAGES:
                raise InvalidInput("language", *bilingual('Unknown language.'))
            self.language = language
            self._transition(Step.CONSENT)

    def give_consent(self, accepted: bool) -> None:
        """Consent to recording; refusal aborts, acceptance begins the record."""
        with self._at(Step.CONSENT):
            if not accepted:
                self._finish_aborted("consent refused")
                return
            consent = {"accepted": True, "language": self.language,
                       "assisted": self.assisted, "version": CONSENT_VERSION}
            parts = {"consent.json": compact_json(consent)}
            # The record and its consent step are created in one durable commit; if that
            # fails nothing exists and the person can simply tap again.
            self.record_id = self._store.begin(assisted=self.assisted, step="consent",
                                               parts=parts)
            self._transition(Step.IDENTITY)

    def enter_identity(self, nik_text: str, kk_text: str) -> Nik:
        """Parse the NIK and No. KK (raises ``InvalidNik``/``InvalidFamilyCardNumber``)."""
        with self._at(Step.IDENTITY):
            today = self._today()
            nik = parse_nik(nik_text, today=today)
            kk = parse_kk(kk_text, today=today)
            identity = {"nik": nik.digits, "kk": kk.digits}
            self._complete("identity", {"identity.json": compact_json(identity)}, Step.DEMOGRAPHICS)
            self._nik, self._kk = nik, kk
            return nik

    def confirm_demographics(self, demographics: Demographics) -> Demographics:
        """Validate against the NIK (raises ``InvalidDemographics``/``NotEligible``)."""
        with self._at(Step.DEMOGRAPHICS):
            assert self._nik is not None  # noqa: S101 - set at IDENTITY
            checked = validate_demographics(demographics, self._nik, self._today())
            self._complete("demographics", {"demographics.json": checked.to_json()},
                           Step.PORTRAIT)
            self._demographics = checked
            return checked

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
                _wipe(iter([self._portrait_pending]))
            self._portrait_pending = bytearray(jpeg)
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
            if matched is not None:
                repeated = others[matched][0]
                log.info("session %s: finger %s refused, the same as %s", self._tag, code,
                         repeated)
                raise DuplicateFinger(repeated)
            for held in (self._fingers, self._finger_files, self._templates):
                if code in held:
                    _wipe(iter([held[code]]))
            self._fingers[code] = bytearray(png)
            self._finger_files[code] = bytearray(kept)
            self._templates[code] = bytearray(template)
            self._missing.pop(code, None)
        return report

    def record_missing_finger(self, code: str, reason: str) -> None:
        """Record that finger ``code`` cannot be captured (assisted sessions only)."""
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
                    _wipe(iter([held.pop(code)]))
            self._missing[code] = reason

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
        parts["exceptions.json"] = compact_json({"missing": missing})
        self._complete("fingerprints", parts, Step.SIGNATURE)

    def submit_signature(self, png: bytes) -> None:
        """Check (a PNG, not blank) and journal the signature."""
        with self._at(Step.SIGNATURE):
            report = signature_quality(png)
            if not report.ok:
                raise InvalidInput("signature", report.reason_id, report.reason_en)
            self._complete("signature", {"signature.png": bytes(png)}, Step.REVIEW)
            self._signature = bytearray(png)

    def review(self) -> ReviewSummary:
        """Everything the review screen shows.

        For a resumed session the steps kept from before the cut are listed in
        ``kept_from_before`` and their fields are ``None`` (the kiosk cannot read them back).
        """
        with self._at(Step.REVIEW):
            assert self.record_id and self._nik and self._kk  # noqa: S101
            kept = self._kept
            return ReviewSummary(
                record_id=self.record_id, language=self.language, assisted=self.assisted,
                nik=self._nik, kk=self._kk,
                demographics=None if Step.DEMOGRAPHICS in kept else self._demographics,
                portrait_jpeg=None if Step.PORTRAIT in kept else bytes(self._portrait or b""),
                fingers_captured=None if Step.FINGERPRINTS in kept else tuple(
                    c for c in FINGERS if c in self._fingers),
                fingers_missing=None if Step.FINGERPRINTS in kept else dict(self._missing),
                signature_png=None if Step.SIGNATURE in kept else bytes(
                    self._signature or b""),
                kept_from_before=self.kept_from_before)

    def edit(self, step: Step) -> None:
        """From REVIEW, go back to ``step`` to change it; completing it returns to REVIEW.

        The step's new data replaces the journaled one. Changing the identity also asks for
        the demographics again (they must agree with the new NIK). :meth:`cancel_edit`
        returns without a change.
        """
        with self._at(Step.REVIEW):
            if step not in EDITABLE:
                raise IllegalTransition(f"step {step.value} cannot be changed from review")
            self._editing = True
            self._transition(step, note="edit")

    @property
    def is_editing(self) -> bool:
        """True while a step is being changed from REVIEW."""
        return self._editing

    def cancel_edit(self) -> None:
        """Back to REVIEW without changing the step being edited.

        Fingers retaken during the edit are journaled (the journal and the review must show
        the same fingers); a portrait taken but not accepted is dropped. After a changed
        identity the demographics kept must agree with the new NIK, or this raises
        ``InvalidDemographics`` and the person corrects them.
        """
        with self._at(*EDITABLE):
            if not self._editing:
                raise IllegalTransition("not editing a step")
            if self._step is Step.IDENTITY:
                self._transition(Step.DEMOGRAPHICS, note="edit cancelled")
            if self._step is Step.DEMOGRAPHICS:
                if self._demographics is None or self._nik is None:
                    raise IllegalTransition("the demographics must be entered")
                checked = validate_demographics(self._demographics, self._nik, self._today())
                self._complete("demographics", {"demographics.json": checked.to_json()},
                               Step.REVIEW)
                self._demographics = checked
                return
            if self._step is Step.FINGERPRINTS:
                self._finish_fingerprints()
                return
            if self._step is Step.PORTRAIT and self._portrait_pending is not None:
                _wipe(iter([self._portrait_pending]))
                self._portrait_pending = None
            self._editing = False
            self._transition(Step.REVIEW, note="edit cancelled")

    def keep_alive(self) -> None:
        """The person is still here (touching the screen): push the expiry back."""
        with self._lock:
            self._check_live()
            if self._step not in TERMINAL:
                self._deadline = self._clock() + self.timeout_s

    def finger_png(self, code: str) -> bytes:
        """The captured image of finger ``code`` (PNG), for the person to see; b"" if none."""
        with self._lock:
            return bytes(self._fingers.get(code, b""))

    @property
    def fingers_captured(self) -> tuple[str, ...]:
        """Codes of the fingers captured so far in this session (not personal)."""
        return tuple(c for c in FINGERS if c in self._fingers)

    def confirm(self) -> str:
        """Seal the record (durable on return) and return its id; the data is wiped."""
        with self._at(Step.REVIEW):
            assert self.record_id is not None  # noqa: S101
            self._store.seal(self.record_id)
            self._transition(Step.SEALED)
            self._wipe_data()
            return self.record_id

    # -- ending early ----------------------------------------------------------------------
    def abort(self, reason: str) -> None:
        """Stop here: wipe the data, discard the record. Safe to call again once aborted."""
        with self._lock:
            if self._step is Step.ABORTED:
                return
            if self._step is Step.SEALED:
                raise IllegalTransition("the record is sealed; it cannot be aborted")
            self._finish_aborted(reason)

    def check_timeout(self) -> bool:
        """For the UI's timer: True when the session has expired (it is then wiped)."""
        with self._lock:
            try:
                self._check_live()
            except SessionExpired:
                return True
            return False

    def _finish_aborted(self, reason: str) -> None:
        self._transition(Step.ABORTED)
        self._wipe_data()
        record_id = self.record_id
        if record_id is not None:
            try:
                self._store.discard(record_id, reason)
            except Exception as exc:  # the in-memory wipe stands; startup recovery cleans up
                log.error("session %s: discard of record %s failed: %s",
                          self._tag, record_id, type(exc).__name__)

    def _wipe_data(self) -> None:
        held = [self._portrait_pending, self._portrait, self._signature,
                *self._fingers.values(), *self._finger_files.values(),
                *self._templates.values()]
        _wipe(buf for buf in held if buf is not None)
        self._reset_data()

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
