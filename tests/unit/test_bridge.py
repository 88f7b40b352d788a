"""The UI bridge: work and device events reach the UI thread only through Kivy's Clock."""

from __future__ import annotations

import os
import threading
import time

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")

from kivy.clock import Clock

from kiosk.hardware.card.base import CardEvent
from kiosk.screens.bridge import UiBridge


def _tick_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the UI thread never got the call"
        Clock.tick()
        time.sleep(0.005)


def test_posted_device_event_runs_on_the_ui_thread_not_the_device_thread() -> None:
    bridge = UiBridge()
    ui_thread = threading.get_ident()
    seen: list[tuple[str, int]] = []

    def on_card(event: CardEvent) -> None:
        seen.append((event.kind, threading.get_ident()))

    event = CardEvent("card_inserted", "Virtual PCD 00 00", b"\x3b\x00")
    device = threading.Thread(target=bridge.post, args=(on_card, event))
    device.start()
    device.join()
    assert seen == []  # nothing runs on the device thread or before the UI loop turns
    _tick_until(lambda: bool(seen))
    assert seen == [("card_inserted", ui_thread)]
    bridge.shutdown()


def test_submitted_work_runs_off_the_ui_thread_and_answers_on_it() -> None:
    bridge = UiBridge()
    ui_thread = threading.get_ident()
    threads: dict[str, int] = {}
    answers: list[object] = []

    def work() -> int:
        threads["work"] = threading.get_ident()
        return 42

    def done(result: object, error: BaseException | None) -> None:
        threads["done"] = threading.get_ident()
        answers.append(result if error is None else error)

    bridge.submit(work, done)
    bridge.submit(lambda: 1 / 0, done)
    _tick_until(lambda: len(answers) == 2)
    assert threads["work"] != ui_thread and threads["done"] == ui_thread
    assert 42 in answers and any(isinstance(a, ZeroDivisionError) for a in answers)
    bridge.shutdown()
