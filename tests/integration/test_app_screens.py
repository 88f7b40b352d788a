"""The touchscreen, run for real under Xvfb: screenshots and the labels a citizen reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import REPO, kiosk_env, write_config

SNAPSHOT = REPO / "tests" / "integration" / "app_snapshot.py"
# Read at arm's length on a 10" 1280x800 panel: nothing a citizen must read below ~20 px.
MIN_FONT_PX = 20


def _snapshot(tmp_path: Path, display: str, language: str, *extra: str) -> tuple[Path, dict]:
    config = write_config(tmp_path)
    prefix = tmp_path / f"shot-{language}"
    env = kiosk_env(config) | {"DISPLAY": display, "KIVY_NO_CONSOLELOG": "1"}
    result = subprocess.run([sys.executable, str(SNAPSHOT), str(config), str(prefix), language,
                             *extra], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return prefix.with_suffix(".png"), json.loads(prefix.with_suffix(".json").read_text())


def _assert_looks_like_a_screen(png: Path) -> None:
    img = Image.open(png).convert("RGB")
    assert img.size == (1280, 800)
    colours = img.resize((64, 40)).getcolors(64 * 40)
    assert colours is not None and len(colours) > 8, "screen is (nearly) uniform"


@pytest.mark.gui
def test_welcome_screen_speaks_indonesian_first(tmp_path: Path, xdisplay: str) -> None:
    png, info = _snapshot(tmp_path, xdisplay, "id")
    _assert_looks_like_a_screen(png)
    texts = [label["text"] for label in info["labels"]]
    assert info["screen"] == "welcome"
    assert "Selamat datang" in texts
    assert "Perekaman e-KTP" in texts
    assert {"Bahasa Indonesia", "English"} <= set(texts)
    assert min(label["font_px"] for label in info["labels"]) >= MIN_FONT_PX


@pytest.mark.gui
def test_welcome_screen_switches_to_english(tmp_path: Path, xdisplay: str) -> None:
    png, info = _snapshot(tmp_path, xdisplay, "en")
    _assert_looks_like_a_screen(png)
    texts = [label["text"] for label in info["labels"]]
    assert "Welcome" in texts
    assert "Selamat datang" not in texts


@pytest.mark.gui
def test_closed_screen_tells_citizen_and_officer(tmp_path: Path, xdisplay: str) -> None:
    png, info = _snapshot(tmp_path, xdisplay, "id", "disk reserve reached")
    _assert_looks_like_a_screen(png)
    joined = "\n".join(label["text"] for label in info["labels"])
    assert info["screen"] == "closed"
    assert "Kios ini sedang tidak melayani perekaman" in joined
    assert "disk reserve reached" in joined
    assert min(label["font_px"] for label in info["labels"]) >= MIN_FONT_PX
