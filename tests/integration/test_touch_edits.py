"""A citizen changes a part of their enrollment from the review page of the real
touchscreen, by touch (``app_edits.py``): Back leaves the part as the review showed it, a
second Change starts the step afresh, a new NIK of another date of birth says so on the
details page, where the citizen can read it, and the review shows what was changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.core.vocabulary import FINGERS
from kiosk.i18n import translate
from kiosk.screens.messages import NIK_CHANGED_DETAILS, PORTRAIT_BACKGROUND
from tests.integration.drivers import run_driver


def walk(tmp_path: Path, display: str, scenario: str, language: str,
         size: tuple[int, int] = (800, 480)) -> dict:
    """Run one of ``app_edits.py``'s scenarios; its report (no errors)."""
    report = run_driver("app_edits", tmp_path, display, scenario, language, size=size,
                        timeout=300)
    back = {"id": "Kembali", "en": "Back"}[language]
    assert set(report.get("left", [back])) == {back}  # a step changed from review: Back
    return report


def same_review(after: dict, before: dict) -> None:
    for key in ("nik", "born", "sex", "name", "religion", "portrait", "signature",
                "fingers", "rows"):
        assert after[key] == before[key], key
    assert after["screen"] == "review" and after["note"] == ""


@pytest.mark.gui
def test_back_after_a_new_photo_keeps_the_old_one_and_change_again_opens_the_camera(
        tmp_path: Path, xdisplay: str) -> None:
    """It showed the dropped photo with "Use this photo", which failed with "Your data
    could not be saved", and Take photo was disabled."""
    report = walk(tmp_path, xdisplay, "portrait_back", "id")
    same_review(report["after_back"], report["before"])
    assert report["again"] == {"photo_shown": False, "primary": "", "take_disabled": False}
    assert "use_stale" not in report
    assert report["after_use"]["portrait"] == report["new"] != report["before"]["portrait"]


@pytest.mark.gui
def test_back_midway_through_the_fingers_keeps_the_earlier_ten(tmp_path: Path,
                                                               xdisplay: str) -> None:
    """Back after three fingers taken again: the review kept a mix of new and old, and a
    second Change went on at the third finger."""
    report = walk(tmp_path, xdisplay, "fingerprints_back", "en")
    same_review(report["after_back"], report["before"])
    assert report["again"] == {"index": 0, "finger": FINGERS[0]}
    before, redone = report["before"]["fingers"], report["after_redo"]["fingers"]
    assert sorted(redone) == sorted(FINGERS)
    assert all(redone[code] != before[code] for code in FINGERS)  # all ten again


@pytest.mark.gui
def test_back_while_the_sensor_waits_for_a_finger_leaves_at_once(tmp_path: Path,
                                                                 xdisplay: str) -> None:
    """Back did nothing until the sensor gave up waiting; the finger placed after Back
    changes nothing and says nothing on the review."""
    report = walk(tmp_path, xdisplay, "fingerprints_back_waiting", "id")
    assert report["at_back"] == {"busy": True, "disabled": False}
    assert report["after_tap"] == "review"
    same_review(report["after_back"], report["before"])
    assert report["again"] == FINGERS[0]
    assert report["after_redo"]["screen"] == "review" and not report["after_redo"]["note"]


@pytest.mark.gui
def test_back_after_a_half_typed_change_shows_the_kept_details_again(
        tmp_path: Path, xdisplay: str) -> None:
    """A letter typed and another religion chosen, then Back: the next Change showed the
    abandoned change, not what the review showed."""
    report = walk(tmp_path, xdisplay, "demographics_half_typed", "id")
    same_review(report["after_back"], report["before"])
    before = report["before"]
    assert report["form_again"] == {"name": before["name"], "religion": before["religion"]}
    same_review(report["after_second_back"], before)


