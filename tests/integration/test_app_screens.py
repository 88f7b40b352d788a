"""The touchscreen, run for real under Xvfb: screenshots and the labels a citizen reads.

Every snapshot is held to the verdict of the app's own acceptance check: the closed screen
is reached through a refusing configuration (disk reserve, battery), never pushed, and a
snapshot whose screen the check would not give is caught (tested below).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from kiosk.i18n import catalog_ids, translate
from tests.conftest import REPO, kiosk_env, write_config

SNAPSHOT = REPO / "tests" / "integration" / "app_snapshot.py"
# Read at arm's length on a 10" 1280x800 panel: nothing a citizen must read below ~20 px.
MIN_FONT_PX = 20
# Configurations under which the acceptance check refuses, as on a real kiosk.
# The largest reserve the config allows (1 TiB): more than a test machine's disk has free.
DISK_RESERVE_REACHED = f"[kiosk]\ndisk_reserve_bytes = {2**40}\n"
BATTERY_LOW = ('[power]\ntype = "sim"\nsource = "battery"\nbattery_percent = 12.0\n'
               "runtime_s = 3000.0\n")


def _run_snapshot(tmp_path: Path, display: str, language: str, *extra: str,
                  size: tuple[int, int] = (1280, 800), body: str = "") -> tuple[Path, dict]:
    kiosk, rest = (body, "") if body.startswith("[kiosk]") else ("", body)
    config = write_config(tmp_path,
                          kiosk + f"[ui]\nwidth = {size[0]}\nheight = {size[1]}\n" + rest)
    prefix = tmp_path / f"shot-{language}"
    env = kiosk_env(config) | {"DISPLAY": display, "KIVY_NO_CONSOLELOG": "1"}
    result = subprocess.run([sys.executable, str(SNAPSHOT), str(config), str(prefix), language,
                             *extra], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return prefix.with_suffix(".png"), json.loads(prefix.with_suffix(".json").read_text())


def _assert_screen_follows_the_check(info: dict) -> None:
    """The screen is the one the app's last acceptance check calls for, with its reason."""
    verdict = info["acceptance"]
    assert verdict is not None, "the app's acceptance check never came back"
    assert "error" not in verdict, verdict
    expected = "welcome" if verdict["accepting"] else "closed"
    assert info["screen"] == expected, (
        f"screen {info['screen']!r}, but the acceptance check said {verdict}")
    if not verdict["accepting"]:
        joined = "\n".join(label["text"] for label in info["labels"])
        assert verdict["reason"] in joined, "the closed screen does not give the check's reason"


def _snapshot(tmp_path: Path, display: str, language: str, *extra: str,
              size: tuple[int, int] = (1280, 800), body: str = "") -> tuple[Path, dict]:
    png, info = _run_snapshot(tmp_path, display, language, *extra, size=size, body=body)
    _assert_screen_follows_the_check(info)
    return png, info


def _assert_looks_like_a_screen(png: Path, size: tuple[int, int] = (1280, 800)) -> None:
    img = Image.open(png).convert("RGB")
    assert img.size == size
    colours = img.resize((64, 40)).getcolors(64 * 40)
    assert colours is not None and len(colours) > 8, "screen is (nearly) uniform"


def _assert_readable_and_on_screen(info: dict) -> None:
    width, height = info["window"]
    for label in info["labels"]:
        assert label["font_px"] >= MIN_FONT_PX, label["text"]
        x0, y0, x1, y1 = label["box"]
        assert x0 >= -1 and y0 >= -1 and x1 <= width + 1 and y1 <= height + 1, (
            f"{label['text']!r} is cut off: {label['box']} on {width}x{height}")


@pytest.mark.gui
def test_welcome_screen_speaks_indonesian_first(tmp_path: Path, xdisplay: str) -> None:
    png, info = _snapshot(tmp_path, xdisplay, "id")
    _assert_looks_like_a_screen(png)
    texts = [label["text"] for label in info["labels"]]
    assert info["screen"] == "welcome"
    assert "Selamat datang" in texts
    assert "Perekaman e-KTP" in texts
    assert {"Bahasa Indonesia", "English"} <= set(texts)
    _assert_readable_and_on_screen(info)


@pytest.fixture(scope="module")
def english_welcome(tmp_path_factory: pytest.TempPathFactory,
                    xdisplay: str) -> tuple[Path, dict]:
    """One snapshot of the default kiosk in English (1280x800, on mains), read by the two
    tests that ask for exactly that run; each judges it on its own."""
    with pytest.MonkeyPatch.context() as mp:  # the autouse isolation is per test
        mp.setenv("KIOSK_SYSTEM_CONFIG", str(tmp_path_factory.getbasetemp() / "no-etc.toml"))
        mp.delenv("KIOSK_CONFIG", raising=False)
        return _snapshot(tmp_path_factory.mktemp("english-welcome"), xdisplay, "en")


@pytest.mark.gui
def test_welcome_screen_switches_to_english(english_welcome: tuple[Path, dict]) -> None:
    png, info = english_welcome
    _assert_looks_like_a_screen(png)
    texts = [label["text"] for label in info["labels"]]
    assert "Welcome" in texts
    assert "Selamat datang" not in texts


@pytest.mark.gui
def test_closed_screen_tells_citizen_and_officer(tmp_path: Path, xdisplay: str) -> None:
    png, info = _snapshot(tmp_path, xdisplay, "id", body=DISK_RESERVE_REACHED)
    _assert_looks_like_a_screen(png)
    joined = "\n".join(label["text"] for label in info["labels"])
    assert info["screen"] == "closed"
    assert "Kios ini sedang tidak melayani perekaman" in joined
    assert "disk reserve reached" in joined
    _assert_readable_and_on_screen(info)


