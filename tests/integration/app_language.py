"""Drive the real touchscreen through a whole enrollment begun in Bahasa Indonesia, with the
power-cut banner up, switching the language by touch (the title bar's language button) on
every screen, and report what each screen showed in each language.

    python app_language.py CONFIG OUT.json

Runs ``kiosk run``'s app (simulated hardware) under the current DISPLAY, like
``app_identity.py``. At the identity step a wrong NIK and half a KK are typed on the keypad,
then the language is switched to English and back by touch, then double-tapped. On every
step's screen (and the details page's keyboard, the help notice, the receipt) the report
holds a moment in each language: every visible label of the window (its text, what it
rendered, its box and its rendered text's box), the bar holding the language button (its
labels and its buttons' boxes), the flow's language and what the fields hold.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from typing import Any

from kiosk.app import create_app
from kiosk.config import load_config
from tests.integration.clock_script import (
    draw_signature,
    run_on_clock,
    tap,
    visible,
    waits,
    window_box,
)

WRONG_NIK = "9902015208850001"  # province 99 does not exist
NIK = "7202015208850001"
KK = "7202011203150007"
SETTLED_S = 0.6  # a citizen reads the new screen before the next tap (app_slips.py)
DOUBLE_TAP_S = 0.15  # the second tap of a double tap, after a frame or more


def main() -> None:
    config_path, out_path = sys.argv[1:3]
    app = create_app(load_config(config_path))

    from kivy.core.window import Window
    from kivy.uix.button import Button
    from kivy.uix.label import Label
    from kivy.uix.modalview import ModalView

    report: dict[str, Any] = {"errors": [], "moments": {}}
    until, on = waits(app)

    def screen() -> Any:
        return app.screens.current_screen

    def nav(which: str) -> Any:
        return screen().ids.nav.ids[which]

    def rendered(label: Any) -> str:
        """The text the label drew, line after line (a shortened one has its "...")."""
        lines = getattr(label._label, "_cached_lines", None) or []
        return "\n".join("".join(word.text for word in line.words) for line in lines)

    def plain(label: Any) -> str:
        if not label.markup:
            return label.text
        text = re.sub(r"\[/?[a-z]+(=[^\]]*)?\]", "", label.text)
        return text.replace("&bl;", "[").replace("&br;", "]").replace("&amp;", "&")

    def on_window(box: list[float]) -> bool:
        return not (box[2] <= 0 or box[0] >= Window.width or box[3] <= 0
                    or box[1] >= Window.height)

    def shown_texts(roots: list[Any]) -> list[dict[str, Any]]:
        """Each shown label or button under ``roots`` that is on the window: its text, what
        it rendered, its box and its rendered text's box (window px, y upwards)."""
        found = []
        for root in roots:
            for w in root.walk(restrict=True):
                if not (isinstance(w, Label) and w.text and visible(w)):
                    continue
                box = window_box(w)
                if not on_window(box):
                    continue  # moved off the window (the details page's other mode)
                width, height = w.texture_size
                x, y = w.to_window(w.center_x - width / 2, w.center_y - height / 2)
                found.append({"text": plain(w), "rendered": rendered(w), "box": box,
                              "texture": [x, y, x + width, y + height],
                              "button": isinstance(w, Button),
                              "font_size": w.font_size})
        return found

    def views() -> list[Any]:
        """What the window shows: the app (banner and screen), and any overlay."""
        return [app.root, *(w for w in Window.children if isinstance(w, ModalView))]

    def language_button() -> Any:
        """The one language button shown on the window (the title bar's, the keyboard
        bar's, or the help notice's over them)."""
        overlays = [w for w in Window.children if isinstance(w, ModalView)]
        roots = overlays or [screen()]
        found = [w for root in roots for w in root.walk(restrict=True)
                 if type(w).__name__ == "LanguageButton" and visible(w)
                 and on_window(window_box(w))]
        if len(found) != 1:
            raise LookupError(f"{len(found)} language buttons on {app.screens.current}")
        return found[0]

    def moment(name: str) -> None:
        button = language_button()
        bar = button.parent
        report["moments"][name] = {
            "screen": app.screens.current,
            "language": app.flow.language,
            "window": [Window.width, Window.height],
            "mm": app.ui.mm(1),
            "font_body": app.ui.font_body,
            "texts": shown_texts(views()),
            "bar": shown_texts([bar]),
            "bar_buttons": [window_box(w) for w in bar.children if isinstance(w, Button)
                            and visible(w)],
            "switch": {"text": button.text, "box": window_box(button)},
            "identity": {"nik": app.flow.identity.nik, "kk": app.flow.identity.kk},
            "full_name": app.flow.form.values.get("full_name", ""),
            "portrait": len(app.flow.portrait_jpeg),
            "fingers": len(app.flow.fingers_done),
        }

    def both(name: str) -> Iterator[object]:
        """The moment in the screen's language, then switched by touch, then back."""
        first = app.flow.language
        moment(f"{name}-{first}")
        tap(language_button())
        yield SETTLED_S
        moment(f"{name}-{app.flow.language}")
        tap(language_button())
        yield SETTLED_S
        assert app.flow.language == first, (name, app.flow.language)

    def touch_at(x: float, y: float) -> None:
        from kivy.tests.common import UnitTestTouch

        touch = UnitTestTouch(x, y)
        touch.touch_down()
        touch.touch_up()

    def keys(digits: str) -> None:
        pad = screen().ids.keypad
        for digit in digits:
            tap(pad.key_for(digit))

    def script() -> Iterator[object]:
        yield until(lambda: app.flow.runtime is not None and app.flow.accepting)
        # The power-cut banner over every screen (on battery, still accepting).
        app._poll.cancel()
        app._show_acceptance = lambda *_args: None
        app.flow.set_acceptance(True, "", True)
        yield SETTLED_S
        tap(screen().ids.lang_id)
        yield on("consent")
        yield SETTLED_S
        yield from both("consent")
        tap(nav("primary"))
        yield on("identity")
        yield SETTLED_S
        keys(WRONG_NIK)
        tap(screen().ids.kk)
        keys(KK[:8])
        yield SETTLED_S
        yield from both("identity")
        # A double tap on the button switches once: the second tap, at the same place,
        # lands on the button that now names the other language, and is dropped
        # (app.SECOND_TAP_S).
        button = language_button()
        place = button.to_window(*button.center)
        touch_at(*place)
        yield DOUBLE_TAP_S
        assert language_button().collide_point(*language_button().to_widget(*place))
        touch_at(*place)
        yield SETTLED_S
        report["double_tap"] = app.flow.language
        tap(language_button())
        yield SETTLED_S
        # The right numbers (typed through the flow: the keypad was tested above).
        flow = app.flow
        flow.identity_focus("nik")
        for _ in range(len(flow.identity.nik)):
            flow.identity_backspace()
        for digit in NIK:
            flow.identity_digit(digit)
        flow.identity_focus("kk")
        for digit in KK[8:]:
            flow.identity_digit(digit)
        yield SETTLED_S
        tap(nav("primary"))
        yield on("demographics")
        flow.form_focus(None)  # the page, not its keyboard (opened on the first field)
        yield SETTLED_S
        yield from both("demographics")
        flow.form_focus("full_name")  # its row is below the page's fold on the 7-inch panel
        yield SETTLED_S
        keyboard = screen().ids.keyboard
        for char in "SITI":
            tap(keyboard.key_for(char))
        yield SETTLED_S
        yield from both("keyboard")
        yield from fill_details()
        tap(nav("primary"))
        yield on("portrait")
        yield SETTLED_S
        yield from both("portrait")
        flow.take_photo()
        yield until(lambda: bool(app.flow.portrait_jpeg) and not app.flow.busy)
        yield SETTLED_S
        yield from both("photo")
        flow.accept_photo()
        yield until(lambda: app.screens.current == "fingerprints")
        yield SETTLED_S
        yield from both("fingerprints")
        tap(nav("help"))
        yield SETTLED_S
        yield from both("help")
        flow.close_help()
        yield until(lambda: app.screens.current == "signature", timeout=60)
        yield SETTLED_S
        draw_signature(screen().ids.pad)
        yield SETTLED_S
        yield from both("signature")
        tap(nav("primary"))
        yield on("review")
        yield SETTLED_S
        yield from both("review")
        tap(nav("primary"))
        yield on("done")
        yield SETTLED_S
        # the receipt has no language button: its title bar holds the time left

    def fill_details() -> Iterator[object]:
        flow = app.flow
        for char in " NUR":
            flow.form_type(char)
        flow.form_next()
        for name, text in (("place_of_birth", "POSO"), ("address", "JL. PULAU JAWA NO. 12"),
                           ("rt", "3"), ("rw", "1")):
            assert flow.form.focus == name, flow.form.focus
            for char in text:
                flow.form_type(char)
            flow.form_next()
        for name, value in (("religion", "Islam"), ("marital_status", "Kawin"),
                            ("blood_type", "O")):
            flow.form_choose(name, value)
        for name in ("occupation", "kelurahan_desa"):
            flow.form_choose(name, flow.picker_options(name)[0][0])
        yield SETTLED_S

    run_on_clock(app, script(), report, out_path)
    app.run()


if __name__ == "__main__":
    main()
