"""The touchscreen's finger step refuses a finger already taken, in the citizen's language,
and goes on once the right finger is placed (Kivy-free flow, real runtime, sim sensor)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kiosk.core.vocabulary import LANGUAGES
from kiosk.i18n import translate
from tests.unit.screens.harness import Kit

REFUSAL = "This finger was already scanned. Please place the finger shown."
LIFT = "Good. Lift your finger."


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_same_finger_twice_is_refused_on_the_finger_step(tmp_path: Path,
                                                            language: str) -> None:
    kit = Kit(tmp_path)
    try:
        scanner = kit.runtime.devices["fingerprint"]
        scanner.present(0)  # the citizen keeps the right thumb on the sensor
        kit.to("fingerprints", language)
        assert kit.flow.fingers_done == ["R1"]
        # While the thumb's image shows, the citizen is told to lift it (they did not).
        assert kit.flow.message.text(language) == translate(LIFT, language)
        assert kit.flow.message.kind == "ok"
        kit.executor.advance(1.0)  # the pause, then the index finger is asked for
        assert kit.flow.current_finger == "R2"
        assert kit.flow.message.text(language) == translate(REFUSAL, language)
        assert kit.flow.fingers_done == ["R1"] and not kit.flow.need_officer
        scanner.present(1)  # now the index finger
        kit.flow.retry_finger()
        assert kit.flow.fingers_done == ["R1", "R2"]
        assert kit.flow.message.text("en") == LIFT  # the refusal is gone
    finally:
        kit.close()


def test_cancel_while_the_sensor_waits_for_a_finger_wipes_and_ignores_the_late_scan(
        tmp_path: Path) -> None:
    """The sensor waits up to its timeout for a finger: the flow is busy, but the citizen
    may cancel (nothing is being saved). The scan that ends after the wipe changes
    nothing, and the record is discarded."""
    kit = Kit(tmp_path)
    try:
        kit.to("portrait")
        held: list[tuple[Any, Any]] = []
        run_now = kit.executor.submit

        def submit(work: Any, done: Any) -> None:
            if kit.flow.screen == "fingerprints" and not held:
                held.append((work, done))  # the first finger's capture: still waiting
                return
            run_now(work, done)

        kit.executor.submit = submit  # type: ignore[method-assign]
        kit.through_portrait()
        assert kit.flow.screen == "fingerprints" and held
        assert kit.flow.busy and kit.flow.waiting_finger
        record_id = kit.flow.session.record_id
        kit.flow.ask_cancel()
        assert kit.flow.confirm_cancel
        kit.flow.answer_cancel(True)
        assert kit.flow.screen == "welcome" and kit.flow.session is None
        assert not kit.flow.busy and not kit.flow.waiting_finger
        work, done = held[0]
        try:
            result, error = work(), None
        except Exception as exc:  # the session was aborted under it
            result, error = None, exc
        done(result, error)
        assert kit.flow.screen == "welcome" and kit.flow.session is None
        assert not kit.flow.message
        assert record_id not in {r.id for r in kit.runtime.journal.records()}
    finally:
        kit.close()
