"""An officer at the real touchscreen, by touch, on the 7-inch panel with the power banner
up, in each language: called to a citizen's finger that fails, the officer puts the staff
card in, types a wrong PIN (the pad says how many tries are left) and the right one,
records the finger as impossible to scan with its reason, and takes the card out; the
citizen finishes alone, and the sealed record names the finger, the reason and the
officer. Then the officer's home, opened at the welcome, and Log out. Every label is on
the panel and in the screen's language, and none shows the PIN."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.core.vocabulary import LANGUAGES, MISSING_FINGER_REASONS
from kiosk.i18n import translate
from kiosk.screens.flow_screens import FINGER_NAMES
from kiosk.screens.flow_staff import MISSING_REASON_NAMES
from tests.conftest import REPO, kiosk_env, write_config
from tests.integration.app_staff import PIN, WRONG_PIN
from tests.integration.test_touch_flow import only_in
from tests.plaintext import open_sealed_records

DRIVE = REPO / "tests" / "integration" / "app_staff.py"
STAFF = "STAFF-0042"
WIDTH, HEIGHT = 800, 480
WRONG = {"id": "PIN salah. Sisa percobaan: 2.", "en": "Wrong PIN. Tries left: 2."}


def drive(tmp_path: Path, display: str, language: str) -> tuple[dict, Path]:
    config = write_config(
        tmp_path,
        f'[kiosk]\ndefault_language = "{language}"\n'
        f"[ui]\nwidth = {WIDTH}\nheight = {HEIGHT}\npanel_mm = [155.0, 86.0]\n"
        "speech = false\n"
        f'[hardware.card]\npresent = false\npin = "{PIN}"\nstaff_id = "{STAFF}"\n')
    out = tmp_path / "report.json"
    env = kiosk_env(config) | {"DISPLAY": display, "KIVY_NO_CONSOLELOG": "1"}
    result = subprocess.run([sys.executable, str(DRIVE), str(config), str(out), language],
                            env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert not report["errors"], report["errors"]
    return report, config


@pytest.mark.gui
@pytest.mark.parametrize("language", LANGUAGES)
def test_an_officer_records_a_finger_that_cannot_be_scanned_by_touch(
        tmp_path: Path, xdisplay: str, language: str) -> None:
    report, config = drive(tmp_path, xdisplay, language)

    def t(msgid: str) -> str:
        return translate(msgid, language)

    assert report["pin_touches_kept"] == []  # the keys' last touches would spell the PIN
    assert report["f2"] == [True, False]  # F2: the simulated card in (the PIN pad), out
    assert report["card_in_at_start"] is False

    # Alone, the citizen is offered no "Cannot be scanned"; Help is the way forward.
    assert report["alone"] == {"missing_shown": False, "help": "primary"}

    # The PIN pad: dots, never digits; a wrong PIN says the tries left, in the language.
    assert report["dots_typed"] == len(WRONG_PIN)
    assert report["pin_message"] == WRONG[language]
    assert report["dots_after_wrong"] == 0
    pin_texts = [label["text"] for label in report["views"]["pin-wrong"]["labels"]]
    assert t("Officer login") in pin_texts and WRONG[language] in pin_texts
    assert report["staff_id"] == STAFF

    # Logged in at the finger: "Cannot be scanned", the way forward again Try again.
    assert report["officer"] == {"missing_shown": True, "disabled": False,
                                 "text": t("Cannot be scanned"), "help": "secondary",
                                 "try_again": "primary"}
    assert report["while_waiting"] == {"busy": True, "disabled": False}
    first = report["first_finger"]
    assert report["reasons_finger"] == t(FINGER_NAMES[first])
    assert report["reasons"] == [t(MISSING_REASON_NAMES[r]) for r in MISSING_FINGER_REASONS]
    reason = MISSING_FINGER_REASONS[1]
    after = report["after_reason"]
    assert after["missing"] == {first: reason} and after["hands"] == [first]
    # "N of 10 fingers done" counts the finger recorded missing with those scanned since.
    assert first not in after["done"]
    assert after["progress"] == t("{done} of {total} fingers done").format(
        done=1 + len(after["done"]), total=10)
    assert after["legend"] == t("Not scanned: {count}").format(count=1)
    assert report["after_card_out"] == {"missing_shown": False, "screen": "fingerprints"}
    missing_line = f"[X] {t(FINGER_NAMES[first])} \N{EN DASH} {t(MISSING_REASON_NAMES[reason])}"
    assert missing_line in report["review_fingers"].splitlines()

    # The sealed record names the finger, the reason and the officer who recorded it.
    steps = open_sealed_records(config).steps[report["record_id"]]
    exceptions = json.loads(steps["fingerprints"]["exceptions.json"])
    assert exceptions == {"missing": {first: reason}, "recorded_by": {first: STAFF}}
    assert f"{first}.png" not in steps["fingerprints"]
    assert sum(name.endswith(".png") for name in steps["fingerprints"]) == 9

    # The officer's home at the welcome, then Log out.
    assert report["home"] == {"staff_id": STAFF, "empty": True, "rows": 0}
    home = [label["text"] for label in report["views"]["staff"]["labels"]]
    assert STAFF in home and t("Log out") in home and t("No unfinished enrollments.") in home
    assert {"Bahasa Indonesia", "English"} <= set(home)
    # the citizen's record, sealed, not yet sent (nothing uploads here)
    assert t("Records on this kiosk not yet sent: {count}.").format(count=1) in home
    assert report["after_logout"] == {"screen": "welcome", "staff_id": "",
                                      "officer_login": True}  # the card still in
    # "Officer login" on the welcome only while a card waits in the reader: none before it
    # went in, shown after a Cancel on the pad (tapped: the pad again), gone once it is out
    assert report["welcome_login_no_card"] is False
    assert report["welcome_login_card_in"] is True
    assert report["welcome_login_card_out"] is False
    assert report["closed_login"] is True and report["closed_login_opens_pad"] is True

    # Every view: on the panel, in its language only, and no PIN in any label.
    other = only_in("en" if language == "id" else "id")
    for name, view in report["views"].items():
        assert view["language"] == language, name
        texts = [label["text"] for label in view["labels"]]
        assert texts, name
        wrong = [text for text in texts if text in other]
        assert not wrong, f"{name} in {language} shows {wrong}"
        for label in view["labels"]:
            x0, y0, x1, y1 = label["box"]
            assert x0 >= -1 and y0 >= -1 and x1 <= WIDTH + 1 and y1 <= HEIGHT + 1, (
                name, label)
            assert PIN not in label["text"] and WRONG_PIN not in label["text"], (name, label)
