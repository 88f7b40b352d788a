"""The identity step on the real touchscreen, typed by touch: a wrong NIK stays named on
the screen, under the NIK, while the KK is typed, and the NIK's field is framed as a
refusal. The usability review found the NIK's error under the KK, replaced by the KK's
progress and "Looks right" as soon as KK digits were typed, Next disabled with no reason
shown, and no written instruction. Each message, at its longest, fits between the title
bar and the nav bar of the 7-inch panel and of the 10-inch one, over no other text."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from kiosk.enrollment.nik import NIK_LENGTH, parse_kk
from kiosk.errors import InvalidInput
from kiosk.i18n import translate
from kiosk.screens import messages as m
from kiosk.screens.flow_screens import PROMPTS
from tests.integration.app_identity import WRONG_KKS
from tests.integration.drivers import run_driver

PROVINCE = "The NIK's province code (digits 1-2) is not a known province."
WORST_KK = "The family card's regency/city code (digits 3-4) cannot be 00."


def kk_message(part: str, language: str) -> str:
    """The domain's message for the KK of ``WRONG_KKS[part]`` (as parse_kk says it)."""
    try:
        parse_kk(WRONG_KKS[part])
    except InvalidInput as exc:
        assert len(WRONG_KKS[part]) == NIK_LENGTH
        return exc.message_en if language == "en" else exc.message_id
    raise AssertionError(f"{WRONG_KKS[part]} is a valid KK")


def drive(tmp_path: Path, display: str, size: tuple[int, int], language: str) -> dict:
    return run_driver("app_identity", tmp_path, display, language, size=size, panel_mm=True)


def the(shown: dict, text: str) -> list[float]:
    """The window box of the one visible label reading ``text``."""
    boxes = [t["box"] for t in shown["texts"] if t["text"] == text]
    assert len(boxes) == 1, (text, [t["text"] for t in shown["texts"]])
    return boxes[0]


def assert_readable(shown: dict, *texts: str) -> None:
    """Each of ``texts`` is inside the window between the title bar and the nav bar, and
    over no other text on the screen (a key's, a field's, the other message's)."""
    width, height = shown["window"]
    title_bottom, nav_top = shown["between"]
    for text in texts:
        x0, y0, x1, y1 = the(shown, text)
        assert min(x0, y0) >= 0 and x1 <= width and y1 <= height, (text, shown["window"])
        assert nav_top - 1 <= y0 and y1 <= title_bottom + 1, (text, shown["between"])
        for other in shown["texts"]:  # a key's text too
            if other["text"] != text:
                assert apart(the(shown, text), other["box"]), (text, other)
    body = [t["box"] for t in shown["texts"] if not t["button"]
            and nav_top - 1 <= t["box"][1] and t["box"][3] <= title_bottom + 1]
    for a, b in itertools.combinations(body, 2):
        assert apart(a, b), f"{a} overlaps {b}"


def apart(a: list[float], b: list[float]) -> bool:
    """Two window boxes share no pixel (a pixel's rounding allowed)."""
    return a[3] <= b[1] + 1 or b[3] <= a[1] + 1 or a[2] <= b[0] + 1 or b[2] <= a[0] + 1


def assert_under(shown: dict, text: str, field: str) -> None:
    """``text`` is right under ``field``: below it, above the next field (if any), within
    its width."""
    box = the(shown, text)
    fx0, fy0, fx1, _fy1 = shown["fields"][field]["box"]
    assert box[3] <= fy0 + 1 and fx0 - 1 <= box[0] and box[2] <= fx1 + 1, (box, field)
    if field == "nik":
        assert shown["fields"]["kk"]["box"][3] <= box[1] + 1, (box, shown["fields"])


@pytest.mark.gui
@pytest.mark.parametrize(("size", "language"), [((800, 480), "id"), ((1280, 800), "en"),
                                                ((800, 480), "en")])
