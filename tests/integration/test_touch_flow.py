"""A stranger enrolls on the real touchscreen, by touch alone, in both languages: the
record is sealed, opens at the central office, took at most 25 taps besides the characters
typed, every screen was in the chosen language only, and nothing of the citizen is left in
any widget afterwards."""

from __future__ import annotations

import importlib.util
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.config import load_config
from kiosk.core.vocabulary import LANGUAGES
from kiosk.i18n import catalog_ids, translate
from kiosk.journal import Journal
from kiosk.screens.flow_screens import PROMPTS
from kiosk.screens.messages import CALL_OFFICER, IDLE_ENDED
from kiosk.sealing import DeviceKey, Opener, build_packet
from kiosk.sealing_keys import load_central_private_key
from tests.conftest import REPO, kiosk_env, write_config
from tests.integration.drivers import run_driver
from tests.plaintext import find_plaintext, needles_for, open_sealed_records, read_tree

DRIVE = REPO / "tests" / "integration" / "app_drive.py"
MAX_TAPS = 25
MIN_FONT_MM_CAP = 4.8


def only_in(language: str) -> set[str]:
    """Catalog texts that exist in ``language`` only (those equal in both do not count)."""
    pairs = {msgid: translate(msgid, "id") for msgid in catalog_ids("id")}
    if language == "id":
        return {text for msgid, text in pairs.items() if text != msgid}
    return {msgid for msgid, text in pairs.items() if text != msgid}


def _kivy_icons() -> set[bytes]:
    """The PNG icons Kivy ships (``kivy/data/logo``), which it copies to its home."""
    spec = importlib.util.find_spec("kivy")
    assert spec is not None and spec.origin is not None
    return {p.read_bytes() for p in (Path(spec.origin).parent / "data" / "logo").glob("*.png")}


