"""What the touchscreen says aloud (``[ui] speech``), for a citizen who listens rather than
reads: each screen's instruction, each finger by name, what went wrong and what to do, the
idle warning and the call for an officer. Only fixed catalog messages, never a value the
citizen typed (the recording speaker refuses anything else, as the real one does)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.core.vocabulary import FINGERS
from kiosk.screens import messages as m
from kiosk.screens.flow import FINGER_NAMES, PROMPTS
from kiosk.screens.flow_capture import FINGER_TAKEN
from kiosk.screens.messages import Msg
from tests.unit.screens.harness import KK, NIK, Kit

TYPED = ("SITI", "NUR'AINI", "AL-HAMID", "POSO", "PULAU JAWA", NIK, KK)


@pytest.fixture
def kit(tmp_path: Path):
    k = Kit(tmp_path)
    yield k
    k.close()


def test_a_whole_enrollment_says_only_catalog_messages_and_never_a_typed_value(
        kit: Kit) -> None:
    kit.to("done", "id")
    said = kit.speaker.said
    assert {language for language, _ in said} == {"id"}
    for _language, msgid in said:
        assert not any(value in msgid for value in TYPED), msgid
    # Every finger is named, in the order they are taken.
    names = [msgid for _, msgid in said if msgid in FINGER_NAMES.values()]
    assert names == [FINGER_NAMES[code] for code in FINGERS]


def test_each_finger_taken_says_lift_it_and_names_the_next(kit: Kit) -> None:
    kit.to("fingerprints", "id")
    assert kit.speaker.utterances[-2] == (
        "id", (PROMPTS["fingerprints"], FINGER_NAMES["R1"]))  # on arrival
    assert kit.speaker.utterances[-1] == ("id", (FINGER_TAKEN, FINGER_NAMES["R2"]))
    kit.through_fingers()
    taken = [u for u in kit.speaker.utterances if u[1][0] == FINGER_TAKEN]
    assert len(taken) == 10
    assert taken[-1] == ("id", (FINGER_TAKEN,))  # the last: no finger follows


def test_a_failed_finger_is_said_and_the_third_adds_the_call_for_an_officer(
        tmp_path: Path) -> None:
    kit = Kit(tmp_path, '[hardware.fingerprint]\ntype = "sim"\nfail_every = 1\n')
    try:
        kit.to("fingerprints", "en")
        timeout = m.DEVICE_TIMEOUT["fingerprint"]
        assert kit.speaker.utterances[-1] == ("en", (timeout,))
        kit.flow.retry_finger()
        kit.flow.retry_finger()
        assert kit.speaker.utterances[-1] == ("en", (timeout, m.CALL_OFFICER))
        # Repeat says the instruction, the finger, and what is on the screen.
        kit.flow.repeat_prompt()
        assert kit.speaker.utterances[-1] == ("en", (
            PROMPTS["fingerprints"], FINGER_NAMES["R1"], timeout, m.CALL_OFFICER))
    finally:
        kit.close()


def test_the_idle_warning_is_said_once_and_the_call_for_help_is_said(kit: Kit) -> None:
    kit.to("demographics", "id")
    kit.clock.now += kit.flow.settings.idle_timeout_s + 1
    kit.flow.tick()
    kit.clock.now += 1
    kit.flow.tick()
    asked = [u for u in kit.speaker.utterances if u == ("id", (m.IDLE_ASK,))]
    assert kit.flow.idle_warning and len(asked) == 1
    kit.flow.continue_session()
    kit.flow.call_help()
    assert kit.speaker.utterances[-1] == ("id", (m.HELP_CALLED, m.HELP_WAIT))


def test_a_message_with_a_value_filled_in_is_not_said(kit: Kit) -> None:
    kit.to("review", "id")
    before = len(kit.speaker.utterances)
    kit.flow._say(Msg.of("{done} of {total} fingers done", done=3, total=10))
    kit.flow._say(Msg.pair("Nama SITI tidak valid.", "The name SITI is not valid."))
    assert len(kit.speaker.utterances) == before


def test_repeat_goes_when_espeak_ng_fails_at_run_time(tmp_path: Path) -> None:
    """``speech = true`` but espeak-ng exits 1 (no sound device): the speaker goes quiet on
    its own thread; the flow redraws on the UI thread (the executor's post) without Repeat
    (``speech_on``), not a Repeat button that does nothing."""
    from kiosk.speech import Speaker
    from tests.polling import wait_until
    from tests.unit.test_speech import WAIT_S, FakeRunner

    kit = Kit(tmp_path)
    speaker = Speaker(enabled=True, runner=FakeRunner(exit_code=1))
    try:
        from kiosk.screens.flow import Flow

        flow = kit.flow = Flow(kit.executor, kit.view, speaker=speaker,
                               settings=kit.flow.settings, clock=kit.clock)
        flow.set_runtime(kit.runtime)
        flow.set_acceptance(True, "", False)
        assert flow.speech_on
        flow.start("id")  # the consent's instruction is spoken: espeak-ng fails
        assert wait_until(lambda: kit.executor.posted, WAIT_S)
        assert flow.speech_on is False
        updates = kit.view.updates
        kit.executor.drain()  # on the UI thread: the screen is drawn again, without Repeat
        assert kit.view.updates == updates + 1
    finally:
        speaker.close()
        kit.close()


def test_each_state_of_the_portrait_says_its_own_instruction_and_repeat_repeats_it(
        kit: Kit) -> None:
    """The photo taken: "Is this photo good?" (and why the background is red) is said as it
    appears, and Repeat says that, not "Tap Take photo", a button no longer there. Retake:
    the live preview's instruction again."""
    from kiosk.screens.flow_screens import PHOTO_PROMPT

    kit.to("portrait", "id")
    assert kit.speaker.utterances[-1] == ("id", (PROMPTS["portrait"],))
    kit.tap("take_photo")
    kit.executor.advance(3.0)
    assert kit.flow.portrait_jpeg
    photo = ("id", (PHOTO_PROMPT, m.BACKGROUND_FOR_YEAR["odd"]))  # born 1985
    assert kit.speaker.utterances[-1] == photo
    kit.tap("repeat_prompt")
    assert kit.speaker.utterances[-1] == photo
    kit.tap("retake_photo")
    assert kit.speaker.utterances[-1] == ("id", (PROMPTS["portrait"],))
    kit.tap("repeat_prompt")
    assert kit.speaker.utterances[-1] == ("id", (PROMPTS["portrait"],))


def test_repeat_while_a_taken_finger_shows_says_lift_it_and_the_next(kit: Kit) -> None:
    kit.to("fingerprints", "en")
    taken = ("en", (FINGER_TAKEN, FINGER_NAMES["R2"]))
    assert kit.speaker.utterances[-1] == taken  # R1 taken, still on the screen
    kit.tap("repeat_prompt")
    assert kit.speaker.utterances[-1] == taken  # not "place the right thumb" again
    kit.executor.advance(1.0)  # the pause over: the (simulated) right index finger taken
    kit.tap("repeat_prompt")
    assert kit.speaker.utterances[-1] == ("en", (FINGER_TAKEN, FINGER_NAMES["R3"]))
