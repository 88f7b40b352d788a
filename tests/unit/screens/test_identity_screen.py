"""What the identity screen shows under each field, from the real flow (no window): each
field keeps its own message, so a wrong NIK stays named and framed while the KK is typed.
The review found one message line under the KK: the NIK's error gave way to the KK's
progress, then "Looks right", while Next stayed disabled with no reason on screen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.i18n import translate
from kiosk.screens.identity import IdentityScreen
from kiosk.screens.messages import Msg
from tests.unit.screens.harness import KK, Kit

WRONG_NIK = "9902015208850001"  # province 99 does not exist
PROVINCE = "The NIK's province code (digits 1-2) is not a known province."


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[Kit]:
    k = Kit(tmp_path)
    yield k
    k.close()


def shown(kit: Kit) -> IdentityScreen:
    screen = IdentityScreen()
    screen.refresh(kit.flow)
    return screen


def type_digits(kit: Kit, digits: str) -> None:
    for digit in digits:
        kit.flow.identity_digit(digit)


@pytest.mark.parametrize("language", ["en", "id"])
def test_a_wrong_nik_stays_named_and_framed_under_it_while_a_valid_kk_is_typed(
        kit: Kit, language: str) -> None:
    kit.to("identity", language)
    type_digits(kit, WRONG_NIK)
    type_digits(kit, KK[:5])
    screen = shown(kit)
    assert (screen.nik_note, screen.nik_kind, screen.nik_wrong) == (
        translate(PROVINCE, language), "error", True)
    progress = translate("{typed} of {total} digits", language).format(typed=5, total=16)
    assert (screen.kk_note, screen.kk_kind, screen.kk_wrong) == (progress, "info", False)

    type_digits(kit, KK[5:])
    screen = shown(kit)
    assert (screen.nik_note, screen.nik_kind, screen.nik_wrong) == (
        translate(PROVINCE, language), "error", True)
    assert (screen.kk_note, screen.kk_kind, screen.kk_wrong) == (
        translate("Looks right", language), "ok", False)
    assert screen.focus == "kk" and not screen.valid


def test_a_wrong_kk_is_framed_and_named_under_it_and_the_nik_says_it_looks_right(
        kit: Kit) -> None:
    kit.to("identity")
    type_digits(kit, "7202015208850001" + "7200011203150007")  # the KK's regency 00
    screen = shown(kit)
    assert (screen.nik_note, screen.nik_kind, screen.nik_wrong) == ("Looks right", "ok", False)
    assert screen.kk_wrong and screen.kk_kind == "error"
    assert screen.kk_note == "The family card's regency/city code (digits 3-4) cannot be 00."


def test_a_field_is_framed_only_once_all_its_digits_are_refused(kit: Kit) -> None:
    kit.to("identity")
    assert not shown(kit).nik_wrong and shown(kit).nik_note == ""
    type_digits(kit, WRONG_NIK[:15])
    assert not shown(kit).nik_wrong  # typing: progress, not yet a refusal
    type_digits(kit, WRONG_NIK[15])
    assert shown(kit).nik_wrong
    kit.flow.identity_focus("nik")
    kit.flow.identity_backspace()
    screen = shown(kit)
    assert not screen.nik_wrong and screen.nik_kind == "info"


def test_the_flow_s_refusal_is_said_under_the_field_the_keys_go_to(kit: Kit) -> None:
    """A refusal of the step after OK (the save failed) replaces the focused field's own
    message; the other field keeps its own."""
    kit.to("identity")
    type_digits(kit, "7202015208850001" + KK)
    kit.flow.message = Msg.of("Your data could not be saved. Please try again, or press HELP.")
    screen = shown(kit)
    assert screen.kk_note.startswith("Your data could not be saved") and screen.kk_kind == (
        "error")
    assert (screen.nik_note, screen.nik_kind) == ("Looks right", "ok")
