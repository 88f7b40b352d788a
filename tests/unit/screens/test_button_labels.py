"""No screen shows two buttons with the same words for different actions, in either
language (the signature's *Clear* and the speech's *Repeat* were both "Ulangi": the citizen
who wanted to hear the instruction again erased the signature).

Read from the ``.kv`` files: every button label a screen may show (its own buttons, its
nav bar's primary and left labels, and the shared widgets' it places: the nav bar's Cancel /
Back, Help and Repeat, the keypad's and the keyboard's Delete),
with the overlays that open over it (the cancel question over every step, the officer's
reasons over the fingers). Labels never shown together (Cancel and Back) count too: the
words must differ all the same; and among a screen's own buttons one must not begin with
another's words ("Ulangi" beside "Ulangi foto"). The same msgid twice (a row's *Continue*)
is one label.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from kivy.lang.parser import Parser, ParserRule  # tests/conftest.py set KIVY_NO_ARGS

from kiosk.core.vocabulary import LANGUAGES
from kiosk.i18n import translate
from kiosk.screens.flow_screens import SESSION_SCREENS

SCREENS = Path(__file__).resolve().parents[3] / "kiosk" / "screens"
#: Properties that hold a button's words: its own, or a nav bar's buttons'.
LABELS = ("text", "primary_text", "left_text")
_TR = re.compile(r"""tr\((['"])(.+?)\1\s*,""")


def _parse(path: Path) -> Parser:
    return Parser(content=path.read_text(encoding="utf-8"))


def _bases() -> dict[str, str]:
    """Each dynamic class's base (``<PrimaryButton@KeyButton>``), of every kv file."""
    bases: dict[str, str] = {}
    for path in SCREENS.rglob("*.kv"):
        bases.update(_parse(path).dynamic_classes)
    return bases


BASES = _bases()


def _is_button(name: str) -> bool:
    seen = set()
    while name and name not in seen:
        seen.add(name)
        if name.endswith(("Button", "Key", "Chip", "Option")):
            return True
        name = BASES.get(name, "")
    return False


def _msgids(value: str) -> list[str]:
    return [ast.literal_eval(f"{quote}{text}{quote}") for quote, text in _TR.findall(value)]


def _rules(path: Path) -> dict[str, ParserRule]:
    return {rule.name.strip("<>").split("@")[0]: rule for _selector, rule in _parse(path).rules}


COMMON = _rules(SCREENS / "common.kv")
#: The shared widgets a screen places by name (the nav bar, the keypad and the keyboard
#: with their Delete key): their buttons are the screen's.
WIDGETS = {name: rule for name, rule in (_rules(SCREENS / "widgets" / "widgets.kv")
                                         | COMMON).items() if not name.endswith("Overlay")}


def _labels(rule: ParserRule, seen: frozenset[str] = frozenset()) -> set[str]:
    """The msgids of the button labels in ``rule``, its children and the shared widgets
    it places."""
    found: set[str] = set()
    name = rule.name.strip("<>").split("@")[0]
    if _is_button(name) or name == "NavBar":
        for key in LABELS:
            prop = rule.properties.get(key)
            if prop is not None:
                found.update(_msgids(prop.value))
    for child in rule.children:
        found |= _labels(child, seen)
        if child.name in WIDGETS and child.name not in seen:
            found |= _labels(WIDGETS[child.name], seen | {child.name})
    return found


NAV_BAR = _labels(COMMON["NavBar"])
OVERLAYS = {name: _labels(rule) for name, rule in COMMON.items() if name.endswith("Overlay")}


def _screen_labels(*, overlays: bool = True) -> dict[str, set[str]]:
    """Each screen's possible button labels (msgids), with what opens over it (with
    ``overlays``)."""
    out: dict[str, set[str]] = {}
    for path in sorted(SCREENS.glob("*.kv")):
        if path.name in ("common.kv", "banner.kv"):
            continue
        rules = _rules(path)
        labels: set[str] = set()
        for rule in rules.values():
            labels |= _labels(rule)
        if overlays and path.stem in SESSION_SCREENS:
            labels |= OVERLAYS["CancelOverlay"]
        if overlays and path.stem == "fingerprints":
            labels |= OVERLAYS["MissingOverlay"]
        out[path.stem] = labels
    out |= {name: labels for name, labels in OVERLAYS.items()}
    return out


SCREEN_LABELS = _screen_labels()
#: Without the overlays: a question's answers ("No, continue") read with their question.
OWN_LABELS = _screen_labels(overlays=False)


def test_the_labels_are_read_from_the_kv_files() -> None:
    """The reading itself: the buttons this test is about are found where they are."""
    assert {"Back", "Cancel", "Help", "Repeat"} <= NAV_BAR
    assert {"Clear", "Next", "Repeat"} <= SCREEN_LABELS["signature"]
    assert {"Take photo", "Retake", "Use this photo", "Repeat"} <= SCREEN_LABELS["portrait"]
    assert {"Continue", "Delete"} <= SCREEN_LABELS["staff"]
    assert {"Delete", "Next", "Space"} <= SCREEN_LABELS["demographics"]  # the keyboard
    assert {"Delete it", "Yes, stop", "No, continue"} <= SCREEN_LABELS["review"]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("screen", sorted(SCREEN_LABELS))
def test_no_screen_shows_two_buttons_with_the_same_words(screen: str, language: str) -> None:
    words: dict[str, list[str]] = {}
    for msgid in sorted(SCREEN_LABELS[screen]):
        words.setdefault(translate(msgid, language).casefold(), []).append(msgid)
    same = {text: msgids for text, msgids in words.items() if len(msgids) > 1}
    assert not same, f"{screen} ({language}): {same}"
    # Nor, among the screen's own buttons, one that begins with another's words ("Ulangi"
    # beside "Ulangi foto").
    own = {translate(msgid, language).casefold() for msgid in OWN_LABELS[screen]}
    starts = [(a, b) for a in own for b in own
              if a != b and b.startswith(a) and not b[len(a)].isalnum()]
    assert not starts, f"{screen} ({language}): {starts}"
