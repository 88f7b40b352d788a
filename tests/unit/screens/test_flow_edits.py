"""Changing a part from the review page, without Kivy: each Change and its Back, as the
citizen sees them. Back leaves the part as the review showed it, and a second Change
starts that step afresh; a new NIK that gives another date of birth or sex says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kiosk.core.vocabulary import FINGERS
from kiosk.screens import messages as m
from tests.unit.screens.harness import KK, Kit

# Poso Kota, a man born 1 May 1991: another date of birth, sex and background colour than
# the harness's NIK (a woman born 12 August 1985).
OTHER_NIK = "7202010105910004"
# The harness's woman again, another serial number: the same date of birth and sex.
SAME_BIRTH_NIK = "7202015208850002"


@pytest.fixture
def kit(tmp_path: Path):
    k = Kit(tmp_path)
    yield k
    k.close()


def fingers(kit: Kit) -> dict[str, bytes]:
    return {code: kit.flow.session.finger_png(code) for code in FINGERS}


def journaled(kit: Kit, step: str) -> str:
    return kit.runtime.journal.step_digests(kit.flow.session.record_id)[step]


# -- portrait ---------------------------------------------------------------------------------
def test_back_after_a_new_photo_keeps_the_old_one_and_change_again_opens_the_camera(
        kit: Kit) -> None:
    """The photo taken but not used is dropped by Back; Change photo again showed it with
    "Use this photo", which failed ("could not be saved"), and Take photo was disabled."""
    kit.to("review")
    old = kit.flow.summary.portrait_jpeg
    kit.flow.edit("portrait")
    kit.flow.take_photo()
    kit.executor.advance(3.0)
    assert kit.flow.portrait_jpeg
    kit.flow.cancel_edit()
    assert kit.flow.screen == "review"
    assert kit.flow.summary.portrait_jpeg == old
    assert kit.flow.portrait_jpeg == b""  # not held for the next Change
    kit.flow.edit("portrait")
    assert kit.flow.portrait_jpeg == b""  # the camera, not the dropped photo
    kit.through_portrait()
    assert kit.flow.screen == "review", kit.flow.message.text("en")
    assert kit.flow.summary.portrait_jpeg not in (b"", old)


def test_back_during_the_countdown_then_change_again_takes_a_photo(kit: Kit) -> None:
    """Back while the 3-2-1 ran left the countdown standing: Take photo then did nothing."""
    kit.to("review")
    kit.flow.edit("portrait")
    kit.flow.take_photo()
    kit.executor.advance(1.0)
    kit.flow.cancel_edit()
    assert kit.flow.screen == "review"
    kit.executor.advance(5.0)
    kit.flow.edit("portrait")
    assert kit.flow.countdown == 0
    kit.through_portrait()
    assert kit.flow.screen == "review", kit.flow.message.text("en")


# -- fingerprints -----------------------------------------------------------------------------
def test_back_midway_through_the_fingers_keeps_the_ten_taken_before(kit: Kit) -> None:
    """Back after two fingers taken again: the review and the record keep the earlier ten
    (it journaled a mix of two new and eight old). A second Change starts at the right
    thumb (it went on at the finger where Back was tapped)."""
    kit.to("review")
    before, digest = fingers(kit), journaled(kit, "fingerprints")
    kit.flow.edit("fingerprints")
    assert kit.flow.current_finger == FINGERS[0]
    kit.executor.advance(1.0)  # R1 taken (at the screen's start), R2 taken
    assert kit.flow.finger_index >= 1
    kit.flow.cancel_edit()
    assert kit.flow.screen == "review", kit.flow.message.text("en")
    assert fingers(kit) == before
    assert journaled(kit, "fingerprints") == digest
    kit.executor.advance(5.0)  # a late timer changes nothing
    assert kit.flow.screen == "review" and fingers(kit) == before
    kit.flow.edit("fingerprints")
    assert kit.flow.current_finger == FINGERS[0]
    kit.through_fingers()
    assert kit.flow.screen == "review", kit.flow.message.text("en")
    after = fingers(kit)
    assert all(after[code] != before[code] for code in FINGERS)  # all ten again
    assert journaled(kit, "fingerprints") != digest


def test_back_while_the_sensor_waits_leaves_at_once_and_the_late_scan_is_ignored(
        kit: Kit) -> None:
    """The sensor waits up to its timeout for a finger and the flow is busy meanwhile:
    Back did nothing (the citizen could not leave the step until the sensor gave up)."""
    kit.to("review")
    before = fingers(kit)
    held: list[tuple[Any, Any]] = []
    run_now = kit.executor.submit

    def submit(work: Any, done: Any) -> None:
        if kit.flow.screen == "fingerprints" and kit.flow.waiting_finger and not held:
            held.append((work, done))  # the first finger's capture: still waiting
            return
        run_now(work, done)

    kit.executor.submit = submit  # type: ignore[method-assign]
    kit.flow.edit("fingerprints")
    assert held and kit.flow.busy and kit.flow.waiting_finger
    kit.flow.cancel_edit()
    assert kit.flow.screen == "review", kit.flow.message.text("en")
    assert not kit.flow.busy and not kit.flow.waiting_finger
    work, done = held[0]
    try:
        result, error = work(), None
    except Exception as exc:  # the session left the step under it
        result, error = None, exc
    done(result, error)
    assert kit.flow.screen == "review" and not kit.flow.message
    assert not kit.flow.busy
    assert fingers(kit) == before
    kit.flow.confirm()
    assert kit.flow.screen == "done"


# -- demographics -----------------------------------------------------------------------------
def test_back_after_a_half_typed_change_shows_the_kept_details_on_the_next_change(
        kit: Kit) -> None:
    """A letter typed and another religion chosen, then Back: the review keeps the details,
    and so does the form (it showed the abandoned change, and Next would have saved it)."""
    kit.to("review")
    kept = dict(kit.flow.form.values)
    kit.flow.edit("demographics")
    kit.flow.form_focus("full_name")
    kit.flow.form_type("Q")
    kit.flow.form_choose("religion", "Kristen")
    kit.flow.cancel_edit()
    assert kit.flow.screen == "review"
    assert kit.flow.summary.demographics.religion == "Islam"
    assert kit.flow.form.values == kept
    kit.flow.edit("demographics")
    assert kit.flow.form.values == kept
    kit.flow.submit_demographics()
    assert kit.flow.screen == "review"
    assert kit.flow.summary.demographics.full_name == kept["full_name"]
    assert kit.flow.summary.demographics.religion == "Islam"


def test_a_change_of_details_made_is_shown_and_kept_for_the_next_change(kit: Kit) -> None:
    kit.to("review")
    kit.flow.edit("demographics")
    kit.flow.form_choose("religion", "Kristen")
    kit.flow.submit_demographics()
    assert kit.flow.summary.demographics.religion == "Kristen"
    kit.flow.edit("demographics")
    assert kit.flow.form.values["religion"] == "Kristen"
    kit.flow.cancel_edit()
    assert kit.flow.summary.demographics.religion == "Kristen"


# -- identity ---------------------------------------------------------------------------------
def new_nik(kit: Kit, nik: str) -> int:
    """To review, Change the NIK to ``nik``: the details page. How often the page had
    been sent to a problem before."""
    kit.to("review")
    kit.flow.edit("identity")
    kit.type_identity(nik, KK)
    shown = kit.flow.problems_shown
    kit.flow.submit_identity()
    assert kit.flow.screen == "demographics", kit.flow.message.text("en")
    return shown


def test_a_new_nik_with_another_birth_date_says_so_on_the_details(kit: Kit) -> None:
    """The date of birth and sex come from the NIK: the details page says they changed
    and asks to check them (it opened where the citizen had scrolled, without a word)."""
    shown = new_nik(kit, OTHER_NIK)
    assert kit.flow.message.msgid == m.NIK_CHANGED_DETAILS
    assert kit.flow.problems_shown == shown + 1  # the page goes to its top, to the facts
    facts = dict(kit.flow.nik_facts())
    assert facts["Date of birth"] == "01-05-1991" and facts["Sex"] == "Male"
    kit.flow.submit_demographics()
    assert kit.flow.screen == "review"
    d = kit.flow.summary.demographics
    assert (d.date_of_birth.isoformat(), d.sex) == ("1991-05-01", "M")
    assert kit.flow.summary.nik.digits == OTHER_NIK


def test_a_new_nik_with_the_same_birth_date_says_nothing(kit: Kit) -> None:
    new_nik(kit, SAME_BIRTH_NIK)
    assert not kit.flow.message


def test_back_on_the_details_after_a_new_nik_returns_to_review_with_its_dates(
        kit: Kit) -> None:
    """Back on the details after a new NIK refused with "The date of birth does not match
    the NIK", a date the citizen cannot type: the kept details take the new NIK's date of
    birth and sex, as Next would have."""
    new_nik(kit, OTHER_NIK)
    kit.flow.cancel_edit()
    assert kit.flow.screen == "review", kit.flow.message.text("en")
    summary = kit.flow.summary
    assert summary.nik.digits == OTHER_NIK
    d = summary.demographics
    assert (d.date_of_birth.isoformat(), d.sex) == ("1991-05-01", "M")
    assert d.full_name == "SITI NUR'AINI AL-HAMID"


def test_back_on_the_nik_keeps_the_old_one(kit: Kit) -> None:
    kit.to("review")
    kit.flow.edit("identity")
    for digit in OTHER_NIK[:7]:
        kit.flow.identity_digit(digit)
    kit.flow.cancel_edit()
    assert kit.flow.screen == "review"
    assert kit.flow.summary.nik.digits != OTHER_NIK
    assert kit.flow.identity.nik == kit.flow.identity.kk == ""  # kept only in the session
    kit.flow.edit("identity")
    # Not the half-typed digits: the numbers the review shows, to correct.
    assert kit.flow.identity.nik == kit.flow.summary.nik.digits != OTHER_NIK
    assert kit.flow.identity.kk == kit.flow.summary.kk.digits


def test_change_shows_the_numbers_to_correct_one_digit(kit: Kit) -> None:
    """Change on the NIK showed two empty fields: one wrong digit of the KK cost 32 taps.
    The numbers come back; the KK's last digit is corrected with two taps, and the NIK stays."""
    kit.to("review")
    nik, kk = kit.flow.summary.nik.digits, kit.flow.summary.kk.digits
    kit.flow.edit("identity")
    assert (kit.flow.identity.nik, kit.flow.identity.kk) == (nik, kk)
    assert kit.flow.identity.is_valid  # Next is enabled at once: nothing to change
    kit.flow.identity_focus("kk")
    kit.flow.identity_backspace()
    new_kk = kk[:-1] + ("3" if kk[-1] != "3" else "4")
    kit.flow.identity_digit(new_kk[-1])
    kit.flow.submit_identity()
    assert kit.flow.screen == "demographics", kit.flow.message.text("en")
    assert kit.flow.identity.nik == kit.flow.identity.kk == ""  # only in the session now
    kit.flow.submit_demographics()
    assert kit.flow.screen == "review", kit.flow.message.text("en")
    assert (kit.flow.summary.nik.digits, kit.flow.summary.kk.digits) == (nik, new_kk)


