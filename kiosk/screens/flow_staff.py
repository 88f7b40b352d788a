"""The officer at the kiosk: staff card and PIN, the officer's home screen, assisted
enrollment, a finger recorded missing, and the resume of an enrollment left unfinished.

An officer inserts the staff card: the PIN pad opens over whatever shows (a citizen who
pressed HELP may be at the finger step). The PIN is verified by the card itself
(:func:`~kiosk.hardware.card.staff.staff_login`, on a worker); the kiosk never stores it, and
keeps the typed digits only until the answer. Once logged in:

* between citizens the officer's home (``staff``) replaces the welcome: enroll a person (in
  Bahasa Indonesia or English), continue an enrollment left unfinished (a power cut, or a
  session left idle while assisted), or delete one that will not be finished;
* the home also says where this kiosk's records stand (:func:`queue_summary`): how many
  wait to be sent, how many went on a stick and wait for the office's confirmation, how
  many Dukcapil refused; read afresh when it shows and every
  :data:`QUEUE_REFRESH_S` while it does (the uploader, its own process, moves them);
* during a session the session becomes assisted (durably: its record is kept to resume
  after a cut) and the finger step offers "Cannot be scanned" with the reason, recorded
  with the officer's staff id;
* taking the card out (or Log out) ends the officer's part; a session goes on for the
  citizen, without the officer's actions.

A card already in the reader when the kiosk starts does not open the PIN pad (a card left
in a self-service kiosk must not greet the next citizen with it), nor does one left in after
a Cancel on the pad or a logout by time: the welcome and the closed screen then offer an
"Officer login" button (:attr:`StaffSteps.card_waiting`) that opens it, as taking the card out
and inserting it again does. Staff logins, failed PINs and logouts are audit events (staff id and
tries left only). A mixin of :class:`~kiosk.screens.flow.Flow`.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from typing import Any

from kiosk.core.vocabulary import FINGERS, LANGUAGES, MISSING_FINGER_REASONS
from kiosk.enrollment.session import EnrollmentSession
from kiosk.errors import InvalidInput, StorageFull
from kiosk.journal import REFUSED_BY_OFFICE
from kiosk.screens import messages as m
from kiosk.screens.messages import N_, NONE, Msg

__all__ = ["MISSING_REASON_NAMES", "PIN_MAX", "PIN_MIN", "StaffSteps"]

log = logging.getLogger("kiosk.screens.flow")

PIN_MIN, PIN_MAX = 6, 8  # a PIV PIN (kiosk.hardware.card.piv.pad_pin)
#: An officer's login lasts at most this long: then the officer's home asks for the PIN
#: again (a card left in the reader must not keep the officer's powers for a day).
STAFF_LOGIN_S = 30 * 60
#: The officer's home reads the records' counts again this often while it shows.
QUEUE_REFRESH_S = 30.0
#: How each reason a finger cannot be scanned is named on the officer's list, in
#: :data:`~kiosk.core.vocabulary.MISSING_FINGER_REASONS` order.
MISSING_REASON_NAMES: dict[str, str] = dict(zip(MISSING_FINGER_REASONS, (
    N_("Missing (amputated)"), N_("Bandaged"), N_("Scarred"), N_("Deformed"),
    N_("Cannot be read"),
), strict=True))
STAFF_LOGIN_FAILED = N_("The card could not be read. Take it out and insert it again.")
NO_READER = N_("The card reader is not working.")
NOT_A_STAFF_CARD = N_("This is not a staff card.")
#: What the officer's home says when one of its actions fails (the officer's words, not
#: the citizen's "press HELP": the officer is the help).
LIST_FAILED = N_("The unfinished enrollments could not be read. Call the maintainer.")
RESUME_FAILED = N_("This enrollment could not be continued. Call the maintainer.")
DELETE_FAILED = N_("The enrollment was not deleted: the kiosk could not write to its "
                   "storage. Call the maintainer.")
DELETE_FULL = N_("The enrollment was not deleted: the kiosk's storage is full. Call the "
                 "maintainer.")
KEPT_FOR_STAFF = N_("The session ended because the screen was not touched for a while. "
                    "What was entered is kept: the officer can continue it.")


class StaffSteps:
    """The officer's verbs (``app.flow.pin_key("4")`` and so on); see the module doc."""

    def _init_staff(self) -> None:
        self.card_present = False
        self.staff_id = ""  # the officer logged in ("" = none)
        self.pin_entry = False  # the PIN pad is open
        self._pin: list[str] = []
        self.pin_message: Msg = NONE
        self.pin_busy = False
        self.missing_picker = False  # the reasons for a finger that cannot be scanned
        self.resumable: list[Any] = []  # kiosk.recovery.Resumable, oldest first
        self._lists = 0  # bumped by every list of them: only the latest answer is shown
        #: Wiped sessions whose record a worker still deletes (or keeps): the home's list
        #: waits for them (:meth:`_session_ended`), then reads.
        self._sessions_ending = 0
        self._list_after_end = False
        self.discard_asked = ""  # the record the officer asked to delete, to confirm
        self.staff_message: Msg = NONE  # on the officer's home
        self.usb_lines: list[Msg] = []  # what the stick button did, on the officer's home
        #: The stick button's work is running (it goes on if the officer logs out or takes
        #: the card: the welcome and the closed screen then say not to remove the stick).
        self.stick_writing = False
        #: What the stick did, for the officer who asked, when that officer had gone by the
        #: time it ended: (staff id, lines), shown at that officer's next login.
        self._stick_kept: tuple[str, list[Msg]] | None = None
        #: The journal's records by state (``Journal.counts``), as the home last read them:
        #: {} until read (the home then says nothing of them).
        self.record_counts: dict[str, int] = {}
        self._counts_at = 0.0
        #: The language the officer chose for the home ("": the kiosk's own); it comes
        #: back after each enrollment, whatever the person's language was.
        self.staff_language = ""
        self._logins = 0  # bumped by every login: a late answer for another is dropped
        #: Bumped by every card in and out: a PIN check's answer for an earlier insertion
        #: (the card pulled out and one put back while the card answered) is dropped.
        self._insertions = 0
        self._login_at = 0.0
        #: The officer who began the session shown (None: the citizen began it).
        self._begun_by: str | None = None
        #: A card went in while the receipt showed: the PIN pad opens once it has gone.
        self._pin_after_receipt = False
        #: The stick button's work (the app sets it: kiosk.upload.usb.sync_configured_stick
        #: on the runtime's journal); None: the button does nothing.
        self.stick_sync: Callable[[], Any] | None = None

    @property
    def pin_length(self) -> int:
        """How many digits are typed (the pad shows dots, never the digits)."""
        return len(self._pin)

    @property
    def can_record_missing(self) -> bool:
        """The finger step offers "Cannot be scanned": an officer is logged in."""
        session = self.session
        return bool(self.staff_id) and self.screen == "fingerprints" and (
            session is not None and session.staff_id == self.staff_id)

    @property
    def card_waiting(self) -> bool:
        """A card is in the reader with nobody logged in and no PIN pad open (one in at
        start, or left in after a Cancel or a logout): the welcome and the closed screen
        offer "Officer login"."""
        return self.card_present and not self.staff_id and not self.pin_entry

    # -- the card ---------------------------------------------------------------------------
    def set_card_present(self, present: bool) -> None:
        """The reader's state when the kiosk opened it: no PIN pad for a card already in."""
        self.card_present = present

    def card_inserted(self) -> None:
        """A card went into the reader (from the reader's thread, through the bridge)."""
        self.card_present = True
        self._insertions += 1
        if self.staff_id:
            return
        if self.screen == "done":  # the citizen's receipt stays whole until it ends
            self._pin_after_receipt = True
        else:
            self.open_pin()

    def card_removed(self) -> None:
        self.card_present = False
        self._insertions += 1
        self._pin_after_receipt = False
        self._close_pin()
        if self.staff_id:
            self._logout()
        else:
            self.view.update()

    # -- the PIN pad ------------------------------------------------------------------------
    def open_pin(self) -> None:
        """The PIN pad, for the card in the reader (a card inserted, or "Officer login")."""
        self.touch()
        if self.staff_id or not self.card_present:
            return
        self._close_pin()
        self.pin_entry = True
        self.view.update()

    def pin_key(self, digit: str) -> None:
        self.touch()
        if self.pin_entry and not self.pin_busy and digit.isdigit() and len(digit) == 1 \
                and len(self._pin) < PIN_MAX:
            self._pin.append(digit)
            self.pin_message = NONE
            self.view.update()

    def pin_backspace(self) -> None:
        self.touch()
        if self.pin_entry and not self.pin_busy and self._pin:
            self._pin.pop()
            self.view.update()

    def pin_cancel(self) -> None:
        self.touch()
        self._close_pin()
        self.view.update()

    def _after_receipt(self) -> None:
        """The receipt has gone (from the wipe): the PIN pad for a card inserted while it
        showed, still in the reader."""
        wanted, self._pin_after_receipt = self._pin_after_receipt, False
        if wanted and self.card_present and not self.staff_id:
            self.pin_entry = True
            self.view.update()

    def _close_pin(self) -> None:
        self._pin.clear()
        self.pin_entry = False
        self.pin_busy = False
        self.pin_message = NONE

    def pin_submit(self) -> None:
        """OK on the PIN pad: the card verifies the PIN (on a worker)."""
        self.touch()
        if not self.pin_entry or self.pin_busy:
            return
        if len(self._pin) < PIN_MIN:
            self.pin_message = Msg.of(N_("The PIN has 6 to 8 digits."))
            self.view.update()
            return
        reader = self._device("card")
        if reader is None:
            self.pin_message = Msg.of(NO_READER)
            self.view.update()
            return
        pin = "".join(self._pin)
        self._pin.clear()  # typed digits are not kept while the card answers
        self.pin_busy = True
        insertion = self._insertions
        runtime = self.runtime
        journal = getattr(runtime, "journal", None)

        def work() -> str:
            from datetime import UTC, datetime

            from kiosk.clock import clock_is_synchronized
            from kiosk.hardware.card.errors import (
                NotAStaffCard,
                StaffLoginFailed,
                StaffLoginNotSetUp,
            )
            from kiosk.hardware.card.staff import staff_login

            try:
                # The office's staff-card CAs ([staff] ca); validity dates only while the
                # clock is synchronised (kiosk.hardware.card.staff).
                trust = getattr(runtime, "staff_trust", None)
                if trust is None:  # no CA set up (or unusable): no card is believed
                    raise StaffLoginNotSetUp(
                        crl=bool(getattr(runtime, "staff_crl_unusable", False)))
                who = staff_login(reader, pin, trust=trust,
                                  now=datetime.now(UTC) if clock_is_synchronized() else None)
                if not (who.staff_id.isascii() and who.staff_id.isprintable()):
                    # Shown on the screen and written into records: no control characters
                    # from a card (docs/security.md, "A malicious smart card").
                    raise NotAStaffCard("the staff id holds control characters")
            except Exception as exc:
                left = getattr(exc, "retries_left", None)
                if journal is not None and left is not None:
                    journal.audit("staff_login_failed", tries_left=int(left))
                elif journal is not None and isinstance(exc, StaffLoginFailed):
                    # A card refused (not a staff card, not trusted, no CA set up): its
                    # kind only; what it claimed is in the log.
                    journal.audit("staff_login_refused", why=type(exc).__name__)
                raise
            if journal is not None:
                journal.audit("staff_login", staff=who.staff_id)
            return who.staff_id

        def done(staff_id: str | None, error: BaseException | None) -> None:
            if insertion != self._insertions:
                # The card came out meanwhile (and perhaps one went in, its pad fresh):
                # the answer was for a card no longer there; nothing to show.
                return
            self.pin_busy = False
            if not self.pin_entry:
                return
            if error is not None:
                log.info("staff login refused: %s", type(error).__name__)
                self.pin_message = _login_message(error)
                self.view.update()
                return
            assert staff_id is not None  # noqa: S101
            self._close_pin()
            self._logged_in(staff_id)

        self.view.update()
        self.executor.submit(work, done)

    def _logged_in(self, staff_id: str) -> None:
        self.staff_id = staff_id
        log.info("officer logged in at the %s screen", self.screen)
        if self.help_active:  # the officer called has come: the light stops blinking
            self.help_active = False
            self._set_led()
        self.usb_lines = []  # a stick's answer is for the officer who asked
        kept, self._stick_kept = self._stick_kept, None
        if kept is not None and kept[0] == staff_id:  # the stick ended after a logout
            self.usb_lines = kept[1]
        self._logins += 1
        self._login_at = self.clock()
        session = self.session
        if session is not None and not session.is_finished:
            # A citizen's session: assisted from now (its record kept over a power cut);
            # durable before the officer's actions are offered (``can_record_missing``
            # waits for the session to name the officer). Not through ``_run``: the flow is
            # often busy here (the sensor waits for the finger the officer was called to),
            # and a take-over must never be skipped.
            logins = self._logins

            def done(_result: object, error: BaseException | None) -> None:
                if error is not None and logins == self._logins and self.session is session:
                    log.warning("officer take-over not saved: %s", type(error).__name__)
                    self._logout()
                    self._fail(error)
                self.view.update()

            self.executor.submit(lambda: session.assist(staff_id), done)
            self.view.update()
            return
        if self.screen in ("welcome", "closed"):
            self.show("staff")  # closed too: records can still go to a stick
        else:
            self.view.update()

    def logout(self) -> None:
        """Log out: the officer's part ends; a session goes on."""
        self.touch()
        self._logout()

    def _logout(self) -> None:
        """The officer's part ends (Log out, the card out, nobody there); a session goes
        on for the citizen, without the officer's actions."""
        staff_id, self.staff_id = self.staff_id, ""
        self.missing_picker = False
        self.discard_asked = ""
        self.staff_message = NONE
        self.usb_lines = []
        self.resumable = []
        self.record_counts = {}
        self.staff_language = ""
        session = self.session
        if session is None and self.screen == "staff":
            self.language = self.default_language  # the welcome next: the kiosk's own
        if session is not None:
            session.end_assistance()
        if staff_id:
            log.info("officer logged out")
            journal = getattr(self.runtime, "journal", None)
            if journal is not None:
                self.executor.submit(lambda: journal.audit("staff_logout", staff=staff_id),
                                     lambda _r, _e: None)
        if self.screen == "staff":
            self.show(self.home)
        else:
            self.view.update()

    # -- the officer's home -----------------------------------------------------------------
    def _enter_staff_home(self) -> None:
        """Shown (``show("staff")``): the list of unfinished enrollments, read afresh."""
        self.discard_asked = ""
        if self.staff_language:
            self.language = self.staff_language
        runtime = self.runtime
        if runtime is None:
            return
        self._lists += 1  # an answer of a list begun before is dropped
        if self._sessions_ending:
            # The session just wiped is still being deleted (or kept) on a worker: listed
            # now, its record would show as a ghost row, or go between the list's reads.
            self._list_after_end = True
        else:
            self._list_resumable()
        self._read_counts()

    def _session_ended(self) -> None:
        """A wiped session's record is deleted (or kept): the officer's home lists now."""
        self._sessions_ending -= 1
        if self._sessions_ending or not self._list_after_end:
            return
        self._list_after_end = False
        if self.screen == "staff" and self.staff_id:
            self._lists += 1
            self._list_resumable()

    def _list_resumable(self) -> None:
        """Read the unfinished enrollments for the officer's home (on a worker)."""
        runtime = self.runtime
        lists = self._lists

        def work() -> list[Any]:
            from kiosk.recovery import list_resumable

            return list_resumable(runtime.journal)

        def done(found: list[Any] | None, error: BaseException | None) -> None:
            if lists != self._lists or not self.staff_id:
                return  # a later list is on its way, or the officer has gone
            if error is not None:
                log.warning("unfinished enrollments not listed: %s", type(error).__name__)
                self.staff_message = Msg.of(LIST_FAILED)
                found = []
            current = self.session.record_id if self.session is not None else None
            self.resumable = [r for r in found or [] if r.record_id != current]
            self.view.update()

        self.executor.submit(work, done)

    def _read_counts(self) -> None:
        """Read the records' counts for the officer's home (on a worker; ``tick`` calls
        this again every :data:`QUEUE_REFRESH_S`). A journal that cannot answer leaves the
        line out: the home's other parts say what is wrong."""
        runtime = self.runtime
        journal = getattr(runtime, "journal", None)
        if journal is None:
            return
        self._counts_at = self.clock()
        logins = self._logins

        def done(counts: dict[str, int] | None, error: BaseException | None) -> None:
            if error is not None:
                log.warning("records not counted: %s", type(error).__name__)
                counts = {}
            if logins != self._logins or not self.staff_id:
                return  # read for an officer who has gone
            if counts != self.record_counts:
                self.record_counts = counts or {}
                self.view.update()

        self.executor.submit(lambda: record_counts(journal), done)

    @property
    def queue_lines(self) -> list[Msg]:
        """Where this kiosk's records stand, for the officer's home."""
        return queue_summary(self.record_counts)

    def set_staff_language(self, language: str) -> None:
        """The officer's home in ``language`` (its language button), until Log out."""
        self.touch()
        if self.screen == "staff" and self.staff_id and language in LANGUAGES:
            self.staff_language = self.language = language
            self.view.update()

    def staff_start(self, language: str) -> None:
        """Enroll a person with the officer: an assisted session in ``language``."""
        self.touch()
        if self.screen != "staff" or self.busy or not self.staff_id:
            return
        if not self._may_begin():
            return
        self.staff_message = NONE  # what the home said of an earlier action
        self.language = language if language in ("id", "en") else self.default_language
        self._begin_session(staff_id=self.staff_id)

    def staff_resume(self, record_id: str, language: str = "") -> None:
        """Continue an unfinished enrollment: the NIK and No. KK are typed again, then the
        first step not yet saved (the others are kept, unseen: the kiosk cannot read them)."""
        self.touch()
        if self.screen != "staff" or self.busy or not self.staff_id:
            return
        entry = next((r for r in self.resumable if r.record_id == record_id), None)
        if entry is None or not self._may_begin():
            return
        self.staff_message = NONE
        runtime = self.runtime
        language = language if language in ("id", "en") else self.language
        try:
            session = EnrollmentSession.resume(
                runtime.store, record_id, entry.steps,
                fingerprint=runtime.devices.get("fingerprint"),
                camera=runtime.devices.get("camera"), staff_id=self.staff_id,
                timeout_s=self.settings.session_timeout_s,
                capture_timeout_s=self.settings.capture_timeout_s, today=self.today,
                language=language, fingerprint_limits=self.settings.fingerprint_limits,
                fingerprint_storage=self.settings.fingerprint_storage)
        except Exception as exc:  # a record that cannot be resumed: say so, list again
            log.warning("record %s not resumed: %s", record_id, type(exc).__name__)
            self.staff_message = (m.for_error(exc) if isinstance(exc, InvalidInput)
                                  else Msg.of(RESUME_FAILED))
            self._enter_staff_home()
            return
        log.info("record %s resumed by the officer", record_id)
        self.language = language
        self._begun_by = self.staff_id
        self.session = session
        self.resumable = []
        self._show_step()

    def ask_discard(self, record_id: str) -> None:
        self.touch()
        if self.screen == "staff" and any(r.record_id == record_id for r in self.resumable):
            self.discard_asked = record_id
            self.staff_message = NONE
            self.view.update()

    def answer_discard(self, really: bool) -> None:
        """Delete the unfinished enrollment asked about (``really``), or keep it."""
        self.touch()
        record_id, self.discard_asked = self.discard_asked, ""
        runtime = self.runtime
        if not really or not record_id or runtime is None or not self.staff_id:
            self.view.update()
            return
        staff_id = self.staff_id

        def failed(error: BaseException) -> None:
            log.error("record %s not deleted: %s", record_id, type(error).__name__)
            full = isinstance(error, StorageFull) or (
                isinstance(error, OSError) and error.errno == errno.ENOSPC)
            self.staff_message = Msg.of(DELETE_FULL if full else DELETE_FAILED)
            self._enter_staff_home()  # the row stays listed: read afresh

        self._run(lambda: runtime.store.discard(record_id, f"deleted by officer {staff_id}"),
                  lambda _r: self._enter_staff_home(), on_error=failed)

    # -- the USB stick ----------------------------------------------------------------------
    def usb_sync(self) -> None:
        """The officer's stick button: the office's receipts on the stick acknowledge their
        records, then every record waiting for a link goes on it (``kiosk queue import``
        then ``kiosk queue export``, on a worker); the home then says what happened."""
        self.touch()
        sync = self.stick_sync
        if self.screen != "staff" or self.busy or not self.staff_id or sync is None:
            return
        self.usb_lines = [Msg.of(USB_WORKING, "info")]
        self.staff_message = NONE
        logins, staff_id = self._logins, self.staff_id

        def ended(lines: list[Msg], ok: bool) -> None:
            self.stick_writing = False
            if logins == self._logins and self.staff_id:  # the same officer's login
                self.usb_lines = lines
                self._enter_staff_home()  # a record acknowledged may be one listed
                return
            # The officer logged out (or took the card) while the stick was written: the
            # screen shown says the stick may come out; the officer's next login shows
            # what it did.
            self._stick_kept = (staff_id, lines)
            self.notice = Msg.of(STICK_DONE if ok else STICK_FAILED, "info")
            self._notice_at = self.clock()

        def then(report: Any) -> None:
            ended(usb_summary(report), True)  # logged whoever reads it

        def failed(error: BaseException) -> None:
            log.error("stick: %s", error)
            ended([Msg.of(USB_FAILED)], False)

        if self._run(sync, then, on_error=failed):
            self.stick_writing = True

    @property
    def stick_line(self) -> Msg:
        """What the welcome and the closed screen say while the stick button's work runs
        with the officer gone (logged out, the card out): not to remove the stick."""
        if self.stick_writing and not (self.staff_id and self.screen == "staff"):
            return Msg.of(USB_WORKING, "info")
        return NONE

    @property
    def stick_notice(self) -> Msg:
        """The closed screen's line of the stick: :attr:`stick_line`, or that it is done
        (the welcome shows every notice; the closed screen only these)."""
        if self.stick_line:
            return self.stick_line
        return self.notice if self.notice and self.notice.msgid in STICK_NOTICES else NONE

    def _may_begin(self) -> bool:
        """A new or continued enrollment may begin (the home offers none otherwise, and
        says why: ``closed_category``)."""
        return self.accepting and self.runtime is not None

    # -- a finger that cannot be scanned ----------------------------------------------------
    def ask_missing(self) -> None:
        self.touch()
        if self.can_record_missing:
            self.missing_picker = True
            self.view.update()

    def close_missing(self) -> None:
        self.touch()
        self.missing_picker = False
        self.view.update()

    def record_missing(self, reason: str) -> None:
        """The officer names why the finger shown cannot be scanned: recorded, and on to
        the next finger (a scan of it still waiting on the sensor is dropped)."""
        self.touch()
        session = self.session
        self.missing_picker = False
        if not self.can_record_missing or session is None or reason not in MISSING_REASON_NAMES:
            self.view.update()
            return
        if self.busy and not self.waiting_finger:  # a commit runs: not now
            self.view.update()
            return
        code = self.current_finger
        try:
            session.record_missing_finger(code, reason)  # in memory, until the step's commit
        except Exception as exc:
            self._fail(exc, "fingerprint")
            self.view.update()
            return
        log.info("finger %s recorded missing by the officer", code)
        self._visit += 1  # the waiting scan's answer, and the finger's pause, are dropped
        self.busy = False
        self.waiting_finger = False
        self.finger_tries = 0
        self.finger_png = b""
        self.message = NONE
        self.fingers_missing[code] = reason
        if code in self.fingers_done:
            self.fingers_done.remove(code)
        self._next_finger(say=True)  # the next finger by name, not the one excluded

    @property
    def fingers_left(self) -> list[str]:
        """The fingers neither taken nor recorded missing."""
        return [c for c in FINGERS if c not in self.fingers_done
                and c not in self.fingers_missing]


