"""The flow's promise of privacy: the idle warning, cancel, and the wipe.

This module owns what keeps one citizen's data from the next: after ``idle_timeout_s``
without a touch a warning counts down ``idle_warning_s`` (WCAG 2.2.1: at least 20 s to
continue with one tap), then :meth:`PrivacyTimers.wipe` aborts the session and clears every
value the screens showed; the receipt counts down ``receipt_s`` on its screen, each touch
gives the full ``receipt_s`` back (up to :data:`RECEIPT_MAX_S` in all), then it goes back to
welcome; cancel asks once, then wipes. A mixin of :class:`~kiosk.screens.flow.Flow`; it
uses the flow's state, settings, executor and view, and :meth:`tick` is called once a
second by the app.
"""

from __future__ import annotations

import contextlib
import logging
import math

from kiosk.enrollment.session_options import KEEP_ALIVE_EVERY_S
from kiosk.errors import SessionExpired
from kiosk.screens import messages as m
from kiosk.screens.flow_screens import SESSION_SCREENS
from kiosk.screens.flow_staff import KEPT_FOR_STAFF, QUEUE_REFRESH_S, STAFF_LOGIN_S
from kiosk.screens.forms import DemographicsForm
from kiosk.screens.messages import NONE, Msg

__all__ = ["IDLE_WIPES", "RECEIPT_MAX_S", "RECEIPT_WARN_S", "WIPE_NOTICE_S", "PrivacyTimers"]

#: Wipes the citizen did not ask for: nobody touched the screen (the idle warning ran out,
#: or the session's own timeout). The welcome then says so, in the citizen's language.
IDLE_WIPES = frozenset({"idle", "session expired"})
#: Wipes that end a session with its receipt (Done, or the receipt's own time).
RECEIPT_ENDS = frozenset({"finished", "receipt shown"})
#: The wipe of a session the officer keeps to continue later (the cancel question).
KEPT_FOR_LATER = "kept for later by the officer"
#: How long that notice stays on the welcome unless touched: long enough for a citizen who
#: stepped away to come back and read it, short enough to greet the next one plainly.
WIPE_NOTICE_S = 120.0
#: The most the receipt stays up in all, however often it is touched (a longer
#: ``receipt_s`` wins): time to copy the 21-character number by hand, and a bound, so a
#: receipt left behind is not there for the next person to read for long.
RECEIPT_MAX_S = 180.0
#: Seconds before the receipt goes when a spoken warning says so and how to keep it
#: (WCAG 2.2.1 gives at least 20 s to extend; EN 301 549: through more than one sense).
RECEIPT_WARN_S = 20

# The flow's one logger: its lines keep one name, whichever of its modules writes them.
log = logging.getLogger("kiosk.screens.flow")