# -- signature --------------------------------------------------------------------------------
def test_back_without_signing_keeps_the_signature(kit: Kit) -> None:
    kit.to("review")
    old = kit.flow.summary.signature_png
    kit.flow.edit("signature")
    kit.flow.cancel_edit()
    assert kit.flow.screen == "review" and kit.flow.summary.signature_png == old


# -- leaving while changing ---------------------------------------------------------------------
@pytest.mark.parametrize("step", ["identity", "demographics", "portrait", "fingerprints",
                                  "signature"])
def test_the_idle_wipe_while_changing_forgets_everything(kit: Kit, step: str) -> None:
    kit.to("review")
    kit.flow.edit(step)
    warned = False
    s = kit.flow.settings
    for _ in range(int(s.idle_timeout_s + s.idle_warning_s) + 20):
        kit.executor.advance(1.0)
        kit.flow.tick()
        warned = warned or kit.flow.idle_warning
        if kit.flow.screen == "welcome":
            break
    assert warned
    assert kit.flow.screen == "welcome" and kit.flow.session is None
    assert not kit.flow.editing
    assert kit.flow.form.values["full_name"] == ""
    assert kit.flow.portrait_jpeg == b"" and kit.flow.fingers_done == []
    assert getattr(kit.flow, "_form_kept", None) is None