USB_WORKING = N_("Working with the USB stick. Do not remove it.")
#: Said on the welcome (or the closed screen) when the stick's work ends with its officer
#: gone; that officer's next login shows what it did. One line each on the 7-inch panel
#: (the closed screen has no height to spare under the longest reason).
STICK_DONE = N_("The USB stick is done: it can be removed.")
STICK_FAILED = N_("The USB stick failed; nothing was lost.")
STICK_NOTICES = frozenset({STICK_DONE, STICK_FAILED})
USB_NO_STICK = N_("No USB stick found. Insert the stick, wait a few seconds and try again.")
USB_READ_ONLY = N_("The stick cannot be written: it is write-protected or damaged.")
USB_NOT_WRITABLE = N_("The kiosk may not write to this stick. Ask a maintainer.")
USB_BUSY = N_("The kiosk is already writing records to a USB stick. Do not remove the "
              "stick; try again in a minute.")
USB_FAILED = N_("The stick failed. Nothing was lost: the records stay on the kiosk. Try "
                "another stick.")
USB_KIOSK_FAILED = N_("The records are on the stick, but the kiosk could not note it: a "
                      "maintainer must check the kiosk. Nothing was lost: the records stay on "
                      "the kiosk too.")
USB_ACKNOWLEDGED = N_("Records confirmed by the office: {count}.")
USB_RECEIPT_PROBLEMS = N_("Problems with the office's files on the stick: {count}. A "
                          "maintainer can see them with kiosk queue import.")