class PrivacyTimers:
    """Touch, the idle timer, the receipt timer, cancel and the wipe."""

    # -- touch and the idle timer ---------------------------------------------------------
    def touch(self) -> None:
        """Any touch: the citizen is still here."""
        shown = bool(self.notice)  # not one this very touch brings (an expired session)
        self._activity()
        if self.idle_warning:
            self.idle_warning = False
            self.view.update()
        if shown:
            self._end_notice()
        if self.screen == "done":
            self._extend_receipt()

    def _end_notice(self) -> None:
        """The welcome's notice of an idle wipe goes, and with it the wiped citizen's
        language: the welcome is in the kiosk's own again."""
        self.notice = NONE
        if self.session is None:
            self.language = self.default_language
        self.view.update()

    def _activity(self) -> None:
        now = self.clock()
        self._last_touch = now
        session = self.session
        if session is not None and now - self._last_keep_alive > KEEP_ALIVE_EVERY_S:
            self._last_keep_alive = now
            try:
                session.keep_alive()
            except SessionExpired:
                self.wipe("session expired")
            except Exception as exc:
                log.debug("keep_alive: %s", type(exc).__name__)

    def tick(self) -> None:
        """Once a second from the app: the idle warning, the wipe, the receipt's end."""
        now = self.clock()
        if self.notice and now - self._notice_at >= WIPE_NOTICE_S:
            self._end_notice()
        if self.screen == "done":
            self._tick_receipt(now)
            return
        if self.pin_entry and not self.pin_busy and (
                now - self._last_touch >= self.settings.idle_timeout_s):
            self._close_pin()  # a PIN pad nobody types on: closed, its digits dropped
            self.view.update()
        if self.screen == "staff" and self.staff_id and not self.busy:
            idle = now - self._last_touch >= (self.settings.idle_timeout_s
                                              + self.settings.idle_warning_s)
            if idle or now - self._login_at >= STAFF_LOGIN_S:
                self._logout()  # the officer walked away logged in, or the login is old
                if not idle and self.card_present:
                    # The officer is there, the card in: the PIN again, at once (the pad
                    # closes by itself if nobody types).
                    self.open_pin()
                return
            if now - self._counts_at >= QUEUE_REFRESH_S:
                self._read_counts()  # the uploader sends records while the home shows
        if self.screen not in SESSION_SCREENS or self.busy:
            return
        idle = now - self._last_touch
        s = self.settings
        if idle >= s.idle_timeout_s + s.idle_warning_s:
            self.wipe("idle")
        elif idle >= s.idle_timeout_s:
            if not self.idle_warning:
                self._say(m.IDLE_ASK)
            self.idle_warning = True
            self.idle_left_s = max(0, round(s.idle_timeout_s + s.idle_warning_s - idle))
            self.view.update()

    def continue_session(self) -> None:
        self.touch()

    # -- the receipt's time ------------------------------------------------------------------
    def _start_receipt(self) -> None:
        now = self.clock()
        self._receipt_at = now
        self._receipt_until = now + self.settings.receipt_s
        self._receipt_warned = False
        self.receipt_left_s = math.ceil(self.settings.receipt_s)

    def _receipt_cap(self) -> float:
        return self._receipt_at + max(RECEIPT_MAX_S, self.settings.receipt_s)

    @property
    def receipt_extendable(self) -> bool:
        """A touch would give the receipt at least a second more (not at its cap)."""
        return self._receipt_cap() - self._receipt_until >= 1

    def _extend_receipt(self) -> None:
        """A touch on the receipt: the full ``receipt_s`` again, never past the cap."""
        now = self.clock()
        until = min(now + self.settings.receipt_s, self._receipt_cap())
        if until > self._receipt_until:
            self._receipt_until = until
            self._receipt_warned = False
            self.receipt_left_s = max(0, math.ceil(until - now))
            self.view.update()

    def _tick_receipt(self, now: float) -> None:
        left = self._receipt_until - now
        if left <= 0:
            self.wipe("receipt shown")
            return
        if left <= RECEIPT_WARN_S and not self._receipt_warned:
            self._receipt_warned = True
            self._say(m.RECEIPT_ENDING if self.receipt_extendable else m.RECEIPT_LAST)
        self.receipt_left_s = math.ceil(left)
        self.view.update()

    def more_time(self) -> None:
        """The receipt's *More time*: as any touch, the full ``receipt_s`` again."""
        self.touch()

    # -- cancel ---------------------------------------------------------------------------
    def ask_cancel(self) -> None:
        self.touch()
        if self.screen in SESSION_SCREENS:
            self.confirm_cancel = True
            self.view.update()

    def answer_cancel(self, really: bool) -> None:
        self.touch()
        if not self.confirm_cancel:
            return
        self.confirm_cancel = False
        if really:  # the record is deleted: the audit says by whom
            self.wipe(f"cancelled by officer {self.staff_id}" if self.staff_id
                      else "cancelled by the citizen")
        else:
            self.view.update()

    @property
    def can_keep_for_later(self) -> bool:
        """The cancel question offers "Keep for later": an officer is logged in, and the
        session's record (begun, assisted) can be kept to continue (``resume_assisted``)."""
        session = self.session
        return bool(self.staff_id) and session is not None and session.assisted and (
            session.record_id is not None and not session.is_finished
            and self.settings.resume_assisted)

    @property
    def idle_keeps(self) -> bool:
        """A session left idle now would be kept for an officer to continue (assisted,
        ``resume_assisted``), not deleted: the idle warning says so (as :meth:`wipe`
        decides)."""
        session = self.session
        return session is not None and not session.is_finished and session.assisted and (
            self.settings.resume_assisted)

    def keep_for_later(self) -> None:
        """The officer stops the session but keeps its record, to continue it from the
        officer's home (as a session left idle is kept); the screen is wiped all the same."""
        self.touch()
        if not self.confirm_cancel or not self.can_keep_for_later:
            return
        self.confirm_cancel = False
        self.wipe(KEPT_FOR_LATER)

    # -- the wipe ----------------------------------------------------------------------------
    def wipe(self, reason: str) -> None:
        """End the citizen's session (if any) and forget everything shown; to welcome."""
        self._gen += 1
        self._stop_preview()
        for timer in self._timers:
            with contextlib.suppress(Exception):  # a timer that already fired
                timer.cancel()
        self._timers.clear()
        session = self.session
        idle = reason in IDLE_WIPES
        keep = False
        if session is not None and not session.is_finished:
            # Nobody touched the screen: an assisted record is kept for an officer to
            # continue (as after a power cut), the data on the screen wiped all the same.
            # Asked to stop (cancel, a declined consent): the record goes.
            keep = (idle or reason == KEPT_FOR_LATER) and self.idle_keeps
            end = session.suspend if keep else session.abort
            # The officer's home (shown below) lists the unfinished records only once
            # this is done: never the deleted one, nor a list failed by it.
            self._sessions_ending += 1
            self.executor.submit(lambda: end(reason), lambda _r, _e: self._session_ended())
        log.info("session wiped: %s", reason)
        self._close_pin()  # digits typed on the PIN pad go with everything else
        begun_by, self._begun_by = self._begun_by, None
        if self.staff_id and (idle or (reason in RECEIPT_ENDS and begun_by != self.staff_id)):
            # Nobody there; or the citizen an officer helped has finished alone (the
            # officer's card may still be in the reader): the officer's login ends, and
            # the next person sees the welcome, not the officer's home.
            self._logout()
        language = self.language
        self._clear_personal()
        self._reset()
        if reason in IDLE_WIPES:
            # For the citizen who comes back: what happened, in their language (the
            # welcome too, until the notice goes); nothing of theirs.
            self.language = language
            self.notice = Msg.of(KEPT_FOR_STAFF if keep else m.IDLE_ENDED, "info")
            self._notice_at = self.clock()
        # A call for an officer stands until someone closes it (``close_help``): the
        # citizen who called waits, as the help overlay asks, and the LED keeps calling.
        self.show(self.home)
        self._after_receipt()

    def _clear_personal(self) -> None:
        self.identity.clear()
        self.nik = None
        self.kk_region, self._kk_villages = None, None
        self.form = DemographicsForm.blank()
        self.portrait_jpeg = b""
        self.finger_png = b""
        self.summary = None
        self._form_kept = None
