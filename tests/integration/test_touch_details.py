"""The details page (step 3/7) on the real touchscreen, by touch (``app_details.py``), on
the 7-inch panel in Indonesian and the 10-inch one in English: while a field is typed the
citizen reads its label and the whole value, and can still Cancel (asked once) and call
Help; after Next refused, no text is left half under the title bar or the nav bar."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from kiosk.i18n import translate
from kiosk.screens.theme import MIN_TARGET_MM
from tests.integration.app_details import LONG_NAME, NAME_100
from tests.integration.drivers import PANELS_MM, run_driver

PANELS = [("id", (800, 480), PANELS_MM[(800, 480)]), ("en", (1280, 800), PANELS_MM[(1280, 800)])]


def details(tmp_path: Path, display: str, language: str, size: tuple[int, int],
            panel: tuple[float, float]) -> dict:
    """Run ``app_details.py``; its report (no errors)."""
    assert PANELS_MM[size] == panel
    report = run_driver("app_details", tmp_path, display, language, size=size, panel_mm=True)
    assert report["typing"]["window"] == list(size)
    return report


def fits(text: dict) -> bool:
    """The label drew all of its text, inside its box (nothing cut, nothing shortened)."""
    x0, y0, x1, y1 = text["box"]
    tx0, ty0, tx1, ty1 = text["texture"]
    inside = x0 - 1 <= tx0 and tx1 <= x1 + 1 and y0 - 1 <= ty0 and ty1 <= y1 + 1
    # Compared without spaces: a line wrapped at a space drops it.
    return inside and "".join(text["rendered"].split()) == "".join(text["text"].split())


def in_window(box: list[float], window: list[int]) -> bool:
    return box[0] >= -1 and box[1] >= -1 and box[2] <= window[0] + 1 and box[3] <= window[1] + 1


def apart(a: list[float], b: list[float]) -> bool:
    return a[3] <= b[1] + 1 or b[3] <= a[1] + 1 or a[2] <= b[0] + 1 or b[2] <= a[0] + 1


def check_typing(shown: dict, language: str, value: str, label: str) -> list[dict]:
    """The keyboard's page: the field's label and its whole value (and caret) in one label,
    the title and step, Cancel and Help (at least 10 mm), every text whole, on the window
    and clear of the others. The texts, for more checks."""
    texts = shown["texts"]
    window = shown["window"]
    words = {t["text"] for t in texts}
    for wanted in (translate("Your details", language), "3/7",
                   translate("Cancel", language), translate("Help", language)):
        assert wanted in words, (wanted, sorted(words))
    typed = [t for t in texts if f"{label}  {value}_" == t["text"]]
    assert len(typed) == 1, (value, sorted(words))
    assert fits(typed[0]), typed[0]
    for text in texts:
        assert fits(text), text
        assert in_window(text["texture"], window), text
    mm = shown["mm"]
    for name in ("Cancel", "Help"):
        found = next(t for t in texts if t["text"] == translate(name, language))
        x0, y0, x1, y1 = found["box"]
        assert found["button"] and min(x1 - x0, y1 - y0) / mm >= MIN_TARGET_MM, found
    keys = [t for t in texts if t["button"] and len(t["text"]) == 1]
    assert len(keys) >= 36 and all((t["box"][3] - t["box"][1]) / mm >= MIN_TARGET_MM
                                   for t in keys)
    non_keys = [t["texture"] for t in texts if t not in keys]
    for a, b in itertools.combinations(non_keys, 2):
        assert apart(a, b), f"{a} overlaps {b}"
    return texts


@pytest.mark.gui
@pytest.mark.parametrize(("language", "size", "panel"), PANELS)
def test_the_keyboard_shows_the_whole_name_with_cancel_and_help(
        tmp_path: Path, xdisplay: str, language: str, size: tuple[int, int],
        panel: tuple[float, float]) -> None:
    """Typing a long name: the field row showed "...NUR'AINI AL-HAMID_" on the 7-inch
    panel (cut from the left) beside Help only: no title, no step, no Cancel. Now the
    whole name shows, wrapped if need be, Cancel asks the cancel question (No goes on
    typing), and the place of birth's message is on its keyboard too."""
    report = details(tmp_path, xdisplay, language, size, panel)
    check_typing(report["typing"], language, LONG_NAME, translate("Full name", language))
    assert all(height >= MIN_TARGET_MM for height in report["typing"]["keys_mm"])
    asked = report["asked"]
    assert translate("Stop and delete what you entered?", language) in asked["texts"]
    assert asked["wiped"] is False  # asked, not done
    assert report["continued"] == {"focus": "full_name", "name": LONG_NAME}
    again = report["typing_error"]
    assert again["focus"] == "place_of_birth"
    texts = check_typing(again, language, "", translate("Place of birth", language))
    message = report["refused"]["error"]
    assert message and any(t["text"] == message for t in texts), (message, texts)


