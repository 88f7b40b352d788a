"""The shared touch widgets, run for real under Xvfb at 800x480 (the 7" panel).

Each test starts a fresh Python (this module run as a script, ``python -m
tests.integration.test_widgets SCENARIO OUT_DIR``) so Kivy's window and global state never
leak between tests or into other test modules. The child builds a minimal app exposing
``ui`` (a :class:`Theme`) and ``language`` like the kiosk app, shows one widget, drives it
with real touch dispatch (``UnitTestTouch`` at a key's centre), asserts, checks the sizes
a citizen depends on (text >= ``font_body``, touch targets >= 10 mm both ways) and saves a
screenshot ``OUT_DIR/SCENARIO.png``.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SIZE = (800, 480)
PANEL_MM = (155.0, 86.0)

SCENARIOS: dict[str, Callable[[Any], dict[str, Any]]] = {}


def scenario(fn: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    SCENARIOS[fn.__name__.removeprefix("scenario_")] = fn
    return fn


# -- the parent: pytest ------------------------------------------------------------------

def _run(name: str, tmp_path: Path, display: str) -> dict[str, Any]:
    env = dict(os.environ, DISPLAY=display, KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1",
               KIVY_LOG_MODE="PYTHON", KIVY_NO_FILELOG="1",
               KIVY_HOME=str(tmp_path / "kivy-home"), PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-m", "tests.integration.test_widgets", name,
                             str(tmp_path)], env=env, cwd=REPO, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, (result.stdout[-2000:] + "\n" + result.stderr[-6000:])
    report = json.loads((tmp_path / f"{name}.json").read_text())
    assert report["window"] == list(SIZE)
    assert report["size_problems"] == []
    assert Path(report["screenshot"]).stat().st_size > 0
    return report


@pytest.mark.gui
def test_keypad_taps_make_digits_backspace_and_action(tmp_path: Path, xdisplay: str) -> None:
    report = _run("keypad", tmp_path, xdisplay)
    assert report["events"] == [["digit", "1"], ["digit", "2"], ["digit", "9"],
                                ["backspace"], ["digit", "0"], ["action"]]
    assert report["typed"] == "120"


@pytest.mark.gui
def test_keyboard_types_a_name_with_apostrophe_and_hyphen(tmp_path: Path,
                                                          xdisplay: str) -> None:
    report = _run("keyboard", tmp_path, xdisplay)
    assert report["typed"] == "MA'RUF AL-HAMID"
    assert report["after_backspace"] == "MA'RUF AL-HAMI"
    assert report["actions"] == 1
    assert report["height_mm"] <= 60


@pytest.mark.gui
def test_signature_pad_collects_strokes_and_ignores_outside(tmp_path: Path,
                                                            xdisplay: str) -> None:
    report = _run("signature", tmp_path, xdisplay)
    assert report["points"] >= 10
    assert report["png_ok"] is True


@pytest.mark.gui
def test_hand_diagram_highlights_current_and_ticks_done(tmp_path: Path,
                                                        xdisplay: str) -> None:
    report = _run("hand", tmp_path, xdisplay)
    all_done, nothing, thumb, *_ = report["instructions"]
    assert thumb > nothing  # the current finger adds its halo and thick outline
    assert all_done > nothing  # ticks


@pytest.mark.gui
def test_qr_image_renders_data_crisp_and_blank_when_empty(tmp_path: Path,
                                                          xdisplay: str) -> None:
    import cv2  # opencv-python-headless, a dev dependency: decode what the screen shows

    report = _run("qr", tmp_path, xdisplay)
    assert report["sizes"][0] == [29, 29]  # version 1: 21 modules + 2 x 4 quiet zone
    assert report["sizes"][1][0] > 29
    assert report["sizes"][2] is None
    decoded, _points, _code = cv2.QRCodeDetector().detectAndDecode(
        cv2.imread(report["screenshot"]))
    assert decoded == "3f9c2a7e-5b1d-4e0f-9a8c-2d6b7e1f0a35"


@pytest.mark.gui
def test_chips_select_on_tap(tmp_path: Path, xdisplay: str) -> None:
    report = _run("chips", tmp_path, xdisplay)
    assert report["selected"] == ["islam", "kristen", "kristen"]


@pytest.mark.gui
def test_picker_scrolls_and_picks_the_tapped_option(tmp_path: Path, xdisplay: str) -> None:
    report = _run("picker", tmp_path, xdisplay)
    assert report["picked"] == report["expected"]
    assert int(report["scrolled_to"].split()[-1]) > 40


@pytest.mark.gui
def test_a_step_screen_left_drops_its_label_textures_and_renders_them_when_shown(
        tmp_path: Path, xdisplay: str) -> None:
    report = _run("screens_release", tmp_path, xdisplay)
    assert report["released"] >= 3 and report["restored"] >= 2


# -- the child: one Kivy window, one scenario ----------------------------------------------

class Harness:
    """A Kivy window at 800x480 with an app exposing ``ui`` and ``language``."""

    def __init__(self, out: Path, start_language: str = "id") -> None:
        from kivy.config import Config

        Config.set("graphics", "width", str(SIZE[0]))
        Config.set("graphics", "height", str(SIZE[1]))
        Config.set("graphics", "resizable", "0")
        for option, _value in Config.items("input"):
            Config.remove_option("input", option)  # only the test's touches

        from kivy.app import App
        from kivy.base import EventLoop
        from kivy.lang import Builder
        from kivy.properties import ObjectProperty, StringProperty

        from kiosk.screens.theme import Theme
        from kiosk.screens.widgets import WIDGETS_KV, load_widgets_kv

        class WidgetApp(App):
            # rebind=True, as on the kiosk app: kv's `app.ui.key` follows a new Theme only
            # when the intermediate property rebinds.
            ui = ObjectProperty(Theme.for_window(SIZE, PANEL_MM), rebind=True)
            language = StringProperty(start_language)

        self.app = WidgetApp()  # the running app for `app.` in kv (App() registers itself)
        self.ui = self.app.ui
        load_widgets_kv()
        load_widgets_kv()  # a second call must do nothing (no duplicate rules)
        assert Builder.files.count(str(WIDGETS_KV)) == 1, Builder.files
        EventLoop.ensure_window()
        self.window = EventLoop.window
        self.window.clearcolor = self.ui.paper
        self.out = out

    def frames(self, count: int = 3) -> None:
        from kivy.base import EventLoop

        for _ in range(count):
            EventLoop.idle()

    def show(self, root: Any) -> Any:
        for child in list(self.window.children):
            self.window.remove_widget(child)
        self.window.add_widget(root)
        self.frames(4)
        return root

    def touch(self, widget: Any, fx: float = 0.5, fy: float = 0.5) -> Any:
        """A touch at (fx, fy) of ``widget``'s box, pressed (not yet released)."""
        from kivy.tests.common import UnitTestTouch

        x, y = widget.to_window(widget.x + fx * widget.width, widget.y + fy * widget.height)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        self.frames(1)
        return touch

    def move(self, touch: Any, widget: Any, fx: float, fy: float) -> None:
        x, y = widget.to_window(widget.x + fx * widget.width, widget.y + fy * widget.height)
        touch.touch_move(x, y)
        self.frames(1)

    def tap(self, widget: Any) -> None:
        touch = self.touch(widget)
        touch.touch_up()
        self.frames(1)

    def screenshot(self, name: str) -> str:
        self.frames(2)
        self.window.dispatch("on_draw")
        target = self.out / f"{name}.png"
        saved = self.window.screenshot(name=str(target))  # Kivy adds a counter
        os.replace(saved, target)
        return str(target)

    def size_problems(self, root: Any) -> list[str]:
        """Text below ``font_body`` or touch targets under 10 mm, anywhere under ``root``."""
        from kivy.uix.behaviors import ButtonBehavior
        from kivy.uix.label import Label

        problems = []
        minimum = self.ui.mm(10)
        for widget in root.walk(restrict=True):
            name = f"{type(widget).__name__}({getattr(widget, 'text', '')!r})"
            readable = isinstance(widget, Label) and widget.text and widget.opacity > 0
            if readable and widget.font_size < self.ui.font_body - 1e-6:
                problems.append(f"{name}: font {widget.font_size:.1f} px "
                                f"< {self.ui.font_body:.1f}")
            if isinstance(widget, ButtonBehavior):
                if widget.width < minimum - 0.5 or widget.height < minimum - 0.5:
                    problems.append(f"{name}: {widget.width:.0f}x{widget.height:.0f} px "
                                    f"< {minimum:.0f} px (10 mm)")
                shown = isinstance(widget, Label) and widget.text and widget.color[3] > 0
                if shown and widget.texture_size[0] > widget.width + 1:
                    problems.append(f"{name}: text {widget.texture_size[0]:.0f} px wider "
                                    f"than its {widget.width:.0f} px key")
        return problems

    def mm(self, px: float) -> float:
        return px / self.ui.px_per_mm