USB_RECEIPTS_UNREAD = N_("The office's confirmations on the stick were not read: the kiosk "
                         "lacks the office's key. Ask a maintainer.")
USB_REMOVED = N_("Old records the office confirmed were removed from the stick: {count}.")
USB_COPIED = N_("Records copied to the stick: {count}.")
USB_REWRITTEN = N_("Records the office found damaged on the stick, copied again: {count}. "
                   "If this happens again, use another stick.")
USB_FULL = N_("The stick is full: no record could be copied.")
USB_NOTHING = N_("No records are waiting for the stick.")
USB_LEFT = N_("Records still waiting on the kiosk: {count}. Use another stick.")
USB_UNREADABLE = N_("Records that could not be read: {count}. A maintainer must check "
                    "the journal.")
USB_TOO_LARGE = N_("Records too large for a stick: {count}. They go when the kiosk has a "
                   "link.")
USB_DONE = N_("You may remove the stick. Take it to the office.")
USB_REMOVE = N_("You may remove the stick.")


QUEUE_WAITING = N_("Records on this kiosk not yet sent: {count}.")
QUEUE_ON_STICK = N_("Records on a USB stick, waiting for the office's confirmation: {count}.")
QUEUE_REFUSED = N_("Records refused by Dukcapil: {count}. A maintainer must check them.")
QUEUE_STICK_REFUSED = N_("Records on a USB stick that the office refused: {count}. A "
                         "maintainer must check them.")
