"""The language button of every session screen, by touch (``app_language.py``), on the
7-inch and the 10-inch panel with the power-cut banner up: a citizen who chose Bahasa
Indonesia at the welcome switches to English at the identity step and back, what was typed
stays, every text of the screen is then in the new language (the domain's message under
the NIK too), and on every step's screen, the details page's keyboard, the help notice and
the receipt the button is a touch target, names the other language in itself, and leaves
the title, the step and the other buttons of its bar whole. The review found no way to
change the language after the welcome."""

from __future__ import annotations

import itertools

import pytest

from kiosk.i18n import translate
from kiosk.screens.forms import group_digits
from kiosk.screens.theme import MIN_TARGET_MM
from tests.integration.app_language import KK, WRONG_NIK
from tests.integration.drivers import PANELS_MM, run_driver
from tests.integration.test_touch_details import apart, fits, in_window
from tests.integration.test_touch_flow import only_in

PROVINCE = "The NIK's province code (digits 1-2) is not a known province."
NAMES = {"id": "Bahasa Indonesia", "en": "English"}
#: Each moment's screen: every step's, the details page's keyboard, help (not the receipt:
#: its title bar holds the time left, and the citizen has read every step by then).
MOMENTS = ("consent", "identity", "demographics", "keyboard", "portrait", "photo",
           "fingerprints", "help", "signature", "review")


@pytest.fixture(scope="module", params=sorted(PANELS_MM))
def walked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           xdisplay: str) -> tuple[tuple[int, int], dict]:
    size = request.param
    tmp_path = tmp_path_factory.mktemp(f"language-{size[0]}")
    return size, run_driver("app_language", tmp_path, xdisplay, size=size, panel_mm=True,
                            timeout=300)


@pytest.mark.gui
def test_a_citizen_switches_to_english_at_the_identity_step_and_back_by_touch(
        walked: tuple[tuple[int, int], dict]) -> None:
    _size, report = walked
    moments = report["moments"]
    before, after = moments["identity-id"], moments["identity-en"]
    assert (before["language"], after["language"]) == ("id", "en")
    # What was typed is kept: the wrong NIK, half the KK, on the screen and in the flow.
    for shown in (before, after):
        assert shown["identity"] == {"nik": WRONG_NIK, "kk": KK[:8]}
        texts = {t["text"] for t in shown["texts"]}
        assert any(group_digits(WRONG_NIK) in text for text in texts), texts
        assert any(group_digits(KK[:8]) in text for text in texts), texts
    # Every text is English now, the domain's message under the NIK too; Indonesian before.
    for shown, language in ((before, "id"), (after, "en")):
        texts = [t["text"] for t in shown["texts"]]
        other = only_in("en" if language == "id" else "id")
        assert not [t for t in texts if t in other], (language, texts)
        for wanted in (PROVINCE, "Your NIK and family card", "Cancel", "Help"):
            assert translate(wanted, language) in texts, (wanted, language, texts)
    # The second tap of a double tap is dropped, not taken by the button it now shows.
    assert report["double_tap"] == "en"


@pytest.mark.gui
def test_every_session_screen_has_the_button_and_nothing_in_its_bar_is_cut(
        walked: tuple[tuple[int, int], dict]) -> None:
    size, report = walked
    moments = report["moments"]
    assert sorted(moments) == sorted(f"{m}-{lang}" for m in MOMENTS for lang in ("id", "en"))
    for name, shown in moments.items():
        language = shown["language"]
        assert name.endswith(f"-{language}"), name
        assert shown["window"] == list(size)
        mm = shown["mm"]
        # The other language, named in itself, a touch target.
        switch = shown["switch"]
        assert switch["text"] == NAMES["en" if language == "id" else "id"], (name, switch)
        x0, y0, x1, y1 = switch["box"]
        assert min(x1 - x0, y1 - y0) / mm >= MIN_TARGET_MM - 0.01, (name, switch)
        # Its bar: the title, the step and every button whole, on the window, apart.
        bar = shown["bar"]
        assert any(t["text"] == switch["text"] for t in bar), (name, bar)
        for text in bar:
            assert fits(text), (name, text)
            assert in_window(text["texture"], shown["window"]), (name, text)
            assert text["font_size"] >= shown["font_body"] - 0.01, (name, text)
        for a, b in itertools.combinations([t["texture"] for t in bar], 2):
            assert apart(a, b), (name, a, b)
        for a, b in itertools.combinations(shown["bar_buttons"], 2):
            assert apart(a, b), (name, a, b)
        for box in shown["bar_buttons"]:
            assert in_window(box, shown["window"]), (name, box)
            assert min(box[2] - box[0], box[3] - box[1]) / mm >= MIN_TARGET_MM - 0.01, name
        # The whole window in the screen's language (the banner too).
        texts = [t["text"] for t in shown["texts"]]
        other = only_in("en" if language == "id" else "id")
        assert not [t for t in texts if t in other], (name, texts)
    # Switching twice on each screen kept what the citizen gave.
    assert moments["keyboard-en"]["full_name"] == moments["keyboard-id"]["full_name"] == "SITI"
    assert moments["photo-en"]["portrait"] == moments["photo-id"]["portrait"] > 0
    assert moments["review-en"]["identity"] == moments["review-id"]["identity"]