def _screen(h: Harness, *widgets: Any, top: Any = None) -> Any:
    """A page: optional ``top`` widget (stretching), then ``widgets`` at the bottom."""
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.widget import Widget

    page = BoxLayout(orientation="vertical", padding=h.ui.pad, spacing=h.ui.gap)
    page.add_widget(top if top is not None else Widget())
    for widget in widgets:
        page.add_widget(widget)
    return page


def _field(h: Harness, text: str = "") -> Any:
    from kivy.uix.label import Label

    return Label(text=text, font_size=h.ui.font_big, color=h.ui.ink, size_hint_y=None,
                 height=h.ui.target)


@scenario
def scenario_keypad(h: Harness) -> dict[str, Any]:
    from kiosk.i18n import translate as tr
    from kiosk.screens.theme import Theme
    from kiosk.screens.widgets import NumericKeypad

    events: list[list[str]] = []
    typed: list[str] = []
    field = _field(h)
    keypad = NumericKeypad(action_enabled=False)

    def digit(_w: object, d: str) -> None:
        events.append(["digit", d])
        typed.append(d)
        field.text = "".join(typed)

    def backspace(_w: object) -> None:
        events.append(["backspace"])
        if typed:
            typed.pop()
        field.text = "".join(typed)

    keypad.bind(on_digit=digit, on_backspace=backspace,
                on_action=lambda _w: events.append(["action"]))
    page = h.show(_screen(h, keypad, top=field))
    assert keypad.height == pytest.approx(4 * h.ui.key + 3 * h.ui.gap)
    assert keypad.key_for("action").text == tr("Next", "id")
    for name in ("1", "2", "9", "backspace", "0", "action"):  # action still disabled
        h.tap(keypad.key_for(name))
    keypad.action_enabled = True
    h.frames()
    h.tap(keypad.key_for("action"))
    keypad.action_text = "Selesai"
    h.frames()
    assert keypad.key_for("action").text == "Selesai"
    keypad.action_text = ""
    keypad.language = "en"  # its screen's language (``language: root.language``)
    h.frames()
    assert keypad.key_for("action").text == "Next"
    assert keypad.key_for("backspace").text == "Delete"
    keypad.language = "id"
    h.frames()
    assert keypad.key_for("backspace").text == tr("Delete", "id") != "Delete"
    keypad.action_enabled = False  # look at the disabled colours too
    for key in keypad.children:
        assert h.mm(key.height) >= 10 and h.mm(key.width) >= 10
    problems = h.size_problems(page)
    shot = h.screenshot("keypad")
    # Delete shows its drawn sign beside the word, or the word alone, or the sign alone.
    backspace = keypad.key_for("backspace")
    assert backspace.show_icon and backspace.show_text
    def narrow(width: float) -> None:
        page.padding = [(SIZE[0] - width) / 2, h.ui.pad]
        h.frames(3)

    narrow(keypad.fit_width)  # the narrowest for the words: "Delete" without its sign
    assert (backspace.show_icon, backspace.show_text) == (False, True), h.mm(backspace.width)
    problems += h.size_problems(page)
    h.screenshot("keypad-narrow")
    keypad.action_text = "OK"
    narrow(3 * h.ui.mm(16) + 2 * h.ui.gap)  # too narrow for the word: the sign alone
    assert (backspace.show_icon, backspace.show_text) == (True, False), h.mm(backspace.width)
    problems += h.size_problems(page)
    # A new theme (the window resized): the keys follow it.
    h.app.ui = Theme(px_per_mm=h.ui.px_per_mm * 0.8)
    h.frames(3)
    assert keypad.height == pytest.approx(4 * h.app.ui.key + 3 * h.app.ui.gap)
    assert keypad.key_for("5").font_size == pytest.approx(h.app.ui.font_big)
    return {"events": events, "typed": "".join(typed), "size_problems": problems,
            "screenshot": shot}