def test_a_wrong_nik_stays_named_under_it_while_the_kk_is_typed_and_every_message_fits(
        tmp_path: Path, xdisplay: str, size: tuple[int, int], language: str) -> None:
    report = drive(tmp_path, xdisplay, size, language)
    colours = report["colours"]
    province, right = translate(PROVINCE, language), translate("Looks right", language)

    # A wrong NIK, then a valid KK, by touch: the NIK's error under the NIK, its field
    # framed in the colour of a refusal; the KK's own verdict under the KK.
    shown = report["wrong_nik"]
    assert shown["window"] == list(size)
    assert_under(shown, province, "nik")
    assert_under(shown, right, "kk")
    assert_readable(shown, province, right)
    assert shown["fields"]["nik"]["frame"] == colours["error_ink"]
    assert shown["fields"]["kk"]["frame"] == colours["highlight"]  # the keys go there
    assert shown["next_disabled"]

    # The instruction heads the fields where there is room beside both messages at their
    # longest (the 10-inch panel); on the 7-inch one the messages have that room.
    instruction = translate(PROMPTS["identity"], language)
    for moment in ("empty", "wrong_nik", "worst"):
        texts = [t["text"] for t in report[moment]["texts"]]
        if size == (1280, 800):
            assert_readable(report[moment], instruction)
            box = the(report[moment], instruction)
            assert report[moment]["fields"]["nik"]["box"][3] <= box[1] + 1
        else:
            assert instruction not in texts

    # Both messages at their longest (the KK's takes three lines in English on the 7-inch
    # panel): each under its field, both on the body, over nothing.
    shown = report["worst"]
    worst = translate(WORST_KK, language)
    assert_under(shown, province, "nik")
    assert_under(shown, worst, "kk")
    assert_readable(shown, province, worst)
    assert shown["fields"]["kk"]["frame"] == colours["error_ink"]
    assert shown["fields"]["nik"]["frame"] == colours["error_ink"]


def fits(text: dict) -> bool:
    """The label drew all of its text, inside its own box (nothing cut, nothing shortened;
    compared without spaces: a line wrapped at a space drops it)."""
    x0, y0, x1, y1 = text["label_box"]
    tx0, ty0, tx1, ty1 = text["box"]
    inside = x0 - 1 <= tx0 and tx1 <= x1 + 1 and y0 - 1 <= ty0 and ty1 <= y1 + 1
    return inside and "".join(text["rendered"].split()) == "".join(text["text"].split())


@pytest.mark.gui
@pytest.mark.parametrize("language", ["en", "id"])
def test_on_battery_the_longest_messages_of_both_fields_fit_the_7_inch_panel(
        tmp_path: Path, xdisplay: str, language: str) -> None:
    """The power-cut banner over the screen (800x480, 155x86 mm) and both fields' longest
    messages at once (a wrong NIK beside each wrong KK; the step refused after OK under
    either field): every text is whole inside its label, on the window, over no other
    text; the fields sit between the title bar and the nav bar, their messages under them;
    the keys and fields stay at least 10 mm, the messages at the body size. The usability
    review found the KK's three lines (English) under the nav bar and the NIK field over
    the title."""
    report = run_driver("app_identity", tmp_path, xdisplay, language, "battery",
                        size=(800, 480), panel_mm=True)
    province = translate(PROVINCE, language)
    moments = [m for m in report if m.startswith(("kk_", "refused_"))]
    assert len(moments) == 6, sorted(report)
    for moment in moments:
        shown = report[moment]
        assert shown["window"] == [800, 480]
        width, height = shown["window"]
        title_bottom, nav_top = shown["between"]
        assert title_bottom <= height - 2 * shown["mm"] * 11 + 1, (moment, "no banner")
        drawn = [t for t in shown["texts"] if t["drawn"]]
        for text in drawn:
            assert fits(text), (moment, text)
            x0, y0, x1, y1 = text["label_box"]
            assert x0 >= -1 and y0 >= -1 and x1 <= width + 1 and y1 <= height + 1, (
                moment, text)
        for a, b in itertools.combinations(drawn, 2):
            assert apart(a["box"], b["box"]), (moment, a["text"], b["text"])
        for name, field in shown["fields"].items():
            x0, y0, x1, y1 = field["box"]
            assert nav_top - 1 <= y0 and y1 <= title_bottom + 1, (moment, name, field)
            assert y1 - y0 >= 10 * shown["mm"] - 0.5, (moment, name, field)
        for key in shown["keys"]:
            assert min(key[2] - key[0], key[3] - key[1]) >= 10 * shown["mm"] - 0.5, key
            assert nav_top - 1 <= key[1] and key[3] <= title_bottom + 1, (moment, key)
        notes = {"nik": province if moment.startswith("kk_") else translate(
            "Looks right", language), "kk": None}
        if moment.startswith("refused_"):
            field = moment.removeprefix("refused_")
            notes[field] = translate(m.DISK_FULL, language)
            notes["kk" if field == "nik" else "nik"] = translate("Looks right", language)
        else:
            part = moment.removeprefix("kk_")
            notes["kk"] = kk_message(part, language)
        for field, note in notes.items():
            assert_under(shown, note, field)
            assert_readable(shown, note)
            label = next(t for t in shown["texts"] if t["text"] == note)
            assert label["font_size"] >= shown["font_body"] - 0.01, (moment, label)
