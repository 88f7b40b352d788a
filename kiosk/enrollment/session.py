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

This module owns the session itself: its state, the one transition method, the typed steps
(language, consent, identity, demographics), review, edit and confirm. Its other jobs live
beside it, and every name is importable from here:

* :mod:`kiosk.enrollment.steps`: :class:`Step` and the one transition table;
* :mod:`kiosk.enrollment.session_capture`: portrait, fingerprints and signature, their
  encodings, and the errors a person can act on (:class:`LowQuality`, ...);
* :mod:`kiosk.enrollment.session_lifecycle`: resume after a cut, expiry, abort and the wipe.

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
from dataclasses import replace
from datetime import date

from kiosk.core.canonical import compact_json
from kiosk.core.vocabulary import FINGERS, LANGUAGES, MISSING_FINGER_REASONS
from kiosk.enrollment.demographics import Demographics, validate_demographics
from kiosk.enrollment.fingerprint_quality import FingerprintThresholds
from kiosk.enrollment.nik import FamilyCardNumber, Nik, parse_kk, parse_nik
from kiosk.enrollment.ports import (
    Camera,
    FingerprintImageLike,
    FingerprintScanner,
    PhotoLike,
    RecordStore,
    ReviewSummary,
)
from kiosk.enrollment.resume_check import check_matches, make_check
from kiosk.enrollment.session_capture import (
    FINGERPRINT_STORAGE,
    AssistanceRequired,
    DuplicateFinger,
    LowQuality,
    SessionCaptures,
)
from kiosk.enrollment.session_lifecycle import (
    SessionLifecycle,
    check_resumable,
    wipe_buffers,
)
from kiosk.enrollment.session_options import CAPTURE_TIMEOUT_S, SESSION_TIMEOUT_S
from kiosk.enrollment.steps import (
    ALLOWED_TRANSITIONS,
    EDITABLE,
    FORWARD,
    JOURNAL_STEPS,
    KEEPABLE,
    TERMINAL,
    Step,
    check_transition,
)
from kiosk.errors import IllegalTransition, InvalidInput
from kiosk.i18n import DEFAULT_LANGUAGE, N_, bilingual