@scenario
def scenario_keyboard(h: Harness) -> dict[str, Any]:
    from kiosk.screens.widgets import TextKeyboard

    typed: list[str] = []
    field = _field(h)
    keyboard = TextKeyboard(action_text="Selesai")
    actions: list[int] = []

    def text_key(_w: object, char: str) -> None:
        typed.append(char)
        field.text = "".join(typed)

    def backspace(_w: object) -> None:
        if typed:
            typed.pop()
        field.text = "".join(typed)

    keyboard.bind(on_text_key=text_key, on_backspace=backspace,
                  on_action=lambda _w: actions.append(1))
    page = h.show(_screen(h, keyboard, top=field))
    for char in "MA'RUF AL-HAMID":
        h.tap(keyboard.key_for(char))
    name = "".join(typed)
    h.tap(keyboard.key_for("backspace"))
    after = "".join(typed)
    h.tap(keyboard.key_for("action"))
    for char in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'-.,/ ":
        key = keyboard.key_for(char)
        assert h.mm(key.width) >= 10 and h.mm(key.height) >= 10, (char, key.size)
        x, y = key.to_window(key.x, key.y)
        assert x >= 0 and y >= 0 and x + key.width <= SIZE[0] + 0.5, (char, x, y)
    # Leave a word typed for the screenshot.
    for char in "JL. MERDEKA 5/7":
        h.tap(keyboard.key_for(char))
    return {"typed": name, "after_backspace": after, "actions": len(actions),
            "height_mm": h.mm(keyboard.height), "size_problems": h.size_problems(page),
            "screenshot": h.screenshot("keyboard")}