def _assert_no_text_overlaps(info: dict) -> None:
    """No two labels' rendered text share a pixel (1 px of rounding allowed)."""
    labels = info["labels"]
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a["box"], b["box"]
            overlap = min(ax1, bx1) - max(ax0, bx0) > 1 and min(ay1, by1) - max(ay0, by0) > 1
            assert not overlap, f"{a['text']!r} {a['box']} overlaps {b['text']!r} {b['box']}"


#: The closed screen's line for the officer and the label of the technical detail.
OFFICER = {"id": ("Keterangan untuk petugas: Penyimpanan kios penuh.",
                  "Rincian teknis untuk teknisi:"),
           "en": ("Reason for the officer: The kiosk's storage is full.",
                  "Technical detail for the maintainer:")}


@pytest.mark.gui
@pytest.mark.parametrize("language", ["id", "en"])
def test_closed_screen_tells_the_officer_why_in_the_screens_language(
        tmp_path: Path, xdisplay: str, language: str) -> None:
    """The Indonesian screen's summary is Indonesian, the English one's English; the check's
    English reason is there only as the labelled technical detail, set apart."""
    _png, info = _snapshot(tmp_path, xdisplay, language, body=DISK_RESERVE_REACHED)
    summary, detail = OFFICER[language]
    texts = [label["text"] for label in info["labels"]]
    reason = info["acceptance"]["reason"]
    assert summary in texts
    assert f"{detail} {reason}" in texts
    other = "en" if language == "id" else "id"
    for words in OFFICER[other]:
        assert not any(words in text for text in texts), words
    if language == "id":  # nothing else on the screen is a sentence left in English
        english = {msgid for msgid in catalog_ids("id")
                   if translate(msgid, "id") != msgid and len(msgid) > 10}
        for text in texts:
            rest = text.replace(reason, "")
            assert not [msgid for msgid in english if msgid in rest], text
    small = next(label for label in info["labels"] if reason in label["text"])
    body = next(label for label in info["labels"] if label["text"] == summary)
    assert small["font_px"] < body["font_px"]  # smaller: the detail, not the message
    _assert_readable_and_on_screen(info)
    _assert_no_text_overlaps(info)


@pytest.mark.gui
@pytest.mark.parametrize("language", ["id", "en"])
def test_closed_screen_fits_the_7_inch_panel_with_the_longest_reason_and_the_banner(
        tmp_path: Path, xdisplay: str, language: str) -> None:
    """The longest reason the check gives (a quarantined journal: two paths) with the
    power-cut banner on top, on 800x480: nothing cut off, nothing over anything else."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "journal.db.corrupt-20250314T031522Z").write_bytes(b"kept for a maintainer")
    png, info = _snapshot(tmp_path, xdisplay, language, size=(800, 480), body=BATTERY_LOW)
    assert info["acceptance"]["reason"].startswith("journal was found corrupt")
    assert info["acceptance"]["on_battery"]
    texts = [label["text"] for label in info["labels"]]
    assert any(text.startswith(("Listrik padam", "Power cut:")) for text in texts)  # banner
    assert (f"{OFFICER[language][0].split(':')[0]}: "
            + ("File data rekaman rusak. Teknisi harus memeriksanya." if language == "id"
               else "The recordings file is damaged. A maintainer must check it.")) in texts
    _assert_looks_like_a_screen(png, (800, 480))
    _assert_readable_and_on_screen(info)
    _assert_no_text_overlaps(info)


@pytest.mark.gui
@pytest.mark.parametrize("closed", [False, True])
def test_screens_fit_the_small_800x480_panel(tmp_path: Path, xdisplay: str,
                                            closed: bool) -> None:
    png, info = _snapshot(tmp_path, xdisplay, "id", size=(800, 480),
                          body=BATTERY_LOW if closed else "")
    _assert_looks_like_a_screen(png, (800, 480))
    assert info["screen"] == ("closed" if closed else "welcome")
    _assert_readable_and_on_screen(info)


@pytest.mark.gui
@pytest.mark.parametrize("size", [(1280, 800), (800, 480)])
def test_power_cut_banner_shows_on_battery(tmp_path: Path, xdisplay: str,
                                          size: tuple[int, int]) -> None:
    body = ('[power]\ntype = "sim"\nsource = "battery"\nbattery_percent = 80.0\n'
            "runtime_s = 3000.0\n")
    png, info = _snapshot(tmp_path, xdisplay, "id", body=body, size=size)
    texts = [label["text"] for label in info["labels"]]
    assert "Listrik padam: kios berjalan dengan baterai." in texts
    assert info["screen"] == "welcome"  # plenty of battery: still accepting
    _assert_readable_and_on_screen(info)
    _assert_looks_like_a_screen(png, size)
    boxes = sorted((label["box"] for label in info["labels"]), key=lambda b: -b[3])
    banner = next(label["box"] for label in info["labels"] if "Listrik" in label["text"])
    assert boxes[0] == banner  # the banner is the topmost text...
    assert all(b[3] <= banner[1] + 1 for b in boxes[1:])  # ...and covers none of the rest


@pytest.mark.gui
def test_no_banner_on_mains(english_welcome: tuple[Path, dict]) -> None:
    _png, info = english_welcome
    assert not any("battery" in label["text"] for label in info["labels"])


@pytest.mark.gui
def test_snapshot_of_a_closed_screen_the_check_would_not_show_is_caught(
        tmp_path: Path, xdisplay: str) -> None:
    _png, info = _run_snapshot(tmp_path, xdisplay, "id", "--force-closed",
                               "disk reserve reached")
    assert info["screen"] == "closed"  # forced past the check, as the snapshots once were
    assert info["acceptance"]["accepting"] is True
    with pytest.raises(AssertionError, match="acceptance check said"):
        _assert_screen_follows_the_check(info)