# -- the photo's background follows the year of birth ----------------------------------------
# Poso Kota, a man born 1 May 1990: an even year, a blue background (the harness's woman,
# born in 1985, has a red one).
EVEN_YEAR_NIK = "7202010105900004"


@pytest.mark.parametrize("leave", ["next", "back"])
def test_a_new_nik_of_another_background_colour_asks_for_a_new_photo(kit: Kit,
                                                                     leave: str) -> None:
    """The e-KTP photo's background is blue for an even year of birth, red for an odd one.
    A new NIK of another year's colour went back to review with the old photo, its
    background now wrong; the photo is now asked for again, saying why, and Back cannot
    keep the old one."""
    new_nik(kit, EVEN_YEAR_NIK)
    old = bytes(kit.flow.session._portrait or b"")  # the photo the review showed
    if leave == "next":
        kit.flow.submit_demographics()
    else:
        kit.flow.cancel_edit()
    assert kit.flow.screen == "portrait", kit.flow.message.text("en")
    assert kit.flow.message.msgid == m.PORTRAIT_BACKGROUND
    assert kit.flow.editing
    kit.flow.cancel_edit()  # Back: the old photo cannot stay
    assert kit.flow.screen == "portrait"
    assert kit.flow.message.msgid == m.PORTRAIT_BACKGROUND
    kit.through_portrait()
    assert kit.flow.screen == "review", kit.flow.message.text("en")
    summary = kit.flow.summary
    assert summary.portrait_jpeg not in (b"", old)
    assert summary.nik.digits == EVEN_YEAR_NIK
    assert summary.demographics.date_of_birth.year == 1990