@scenario
def scenario_signature(h: Harness) -> dict[str, Any]:
    import math

    from kiosk.enrollment.quality import signature_quality
    from kiosk.enrollment.signature import render_signature_png
    from kiosk.screens.widgets import KeyButton, SignaturePad

    changes: list[bool] = []
    pad = SignaturePad(size_hint_y=None)
    clear = KeyButton(text="Hapus", size_hint_y=None, height=h.ui.target)
    pad.bind(on_ink_changed=lambda w: changes.append(w.has_ink))
    pad.bind(width=lambda w, width: setattr(w, "height", min(width / 3, h.ui.mm(50))))
    page = h.show(_screen(h, pad, clear))
    assert pad.height > h.ui.mm(30), pad.size

    # Outside the pad (on the page's padding above it): nothing.
    outside = h.touch(pad, 0.5, 1.2)
    h.move(outside, pad, 0.5, 0.5)
    outside.touch_up()
    h.frames(1)
    assert pad.strokes == [] and not pad.has_ink and changes == []

    # One looping stroke, strayed out of the box on the right and clamped.
    touch = h.touch(pad, 0.1, 0.4)
    second = h.touch(pad, 0.8, 0.2)  # a resting palm while signing: not ink
    for i in range(1, 40):
        h.move(touch, pad, 0.1 + 0.022 * i, 0.45 + 0.25 * math.sin(i / 6))
    h.move(touch, pad, 1.3, 0.5)
    touch.touch_up()
    second.touch_up()
    h.frames(1)
    assert len(pad.strokes) == 1, len(pad.strokes)
    stroke = pad.strokes[0]
    assert len(stroke) >= 10
    assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y, _t in stroke)
    assert stroke[-1][0] == 1.0  # clamped to the box
    assert stroke[0][2] == 0.0
    assert all(b[2] >= a[2] for a, b in itertools.pairwise(stroke))
    assert pad.has_ink and changes == [True]
    assert abs(stroke[0][0] - 0.1) < 0.01 and abs(stroke[0][1] - 0.4) < 0.01

    # A second stroke (an underline) and the pad follows a resize.
    touch = h.touch(pad, 0.2, 0.25)
    h.move(touch, pad, 0.5, 0.22)
    h.move(touch, pad, 0.75, 0.25)
    touch.touch_up()
    h.frames(1)
    assert len(pad.strokes) == 2 and changes == [True, True]
    png = render_signature_png(pad.strokes)
    png_ok = signature_quality(png).ok
    shot = h.screenshot("signature")

    pad.clear()
    h.frames(1)
    assert pad.strokes == [] and not pad.has_ink and changes[-1] is False
    assert not signature_quality(render_signature_png(pad.strokes)).ok
    return {"points": len(stroke), "png_ok": png_ok, "size_problems": h.size_problems(page),
            "screenshot": shot}