__all__ = [
    "ALLOWED_TRANSITIONS",
    "EDITABLE",
    "FINGERPRINT_STORAGE",
    "FINGERS",
    "JOURNAL_STEPS",
    "KEEPABLE",
    "MISSING_FINGER_REASONS",
    "TERMINAL",
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
#: Continuing an enrollment with numbers other than those it was begun with (its photo,
#: fingers and details are another person's).
NOT_BEGUN_WITH = N_("Not the NIK and No. KK this enrollment was begun with.")
#: Back from the details of a continued enrollment after the NIK changed: the details saved
#: before cannot be read back to check against the new NIK.
DETAILS_AGAIN = N_("The NIK has changed, and the details saved earlier cannot be checked "
                   "against it. Please enter the details again.")


class EnrollmentSession(SessionCaptures, SessionLifecycle):
    """One person's enrollment, step by step; see the module docstring for the flow.

    Thread-safe: a UI thread may call :meth:`abort` or :meth:`check_timeout` while a worker
    runs a capture. A second capture while one runs raises :class:`DeviceBusy`.
    """

    def __init__(self, store: RecordStore, *, fingerprint: FingerprintScanner | None,
                 camera: Camera | None, assisted: bool = False,
                 timeout_s: float = SESSION_TIMEOUT_S.default,
                 clock: Callable[[], float] = time.monotonic,
                 today: Callable[[], date] = date.today,
                 capture_timeout_s: float = CAPTURE_TIMEOUT_S,
                 fingerprint_limits: FingerprintThresholds | None = None,
                 fingerprint_storage: str = "png", staff_id: str | None = None) -> None:
        if fingerprint_storage not in FINGERPRINT_STORAGE:
            raise ValueError(f"fingerprint_storage must be one of {FINGERPRINT_STORAGE}")
        self._store = store
        self._fingerprint_limits = fingerprint_limits or FingerprintThresholds()
        self._fingerprint_storage = fingerprint_storage
        self._fingerprint = fingerprint
        self._camera = camera
        self.assisted = assisted or staff_id is not None
        #: The officer logged in at the kiosk now (from the staff card), or None: only
        #: then does the touchscreen offer the officer's actions (a missing finger).
        self.staff_id = staff_id
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
        self.language = DEFAULT_LANGUAGE
        self.record_id: str | None = None
        self._kept: frozenset[Step] = frozenset()  # steps a resumed session skips
        #: A resumed record's check of the numbers it was begun with, until they are typed
        #: again (kiosk.enrollment.resume_check); None: nothing to check.
        self._begun_check: bytes | None = None
        self._editing = False  # True between edit() from REVIEW and the return to it
        self._nik_at_edit: Nik | None = None  # the NIK when a change from REVIEW began
        # Bumped by every edit() and cancel_edit(): a capture begun before it (a finger
        # the sensor still waited for when the person went back) keeps nothing.
        self._visits = 0
        self._reset_data()

    @classmethod
    def resume(cls, store: RecordStore, record_id: str, journaled: Collection[str], *,
               fingerprint: FingerprintScanner | None, camera: Camera | None,
               timeout_s: float = SESSION_TIMEOUT_S.default,
               clock: Callable[[], float] = time.monotonic,
               today: Callable[[], date] = date.today, capture_timeout_s: float = CAPTURE_TIMEOUT_S,
               language: str = DEFAULT_LANGUAGE,
               fingerprint_limits: FingerprintThresholds | None = None,
               fingerprint_storage: str = "png",
               staff_id: str | None = None) -> EnrollmentSession:
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
        names = check_resumable(record_id, journaled, language)
        session = cls(store, fingerprint=fingerprint, camera=camera, assisted=True,
                      timeout_s=timeout_s, clock=clock, today=today,
                      capture_timeout_s=capture_timeout_s,
                      fingerprint_limits=fingerprint_limits,
                      fingerprint_storage=fingerprint_storage, staff_id=staff_id)
        session._resume_at_identity(record_id, names, language)
        if Step.IDENTITY.value in names:
            session._begun_check = store.resume_check(record_id)
            if session._begun_check is None:
                log.warning("record %s has no check of the numbers it was begun with (begun "
                            "before the kiosk kept one): the NIK typed is not checked",
                            record_id)
        return session

    # -- state -----------------------------------------------------------------------------
    @property
    def step(self) -> Step:
        """The current step."""
        return self._step

    @property
    def family_card_region(self) -> tuple[str, str, str] | None:
        """The No. KK's region code (province, regency, kecamatan: where the family card
        was issued, its address), once the identity is entered; None before."""
        kk = self._kk
        return None if kk is None else (kk.province, kk.regency, kk.district)

    @property
    def is_finished(self) -> bool:
        """True once sealed or aborted."""
        return self._step in TERMINAL

    def remaining_s(self) -> float:
        """Seconds left before the session expires (0 when finished or expired)."""
        if self._step in TERMINAL:
            return 0.0
        return max(0.0, self._deadline - self._clock())

    def _transition(self, new: Step, *, note: str = "") -> None:
        """The one place the step changes: checks the table, logs ``old -> new``."""
        old = self._step
        check_transition(old, new)
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

    def _complete(self, step_name: str, parts: Mapping[str, bytes], new: Step, *,
                  resume_check: bytes | None = None) -> None:
        """Journal a finished step, then move on; a failing store leaves the step as is.

        While editing from REVIEW, the step journaled again replaces the old one and the
        session goes back to REVIEW (an edited identity first through DEMOGRAPHICS).
        """
        done = self._step
        if self._editing and done is not Step.IDENTITY:
            new = Step.REVIEW
            if done is Step.DEMOGRAPHICS and not self.portrait_fits:
                new = Step.PORTRAIT  # a new NIK of another background colour: a new photo
        check_transition(self._step, new)  # before the store: a refused move saves nothing
        assert self.record_id is not None  # noqa: S101 - begun at consent, before any step
        if resume_check is None:
            self._store.save_step(self.record_id, step_name, parts)
        else:
            self._store.save_step(self.record_id, step_name, parts, resume_check=resume_check)
        self._kept = self._kept - {done}
        self._transition(new, note="edited" if self._editing else "")
        if new is Step.REVIEW:
            self._editing = False
        while self._step in self._kept and not self._editing:  # resumed: journaled before
            self._transition(FORWARD[self._step], note="kept from before the cut")

    # -- steps -----------------------------------------------------------------------------
    def choose_language(self, language: str) -> None:
        """Pick the language of the screens and messages: "id" or "en"."""
        with self._at(Step.LANGUAGE):
            if language not in LANGUAGES:
                raise InvalidInput("language", *bilingual('Unknown language.'))
            self.language = language
            self._transition(Step.CONSENT)

    def switch_language(self, language: str) -> None:
        """The citizen switched the screens' language on the consent screen: the consent is
        recorded in the language it is given in (``consent.json``'s ``language``). Only
        before consent: once given, the record keeps that language, whatever the screens
        are switched to later."""
        with self._at(Step.CONSENT):
            if language not in LANGUAGES:
                raise InvalidInput("language", *bilingual('Unknown language.'))
            self.language = language

    def give_consent(self, accepted: bool) -> None:
        """Consent to recording; refusal aborts, acceptance begins the record."""
        with self._at(Step.CONSENT):
            if not accepted:
                self._finish_aborted("consent refused")
                return
            consent = {"accepted": True, "language": self.language,
                       "assisted": self.assisted, "version": CONSENT_VERSION}
            if self.staff_id is not None:
                consent["staff"] = self.staff_id  # the officer who began it
            parts = {"consent.json": compact_json(consent)}
            # The record and its consent step are created in one durable commit; if that
            # fails nothing exists and the person can simply tap again.
            self.record_id = self._store.begin(assisted=self.assisted, step="consent",
                                               parts=parts)
            self._transition(Step.IDENTITY)

    def assist(self, staff_id: str) -> None:
        """An officer logged in (staff card and PIN) during this session: from now on it is
        assisted, so the officer may record a missing finger, and its record is kept to
        resume after a power cut. A record already begun is marked so durably, with who
        took it over (an audit event), before this returns; a failing store leaves the
        session as it was."""
        with self._lock:
            self._check_live()
            if self._step in TERMINAL:
                raise IllegalTransition(f"the session is {self._step.value}")
            if self.record_id is not None and staff_id != self.staff_id:
                if not self.assisted and self._nik is not None and self._kk is not None:
                    # Typed before the officer came: kept to check a continue against.
                    self._store.mark_assisted(self.record_id, staff_id, resume_check=(
                        make_check(self._nik.digits, self._kk.digits)))
                else:
                    self._store.mark_assisted(self.record_id, staff_id)
            self.assisted = True
            self.staff_id = staff_id
            log.info("session %s: an officer is assisting", self._tag)

    def end_assistance(self) -> None:
        """The officer logged out (took the card): the session goes on, still assisted
        (its record stays resumable), without the officer's actions."""
        with self._lock:
            if self.staff_id is not None:
                log.info("session %s: the officer left", self._tag)
            self.staff_id = None

    def enter_identity(self, nik_text: str, kk_text: str) -> Nik:
        """Parse the NIK and No. KK (raises ``InvalidNik``/``InvalidFamilyCardNumber``)."""
        with self._at(Step.IDENTITY):
            today = self._today()
            nik = parse_nik(nik_text, today=today)
            kk = parse_kk(kk_text, today=today)
            check = None
            if self._begun_check is not None:
                self._check_begun_with(nik, kk)
            elif self.assisted:  # kept to check the numbers typed to continue it
                check = make_check(nik.digits, kk.digits)
            identity = {"nik": nik.digits, "kk": kk.digits}
            self._complete("identity", {"identity.json": compact_json(identity)},
                           Step.DEMOGRAPHICS, resume_check=check)
            self._nik, self._kk = nik, kk
            self._begun_check = None  # checked: a later change is the officer's correction
            return nik

    def _check_begun_with(self, nik: Nik, kk: FamilyCardNumber) -> None:
        """A resumed record: ``nik`` and ``kk`` must be the numbers it was begun with (its
        photo, fingers and details saved before are that person's); InvalidInput if not."""
        assert self._begun_check is not None  # noqa: S101
        try:
            same = check_matches(self._begun_check, nik.digits, kk.digits)
        except ValueError as exc:  # not a check this code made: nothing to compare
            log.warning("session %s: the record's check is unusable (%s): not compared",
                        self._tag, exc)
            return
        if not same:
            log.info("session %s: the numbers typed are not the ones record %s was begun "
                     "with", self._tag, self.record_id)
            raise InvalidInput("identity", *bilingual(NOT_BEGUN_WITH))
        if Step.PORTRAIT in self._kept:  # the photo saved before was made for this year
            self._portrait_year = nik.birth_date.year

    def confirm_demographics(self, demographics: Demographics) -> Demographics:
        """Validate against the NIK (raises ``InvalidDemographics``/``NotEligible``)."""
        with self._at(Step.DEMOGRAPHICS):
            assert self._nik is not None  # noqa: S101 - set at IDENTITY
            checked = validate_demographics(demographics, self._nik, self._today())
            self._complete("demographics", {"demographics.json": checked.to_json()},
                           Step.PORTRAIT)
            self._demographics = checked
            return checked

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
            self._nik_at_edit = self._nik
            self._visits += 1
            if step is Step.FINGERPRINTS:  # what Back brings back (cancel_edit)
                self._keep_fingers()
            self._transition(step, note="edit")

    @property
    def is_editing(self) -> bool:
        """True while a step is being changed from REVIEW."""
        return self._editing

    def cancel_edit(self) -> None:
        """Back to REVIEW without changing the step being edited.

        The fingers taken before the edit are brought back (those retaken meanwhile are
        wiped; the journal still holds the earlier ten); a portrait taken but not accepted
        is dropped. After a changed identity the demographics kept take the new NIK's date
        of birth and sex (they are the NIK's, never typed) and must still be valid, or this
        raises ``InvalidDemographics`` (or ``NotEligible``) and the person corrects them.
        """
        with self._at(*EDITABLE):
            if not self._editing:
                raise IllegalTransition("not editing a step")
            self._visits += 1
            details_kept = self._demographics is None and Step.DEMOGRAPHICS in self._kept
            if self._step is Step.IDENTITY:
                self._transition(Step.DEMOGRAPHICS, note="edit cancelled")
            if self._step is Step.DEMOGRAPHICS and details_kept:
                # Resumed: the details saved before the cut cannot be read back. They stand
                # with the NIK they were checked against; a new NIK needs them typed again.
                if (self._nik is None or self._nik_at_edit is None
                        or self._nik.digits != self._nik_at_edit.digits):
                    raise InvalidInput("demographics", *bilingual(DETAILS_AGAIN))
                self._editing = False
                self._transition(Step.REVIEW, note="edit cancelled")
                return
            if self._step is Step.DEMOGRAPHICS:
                if self._demographics is None or self._nik is None:
                    raise IllegalTransition("the demographics must be entered")
                kept = replace(self._demographics, date_of_birth=self._nik.birth_date,
                               sex=self._nik.sex)
                checked = validate_demographics(kept, self._nik, self._today())
                self._complete("demographics", {"demographics.json": checked.to_json()},
                               Step.REVIEW)
                self._demographics = checked
                return
            if self._step is Step.FINGERPRINTS:
                self._restore_fingers()
            if self._step is Step.PORTRAIT:
                self._check_portrait_fits()
            if self._step is Step.PORTRAIT and self._portrait_pending is not None:
                wipe_buffers(iter([self._portrait_pending]))
                self._portrait_pending = None
            self._editing = False
            self._transition(Step.REVIEW, note="edit cancelled")

    def confirm(self) -> str:
        """Seal the record (durable on return) and return its id; the data is wiped."""
        with self._at(Step.REVIEW):
            assert self.record_id is not None  # noqa: S101
            self._store.seal(self.record_id)
            self._transition(Step.SEALED)
            self._wipe_data()
            return self.record_id