def test_a_new_nik_of_the_same_background_colour_keeps_the_photo(kit: Kit) -> None:
    kit.to("review")
    old = kit.flow.summary.portrait_jpeg
    kit.flow.edit("identity")
    kit.type_identity(OTHER_NIK, KK)  # 1991: odd, as 1985
    kit.flow.submit_identity()
    kit.flow.submit_demographics()
    assert kit.flow.screen == "review"
    assert kit.flow.summary.portrait_jpeg == old


@pytest.mark.parametrize(("nik", "colour"), [(None, "Red"), (EVEN_YEAR_NIK, "Blue")])
def test_the_photo_taken_says_its_background_is_the_colour_of_the_year(
        kit: Kit, nik: str | None, colour: str) -> None:
    """The camera sees the room; the photo shown has the e-KTP colour of the year of birth
    put behind the face. Said beside it, so nobody retakes the photo for its background."""
    if nik is None:
        kit.to("portrait")  # the harness's woman, born in 1985: odd, red
    else:
        new_nik(kit, nik)
        kit.flow.submit_demographics()
        assert kit.flow.screen == "portrait"
    note = kit.flow.background_note
    assert note.text("en").startswith(f"{colour} background")
    assert note.text("id").startswith({"Red": "Latar merah", "Blue": "Latar biru"}[colour])