@scenario
def scenario_hand(h: Harness) -> dict[str, Any]:
    from PIL import Image

    from kiosk.core.vocabulary import FINGERS
    from kiosk.screens.widgets import HandDiagram

    hands = HandDiagram(size_hint=(None, None), size=(h.ui.mm(60), h.ui.mm(35)))
    redraws = []
    from kivy.uix.anchorlayout import AnchorLayout

    holder = AnchorLayout()
    holder.add_widget(hands)
    page = h.show(_screen(h, top=holder))
    for current, done in (("", FINGERS), ("X9", ["nonsense"]), ("R1", []),
                          ("L1", ["R1"]), ("R2", ["R1", "L1"])):
        hands.current, hands.done = current, list(done)
        h.frames(2)
        redraws.append(len(hands._group.children))
        if current == "":
            h.screenshot("hand-all-done")
    pulses = set()
    for _ in range(20):  # the current finger's halo pulses
        h.frames(1)
        pulses.add(round(hands.pulse, 2))
    assert len(pulses) > 3, pulses
    shot = h.screenshot("hand")

    # Sample the screenshot: the current finger is highlighted, the done ones green.
    image = Image.open(shot).convert("RGB")

    def colour_near_tip(code: str) -> tuple[int, ...]:
        bx, by, tx, ty, _w = hands.finger_segments()[code]
        x, y = hands.to_window(tx + (bx - tx) * 0.25, ty + (by - ty) * 0.25)
        return image.getpixel((round(x), round(SIZE[1] - 1 - y)))

    def close(rgb: tuple[int, ...], colour: tuple[float, ...]) -> bool:
        return all(abs(a - b * 255) < 40 for a, b in zip(rgb, colour[:3], strict=False))

    assert close(colour_near_tip("R2"), h.ui.highlight), colour_near_tip("R2")
    assert close(colour_near_tip("R5"), h.ui.panel), colour_near_tip("R5")
    assert close(colour_near_tip("L5"), h.ui.panel), colour_near_tip("L5")
    # Left hand on the left, thumbs inward, little fingers outermost; one capsule a finger.
    seg = hands.finger_segments()
    assert sorted(seg) == sorted(FINGERS), sorted(seg)
    assert seg["L5"][2] < seg["L1"][2] < seg["R1"][2] < seg["R5"][2]
    # A big one too, for the eye (saved beside the small one).
    hands.size = (h.ui.mm(120), h.ui.mm(70))
    h.frames(3)
    h.screenshot("hand-big")
    # Off the window (its screen left) the pulse stops; back on it, it pulses again.
    h.window.remove_widget(page)
    h.frames(3)
    assert hands._anim is None
    h.window.add_widget(page)
    hands.pos = (hands.x + 1, hands.y)  # a screen coming back lays out its widgets
    h.frames(3)
    assert hands._anim is not None
    hands.current = ""
    h.frames(2)
    assert hands.pulse == 0 and hands._anim is None
    return {"instructions": redraws, "size_problems": h.size_problems(page),
            "screenshot": shot}


