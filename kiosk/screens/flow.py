"""The citizen's flow through the screens, without Kivy: one object between the touch
screens and the :class:`~kiosk.enrollment.session.EnrollmentSession`.

The flow owns the session, submits every blocking call (a journal commit, a capture)
through the executor (the app's :class:`~kiosk.screens.bridge.UiBridge`: work on a worker
thread, the answer back on the UI thread), and holds what the screens show. ``.kv`` files
call only ``app.flow.<verb>(...)``; :meth:`Flow.show` is the only code that changes the
screen. A screen never reaches a device or the journal.

The flow also keeps the promises made to the citizen in the queue behind:

* **privacy**: after ``idle_timeout_s`` without a touch a warning counts down
  ``idle_warning_s`` (WCAG 2.2.1: at least 20 s to continue with one tap); then the session
  is aborted and every value the screens showed is wiped (:meth:`Flow.wipe`);
* **one capture at a time**: a tap while a capture or a commit runs is ignored, and the
  session itself refuses a second capture (``DeviceBusy``);
* **fail closed, say why**: every error becomes a message for the citizen
  (:func:`~kiosk.screens.messages.for_error`), never a stack trace; a kiosk that may not
  take a new recording shows the closed screen, but only between citizens.

This module owns the :class:`Flow` itself: its state, :meth:`Flow.show`, running work
through the executor, and the welcome, consent, signature, review and help verbs. Its other
jobs live beside it (every public name is importable from here):

* :mod:`kiosk.screens.flow_settings`: :class:`FlowSettings` from config, and the
  :class:`Executor`, :class:`View` and :class:`Speaker` protocols;
* :mod:`kiosk.screens.flow_screens`: the step-to-screen map, the session screens, prompts;
* :mod:`kiosk.screens.flow_privacy`: touch, the idle and receipt timers, cancel, the wipe;
* :mod:`kiosk.screens.flow_forms` and :mod:`kiosk.screens.flow_capture`: the typing and the
  capture steps.

Tests drive it with a synchronous executor and a fake view (tests/unit/screens).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from kiosk.core.vocabulary import FINGERS, LANGUAGES
from kiosk.enrollment.nik import Nik
from kiosk.enrollment.ports import ReviewSummary
from kiosk.enrollment.session import EnrollmentSession
from kiosk.enrollment.steps import Step
from kiosk.errors import DeviceBusy, DeviceError, RefusalCategory, SessionExpired
from kiosk.i18n import DEFAULT_LANGUAGE, catalog_ids
from kiosk.screens import messages as m
from kiosk.screens.flow_capture import PREVIEW_JOIN_S, CaptureSteps
from kiosk.screens.flow_forms import FormSteps
from kiosk.screens.flow_privacy import PrivacyTimers
from kiosk.screens.flow_screens import (
    FINGER_NAMES,
    PHOTO_PROMPT,
    PROMPTS,
    SCREEN_FOR_STEP,
    SESSION_SCREENS,
)
from kiosk.screens.flow_settings import Executor, FlowSettings, Speaker, View
from kiosk.screens.flow_staff import StaffSteps
from kiosk.screens.forms import DemographicsForm, IdentityForm
from kiosk.screens.memory import release_free_heap
from kiosk.screens.messages import NONE, Msg

__all__ = [
    "FINGER_NAMES",
    "PROMPTS",
    "SCREEN_FOR_STEP",
    "SESSION_SCREENS",
    "Executor",
    "Flow",
    "FlowSettings",
    "Speaker",
    "View",
]

log = logging.getLogger(__name__)

#: The screens whose title bar has the language button (:meth:`Flow.switch_language`): a
#: session's, and its receipt. Not the welcome (where the language is chosen), the closed
#: screen, nor the officer's home (its own button: ``set_staff_language``).
LANGUAGE_SWITCH_SCREENS = SESSION_SCREENS | {"done"}


class Flow(FormSteps, CaptureSteps, PrivacyTimers, StaffSteps):
    """The citizen's way from welcome to receipt; see the module docstring."""

    def __init__(self, executor: Executor, view: View, *, settings: FlowSettings | None = None,
                 speaker: Speaker | None = None, language: str = DEFAULT_LANGUAGE,
                 clock: Callable[[], float] = time.monotonic,
                 today: Callable[[], date] = date.today) -> None:
        self.executor = executor
        self.view = view
        self.settings = settings or FlowSettings()
        self.speaker = speaker
        if speaker is not None and hasattr(speaker, "on_disabled"):
            # espeak-ng failed on the speaker's thread: the view redraws on the UI thread,
            # without Repeat (:attr:`speech_on`).
            speaker.on_disabled = lambda: executor.post(self.view.update)
        self.default_language = language
        self.clock = clock
        self.today = today
        self.runtime: Any = None  # kiosk.runtime.Runtime, once opened
        self.runtime_error = ""
        self.runtime_error_category = ""
        #: Told (kind, reason) when a capture finds its device gone, not merely slow (the
        #: app's RuntimeKeeper.device_lost): no new session begins until it answers again.
        self.on_device_lost: Callable[[str, str], None] | None = None
        self.accepting = False
        # Why the closed screen shows: the check's English reason (the technical detail
        # for the maintainer) and its RefusalCategory (said in the screen's language).
        self.closed_reason = ""
        self.closed_category = ""
        self._logged_acceptance: tuple[bool, str] | None = None  # _log_acceptance's last
        # The last check's answer as it came (set_acceptance's arguments), before a
        # runtime that did not open (or opened without a device) overrides it.
        self._checked: tuple[bool, str, bool, str] | None = None
        self.on_battery = False
        self.help_active = False
        self.screen = "welcome"
        self._gen = 0  # bumped by wipe(): answers for an older citizen are dropped
        # Bumped each time a step is entered or left from review (Change, Back): answers,
        # countdowns and finger pauses of the step as it was are dropped.
        self._visit = 0
        # Bumped each time Next on the demographics is refused: the screen then brings the
        # first problem into view (never reset: the screen compares it with the last seen).
        self.problems_shown = 0
        self._preview_stop: threading.Event | None = None
        self._preview_thread: threading.Thread | None = None
        self._timers: list[Any] = []
        self._init_staff()  # the officer's login outlives a citizen's wipe
        self._reset()

    # -- state the screens read ----------------------------------------------------------
    def _reset(self) -> None:
        self.language = self.default_language
        self.session: EnrollmentSession | None = None
        self.busy = False
        self.message: Msg = NONE
        # Shown on the welcome after an idle wipe (flow_privacy), until a touch or
        # WIPE_NOTICE_S.
        self.notice: Msg = NONE
        self._notice_at = 0.0
        self.confirm_cancel = False
        self.idle_warning = False
        self.idle_left_s = 0
        self._last_touch = self.clock()
        self._last_keep_alive = 0.0
        self.identity = IdentityForm(today=self.today)
        self.nik: Nik | None = None
        # The No. KK's (province, regency, kecamatan) codes, and its regency's villages by
        # kecamatan when that is not the kiosk's (read on the worker with the identity):
        # the family-card address is of the KK's region (flow_forms.kk_regency).
        self.kk_region: tuple[str, str, str] | None = None
        self._kk_villages: dict[str, list[tuple[str, str]]] | None = None
        self.form = DemographicsForm.blank()
        self.countdown = 0
        self.portrait_tries = 0
        self.portrait_jpeg = b""  # the photo taken, shown for "use it / retake"
        self.preview_msg: Msg = NONE
        self.finger_index = 0
        self.finger_tries = 0
        self.finger_png = b""  # the last captured finger, shown
        # The sensor is waiting for a finger (up to its capture timeout): busy, but the
        # citizen may still cancel (nothing is being saved; a late scan is ignored).
        self.waiting_finger = False
        self.fingers_done: list[str] = []
        self.fingers_missing: dict[str, str] = {}  # recorded by an officer: code -> reason
        self.summary: ReviewSummary | None = None
        # The details form as the review showed it, while a step is changed from review:
        # Back brings it back (a half-typed change is not kept for the next Change).
        self._form_kept: DemographicsForm | None = None
        self.receipt_id = ""
        # The receipt's timer (flow_privacy): when it was shown, when it goes, the whole
        # seconds left that its screen shows, and whether the short warning was spoken.
        self._receipt_at = 0.0
        self._receipt_until = 0.0
        self.receipt_left_s = 0
        self._receipt_warned = False

    @property
    def generation(self) -> int:
        """Bumped by every wipe: the view clears its widgets when it changes."""
        return self._gen

    @property
    def need_officer(self) -> bool:
        """Three failed tries (``capture_tries``) at this capture: ask for an officer.
        Not while a fourth photo goes well (the countdown or the capture runs, or the live
        check says "Good. Hold still." with no failed try on the screen): "Or press HELP"
        in red under "Good" read as an alarm, and invited a tap on Help mid-photo. Nor
        once the officer called has logged in: the officer is the help."""
        tries = self.settings.capture_tries
        session = self.session
        if self.staff_id and session is not None and session.staff_id == self.staff_id:
            return False  # the officer is here (logged in, the session taken over)
        if self.screen == "portrait":
            going_well = self.countdown > 0 or self.busy or (
                not self.message and self.preview_msg.kind == "ok")
            return self.portrait_tries >= tries and not going_well
        return self.screen == "fingerprints" and self.finger_tries >= tries

    @property
    def speech_on(self) -> bool:
        """Prompts are spoken, so the screens offer Repeat: a speaker, not gone quiet (off
        in the config, or espeak-ng missing or failed: no sound device)."""
        speaker = self.speaker
        return speaker is not None and bool(getattr(speaker, "enabled", True))

    @property
    def background_note(self) -> Msg:
        """Beside the photo taken: the e-KTP background colour of the citizen's year of
        birth, and that this is why (nothing when the NIK is not known here)."""
        if self.nik is None:
            return NONE
        parity = "even" if self.nik.birth_date.year % 2 == 0 else "odd"
        return Msg.of(m.BACKGROUND_FOR_YEAR[parity], "info")

    @property
    def help_wanted(self) -> bool:
        """What the screen says sends the citizen to HELP: three failed tries, or a
        message that asks for an officer (a device out of order, the disk full). The
        screens then draw their Help button as the way forward."""
        if self.need_officer or self.message.msgid in m.ASKS_FOR_HELP:
            return True
        return self.screen == "portrait" and self.preview_msg.msgid in m.ASKS_FOR_HELP

    @property
    def home(self) -> str:
        """Where the kiosk waits between people: the officer's home while one is logged in
        (also while no enrollment may begin: the officer may still copy records to a
        stick), else the welcome, or the closed screen while no enrollment may begin."""
        if self.staff_id:
            return "staff"
        return "welcome" if self.accepting else "closed"

    @property
    def current_finger(self) -> str:
        return FINGERS[min(self.finger_index, len(FINGERS) - 1)]

    @property
    def can_switch_language(self) -> bool:
        """The screen shown has the language button (:meth:`switch_language`)."""
        return self.screen in LANGUAGE_SWITCH_SCREENS

    @property
    def editing(self) -> bool:
        return self.session is not None and self.session.is_editing

    def t(self, msgid: str) -> str:
        """``msgid`` in the citizen's language (the screens' ``tr``)."""
        return Msg.of(msgid).text(self.language)

    # -- start-up, acceptance, closed ----------------------------------------------------
    def set_runtime(self, runtime: Any, error: str = "", category: str = "") -> None:
        """The runtime opened, or why not (``error``, and its RefusalCategory). Opened
        with an ``error``: open without a device (a camera unplugged): no enrollment may
        begin, but an officer can log in and use the stick; called again, with no
        ``error``, once the device opens. Takes effect at once (with the last check's
        answer): a citizen never begins on a kiosk without its camera."""
        first = runtime is not None and runtime is not self.runtime
        self.runtime, self.runtime_error = runtime, error
        self.runtime_error_category = category if error else ""
        recovery = getattr(runtime, "recovery", None)
        if first and recovery is not None and recovery.discarded and self.session is None:
            # A citizen's recording the restart cut short is gone: the welcome says so to
            # whoever stands there (a citizen waiting for the kiosk to come back).
            self.notice = Msg.of(m.RESTARTED, "info")
            self._notice_at = self.clock()
            self.view.update()
        if self._checked is not None:
            self.set_acceptance(*self._checked)
        else:
            self._set_led()

    def runtime_failed(self, error: BaseException) -> None:
        """The runtime did not open (the app tries again): closed, with the error's reason
        and kind (a NotAccepting says both: a device, the journal, the sealing keys); any
        other error is a start-up failure."""
        reason = getattr(error, "reason", None) or f"{type(error).__name__}: {error}"
        category = getattr(error, "category", "") or RefusalCategory.STARTUP
        self.set_runtime(None, reason, category)

    def acceptance_check_failed(self, error: BaseException) -> None:
        """The acceptance check itself raised: closed, an internal failure."""
        self.set_acceptance(False, f"internal check failed: {type(error).__name__}", False,
                            RefusalCategory.INTERNAL)

    def set_acceptance(self, accepting: bool, reason: str, on_battery: bool,
                       category: str = "") -> None:
        """From the app's periodic check (``category``: the refusal's RefusalCategory). A
        running session may finish; a new one may not start, and the closed screen shows
        only between citizens. A runtime that did not open, or opened without a device,
        overrides it (``runtime_error``)."""
        self._checked = (accepting, reason, on_battery, category)
        if self.runtime_error:
            accepting, reason = False, self.runtime_error
            category = self.runtime_error_category
        self._log_acceptance(accepting, reason, category)
        self.accepting, self.closed_reason, self.on_battery = accepting, reason, on_battery
        self.closed_category = "" if accepting else category
        if self.screen == "welcome" and not accepting:
            self.show("closed")
        elif self.screen == "closed" and accepting:
            self.show(self.home)
        else:
            self.view.update()
        self._set_led()

    def _log_acceptance(self, accepting: bool, reason: str, category: str) -> None:
        """One log line when the kiosk stops or starts taking enrollments, or stops for
        another kind of reason (the closed screen's reason is cut to a few lines; the
        journal keeps it whole). Not on every check: a battery's percentage changes."""
        state = (accepting, "" if accepting else (category or reason))
        if state == self._logged_acceptance:
            return
        first = self._logged_acceptance is None
        self._logged_acceptance = state
        if not accepting:
            log.warning("not taking enrollments: %s", reason or "(no reason given)")
        elif not first:
            log.info("taking enrollments again")

    # -- navigation ---------------------------------------------------------------------
    def show(self, screen: str) -> None:
        """The only place the screen changes."""
        leaving = self.screen
        if leaving == "portrait" and screen != "portrait":
            self._stop_preview()
        self.screen = screen
        self.message = NONE
        self.confirm_cancel = False
        self._speak(screen)  # before a capture starts: its outcome is said after
        if screen == "portrait":
            self._start_preview()
        if screen == "fingerprints" and leaving != "fingerprints":
            self._capture_finger()
        if screen == "done":
            self._start_receipt()
        if screen == "staff":
            self._enter_staff_home()
        self.view.show(screen)
        self.view.update()
        self._set_led()
        if leaving != screen:
            # A step's captures and checks leave free heap pages in the arenas of the
            # threads that made them: handed back, they do not add up over the flow.
            self.executor.submit(release_free_heap, lambda _result, _error: None)

    def _show_step(self) -> None:
        assert self.session is not None  # noqa: S101
        step = self.session.step
        if step is Step.REVIEW:
            self.summary = self.session.review()
            self._form_kept = None
        self.show(SCREEN_FOR_STEP[step])
        if step is Step.PORTRAIT and not self.session.portrait_fits:
            self._portrait_again()

    def _portrait_again(self) -> None:
        """A new NIK of another year's background colour: the photo is asked for again."""
        self.message = Msg.of(m.PORTRAIT_BACKGROUND, "info")
        self._say(self.message)
        self.view.update()

    def _speak(self, screen: str, *, with_message: bool = False) -> None:
        """The instruction of the screen in its present state (:meth:`prompt_said`), and
        with ``with_message`` the message on the screen: what Repeat says."""
        said = self.prompt_said(screen)
        if with_message and not (screen == "fingerprints" and self._finger_taken):
            said.extend(self._message_said())
        self._say(*said)

    def prompt_said(self, screen: str) -> list[Msg | str]:
        """What ``screen`` asks for as it is now: said when the screen, or its state,
        comes, and by Repeat. The photo taken: whether it is good (and its background
        colour), not "Tap Take photo", a button no longer there; the finger step: the
        finger shown by name, or once one is taken, to lift it and the next one's name."""
        if screen == "portrait" and self.portrait_jpeg:
            return [PHOTO_PROMPT, self.background_note]
        if screen == "fingerprints":
            if self._finger_taken:
                return self._taken_said()
            return [PROMPTS[screen], FINGER_NAMES[self.current_finger]]
        return [PROMPTS.get(screen, "")]

    def _message_said(self) -> list[Msg | str]:
        """The message on the screen as spoken: after three tries, with the call for an
        officer the screen adds."""
        return [self.message, m.CALL_OFFICER if self.need_officer else ""]

    def _say(self, *said: Msg | str) -> None:
        """Speak fixed catalog messages, as one utterance, in the citizen's language. A
        message with a value filled in (a field's name, a number) is left out; the speaker
        refuses anything not in the catalog, so no personal value is ever spoken."""
        if self.speaker is None:
            return
        known = catalog_ids("id")
        msgids = [msgid for msgid in map(_spoken_msgid, said) if msgid in known]
        if not msgids:
            return
        try:
            self.speaker.say_messages(msgids, self.language)
        except Exception as exc:  # speech is a help, never a reason to stop
            log.warning("speech failed: %s", type(exc).__name__)

    def repeat_prompt(self) -> None:
        self.touch()
        self._speak(self.screen, with_message=True)

    def set_language(self, language: str) -> None:
        if language in LANGUAGES:
            self.language = language
            self.view.update()

    def switch_language(self) -> None:
        """The language button of a session's title bar (and of the help notice): the
        screen in the other language at once, everything typed and captured kept, the
        messages shown (the domain's, bilingual) in it too, and what Repeat would say said
        again in it. The record's language is the one consent is given in: switched on the
        consent screen, the session's too; after that, the screens' only."""
        self.touch()
        if not self.can_switch_language:
            return
        language = next(other for other in LANGUAGES if other != self.language)
        self.language = language
        session = self.session
        if session is not None and session.step is Step.CONSENT:
            session.switch_language(language)
        log.info("language switched on the %s screen", self.screen)
        if self.help_active:
            self._say(m.HELP_CALLED, m.HELP_WAIT)
        else:
            self._speak(self.screen, with_message=True)
        self.view.update()

    # -- running work --------------------------------------------------------------------
    def _run(self, work: Callable[[], Any], then: Callable[[Any], None], *,
             device: str = "", on_error: Callable[[BaseException], None] | None = None
             ) -> bool:
        """Run ``work`` off the UI thread; ``then(result)`` back on it. False (and nothing
        runs) while another call is still running: a second tap never starts a second
        capture or commit."""
        if self.busy:
            return False
        self.busy = True
        gen = (self._gen, self._visit)
        self.view.update()

        def done(result: Any, error: BaseException | None) -> None:
            if gen != (self._gen, self._visit):  # the citizen left (cancel, idle, Back)
                return
            self.busy = False
            if error is None:
                then(result)
            elif isinstance(error, SessionExpired):
                self.wipe("session expired")  # the welcome says why (Flow.notice)
            elif on_error is not None:
                on_error(error)
            else:
                self._fail(error, device)
            self.view.update()

        self.executor.submit(work, done)
        return True

    def _fail(self, error: BaseException, device: str = "") -> None:
        if not isinstance(error, DeviceBusy):
            log.warning("%s step failed: %s", self.screen, type(error).__name__)
        self._check_lost(error, device)
        self.message = m.for_error(error, device)
        self._say(*self._message_said())  # a citizen who listens hears what went wrong

    def _check_lost(self, error: BaseException, device: str) -> None:
        """A device error that is not temporary (the sensor's line gone and not back, the
        camera's frames stopped): the device is lost. The citizen here may still try
        again or call an officer; the next one is not let in until it answers again."""
        if (device and self.on_device_lost is not None and isinstance(error, DeviceError)
                and not getattr(error, "temporary", False)):
            self.on_device_lost(device, f"{type(error).__name__}: {error}")

    # -- welcome, consent ----------------------------------------------------------------
    def start(self, language: str) -> None:
        """The citizen chose a language on the welcome screen: a new session begins."""
        self.touch()
        if self.busy or self.screen != "welcome":
            return
        self.language = language if language in LANGUAGES else self.default_language
        if not self.accepting or self.runtime is None:
            self.show("closed")
            return
        self._begin_session()

    def _begin_session(self, staff_id: str | None = None) -> None:
        """A new session in the chosen language (assisted when an officer begins it), at
        its consent step."""
        runtime = self.runtime
        self.session = EnrollmentSession(
            runtime.store, fingerprint=runtime.devices.get("fingerprint"),
            camera=runtime.devices.get("camera"), staff_id=staff_id,
            timeout_s=self.settings.session_timeout_s,
            capture_timeout_s=self.settings.capture_timeout_s, today=self.today,
            fingerprint_limits=self.settings.fingerprint_limits,
            fingerprint_storage=self.settings.fingerprint_storage)
        self._begun_by = staff_id
        # In memory only (the record begins at consent): no worker round trip needed.
        self.session.choose_language(self.language)
        self._show_step()

    def consent(self, accepted: bool) -> None:
        self.touch()
        session = self.session
        if session is None or self.screen != "consent":
            return
        if not accepted:
            self.wipe("consent declined")
            return
        self._run(lambda: session.give_consent(True), lambda _r: self._show_step())

    # -- signature ----------------------------------------------------------------------------
    def submit_signature(self, strokes: list[list[tuple[float, float, float]]]) -> None:
        self.touch()
        session = self.session
        if session is None or self.screen != "signature":
            return
        copied = [list(stroke) for stroke in strokes]

        def work() -> None:
            # Here, on the worker: Pillow's drawing and fonts are not on the start's way.
            from kiosk.enrollment.signature import render_signature_png

            session.submit_signature(render_signature_png(copied))

        self._run(work, lambda _r: self._show_step())

    # -- review, edit, confirm ----------------------------------------------------------------
    def edit(self, step_name: str) -> None:
        self.touch()
        session = self.session
        if session is None or self.screen != "review" or self.busy:
            return
        step = Step(step_name)
        session.edit(step)
        self._form_kept = copy.deepcopy(self.form)
        self._fresh_step()
        if step is Step.IDENTITY:
            # The numbers the review showed, to correct rather than type again (32 digits
            # for one wrong one); the keys go to the NIK, a tap on KK moves them there.
            self.identity.clear()
            if self.summary is not None:
                self.identity.nik = self.summary.nik.digits
                self.identity.kk = self.summary.kk.digits
        self._show_step()

    def cancel_edit(self) -> None:
        """Back: to review, the step as it was before Change."""
        self.touch()
        session = self.session
        if session is None or not session.is_editing:
            return
        if self.screen == "portrait" and not session.portrait_fits:
            self._portrait_again()  # Back cannot keep the photo of the other colour
            return
        if self.busy and self.waiting_finger:
            # The sensor waits for a finger (up to its timeout): Back does not wait for it,
            # and the scan that ends later is dropped (``_visit``, and the session's own).
            self._fresh_step()
            self.busy = False

        def then(_r: object) -> None:
            if self._form_kept is not None:
                self.form, self._form_kept = self._form_kept, None
            self.identity.clear()  # the digits live on only inside the session
            self._fresh_step()
            self._show_step()

        self._run(session.cancel_edit, then)

    def _fresh_step(self) -> None:
        """A step entered or left from review starts afresh: no photo taken, no countdown,
        from the first finger."""
        self._visit += 1
        self.portrait_jpeg = b""
        self.portrait_tries = 0
        self.countdown = 0
        self.finger_index = 0
        self.finger_tries = 0
        self.finger_png = b""
        self.fingers_done = []
        self.fingers_missing = {}
        self.waiting_finger = False

    def confirm(self) -> None:
        self.touch()
        session = self.session
        if session is None or self.screen != "review":
            return

        def then(record_id: str) -> None:
            log.info("record %s enrolled at the touchscreen", record_id)
            self._clear_personal()
            self.receipt_id = record_id
            self.show("done")

        self._run(session.confirm, then)

    def finish(self) -> None:
        """Done on the receipt screen: back to welcome for the next citizen."""
        self.wipe("finished")

    # -- help -------------------------------------------------------------------
    def call_help(self) -> None:
        """The help button (GPIO or on screen): the LED blinks and the screen says so."""
        self.touch()
        if not self.help_active:
            log.info("help requested at the %s screen", self.screen)
        self.help_active = True
        self._say(m.HELP_CALLED, m.HELP_WAIT)
        gpio = self._device("gpio")
        if gpio is not None:
            try:
                gpio.show_fault()  # fast blink: seen from the counter
                gpio.beep(2)
            except Exception as exc:
                log.warning("help LED failed: %s", type(exc).__name__)
        self.view.update()

    def close_help(self) -> None:
        self.touch()
        self.help_active = False
        self._set_led()
        self.view.update()

    # -- helpers ----------------------------------------------------------------------------------
    def _device(self, kind: str) -> Any:
        runtime = self.runtime
        return None if runtime is None else runtime.devices.get(kind)

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        self._timers.append(self.executor.call_later(delay, fn))
        if len(self._timers) > 32:
            del self._timers[:16]

    def _set_led(self) -> None:
        gpio = self._device("gpio")
        if gpio is None or self.help_active:
            return
        try:
            if self.screen == "closed":
                gpio.show_fault()
            elif self.screen in SESSION_SCREENS:
                gpio.show_busy()
            else:
                gpio.show_ready()
        except Exception as exc:
            log.warning("status LED failed: %s", type(exc).__name__)

    def close(self) -> None:
        """The app stops: the preview thread ends before the process does. It is a daemon
        thread that may be inside OpenCV's face check: left running while the interpreter
        exits, OpenCV's own threads are torn down under it ("terminate called without an
        active exception": the process aborts)."""
        thread = self._preview_thread
        self._stop_preview()
        if thread is not None:
            thread.join(PREVIEW_JOIN_S)
            if thread.is_alive():  # a camera stuck in a read: the device's close frees it
                log.warning("the preview thread did not stop within %.0f s", PREVIEW_JOIN_S)


def _spoken_msgid(said: Msg | str) -> str:
    """The catalog msgid to speak for ``said`` ("" for none): a catalog message without
    values filled in, or a domain message whose English text is a catalog msgid."""
    if isinstance(said, str):
        return said
    if said.msgid:
        return "" if said.args else said.msgid
    return said.en_text
