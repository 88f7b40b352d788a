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

from kiosk.i18n import translate
from kiosk.screens.flow_screens import PROMPTS
from tests.integration.drivers import run_driver

PROVINCE = "The NIK's province code (digits 1-2) is not a known province."
WORST_KK = "The family-card number's regency/city code (digits 3-4) cannot be 00."


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