@pytest.mark.gui
@pytest.mark.parametrize(("language", "size", "panel"), PANELS)
def test_after_next_refused_no_text_is_half_under_the_bars(
        tmp_path: Path, xdisplay: str, language: str, size: tuple[int, int],
        panel: tuple[float, float]) -> None:
    """The place of birth left empty: the page scrolls to it and its message, and every
    text of the page (labels and chips) is wholly in view or wholly out of it. The field's
    message was repeated at the top of the page, left half under the title bar on the
    10-inch panel; a fact's line was half under it on the 7-inch one."""
    report = details(tmp_path, xdisplay, language, size, panel)
    refused = report["refused"]
    _x0, view_bottom, _x1, view_top = refused["scroll"]
    assert view_top <= refused["title"][1] + 1 and view_bottom >= refused["nav"][3] - 1
    row = refused["row"]
    assert view_bottom - 1 <= row[1] and row[3] <= view_top + 1, refused
    message = refused["error"]
    assert message == translate("{field} is required.", language).format(
        field=translate("Place of birth", language))
    shown = [t for t in refused["page"] if t["texture"][1] < view_top - 1
             and t["texture"][3] > view_bottom + 1]
    assert any(t["text"] == message for t in shown)
    for text in shown:
        _tx0, y0, _tx1, y1 = text["texture"]
        assert view_bottom - 1 <= y0 and y1 <= view_top + 1, (text, refused["scroll"])
        assert fits(text), text  # the long name wrapped in its row, not shortened
    assert sum(t["text"] == message for t in shown) == 1, "the message shown twice"


def field_whole(shown: dict) -> None:
    """The keyboard page's field label (name and value) drew all its lines inside the
    field's frame: no line cut at the top or the bottom."""
    _x0, y0, _x1, y1 = shown["field"]
    _tx0, ty0, _tx1, ty1 = shown["field_text"]
    assert ty1 - ty0 <= y1 - y0 and y0 - 1 <= ty0 and ty1 <= y1 + 1, shown


@pytest.mark.gui
@pytest.mark.parametrize(("language", "size", "panel"), PANELS)
def test_the_longest_name_and_the_banner_leave_the_field_whole(
        tmp_path: Path, xdisplay: str, language: str, size: tuple[int, int],
        panel: tuple[float, float]) -> None:
    """A 100-character name showed only its last two lines behind a thin scroll bar on the
    7-inch panel, and a 101st character was dropped without a word. Now the whole name
    shows (the field's name, then the value flowing under it, the keyboard a row shorter)
    with "(full: 100 characters)" after it, and the 101st key types nothing."""
    report = details(tmp_path, xdisplay, language, size, panel)
    longest = report["longest"]
    assert longest["name"] == NAME_100
    full = translate("(full: {limit} characters)", language).format(limit=100)
    label = translate("Full name", language)
    shown = [t for t in longest["texts"] if t["text"] == f"{label}  {NAME_100}  {full}"]
    assert len(shown) == 1, [t["text"] for t in longest["texts"]]
    assert fits(shown[0]), shown[0]
    field_whole(longest)
    # With the power-cut banner up on the 7-inch panel the field was squeezed to 19 px:
    # the lower half of the value, the label "Full name" cut. Now the field shows its name
    # and value whole there too.
    battery = report["battery"]
    assert battery["banner"] is True
    check_typing(battery, language, NAME_100[:4], label)
    field_whole(battery)


@pytest.mark.gui
@pytest.mark.parametrize(("language", "size", "panel"), PANELS[:1])
def test_rt_is_typed_on_the_numeric_keypad(
        tmp_path: Path, xdisplay: str, language: str, size: tuple[int, int],
        panel: tuple[float, float]) -> None:
    """RT and RW take digits only: they showed the whole letter keyboard and ignored its
    letters. Now the numeric keypad shows instead."""
    report = details(tmp_path, xdisplay, language, size, panel)
    rt = report["rt"]
    assert rt["keypad"] is True and rt["keyboard"] is False
    assert rt["rt"] == "7"