def drive(tmp_path: Path, display: str, language: str, *extra: str) -> tuple[dict, Path]:
    config = write_config(tmp_path, "[ui]\nwidth = 800\nheight = 480\nspeech = false\n")
    out = tmp_path / "report.json"
    env = kiosk_env(config) | {"DISPLAY": display, "KIVY_NO_CONSOLELOG": "1",
                               "KIOSK_LOG_LEVEL": "DEBUG"}
    result = subprocess.run([sys.executable, str(DRIVE), str(config), str(out), language,
                             *extra], env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    (tmp_path / "drive.log").write_text(result.stderr)  # the kiosk's log, for the tests
    return json.loads(out.read_text()), config


@pytest.mark.gui
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_citizen_enrolls_by_touch_and_the_central_office_opens_it(
        tmp_path: Path, xdisplay: str, language: str) -> None:
    report, config_path = drive(tmp_path, xdisplay, language)
    assert not report["errors"], report["errors"]
    assert report["taps"] <= MAX_TAPS, report["taps"]
    assert report["leaks"] == [], report["leaks"]
    # A step's screen not shown holds no rendered text, though the flow went busy and idle
    # again (a durable commit, every capture) while other screens were shown.
    assert report["rendered_hidden"] == [], report["rendered_hidden"]
    # Once the kiosk has collected the last citizen's garbage, no live object holds their
    # text (the review's rows, the form, the flow: each would be found).
    assert report["live"] == [], report["live"]
    # Changing a step from review: its screen offers Back; review itself, Cancel again.
    back, cancel = {"id": ("Kembali", "Batal"), "en": ("Back", "Cancel")}[language]
    assert (report["edit_left"], report["review_left"]) == (back, cancel)
    assert report["help_led"] == "fault"  # the help button made the LED blink fast
    assert any("officer" in t["text"] or "Petugas" in t["text"]
               for t in report["screens"]["help"])
    record_id = report["record_id"]

    # The record is sealed and opens with the central office's key.
    config = load_config(config_path)
    device = DeviceKey.load_or_create(config.device_key_path)
    central = load_central_private_key(config.central_key_path.with_name("central.key"))
    journal = Journal.open_readonly(config.journal_path)
    try:
        info = journal.record(record_id)
        assert info.state == "sealed"
        opened = Opener(central, {device.key_id: device.public_bytes}).open_packet(
            build_packet(info.manifest, journal.step_blobs(record_id)))
    finally:
        journal.close()
    assert json.loads(opened.steps["identity"]["identity.json"])["nik"] == "7202014107900003"
    demographics = json.loads(opened.steps["demographics"]["demographics.json"])
    assert demographics["full_name"] == "SITI NUR'AINI AL-HAMID"
    assert demographics["kecamatan"] == "Poso Kota"
    assert json.loads(opened.steps["consent"]["consent.json"])["language"] == language
    assert sum(name.endswith(".png") for name in opened.steps["fingerprints"]) == 10
    assert opened.steps["signature"]["signature.png"].startswith(b"\x89PNG")

    # Nothing the citizen typed or gave is in the clear in the data directory (the journal,
    # its WAL, Kivy's home) or in the kiosk's log at DEBUG, as `kiosk run` logs.
    log = (tmp_path / "drive.log").read_bytes()
    assert b"DEBUG kiosk.app: touchscreen built" in log  # the log was captured, at DEBUG
    needles = needles_for(open_sealed_records(config_path))
    tree = {name: data for name, data in read_tree(config.data_dir).items()
            if data not in _kivy_icons()}  # copied to Kivy's home on its first start
    findings = find_plaintext(tree | {"log": log}, needles)
    assert not findings, "\n".join(map(str, findings[:20]))

    # Every screen spoke the chosen language only, readable and on the panel.
    other = only_in("en" if language == "id" else "id")
    for screen, labels in report["screens"].items():
        texts = [label["text"] for label in labels]
        assert texts, screen
        if screen in ("welcome", "help"):  # before the choice: the default language
            continue
        wrong = [t for t in texts if t in other]
        assert not wrong, f"{screen} in {language} shows {wrong}"
        for label in labels:
            x0, y0, x1, y1 = label["box"]
            assert x0 >= -1 and x1 <= 801 and y0 >= -1 and y1 <= 481, (screen, label)


@pytest.mark.gui
def test_the_leak_search_finds_what_a_screen_failed_to_wipe(tmp_path: Path,
                                                            xdisplay: str) -> None:
    """The control for ``report["leaks"] == []`` above: a NIK left in a label, a picture
    left in the review screen's portrait, the pixels of a NIK left in an emptied label and a
    screen not shown that holds rendered text are all reported."""
    report, _config = drive(tmp_path, xdisplay, "id", "--plant-leak")
    assert not report["errors"], report["errors"]
    assert "Label.text" in report["leaks"]
    assert "Image texture" in report["leaks"]
    # rendered, then emptied on a kept screen
    assert any(leak.startswith("Label pixels") for leak in report["leaks"])
    assert "identity screen rendered" in report["leaks"]  # the NIK label, drawn again
    assert any("SITI NUR'AINI AL-HAMID" in held for held in report["live"]), report["live"]




def slip(tmp_path: Path, display: str, scenario: str) -> dict:
    """Run one of ``app_slips.py``'s scenarios on the 7-inch panel; its report."""
    return run_driver("app_slips", tmp_path, display, scenario)


@pytest.mark.gui
def test_a_second_tap_after_the_screen_changed_does_nothing_on_the_next_screen(
        tmp_path: Path, xdisplay: str) -> None:
    """A double tap slower than the step's commit: the second tap lands on the next
    screen, where the next step's buttons sit. It must not skip the name or type into it
    (keypad OK -> the keyboard's Next or ","), seal the record unreviewed (Next ->
    Confirm), take the receipt away (Confirm -> Finish) or call an officer (Finish -> the
    welcome's Help)."""
    report = slip(tmp_path, xdisplay, "second_taps")
    assert report["demographics"] == ["full_name", ""]
    assert report["after_signature"] == "review"
    assert report["after_confirm"] == "done"
    assert report["help_after_finish"] is False


@pytest.mark.gui
def test_a_list_left_open_is_closed_by_the_idle_wipe(tmp_path: Path, xdisplay: str) -> None:
    """The occupation list open when the citizen walks away: after the wipe the next
    citizen sees the welcome, not the last citizen's list."""
    report = slip(tmp_path, xdisplay, "picker_left_open")
    assert report["open"] == ["PickerPopup"]
    assert report["screen"] == "welcome"
    assert report["after_wipe"] == []


@pytest.mark.gui
def test_the_portrait_messages_fit_between_title_and_buttons_after_camera_failures(
        tmp_path: Path, xdisplay: str) -> None:
    """Three failed photos on the 7-inch panel under the power banner: the camera's
    message and the call for an officer are on the screen's body, not over the title bar
    nor over each other. The third failure makes Help the way forward (drawn as the
    primary button, Take photo as a secondary one), and tapping it calls an officer.
    Before the first try the written instruction shows (it was only spoken), with the
    live check's message, in the same room."""
    report = slip(tmp_path, xdisplay, "camera_fails")
    before = [t["text"] for t in report["before"]]
    assert translate(PROMPTS["portrait"], "id") in before, before
    assert report["live"] in before, before
    assert report["roles"] == [{"help": "secondary", "take": "primary"}] * 2 + [
        {"help": "primary", "take": "secondary"}]
    assert report["help_called"] is True
    title_bottom, nav_top = report["between"]  # window y, upwards
    officer = translate(CALL_OFFICER, "id")
    assert any(officer in t["text"] for t in report["texts"][-1]), report["texts"][-1]
    for shown in [report["before"], *report["texts"]]:
        boxes = [t["box"] for t in shown]
        for _x0, y0, _x1, y1 in boxes:
            assert nav_top - 1 <= y0 and y1 <= title_bottom + 1, (shown, report["between"])
        for a, b in itertools.combinations(boxes, 2):
            assert a[3] <= b[1] + 1 or b[3] <= a[1] + 1, f"{a} overlaps {b}"


@pytest.mark.gui
def test_the_hands_stay_large_when_a_finger_fails_three_times_on_battery(
        tmp_path: Path, xdisplay: str) -> None:
    """The 7-inch panel with the power banner, a three-line message and the call for an
    officer: the hand diagram that shows which finger stays at least 20 mm tall (it was
    15 mm, the finger to place barely seen), every text is in the body, none over another,
    and Try again is the nav's forward button, drawn as the second choice after Help."""
    report = slip(tmp_path, xdisplay, "fingers_fail_on_battery")
    assert report["banner"] is True
    assert report["hands_mm"] >= 20, report["hands_mm"]
    assert report["try_again"] == {"text": "Coba lagi", "role": "secondary",
                                   "disabled": False}
    title_bottom, nav_top = report["between"]
    boxes = [t["box"] for t in report["texts"]]
    assert any(translate(CALL_OFFICER, "id") in t["text"] for t in report["texts"])
    for _x0, y0, _x1, y1 in boxes:
        assert nav_top - 1 <= y0 and y1 <= title_bottom + 1, report
    for a, b in itertools.combinations(boxes, 2):
        assert a[3] <= b[1] + 1 or b[3] <= a[1] + 1 or a[2] <= b[0] + 1 or b[2] <= a[0] + 1, (
            f"{a} overlaps {b}")


@pytest.mark.gui
def test_cancel_works_while_the_sensor_waits_for_a_finger(tmp_path: Path,
                                                          xdisplay: str) -> None:
    """The sensor waits up to 10 s a try for a finger that does not come: Cancel stays
    enabled (it was greyed out with the flow busy), asks once, and "Yes, stop" wipes.
    The question draws going on as the way forward (blue) and stopping, which deletes
    what was entered, in red (a big blue "Yes, stop" drew the eye)."""
    report = slip(tmp_path, xdisplay, "cancel_waiting_finger")
    assert report["busy"] is True and report["cancel_disabled"] is False
    answers, colours = report["answers"], report["colours"]
    assert answers["no"] == {"role": "primary", "colour": colours["primary_bg"]}
    assert answers["yes"] == {"role": "danger", "colour": colours["danger_bg"]}
    assert report["screen"] == "welcome" and report["session"] is False


@pytest.mark.gui
def test_next_refused_brings_the_first_missing_field_and_its_message_into_view(
        tmp_path: Path, xdisplay: str) -> None:
    """On the 7-inch panel the family-card form is a scrolling page. Next with the name
    left empty while the citizen is down at the chips, or the village left empty while at
    the top: the page scrolls to that row, and its message under it is on the screen (it
    stayed where it was, the problem out of sight)."""
    report = slip(tmp_path, xdisplay, "demographics_problem_in_view")
    for row, message in (("full_name", "Nama lengkap"), ("kelurahan_desa", "Pilih kelurahan/desa")):
        shown = report[row]
        assert shown["screen"] == "demographics"
        assert message in shown["error"], shown
        _x0, y0, _x1, y1 = shown["row"]
        _sx0, sy0, _sx1, sy1 = shown["scroll"]
        assert sy0 - 1 <= y0 and y1 <= sy1 + 1, (row, shown)


@pytest.mark.gui
def test_the_welcome_after_the_idle_wipe_says_why_until_touched(tmp_path: Path,
                                                               xdisplay: str) -> None:
    """A citizen in English walks away; the idle wipe. Whoever comes back reads on the
    welcome, in English and on the 7-inch panel, that the session ended and what was
    entered is deleted; a touch takes it away and the welcome is in Indonesian again."""
    report = slip(tmp_path, xdisplay, "idle_notice")
    notice = translate(IDLE_ENDED, "en")
    before = [t["text"] for t in report["before"]]
    assert notice in before and "e-KTP Recording" in before, before
    for label in report["before"]:
        x0, y0, x1, y1 = label["box"]
        assert x0 >= -1 and x1 <= 801 and y0 >= -1 and y1 <= 481, label
    after = [t["text"] for t in report["after"]]
    assert report["screen"] == "welcome"
    assert notice not in after and "Selamat datang" in after, after
    # Nothing over anything else, with the notice or without (the Indonesian help line
    # takes two lines beside its button).
    for when in ("before", "after"):
        boxes = [t["box"] for t in report[when]] + report[f"{when}_buttons"]
        for a, b in itertools.combinations(boxes, 2):
            apart = (a[3] <= b[1] + 1 or b[3] <= a[1] + 1 or a[2] <= b[0] + 1
                     or b[2] <= a[0] + 1)
            assert apart, f"{when}: {a} overlaps {b}"


@pytest.mark.gui
def test_the_consent_says_there_is_more_until_its_end_is_read(tmp_path: Path,
                                                             xdisplay: str) -> None:
    """On the 7-inch panel the consent goes on below the fold, a line cut through and
    "If you choose No, nothing is kept." out of sight: a line above the buttons says so
    until the citizen has dragged the text to its end, which is then wholly in view."""
    report = slip(tmp_path, xdisplay, "consent_fold")
    start, end = report["start"], report["end"]
    assert start["more"], start
    more_y1 = start["more_box"][3]
    assert more_y1 <= start["scroll_box"][1] + 1  # under the text, not over it
    assert not end["more"], end
    _x0, y0, _x1, y1 = end["last_box"]
    _sx0, sy0, _sx1, sy1 = end["scroll_box"]
    assert sy0 - 1 <= y0 and y1 <= sy1 + 1, end
    # Stopped with only the bottom margin hidden, the text is all in view: no hint (a
    # flick on a busy kiosk stopped there, and the hint stayed). Half a line hidden: hint.
    margin, line = report["margin_hidden"], report["line_hidden"]
    assert margin["last_box"][1] >= margin["scroll_box"][1] - 1, margin
    assert not margin["more"], margin
    assert line["last_box"][1] < line["scroll_box"][1] - 1, line
    assert line["more"], line


@pytest.mark.gui
def test_a_screen_never_shown_keeps_no_text_rendered_after_a_wipe(tmp_path: Path,
                                                                 xdisplay: str) -> None:
    """A citizen who declines at the consent never sees the details page; the wipe's
    refresh set its keyboard page's texts, the layout pass after it rendered them again
    (a label's width follows another's new text), and nothing dropped them: the touch
    monkey found "demographics: Label '_'" (seed 4)."""
    report = slip(tmp_path, xdisplay, "decline_at_consent")
    assert report["rendered_hidden"] == []


@pytest.mark.gui
def test_the_idle_warning_hides_what_the_citizen_typed(tmp_path: Path, xdisplay: str) -> None:
    """The warning comes when the citizen has walked away, and stays for its countdown:
    what the next person in the queue sees is the question, not the NIK (behind a 60 %
    dimming it stayed readable). Read from a screenshot: outside the question's box the
    screen is one flat colour."""
    from PIL import Image

    report = slip(tmp_path, xdisplay, "idle_overlay")
    assert report["nik_shown"].replace(" ", "") == report["nik_typed"]  # it was on screen
    width, height = report["window"]
    x0, y0, x1, y1 = report["box"]
    with Image.open(report["screenshot"]) as shot:
        pixels = shot.convert("RGB").load()
        assert shot.size == (width, height)
    top, bottom = height - y1, height - y0  # the image's rows run downwards
    outside = {pixels[x, y] for x in range(0, width, 2) for y in range(0, height, 2)
               if not (x0 - 3 <= x <= x1 + 3 and top - 3 <= y <= bottom + 3)}
    assert len(outside) == 1, f"{len(outside)} colours around the question"


@pytest.mark.gui
def test_a_double_tap_on_a_list_or_the_keyboards_next_acts_once(tmp_path: Path,
                                                                xdisplay: str) -> None:
    """Double taps on the family-card form, the second tap after the first changed what
    lies under the finger: on the occupation row it chose the occupation under it in the
    list just opened (civil servant, unseen); on an occupation it opened the list of the
    form's row under the closed list; on the keyboard's Next it skipped the place of
    birth. Each acts once."""
    report = slip(tmp_path, xdisplay, "list_double_taps")
    assert report["after_next"] == "place_of_birth"
    assert report["row_twice"] == {"open": ["PickerPopup"], "occupation": ""}
    assert report["apart_s"] < 0.5  # a double tap, as the kiosk counts one
    assert report["option_twice"] == {"open": [], "focus": None, "changed": ["occupation"]}
