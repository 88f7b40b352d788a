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
    assert kit.flow.identity.focus == "nik"  # a wrong NIK keeps the keys
    kit.flow.identity_focus("kk")  # the citizen taps the KK's field
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


@pytest.mark.parametrize("language", ["en", "id"])
def test_a_fault_is_named_as_soon_as_its_digits_are_typed_and_while_it_is_corrected(
        kit: Kit, language: str) -> None:
    """The province code 99 is unknown after two digits: named and framed from there, and
    still after a backspace (the review found "15 of 16 digits" in its place, so the
    citizen correcting digit 1 no longer saw why); the keys stay on the NIK while it is
    wrong (the review found them moved to the KK). A field with nothing wrong yet shows
    its progress."""
    kit.to("identity", language)
    assert not shown(kit).nik_wrong and shown(kit).nik_note == ""
    type_digits(kit, "7")
    progress = translate("{typed} of {total} digits", language).format(typed=1, total=16)
    assert (shown(kit).nik_note, shown(kit).nik_wrong) == (progress, False)
    kit.flow.identity_backspace()
    type_digits(kit, WRONG_NIK[:2])
    screen = shown(kit)
    assert (screen.nik_note, screen.nik_kind, screen.nik_wrong) == (
        translate(PROVINCE, language), "error", True)
    type_digits(kit, WRONG_NIK[2:])
    assert shown(kit).nik_wrong and kit.flow.identity.focus == "nik"
    kit.flow.identity_backspace()
    screen = shown(kit)
    assert (screen.nik_note, screen.nik_kind, screen.nik_wrong) == (
        translate(PROVINCE, language), "error", True)
    for _ in range(13):  # back to the wrong digits ("99"): still named
        kit.flow.identity_backspace()
    assert kit.flow.identity.nik == "99"
    assert shown(kit).nik_note == translate(PROVINCE, language)
    kit.flow.identity_backspace()  # "9": nothing wrong yet, progress again
    assert (shown(kit).nik_note, shown(kit).nik_wrong) == (progress, False)
    kit.flow.identity_backspace()
    type_digits(kit, "7202015208850001")  # corrected: the keys go on to the KK
    assert shown(kit).nik_note == translate("Looks right", language)
    assert kit.flow.identity.focus == "kk"


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