@pytest.mark.gui
@pytest.mark.parametrize(("language", "size"), [("en", (800, 480)), ("id", (1280, 800))])
def test_a_new_nik_says_its_date_of_birth_changed_where_the_citizen_reads_it(
        tmp_path: Path, xdisplay: str, language: str, size: tuple[int, int]) -> None:
    """The details page opened where the citizen had scrolled (the village), without a
    word that the date of birth and sex shown above had changed with the NIK. It now says
    so, and the message and the new date of birth are on the screen, between the title
    and the buttons, over nothing else; the review shows the new NIK's values."""
    report = walk(tmp_path, xdisplay, "identity_new_nik", language, size)
    # Change shows the numbers to correct, grouped as typed (they were typed again: 32
    # digits for one wrong one); the driver empties them before typing the new NIK.
    before = [report["before"]["nik"], report["before"]["kk"]]
    assert report["typed_shown"] == before and None not in before
    assert [v.replace(" ", "") for v in report["fields_shown"]] == before
    details = report["details"]
    notice = translate(NIK_CHANGED_DETAILS, language)
    assert details["message"] == notice
    boxes = {b["text"]: b["box"] for b in details["boxes"]}
    # Information, not an error: drawn in the ink of a note, not the red of a refusal.
    assert {b["text"]: b["kind"] for b in details["boxes"]}[notice] == "info"
    title = boxes[{"en": "Your details", "id": "Data diri Anda"}[language]]
    nav_top = size[1] * 0.2  # the nav bar is lower than this on both panels
    for text in (notice, "01-05-1991"):
        x0, y0, x1, y1 = boxes[text]
        assert x0 >= 0 and x1 <= size[0] and nav_top <= y0 and y1 <= title[1] + 1, (text,
                                                                                    boxes)
    after = report["after"]
    assert (after["nik"], after["born"], after["sex"]) == ("7202010105910004", "1991-05-01",
                                                         "M")
    born = {"en": "Date of birth", "id": "Tanggal lahir"}[language]
    assert f"{born}: 01-05-1991" in after["rows"]
    photo_asked_again(report, language, size)


def photo_asked_again(report: dict, language: str, size: tuple[int, int]) -> None:
    """Born in 1991 after 1990: the photo's background goes from blue to red. The photo
    is asked for again, saying why, on the screen; Back does not keep the old one; the
    review shows the new one (it kept the blue one)."""
    assert report["next_screen"] == "portrait"
    notice = translate(PORTRAIT_BACKGROUND, language)
    assert report["portrait_note"] == notice
    box = next(b["box"] for b in report["portrait_boxes"] if b["text"] == notice)
    assert next(b["kind"] for b in report["portrait_boxes"] if b["text"] == notice) == "info"
    assert box[0] >= 0 and box[2] <= size[0] and box[1] >= size[1] * 0.2, box
    assert report["portrait_back"] == {"screen": "portrait", "note": notice}
    assert report["after"]["portrait"] == report["new_photo"] != report["before"]["portrait"]


@pytest.mark.gui
def test_back_on_the_details_after_a_new_nik_returns_to_review(tmp_path: Path,
                                                               xdisplay: str) -> None:
    """It stayed on the details page with "The date of birth does not match the NIK" at
    the top of a page scrolled down: nothing seemed to happen. It goes on (to the photo,
    asked for again for its background colour) and the review shows the new NIK's date of
    birth and sex with the name kept."""
    report = walk(tmp_path, xdisplay, "identity_new_nik_back", "id")
    assert report["back"]["screen"] == "review" and report["back"]["message"] == ""
    after = report["after"]
    assert (after["nik"], after["born"], after["sex"]) == ("7202010105910004", "1991-05-01",
                                                         "M")
    assert after["name"] == report["before"]["name"]
    photo_asked_again(report, "id", (800, 480))


@pytest.mark.gui
def test_a_double_tap_on_change_and_on_back_acts_once(tmp_path: Path,
                                                      xdisplay: str) -> None:
    """Change tapped twice: the second tap does not draw on the signature pad under it;
    Back tapped twice: the second does not ask to cancel on the review (Cancel is there)."""
    report = walk(tmp_path, xdisplay, "double_taps", "id")
    assert report["after_change_twice"] == {"screen": "signature", "strokes": 0}
    assert report["after_back_twice"] == {"screen": "review", "cancel_asked": False}


@pytest.mark.gui
def test_a_change_of_the_details_shows_on_review_and_the_page_opens_at_its_top(
        tmp_path: Path, xdisplay: str) -> None:
    """Another village picked from the list (down at the page's end) shows on review; the
    next Change of the details opens the page at its top (it stayed down at the village
    list, the NIK's facts and the name out of sight)."""
    report = walk(tmp_path, xdisplay, "demographics_changed", "en")
    assert report["village"] != report["before"]["village"]
    assert report["again_scroll_y"] == 1.0
