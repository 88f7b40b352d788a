"""A flow without Kivy: a synchronous executor, a recording view, a fake clock, and the
real runtime (journal, sealing, simulated devices) on a temporary data directory."""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.config import load_config
from kiosk.i18n import catalog_ids
from kiosk.runtime import Runtime
from kiosk.screens.flow import Flow, FlowSettings
from tests.conftest import write_config

# A valid NIK and No. KK of Poso (72.02.01 Poso Kota): a woman born 12 Aug 1985.
NIK = "7202015208850001"
KK = "7202011203150007"


class Timer:
    def __init__(self, due: float, fn: Callable[[], None]) -> None:
        self.due, self.fn, self.cancelled = due, fn, False

    def cancel(self) -> None:
        self.cancelled = True


class SyncExecutor:
    """Work runs at once on the caller's thread; posts from other threads queue up until
    :meth:`drain`; ``call_later`` timers fire on :meth:`advance`."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.timers: list[Timer] = []
        self.posted: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.lock = threading.Lock()
        self.submitted = 0

    def submit(self, work: Callable[[], Any],
               done: Callable[[Any, BaseException | None], None]) -> None:
        self.submitted += 1
        try:
            result, error = work(), None
        except Exception as exc:
            result, error = None, exc
        done(result, error)

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        with self.lock:
            self.posted.append((fn, args))

    def drain(self) -> None:
        with self.lock:
            posted, self.posted = self.posted, []
        for fn, args in posted:
            fn(*args)

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        timer = Timer(self.clock.now + delay, fn)
        self.timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        """Move the clock on, firing due timers in order (timers they add too)."""
        end = self.clock.now + seconds
        while True:
            due = sorted((t for t in self.timers if not t.cancelled and t.due <= end),
                         key=lambda t: t.due)
            if not due:
                break
            timer = due[0]
            self.timers.remove(timer)
            self.clock.now = max(self.clock.now, timer.due)
            timer.fn()
        self.clock.now = end


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingView:
    def __init__(self) -> None:
        self.shown: list[str] = []
        self.updates = 0
        self.frames = 0

    def show(self, screen: str) -> None:
        self.shown.append(screen)

    def update(self) -> None:
        self.updates += 1

    def preview(self, frame: Any) -> None:
        self.frames += 1


class RecordingSpeaker:
    """What the flow asked to be spoken: ``said`` every message, ``utterances`` each call's
    messages together. Refuses what the real speaker refuses (not a catalog message)."""

    def __init__(self) -> None:
        self.said: list[tuple[str, str]] = []
        self.utterances: list[tuple[str, tuple[str, ...]]] = []

    def say_message(self, msgid: str, language: str) -> None:
        self.say_messages([msgid], language)

    def say_messages(self, msgids: list[str], language: str) -> None:
        if not msgids or any(msgid not in catalog_ids("id") for msgid in msgids):
            raise ValueError("not a catalog message; only catalog messages may be spoken")
        self.said.extend((language, msgid) for msgid in msgids)
        self.utterances.append((language, tuple(msgids)))

    def repeat(self) -> None:
        pass

    def stop(self) -> None:
        pass


def power_cut(runtime: Runtime) -> None:
    """What a crash or a power cut the UPS did not carry leaves of ``runtime``: no close,
    no checkpoint. Its devices are closed, and its enrolment lock let go, only because the
    test's next "boot" is this same process (a dead process's lock goes with it)."""
    for device in runtime.devices.values():
        device.close()
    runtime.journal._conn = None
    if runtime.enroll_lock is not None:
        fcntl.flock(runtime.enroll_lock, fcntl.LOCK_UN)


class Kit:
    """A flow on the real runtime with simulated hardware."""

    def __init__(self, tmp_path: Path, body: str = "", **settings: Any) -> None:
        self.build(tmp_path, body, **settings)
        self.runtime = Runtime.open(self.config,
                                       kinds=("fingerprint", "camera", "gpio"))
        self.flow.set_runtime(self.runtime)
        self.flow.set_acceptance(True, "", False)

    def build(self, tmp_path: Path, body: str = "", **settings: Any) -> None:
        """The config, the fake clock, executor, view and speaker, and the flow on them
        (Poso's regency): everything but the runtime."""
        self.config = load_config(write_config(tmp_path, body))
        self.clock = FakeClock()
        self.executor = SyncExecutor(self.clock)
        self.view = RecordingView()
        self.speaker = RecordingSpeaker()
        defaults = {"province": "72", "regency": "02"}
        self.flow = Flow(self.executor, self.view, speaker=self.speaker,
                         settings=FlowSettings(**(defaults | settings)), clock=self.clock)
        self.taps = 0

    def tap(self, verb: str, *args: Any) -> None:
        """A tap on a button (not a character key): counted."""
        self.taps += 1
        getattr(self.flow, verb)(*args)

    def close(self) -> None:
        self.flow.close()
        self.runtime.close()

    # -- walking the flow ---------------------------------------------------------------
    def type_identity(self, nik: str = NIK, kk: str = KK) -> None:
        """Each field emptied (Change shows the numbers the review had), then typed."""
        f = self.flow
        for field, digits in (("nik", nik), ("kk", kk)):
            f.identity_focus(field)
            for _ in range(len(getattr(f.identity, field))):
                f.identity_backspace()
            for digit in digits:
                f.identity_digit(digit)

    def fill_demographics(self) -> None:
        f = self.flow
        for name, text in (("full_name", "SITI NUR'AINI AL-HAMID"), ("place_of_birth", "POSO"),
                           ("address", "JL. PULAU JAWA NO. 12"), ("rt", "3"), ("rw", "1")):
            assert f.form.focus == name
            for char in text:
                f.form_type(char)
            self.tap("form_next")
        self.tap("form_choose", "religion", "Islam")
        self.tap("form_choose", "marital_status", "Kawin")
        self.tap("form_choose", "blood_type", "O")
        occupation = f.picker_options("occupation")[0][0]
        self.taps += 1  # opening the occupation picker
        self.tap("form_choose", "occupation", occupation)
        village = f.picker_options("kelurahan_desa")[0][0]
        self.taps += 1  # opening the village picker
        self.tap("form_choose", "kelurahan_desa", village)

    def through_portrait(self) -> None:
        self.tap("take_photo")
        self.executor.advance(3.0)
        assert self.flow.portrait_jpeg, self.flow.message.text("en")
        self.tap("accept_photo")

    def through_fingers(self) -> None:
        for _ in range(10):
            self.executor.advance(1.0)

    def sign(self) -> None:
        self.taps += 1  # the stroke itself
        stroke = [(0.1 + i / 50, 0.4 + 0.2 * ((i % 7) / 7), i * 0.02) for i in range(40)]
        self.tap("submit_signature", [stroke])

    def to(self, screen: str, language: str = "en") -> None:
        """Walk a new citizen up to ``screen``."""
        order = ["consent", "identity", "demographics", "portrait", "fingerprints",
                 "signature", "review", "done"]
        self.tap("start", language)
        steps: list[Callable[[], None]] = [
            lambda: self.tap("consent", True),
            lambda: (self.type_identity(), self.tap("submit_identity")),
            lambda: (self.fill_demographics(), self.tap("submit_demographics")),
            self.through_portrait,
            self.through_fingers,
            self.sign,
            lambda: self.tap("confirm"),
        ]
        for name, step in zip(order, steps, strict=False):
            if self.flow.screen == screen:
                return
            assert self.flow.screen == name, (self.flow.screen, self.flow.message.text("en"))
            step()
        assert self.flow.screen == screen, (self.flow.screen, self.flow.message.text("en"))