#: The key :func:`record_counts` adds to the counts by state: of ``exported``, those the
#: office refused in a stick's receipts file (their last error says why).
STICK_REFUSED = "exported_refused"


def record_counts(journal: Any) -> dict[str, int]:
    """The journal's counts by state, for :func:`queue_summary`, with
    :data:`STICK_REFUSED` when some records on a stick were refused by the office."""
    counts = dict(journal.counts())
    if counts.get("exported"):
        refused = sum(1 for r in journal.records("exported")
                      if (r.last_error or "").startswith(REFUSED_BY_OFFICE))
        if refused:
            counts[STICK_REFUSED] = refused
    return counts
QUEUE_NONE = N_("Every record made on this kiosk has reached Dukcapil.")


def queue_summary(counts: dict[str, int]) -> list[Msg]:
    """Where the records stand (``Journal.counts``): waiting to be sent (sealed or
    uploading), on a stick without the office's confirmation yet (exported), refused
    (rejected); or that none is left to send. Nothing while the counts are unknown ({})."""
    if not counts:
        return []
    waiting = counts.get("sealed", 0) + counts.get("uploading", 0)
    stick_refused = counts.get(STICK_REFUSED, 0)
    on_stick = counts.get("exported", 0) - stick_refused
    refused = counts.get("rejected", 0)
    lines: list[Msg] = []
    if waiting:
        lines.append(Msg.of(QUEUE_WAITING, "info", count=waiting))
    if on_stick:
        lines.append(Msg.of(QUEUE_ON_STICK, "info", count=on_stick))
    if stick_refused:
        lines.append(Msg.of(QUEUE_STICK_REFUSED, count=stick_refused))
    if refused:
        lines.append(Msg.of(QUEUE_REFUSED, count=refused))
    return lines or [Msg.of(QUEUE_NONE, "ok")]


