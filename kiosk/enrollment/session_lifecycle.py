"""How an enrollment session starts again after a power cut and how it ends early.

This module owns the personal data a session holds in memory and its wipe
(:func:`wipe_buffers`), the checks and the moves that resume an unfinished assisted record
(:func:`check_resumable`; :meth:`~kiosk.enrollment.session.EnrollmentSession.resume` is the
constructor), the expiry after ``timeout_s`` without a call, and
:meth:`~SessionLifecycle.abort`, which wipes the data and discards the begun record. It is a
mixin of :class:`~kiosk.enrollment.session.EnrollmentSession` and uses the session's lock,
step, store and :meth:`_transition`.

After a power cut the kiosk cannot read the journaled steps back (they are encrypted to the
central office), so a resumed session knows only *which* steps exist: staff re-enter the
NIK and No. KK (IDENTITY, journaled again, replacing the old blob), then the session skips,
one logged transition at a time, over every later step already journaled and continues at
the first missing one.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable

from kiosk.core.vocabulary import LANGUAGES
from kiosk.enrollment.demographics import Demographics
from kiosk.enrollment.nik import FamilyCardNumber, Nik
from kiosk.enrollment.steps import JOURNAL_STEPS, KEEPABLE, TERMINAL, Step
from kiosk.errors import IllegalTransition, InvalidInput, SessionExpired
from kiosk.i18n import bilingual

__all__ = ["SessionLifecycle", "check_resumable", "wipe_buffers"]

# The session's one logger: its lines keep one name, whichever of its modules writes them.
log = logging.getLogger("kiosk.enrollment.session")


def wipe_buffers(buffers: Iterable[bytearray]) -> None:
    """Overwrite each buffer with zeros (personal data never waits for the collector)."""
    for buf in buffers:
        buf[:] = bytes(len(buf))


def check_resumable(record_id: str, journaled: Collection[str], language: str) -> set[str]:
    """The names of the steps journaled for ``record_id``, if a session may resume it.

    Raises :class:`IllegalTransition` when ``consent`` is not among ``journaled`` (such a
    record cannot be resumed and should be discarded) or a step name is unknown, and
    :class:`InvalidInput` for an unknown ``language``.
    """
    names = set(journaled)
    unknown = sorted(names - set(JOURNAL_STEPS))
    if unknown:
        raise IllegalTransition(f"record {record_id} cannot be resumed: unknown step(s) "
                                f"{', '.join(unknown)}")
    if Step.CONSENT.value not in names:
        raise IllegalTransition(f"record {record_id} cannot be resumed: it has no consent "
                                "step; discard it and start a new session")
    if language not in LANGUAGES:
        raise InvalidInput("language", *bilingual('Unknown language.'))
    return names


class SessionLifecycle:
    """Resume after a cut; expiry, abort and the wipe of the data held in memory."""

    def _resume_at_identity(self, record_id: str, names: Collection[str],
                            language: str) -> None:
        """Take over ``record_id`` (journaled ``names``) and move to IDENTITY."""
        with self._lock:
            self.language = language
            self.record_id = record_id
            self._kept = frozenset(step for step in KEEPABLE if step.value in names)
            log.info("session %s: resuming record %s (journaled before the cut: %s)",
                     self._tag, record_id,
                     ", ".join(n for n in JOURNAL_STEPS if n in names))
            # Through the one transition method, step by step: language and consent were
            # done before the cut; identity is always entered again.
            self._transition(Step.CONSENT, note="resumed")
            self._transition(Step.IDENTITY, note="resumed")

    @property
    def kept_from_before(self) -> tuple[str, ...]:
        """Steps a resumed session keeps from before the cut (their data is only on disk)."""
        return tuple(step.value for step in KEEPABLE if step in self._kept)

    # -- the data held, and its wipe -------------------------------------------------------
    def _reset_data(self) -> None:
        self._nik: Nik | None = None
        self._kk: FamilyCardNumber | None = None
        self._demographics: Demographics | None = None
        self._portrait_pending: bytearray | None = None
        self._portrait: bytearray | None = None
        self._pending_year: int | None = None  # the year of birth each photo was made for
        self._portrait_year: int | None = None
        self._fingers: dict[str, bytearray] = {}  # PNG, shown on the screen
        self._finger_files: dict[str, bytearray] = {}  # lossless WebP, journaled
        self._templates: dict[str, bytearray] = {}  # the sensor's, to refuse a repeated finger
        self._missing: dict[str, str] = {}
        self._missing_by: dict[str, str] = {}  # finger -> the officer who recorded it
        self._signature: bytearray | None = None
        # The fingers as they were when a change of them from review began (for Back):
        # images, record files, templates, missing.
        self._fingers_kept: tuple[dict[str, bytearray], dict[str, bytearray],
                                  dict[str, bytearray], dict[str, str]] | None = None

    def _wipe_data(self) -> None:
        kept = self._fingers_kept[:3] if self._fingers_kept is not None else ()
        held = [self._portrait_pending, self._portrait, self._signature,
                *self._fingers.values(), *self._finger_files.values(),
                *self._templates.values(), *(b for part in kept for b in part.values())]
        wipe_buffers(buf for buf in held if buf is not None)
        self._reset_data()

    # -- expiry ----------------------------------------------------------------------------
    def keep_alive(self) -> None:
        """The person is still here (touching the screen): push the expiry back."""
        with self._lock:
            self._check_live()
            if self._step not in TERMINAL:
                self._deadline = self._clock() + self.timeout_s

    def check_timeout(self) -> bool:
        """For the UI's timer: True when the session has expired (it is then wiped)."""
        with self._lock:
            try:
                self._check_live()
            except SessionExpired:
                return True
            return False

    def _check_live(self) -> None:
        if self._expired:
            raise SessionExpired("the session timed out; its data has been wiped")
        if self._step not in TERMINAL and self._clock() >= self._deadline:
            self._finish_aborted("timeout")
            self._expired = True
            raise SessionExpired("the session timed out; its data has been wiped")

    # -- ending early ----------------------------------------------------------------------
    def abort(self, reason: str) -> None:
        """Stop here: wipe the data, discard the record. Safe to call again once aborted."""
        with self._lock:
            if self._step is Step.ABORTED:
                return
            if self._step is Step.SEALED:
                raise IllegalTransition("the record is sealed; it cannot be aborted")
            self._finish_aborted(reason)

    def suspend(self, reason: str) -> bool:
        """Stop here and wipe the data held in memory, but keep an assisted record begun
        (consent journaled) for an officer to resume, as after a power cut: True. Any other
        session is aborted, its record discarded: False. Safe to call once finished."""
        with self._lock:
            if self._step in TERMINAL:
                return False
            if not self.assisted or self.record_id is None:
                self._finish_aborted(reason)
                return False
            self._transition(Step.ABORTED, note="kept to resume")
            self._wipe_data()
            log.info("session %s: record %s kept to resume (%s)", self._tag, self.record_id,
                     reason)
            return True

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
