"""The touchscreen's finger step refuses a finger already taken, in the citizen's language,
and goes on once the right finger is placed (Kivy-free flow, real runtime, sim sensor)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.core.vocabulary import LANGUAGES
from kiosk.i18n import translate
from tests.unit.screens.harness import Kit

REFUSAL = "This finger was already scanned. Please place the finger shown."


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_same_finger_twice_is_refused_on_the_finger_step(tmp_path: Path,
                                                            language: str) -> None:
    kit = Kit(tmp_path)
    try:
        scanner = kit.runtime.devices["fingerprint"]
        scanner.present(0)  # the citizen keeps the right thumb on the sensor
        kit.to("fingerprints", language)
        assert kit.flow.fingers_done == ["R1"]
        kit.executor.advance(1.0)  # the pause, then the index finger is asked for
        assert kit.flow.current_finger == "R2"
        assert kit.flow.message.text(language) == translate(REFUSAL, language)
        assert kit.flow.fingers_done == ["R1"] and not kit.flow.need_officer
        scanner.present(1)  # now the index finger
        kit.flow.retry_finger()
        assert kit.flow.fingers_done == ["R1", "R2"]
        assert not kit.flow.message
    finally:
        kit.close()