def usb_summary(report: Any) -> list[Msg]:
    """What the officer reads after the stick button (a :class:`~kiosk.upload.usb.
    StickReport`): counts only, in the screen's language; the details are the log's."""
    # kiosk.upload.usb's problem kinds (the screens do not import the uploader's package)
    problem = {"no_stick": USB_NO_STICK, "read_only": USB_READ_ONLY,
               "not_writable": USB_NOT_WRITABLE}
    if report.problem:
        log.info("stick: %s", report.why)
        if not report.stick_read:  # nothing was done
            return [Msg.of(problem.get(report.problem, USB_FAILED))]
    lines: list[Msg] = []
    if report.problem == "busy":  # another export writes: never "you may remove the stick"
        if report.imported.acknowledged:
            lines.append(Msg.of(USB_ACKNOWLEDGED, "ok", count=len(report.imported.acknowledged)))
        return [*lines, Msg.of(USB_BUSY)]
    imported, exported = report.imported, report.exported
    cleanup = report.cleanup
    log.info("stick: %d acknowledged, %d already, %d problems; %d bundles of confirmed "
             "records removed (%d bytes); %d exported of %d waiting, %d left",
             len(imported.acknowledged), imported.already, len(imported.problems),
             len(cleanup.removed), cleanup.freed, len(exported.exported), report.waiting,
             report.left)
    for line in imported.problems + cleanup.problems + (
            [exported.error] if exported.error else []):
        log.warning("stick: %s", line)
    if imported.acknowledged:
        lines.append(Msg.of(USB_ACKNOWLEDGED, "ok", count=len(imported.acknowledged)))
    if imported.problems:
        lines.append(Msg.of(USB_RECEIPT_PROBLEMS, count=len(imported.problems)))
    if report.receipts_unread:
        lines.append(Msg.of(USB_RECEIPTS_UNREAD))
    if cleanup.removed:  # why a stick that was full has room again
        lines.append(Msg.of(USB_REMOVED, "info", count=cleanup.records))
    if report.problem:  # read, not written: a read-only stick, one the kiosk may not write
        lines.append(Msg.of(problem.get(report.problem, USB_FAILED)))
        if report.problem == "read_only" and report.left:
            lines.append(Msg.of(USB_LEFT, count=report.left))
        elif not report.waiting:
            lines.append(Msg.of(USB_NOTHING, "info"))
        lines.append(Msg.of(USB_REMOVE, "info"))
        return lines
    copied = len(exported.exported)
    if copied:
        lines.append(Msg.of(USB_COPIED, "ok", count=copied))
    elif exported.did_not_fit and not exported.error:
        lines.append(Msg.of(USB_FULL))
    elif not report.waiting:
        lines.append(Msg.of(USB_NOTHING, "info"))
    if report.rewritten:  # the office refused their copy here: said, with what to do
        lines.append(Msg.of(USB_REWRITTEN, count=len(report.rewritten)))
    if exported.journal_failed:  # the stick is fine: another one would not help
        lines.append(Msg.of(USB_KIOSK_FAILED))
    elif exported.error:
        lines.append(Msg.of(USB_FAILED))
    too_large = len(exported.too_large)
    if len(exported.unreadable) > too_large:  # another stick would not help them
        lines.append(Msg.of(USB_UNREADABLE, count=len(exported.unreadable) - too_large))
    if too_large:  # they read: the upload takes them
        lines.append(Msg.of(USB_TOO_LARGE, "info", count=too_large))
    if report.left and not exported.error:
        lines.append(Msg.of(USB_LEFT, count=report.left))
    if exported.journal_failed:  # its last bundle is whole: the office can take it
        lines.append(Msg.of(USB_DONE, "info"))
    elif not exported.error:  # the office is told only of a stick that carries new records
        lines.append(Msg.of(USB_DONE if copied else USB_REMOVE, "info"))
    return lines


def _login_message(error: BaseException) -> Msg:
    """What the PIN pad says for a refused login: wrong PIN with the tries left, blocked
    (the card's own messages in both languages), not a staff card; anything else (the
    card pulled out, an answer that makes no sense) is "could not be read"."""
    from kiosk.hardware.card.errors import NotAStaffCard

    if isinstance(error, NotAStaffCard):  # its English text carries the card's answer
        return Msg.of(NOT_A_STAFF_CARD)
    if isinstance(error, InvalidInput):
        return Msg.pair(error.message_id, error.message_en)
    return Msg.of(STAFF_LOGIN_FAILED)