@scenario
def scenario_qr(h: Harness) -> dict[str, Any]:
    from kiosk.screens.widgets import QRCodeImage, qr_modules

    qr = QRCodeImage(size_hint=(None, None), size=(h.ui.mm(45), h.ui.mm(45)))
    from kivy.uix.anchorlayout import AnchorLayout

    holder = AnchorLayout()
    holder.add_widget(qr)
    page = h.show(_screen(h, top=holder))
    assert qr.texture is None  # blank until there is data
    sizes: list[list[int] | None] = []
    for data in ("ABC", "KIOSK poso-01 receipt 3f9c2a7e-5b1d-4e0f-9a8c-2d6b7e1f0a35", ""):
        qr.data = data
        h.frames(1)
        sizes.append(list(qr.texture.size) if qr.texture is not None else None)
    qr.data = "3f9c2a7e-5b1d-4e0f-9a8c-2d6b7e1f0a35"
    h.frames(2)
    texture = qr.texture
    assert texture.mag_filter == "nearest" and texture.min_filter == "nearest"
    # The texture is the symbol, top row last in memory (textures go up): compare.
    modules = qr_modules(qr.data)
    n = len(modules)
    pixels = texture.pixels
    for row in range(n):
        for col in range(n):
            texel = pixels[((n - 1 - row) * n + col) * 4]
            assert (texel < 128) == modules[row][col], (row, col)
    assert not any(modules[r][c] for r in range(4) for c in range(n))  # quiet zone
    return {"sizes": sizes, "size_problems": h.size_problems(page),
            "screenshot": h.screenshot("qr")}


@scenario
def scenario_chips(h: Harness) -> dict[str, Any]:
    from kivy.uix.scrollview import ScrollView

    from kiosk.screens.widgets import ChoiceChips

    chips = ChoiceChips(options=[
        ("islam", "Islam"), ("kristen", "Kristen"), ("katolik", "Katolik"),
        ("hindu", "Hindu"), ("buddha", "Buddha"), ("khonghucu", "Khonghucu"),
        ("kepercayaan", "Kepercayaan Terhadap Tuhan Yang Maha Esa"),
    ])
    picked: list[str] = []
    chips.bind(on_select=lambda _w, value: picked.append(value))
    scroll = ScrollView(do_scroll_x=False)
    scroll.add_widget(chips)
    page = h.show(_screen(h, top=scroll))
    assert chips.height == chips.minimum_height > 0
    long_chip = chips.chip_for("kepercayaan")
    assert long_chip.width <= chips.width + 0.5
    selected = []
    for value in ("islam", "kristen", "kristen"):
        h.tap(chips.chip_for(value))
        selected.append(chips.selected)
    assert picked == ["islam", "kristen", "kristen"]
    assert chips.chip_for("kristen").role == "primary"
    assert all(c.role == "secondary" for c in chips.chips() if c.value != "kristen")
    chips.selected = "hindu"  # from code: no event
    h.frames(1)
    assert picked == ["islam", "kristen", "kristen"]
    assert chips.chip_for("hindu").role == "primary"
    # Content height follows the options.
    tall = chips.height
    chips.options = [("L", "Laki-laki"), ("P", "Perempuan")]
    h.frames(2)
    assert 0 < chips.height < tall and chips.height == chips.minimum_height
    chips.options = [
        ("islam", "Islam"), ("kristen", "Kristen"), ("katolik", "Katolik"),
        ("hindu", "Hindu"), ("buddha", "Buddha"), ("khonghucu", "Khonghucu"),
        ("kepercayaan", "Kepercayaan Terhadap Tuhan Yang Maha Esa")]
    chips.selected = "islam"
    h.frames(2)
    shot = h.screenshot("chips")
    # The same options in another language: the chips are relabelled, not built again,
    # and the selection stays; a longer label still fits the row.
    before = chips.chips()
    chips.options = [(v, label.upper() + " (EN)") for v, label in chips.options]
    h.frames(2)
    assert chips.chips() == before
    assert chips.chip_for("kristen").text == "KRISTEN (EN)"
    assert chips.chip_for("islam").role == "primary"
    assert chips.height == chips.minimum_height
    assert all(c.width <= chips.width + 0.5 for c in chips.chips())
    # A label longer than the row wraps inside a taller chip, never wider than the row.
    chips.options = [("x", "Belum kawin " * 6), ("y", "Kawin")]
    h.frames(3)
    wide = chips.chip_for("x")
    assert wide.width <= chips.width + 0.5 and wide.height > h.ui.target, wide.size
    assert wide.texture_size[1] > 1.5 * wide.font_size
    assert chips.height == chips.minimum_height
    problems = h.size_problems(page)
    h.screenshot("chips-wrap")
    return {"selected": selected, "size_problems": problems + h.size_problems(page),
            "screenshot": shot}


