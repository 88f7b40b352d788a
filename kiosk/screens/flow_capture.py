"""The flow's capture steps: the portrait (live preview with the quality message, the
countdown, the photo to keep or retake) and the ten fingers (captured one after the other
as the sensor sees them). A mixin of :class:`~kiosk.screens.flow.Flow`; captures run on
the executor's worker, the preview on its own thread, and every answer comes back on the
UI thread."""

from __future__ import annotations

import threading
import time
from typing import Any

from kiosk.core.vocabulary import FINGERS
from kiosk.enrollment.quality import QualityReport, portrait_quality_rgb
from kiosk.errors import DeviceBusy
from kiosk.screens import messages as m
from kiosk.screens.flow_screens import FINGER_NAMES
from kiosk.screens.messages import N_, NONE, Msg

COUNTDOWN_S = 3
FINGER_TAKEN = N_("Good. Lift your finger.")
FINGER_PAUSE_S = 0.8  # the captured finger stays on screen this long before the next
#: How long the app's stop waits for the preview thread (a frame and a face check take
#: well under a second; a camera that does not answer, up to its own timeout).
PREVIEW_JOIN_S = 2.0


class CaptureSteps:
    """Portrait and fingerprint verbs (``app.flow.take_photo()`` and so on)."""

    # -- portrait ---------------------------------------------------------------------------
    def _start_preview(self) -> None:
        camera = self._device("camera")
        if camera is None or self._preview_stop is not None:
            return
        stop = threading.Event()
        self._preview_stop = stop
        interval = 1.0 / self.settings.preview_fps
        thread = threading.Thread(target=self._preview_loop, args=(camera, stop, interval),
                                  name="kiosk-preview", daemon=True)
        self._preview_thread = thread
        thread.start()

    def _stop_preview(self) -> None:
        if self._preview_stop is not None:
            self._preview_stop.set()
            self._preview_stop = None

    def _preview_loop(self, camera: Any, stop: threading.Event, interval: float) -> None:
        """Preview thread: frames to the UI (dropping any the UI has not drawn yet) and, a
        few times a second, the live quality message."""
        pending = threading.Event()
        number = 0

        def deliver(frame: Any, msg: Msg | None) -> None:
            pending.clear()
            if stop.is_set():
                return
            if msg is not None and msg != self.preview_msg:
                # A new instruction ("Move closer"): onto the screen now, not with the
                # next refresh something else brings (it waited for Take photo).
                self.preview_msg = msg
                self.view.update()
            self.view.preview(frame)

        while not stop.is_set():
            started = time.monotonic()
            try:
                frame = camera.preview_frame()
            except Exception as exc:  # a camera fault: say so once, keep trying slowly
                self.executor.post(self._preview_failed, exc)
                stop.wait(1.0)
                continue
            msg = None
            # Not while the still is taken and judged (the flow is busy): its message is
            # the one that counts, and two face checks at once only slow both and add
            # their temporaries together (the touchscreen's peak memory was there).
            if number % 5 == 0 and not self.busy:
                report: QualityReport = portrait_quality_rgb(frame.rgb, frame.width,
                                                             frame.height)
                msg = (Msg.of(N_("Good. Hold still."), "ok") if report.ok
                       else Msg.pair(report.reason_id, report.reason_en, "info"))
            number += 1
            if not pending.is_set():
                pending.set()
                self.executor.post(deliver, frame, msg)
            stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def _preview_failed(self, error: BaseException) -> None:
        self._check_lost(error, "camera")
        self.preview_msg = m.for_error(error, "camera")
        self.view.update()

    def take_photo(self) -> None:
        """Start the 3-2-1 countdown, then capture. Ignored while one runs."""
        self.touch()
        if self.screen != "portrait" or self.busy or self.countdown or self.portrait_jpeg:
            return
        self.countdown = COUNTDOWN_S
        self.message = NONE
        gen = (self._gen, self._visit)

        def tick() -> None:
            if gen != (self._gen, self._visit) or self.screen != "portrait":
                return
            self.countdown -= 1
            if self.countdown > 0:
                self._later(1.0, tick)
            else:
                self._capture_portrait()
            self.view.update()

        self._later(1.0, tick)
        self.view.update()

    def _capture_portrait(self) -> None:
        session = self.session
        if session is None:
            return

        def work() -> bytes:
            session.capture_portrait()
            return session.pending_portrait

        def then(jpeg: bytes) -> None:
            self.portrait_jpeg = jpeg
            self.portrait_tries = 0  # a photo taken: no officer needed for it any more
            self._activity()
            self._speak("portrait")  # the photo's question, as it appears

        def failed(error: BaseException) -> None:
            self.portrait_tries += 1
            self._fail(error, "camera")

        self._run(work, then, device="camera", on_error=failed)

    def retake_photo(self) -> None:
        self.touch()
        if self.screen == "portrait" and not self.busy and self.portrait_jpeg:
            self.portrait_jpeg = b""
            self._speak("portrait")  # the live preview's instruction again
            self.view.update()

    def accept_photo(self) -> None:
        self.touch()
        session = self.session
        if session is None or self.screen != "portrait" or not self.portrait_jpeg:
            return

        def then(_r: object) -> None:
            self.portrait_jpeg = b""
            self.portrait_tries = 0
            self._show_step()

        self._run(session.accept_portrait, then)

    # -- fingerprints -----------------------------------------------------------------------
    def _capture_finger(self) -> None:
        """Capture the current finger; the sensor waits for it (no tap needed)."""
        session = self.session
        if session is None or self.screen != "fingerprints":
            return
        if self.editing and not self.fingers_done:
            self.fingers_done = list(session.fingers_captured)
            self.finger_index = 0
        code = self.current_finger

        def then(_report: object) -> None:
            self.waiting_finger = False
            # The finger was scanned after all: the officer's reasons, open for it, close
            # (a reason chosen now would name the next finger).
            self.missing_picker = False
            self.finger_tries = 0
            if code not in self.fingers_done:
                self.fingers_done.append(code)
            self.finger_png = session.finger_png(code)
            # Said while the captured finger stays on screen: a finger left on the prism
            # would be the next finger's scan (and refused as one already scanned).
            self.message = Msg.of(FINGER_TAKEN, "ok")
            self._say(*self._taken_said())
            self._activity()
            visit = self._visit
            self._later(FINGER_PAUSE_S,
                        lambda: self._next_finger() if visit == self._visit else None)

        def failed(error: BaseException) -> None:
            self.waiting_finger = False
            if isinstance(error, DeviceBusy):  # the sensor is still finishing: try again
                self._later(0.5, self._capture_finger)
                return
            self.finger_tries += 1
            self._fail(error, "fingerprint")

        self.waiting_finger = True  # before _run: the screen it updates sees it
        if not self._run(lambda: session.capture_finger(code), then, device="fingerprint",
                         on_error=failed):
            self.waiting_finger = False

    @property
    def _finger_taken(self) -> bool:
        """The finger shown was just taken: it stays on screen a moment before the next."""
        return self.message.msgid == FINGER_TAKEN

    def _taken_said(self) -> list[Msg | str]:
        """A finger taken: lift it, and the next finger's name (none after the last)."""
        following = FINGERS[self.finger_index + 1:self.finger_index + 2]
        return [FINGER_TAKEN, *(FINGER_NAMES[code] for code in following)]

    def _next_finger(self, *, say: bool = False) -> None:
        """On to the next finger (``say``: its instruction and name, when nothing said it
        yet: the finger before was recorded missing, not taken)."""
        if self.session is None or self.screen != "fingerprints" or self.busy:
            return
        if self.finger_index + 1 < len(FINGERS):
            self.finger_index += 1
            self.missing_picker = False  # the reasons were for the finger before
            self.message = NONE
            if say:
                self._speak("fingerprints")  # before its capture: the outcome is said after
            self.view.update()
            self._capture_finger()
            return
        session = self.session

        def then(_r: object) -> None:
            self.fingers_done = []
            self.finger_index = 0
            self._show_step()

        self._run(session.finish_fingerprints, then)

    def retry_finger(self) -> None:
        self.touch()
        if self.screen == "fingerprints" and not self.busy:
            self.message = NONE
            self._capture_finger()

