"""Readable at arm's length and in the citizen's language: sizes in mm of the panel,
contrast from the theme, every message translated, every step with its screen."""

from __future__ import annotations

import re
from pathlib import Path

import kivy
import pytest
from PIL import Image, ImageDraw, ImageFont

from kiosk.enrollment.session import Step
from kiosk.i18n import catalog_ids, source_msgids, translate
from kiosk.screens.flow import PROMPTS, SCREEN_FOR_STEP
from kiosk.screens.flow_screens import SCREEN_NAMES
from kiosk.screens.theme import (
    MIN_CAP_MM,
    MIN_CONTRAST,
    MIN_TARGET_MM,
    PALETTE,
    TEXT_PAIRS,
    Theme,
    contrast_ratio,
)

SCREENS = Path(__file__).resolve().parents[3] / "kiosk" / "screens"
KV_FILES = sorted(SCREENS.rglob("*.kv"))
ROBOTO = Path(kivy.__file__).parent / "data" / "fonts" / "Roboto-Regular.ttf"
PANELS = [((800, 480), (155.0, 86.0)),     # the official 7-inch display
          ((1280, 800), (217.0, 136.0))]   # a 10.1-inch 1280x800 panel


def test_every_message_has_its_indonesian_translation() -> None:
    translated = catalog_ids("id")
    missing = {msgid: where for msgid, where in source_msgids().items()
               if msgid not in translated}
    assert not missing, f"no Indonesian for: {missing}"


def test_the_catalog_check_finds_a_new_untranslated_message(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text('N_("A sentence nobody translated")\n')
    (tmp_path / "y.kv").write_text("    text: tr('Another one', app.language)\n")
    found = source_msgids(tmp_path)
    assert set(found) == {"A sentence nobody translated", "Another one"}
    assert not set(found) & catalog_ids("id")


def test_placeholders_survive_translation() -> None:
    for msgid in source_msgids():
        assert set(re.findall(r"{\w+}", msgid)) == set(
            re.findall(r"{\w+}", translate(msgid, "id"))), msgid


@pytest.mark.parametrize(("text", "background"), TEXT_PAIRS)
def test_text_contrast_is_at_least_7_to_1(text: str, background: str) -> None:
    assert contrast_ratio(PALETTE[text], PALETTE[background]) >= MIN_CONTRAST


@pytest.mark.parametrize(("size", "panel"), PANELS)
def test_targets_are_at_least_10mm_and_capitals_at_least_4_8mm(size, panel) -> None:
    theme = Theme.for_window(size, panel)
    for name in ("target", "key"):
        assert getattr(theme, name) / theme.px_per_mm >= MIN_TARGET_MM, name
    # Measure the rendered capital "I" of the font Kivy uses, at the body size.
    font = ImageFont.truetype(str(ROBOTO), size=round(theme.font_body))
    image = Image.new("L", (400, 400), 0)
    ImageDraw.Draw(image).text((10, 10), "I", font=font, fill=255)
    top, bottom = image.getbbox()[1], image.getbbox()[3]
    assert (bottom - top) / theme.px_per_mm >= MIN_CAP_MM - 0.1  # 0.1 mm: one pixel


def test_kv_files_take_sizes_and_colours_from_the_theme_only() -> None:
    for path in KV_FILES:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            where = f"{path.name}:{number}: {line.strip()}"
            if re.match(r"\s*font_size:", line):
                assert "app.ui.font_" in line, where
                # Below the body size: only the closed screen's detail for the maintainer.
                assert "font_detail" not in line or path.name == "closed.kv", where
                cap = re.search(r"font_for_cap\(([\d.]+)\)", line)
                assert cap is None or float(cap.group(1)) >= MIN_CAP_MM, where
            assert not re.search(r"\b(dp|sp)\(", line), where  # millimetres, not dp
            if re.match(r"\s*(color|rgba):", line):
                assert "app.ui." in line or "key_colours" in line or "root." in line, where


def test_every_step_has_a_screen_and_every_screen_an_instruction() -> None:
    assert set(SCREEN_FOR_STEP) == set(Step)
    names = set(SCREEN_FOR_STEP.values())
    assert names <= set(SCREEN_NAMES)
    for name in SCREEN_NAMES:
        assert (SCREENS / f"{name}.kv").exists() and (SCREENS / f"{name}.py").exists()
        if name != "closed":
            assert name in PROMPTS


def test_no_indonesian_sentence_is_written_in_the_code() -> None:
    # Citizen-facing text lives in the catalog: the code holds English msgids only (the
    # value lists of the family card, e.g. "Belum Kawin", are data, not sentences).
    import ast

    words = re.compile(r"\b(tidak|harus|wajib|Silakan|Anda|silakan|ulangi)\b")
    roots = [SCREENS, SCREENS.parent / "enrollment"]
    found = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if path.name == "synthetic.py":  # invented citizens: names and streets
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                        and words.search(node.value) and not node.value.startswith('"""')
                        and "\n" not in node.value):
                    found.append(f"{path.name}:{node.lineno}: {node.value[:60]}")
    assert not found, found