@scenario
def scenario_picker(h: Harness) -> dict[str, Any]:
    from kiosk.screens.widgets import PickerPopup

    page = h.show(_screen(h, top=_field(h, "...")))
    villages = [(f"3201010{i:03d}", f"Desa Contoh {i}") for i in range(1, 151)]
    picked: list[str] = []
    popup = PickerPopup()
    rv = popup.ids.list

    def visible() -> dict[str, Any]:
        """The option rows wholly inside the list's box, by text."""
        bottom = rv.to_window(rv.x, rv.y)[1]
        rows = {}
        for view in rv.layout_manager.children:
            y0 = view.to_window(view.x, view.y)[1]
            if bottom - 1 <= y0 and y0 + view.height <= bottom + rv.height + 1:
                rows[view.text] = view
        return rows

    popup.open_with("Pilih desa/kelurahan", villages, picked.append)
    h.frames(6)
    assert popup.parent is h.window
    assert popup.ids.title.text == "Pilih desa/kelurahan"
    first = visible()
    assert "Desa Contoh 1" in first and len(first) >= 3, sorted(first)
    problems = h.size_problems(popup)
    for view in rv.layout_manager.children:
        assert h.mm(view.height) >= 12 - 0.01, view.height
    h.tap(first["Desa Contoh 3"])
    h.frames(2)
    assert popup.parent is None, "the popup closes on a pick"
    assert picked == ["3201010003"]

    # Reopen with a village far down selected: scrolled into view, drawn as chosen.
    popup.open_with("Pilih desa/kelurahan", villages, picked.append, selected="3201010040")
    h.frames(4)
    shown = visible()
    assert "Desa Contoh 40" in shown, sorted(shown)
    assert shown["Desa Contoh 40"].role == "primary"
    assert all(v.role == "key" for t, v in shown.items() if t != "Desa Contoh 40")
    shot = h.screenshot("picker")
    # A drag up scrolls the list further down and picks nothing.
    start = rv.scroll_y
    drag = h.touch(rv, 0.4, 0.2)
    for step in range(1, 11):
        h.move(drag, rv, 0.4, 0.2 + 0.07 * step)
    drag.touch_up()
    h.frames(40)
    assert rv.scroll_y < start, (start, rv.scroll_y)
    assert picked == ["3201010003"], picked
    shown = visible()
    assert "Desa Contoh 40" not in shown, sorted(shown)
    target = sorted(shown, key=lambda text: int(text.split()[-1]))[1]
    h.tap(shown[target])
    h.frames(2)
    expected = dict((label, value) for value, label in villages)[target]
    assert popup.parent is None

    # Cancel: closed, no pick.
    popup.open_with("Pilih desa/kelurahan", villages, picked.append)
    h.frames(4)
    h.tap(popup.ids.cancel)
    h.frames(2)
    assert popup.parent is None
    problems += h.size_problems(page)
    return {"picked": picked, "expected": ["3201010003", expected], "scrolled_to": target,
            "size_problems": problems, "screenshot": shot}


