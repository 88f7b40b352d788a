"""The language button of a session's screens (``Flow.switch_language``): the citizen who
chose the wrong language at the welcome, or the person an officer continues an enrollment
for, switches it on any step. Everything typed or captured stays, the step's instruction is
said again in the new language, the switch is a touch like any other, and the record keeps
the language its consent was given in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiosk.screens import messages as m
from kiosk.screens.flow import FINGER_NAMES, PROMPTS
from tests.plaintext import open_sealed_records
from tests.unit.screens.harness import KK, NIK, Kit
from tests.unit.screens.test_flow_staff import StaffKit


@pytest.fixture
def kit(tmp_path: Path):
    k = Kit(tmp_path, idle_timeout_s=60, idle_warning_s=30)
    yield k
    k.close()


def test_switching_keeps_the_digits_and_says_the_instruction_again_in_the_new_language(
        kit: Kit) -> None:
    kit.to("identity", "id")
    flow = kit.flow
    for digit in "99020152":  # a wrong province: the domain's message under the NIK
        flow.identity_digit(digit)
    for digit in "08850001":
        flow.identity_digit(digit)
    message = flow.identity.message("nik")
    assert message.kind == "error"
    kit.tap("switch_language")
    assert flow.language == "en" and flow.screen == "identity"
    assert flow.identity.nik == "9902015208850001"
    assert kit.speaker.utterances[-1] == ("en", (PROMPTS["identity"],))
    assert flow.identity.message("nik").text(flow.language) == message.text("en")
    kit.tap("switch_language")
    assert flow.language == "id"
    assert kit.speaker.utterances[-1] == ("id", (PROMPTS["identity"],))
    assert flow.identity.nik == "9902015208850001"


def test_on_the_finger_step_the_finger_is_named_again_in_the_new_language(kit: Kit) -> None:
    kit.to("fingerprints", "id")
    kit.tap("switch_language")
    language, said = kit.speaker.utterances[-1]
    assert language == "en"
    # what Repeat says in this state (a finger just taken: lift it, and the next one's
    # name), in the new language, a finger named in it
    assert any(name in said for name in FINGER_NAMES.values()), said
    kit.tap("repeat_prompt")
    assert kit.speaker.utterances[-1] == ("en", said)


def test_with_help_called_the_notice_is_said_again_in_the_new_language(kit: Kit) -> None:
    kit.to("portrait", "en")
    kit.tap("call_help")
    kit.tap("switch_language")
    assert kit.flow.help_active and kit.flow.language == "id"
    assert kit.speaker.utterances[-1] == ("id", (m.HELP_CALLED, m.HELP_WAIT))


def test_the_switch_is_a_touch_the_idle_warning_counts_from_it(kit: Kit) -> None:
    kit.to("identity", "en")
    kit.clock.now += 50
    kit.tap("switch_language")
    kit.clock.now += 50  # 100 s after the last other touch, 50 after the switch
    kit.flow.tick()
    assert not kit.flow.idle_warning
    kit.clock.now += 11
    kit.flow.tick()
    assert kit.flow.idle_warning  # as after any other tap


def test_the_record_keeps_the_language_consent_was_given_in(kit: Kit) -> None:
    kit.to("consent", "id")
    kit.tap("switch_language")  # read the consent in English, then agreed
    kit.tap("consent", True)
    kit.type_identity()
    kit.tap("switch_language")  # back to Indonesian after consent: the screens only
    assert kit.flow.language == "id" and kit.flow.session.language == "en"
    kit.tap("submit_identity")
    kit.fill_demographics()
    kit.tap("submit_demographics")
    kit.through_portrait()
    kit.through_fingers()
    kit.sign()
    kit.tap("confirm")
    assert kit.flow.screen == "done", kit.flow.message.text("en")
    steps = open_sealed_records(kit.config.sources[-1]).steps[kit.flow.receipt_id]
    assert json.loads(steps["consent"]["consent.json"])["language"] == "en"


def test_no_switch_where_the_language_is_chosen_otherwise(tmp_path: Path) -> None:
    kit = StaffKit(tmp_path)
    try:
        flow = kit.flow
        kit.tap("switch_language")  # the welcome: its own two buttons begin a session
        assert flow.screen == "welcome" and flow.language == "id"
        kit.login()
        kit.tap("switch_language")  # the officer's home: its own button
        assert flow.screen == "staff" and flow.language == "id" and not flow.staff_language
    finally:
        kit.close()


def test_an_officer_continues_an_enrollment_and_switches_it_to_the_persons_language(
        tmp_path: Path) -> None:
    """The kiosk cannot read the kept record's language (sealed): the continued enrollment
    opens in the officer's home language and is switched on its first screen."""
    kit = StaffKit(tmp_path)
    try:
        rid = kit.leave_one("en")
        flow = kit.flow
        assert flow.screen == "staff" and flow.language == "id"
        kit.tap("staff_resume", rid)
        assert flow.screen == "identity" and flow.language == "id"
        kit.tap("switch_language")
        assert flow.language == "en"
        assert kit.speaker.utterances[-1] == ("en", (PROMPTS["identity"],))
        kit.type_identity(NIK, KK)
        kit.tap("submit_identity")
        assert flow.screen == "demographics" and flow.language == "en"
    finally:
        kit.close()