@scenario
def scenario_screens_release(h: Harness) -> dict[str, Any]:
    """A step's screen, once left, holds no rendered text (memory; the pixels of a wiped
    name); shown again, every label is rendered before the first frame, with the texts set
    while it was hidden. A screen kept rendered (the welcome) keeps its textures."""
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.label import Label
    from kivy.uix.screenmanager import NoTransition, ScreenManager

    from kiosk.screens.base import KioskScreen

    def label(text: str, wrap: bool = False) -> Any:
        widget = Label(text=text, font_size=h.ui.font_body, color=h.ui.ink)
        if wrap:
            widget.bind(width=lambda w, width: setattr(w, "text_size", (width, None)))
        return widget

    class Kept(KioskScreen):
        keep_rendered = True

    step, kept = KioskScreen(name="step"), Kept(name="kept")
    box = BoxLayout(orientation="vertical")
    name, note, paragraph = (label("SITI NUR'AINI"), label("Looks right"),
                             label("Place the finger on the sensor and hold it still. " * 3,
                                   wrap=True))
    for widget in (name, note, paragraph):
        box.add_widget(widget)
    step.add_widget(box)
    welcome = label("Welcome")
    kept.add_widget(welcome)
    manager = ScreenManager(transition=NoTransition())
    manager.add_widget(step)
    manager.add_widget(kept)
    h.show(manager)
    labels = (name, note, paragraph)
    assert all(w.texture is not None for w in labels)
    wrapped_size = list(paragraph.texture_size)

    manager.current = "kept"
    h.frames(3)
    assert all(w.texture is None and w._label.texture is None for w in labels), [
        (w.text, w.texture, w._label.texture) for w in labels]
    released = len(labels)
    # A wipe's refresh while hidden: a name emptied, a note changed; released again.
    name.text, note.text = "", "Belum diisi"
    step.release_if_hidden()
    h.frames(2)
    assert all(w.texture is None and w._label.texture is None for w in labels)
    kept.release_if_hidden()  # shown: nothing happens
    assert welcome.texture is not None

    manager.current = "step"
    h.frames(1)  # the first frame that shows it
    assert note.texture is not None and paragraph.texture is not None
    assert list(note.texture_size) == list(note.texture.size)
    assert list(paragraph.texture_size) == wrapped_size
    assert name.texture is None and list(name.texture_size) == [0, 0]
    restored = sum(w.texture is not None for w in labels)
    shot = h.screenshot("screens-release")

    manager.current = "kept"
    h.frames(3)
    manager.current = "step"
    h.frames(3)
    assert welcome.texture is not None  # the kept screen was left and kept its text

    # The button tapped to leave the screen ends its pressed look (and text colour) after
    # the screen is gone: Kivy's min_state_time, 35 ms after a quick tap. That render is
    # dropped again too (it once left review's "Change" rendered, now and then).
    import time

    from kivy.uix.button import Button

    leave = Button(text="Ubah", font_size=h.ui.font_body, size_hint_y=None,
                   height=h.ui.target, color=h.ui.ink)
    leave.bind(state=lambda w, state: setattr(w, "color", h.ui.ink if state == "normal"
                                              else h.ui.ink_soft))
    leave.bind(on_release=lambda _w: setattr(manager, "current", "kept"))
    box.add_widget(leave)
    h.frames(3)
    from kivy.tests.common import UnitTestTouch

    quick = UnitTestTouch(*leave.to_window(*leave.center))
    quick.touch_down()
    quick.touch_up()  # a quick tap: the pressed look ends later
    assert manager.current == "kept" and leave.state == "down"
    h.frames(2)  # the release one frame after leaving has run
    time.sleep(0.1)
    h.frames(3)
    assert leave.state == "normal", leave.state  # the deferred release came, while hidden
    assert leave.texture is None and leave._label.texture is None
    return {"released": released, "restored": restored, "screenshot": shot,
            "size_problems": h.size_problems(manager)}


def _child(name: str, out: Path) -> int:
    harness = Harness(out)
    try:
        report = SCENARIOS[name](harness)
    except Exception:
        traceback.print_exc()
        return 1
    report["window"] = list(harness.window.size)
    (out / f"{name}.json").write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], Path(sys.argv[2])))
