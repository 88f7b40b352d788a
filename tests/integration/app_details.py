"""Drive the real touchscreen app to the details page (step 3/7) by touch, type a long
name on the keyboard, tap Cancel there, leave the other fields empty and tap Next, and
report what the screen showed at each moment.

    python app_details.py CONFIG OUT.json LANGUAGE [SHOTS_DIR]

Runs ``kiosk run``'s app (simulated hardware) under the current DISPLAY, like
``app_slips.py``. The JSON report lists, for each moment, every text shown (labels and
buttons: the text, the text it rendered, its box and its rendered text's box in the window)
and errors. With SHOTS_DIR, each moment is saved there as a PNG.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kiosk.app import create_app
from kiosk.config import load_config
from tests.integration.clock_script import run_on_clock, tap, visible, waits, window_box

NIK = "7202014107900003"  # Poso Kota, a woman born 1 July 1990
KK = "7202010504180002"
#: A name longer than the 7-inch panel's field row (it was cut from the left there).
LONG_NAME = "SITI NUR'AINI BINTI MUHAMMAD AL-HAMID"
#: 100 characters, the most a name takes: a 101st is not typed, and the field says so.
NAME_100 = LONG_NAME + " NINGRAT MANGKUNEGARAN JAYAKUSUMA WIRYAWAN HADININGRAT SUDIRMAN"
assert len(NAME_100) == 100
SETTLED_S = 0.6  # a citizen reads the new screen before the next tap (app_slips.py)


def main() -> None:
    config_path, out_path, language = sys.argv[1:4]
    shots = Path(sys.argv[4]) if len(sys.argv) > 4 else None
    app = create_app(load_config(config_path))

    from kivy.core.window import Window
    from kivy.uix.button import Button
    from kivy.uix.label import Label

    report: dict[str, Any] = {"errors": []}
    until, on = waits(app)

    def screen() -> Any:
        return app.screens.current_screen

    def shot(name: str) -> None:
        if shots is not None:
            Window.dispatch("on_draw")  # read a frame drawn now, not what the last swap left
            Window.screenshot(name=str(shots / f"{Window.width}x{Window.height}-{language}-"
                                       f"details-{name}.png"))

    def rendered(label: Any) -> str:
        """The text the label drew, line after line (a shortened one has its "...")."""
        lines = getattr(label._label, "_cached_lines", None) or []
        return "\n".join("".join(word.text for word in line.words) for line in lines)

    def plain(label: Any) -> str:
        """The label's text without its markup (the keyboard page's field is one label:
        the field's name, then the value)."""
        if not label.markup:
            return label.text
        text = re.sub(r"\[/?[a-z]+(=[^\]]*)?\]", "", label.text)
        return text.replace("&bl;", "[").replace("&br;", "]").replace("&amp;", "&")

    def shown_texts(root: Any) -> list[dict[str, Any]]:
        """Each shown label or button under ``root`` that is on the window: its text, what
        it rendered, its box and its rendered text's box (window px, y upwards)."""
        found = []
        for w in root.walk(restrict=True):
            if not (isinstance(w, Label) and w.text and visible(w)):
                continue
            box = window_box(w)
            if box[2] <= 0 or box[0] >= Window.width or box[3] <= 0 or box[1] >= Window.height:
                continue  # moved off the window (the page's other mode)
            width, height = w.texture_size
            x, y = w.to_window(w.center_x - width / 2, w.center_y - height / 2)
            found.append({"text": plain(w), "rendered": rendered(w), "box": box,
                          "texture": [x, y, x + width, y + height],
                          "button": isinstance(w, Button), "kind": getattr(w, "kind", None)})
        return found

    def moment(name: str) -> dict[str, Any]:
        shot(name)
        return {"texts": shown_texts(screen()), "mm": app.ui.mm(1),
                "focus": app.flow.form.focus, "screen": app.screens.current,
                "window": [Window.width, Window.height]}

    def field_boxes() -> dict[str, Any]:
        """The keyboard page's field: its box, and its label's rendered text's box."""
        ids = screen().ids
        label = ids.typing_value
        width, height = label.texture_size
        x, y = label.to_window(label.x, label.top - height)
        return {"field": window_box(ids.typing_field), "field_text": [x, y, x + width, y + height]}

    def button(text: str) -> Any:
        """The shown button saying ``text`` on the window (the page's mode shown)."""
        for w in screen().walk(restrict=True):
            if isinstance(w, Button) and w.text == text and visible(w):
                x0, y0, x1, y1 = window_box(w)
                if (x0 >= -1 and x1 <= Window.width + 1 and y0 >= -1
                        and y1 <= Window.height + 1):
                    return w
        seen = [(w.text, window_box(w), visible(w)) for w in screen().walk(restrict=True)
                if isinstance(w, Button) and w.text == text]
        raise LookupError(f"no button {text!r} shown: {seen}")

    def ask_cancel(cancel: Any) -> Iterator[object]:
        """Tap Cancel: what the question says; then "No, continue"."""
        report["typing"]["cancel"] = window_box(cancel)
        tap(cancel)
        overlay = app.overlays["cancel"]
        yield until(lambda: overlay.parent is not None, 5)
        yield SETTLED_S
        shot("cancel")
        report["asked"] = {"texts": [w.text for w in overlay.walk()
                                     if isinstance(w, Label) and w.text and visible(w)],
                           "wiped": app.flow.session is None}
        tap(overlay.ids.no)  # No, continue
        yield until(lambda: overlay.parent is None, 5)
        yield SETTLED_S
        report["continued"] = {"focus": app.flow.form.focus,
                               "name": app.flow.form.values["full_name"]}

    def script() -> Iterator[object]:
        from kiosk.i18n import translate

        yield until(lambda: app.flow.runtime is not None and app.flow.accepting)
        yield SETTLED_S
        tap(screen().ids["lang_" + language])
        yield on("consent")
        yield SETTLED_S
        tap(screen().ids.nav.ids.primary)
        yield on("identity")
        yield SETTLED_S
        for digit in NIK + KK:
            tap(screen().ids.keypad.key_for(digit))
        yield 0.2
        tap(screen().ids.keypad.key_for("action"))
        yield on("demographics")
        yield SETTLED_S
        keyboard = screen().ids.keyboard
        for char in LONG_NAME:
            tap(keyboard.key_for(char))
        yield SETTLED_S
        report["typing"] = moment("typing")
        report["typing"]["keys_mm"] = [keyboard.key_for(k).height / app.ui.mm(1)
                                       for k in ("Q", "backspace", "action")]
        try:
            cancel = button(translate("Cancel", language))
        except LookupError as exc:  # reported; the rest goes on (Next refused)
            report["asked"] = report["continued"] = None
            report["typing"]["cancel"] = str(exc)
        else:
            yield from ask_cancel(cancel)
        for _ in range(5):  # Next from the name past the place of birth, address, RT, RW
            tap(screen().key_for("action"))  # RT and RW: the numeric keypad's
            yield SETTLED_S  # a tap right after the field changed is not taken
        yield until(lambda: not app.flow.form.focus)
        yield SETTLED_S
        tap(screen().ids.nav.ids.primary)  # refused: the place of birth and more missing
        yield SETTLED_S
        yield until(lambda: not app.flow.busy)
        yield SETTLED_S
        ids = screen().ids
        report["refused"] = moment("refused")
        report["refused"] |= {
            "page": shown_texts(ids.rows), "scroll": window_box(ids.scroll),
            "title": window_box(ids.form_mode.children[-1]), "nav": window_box(ids.nav),
            "row": window_box(ids.place_of_birth), "error": ids.place_of_birth.error}
        tap(ids.place_of_birth)  # its keyboard, with its message
        yield until(lambda: app.flow.form.focus == "place_of_birth")
        yield SETTLED_S
        report["typing_error"] = moment("typing-error")
        # The longest name and a key more; then a short one under the power-cut banner;
        # then RT (digits only).
        app.flow.form_focus("full_name")
        yield SETTLED_S
        keyboard = screen().ids.keyboard
        for char in NAME_100[len(LONG_NAME):] + "Q":
            tap(keyboard.key_for(char))
        yield SETTLED_S
        report["longest"] = moment("longest")
        report["longest"]["name"] = app.flow.form.values["full_name"]
        report["longest"] |= field_boxes()
        app._poll.cancel()
        app._show_acceptance = lambda *_args: None
        app.flow.set_acceptance(True, "", True)  # on battery: the banner up
        for _ in range(len(NAME_100) - 4):
            tap(keyboard.key_for("backspace"))
        yield SETTLED_S
        report["battery"] = moment("battery")
        report["battery"] |= field_boxes() | {"banner": app.banner.active}
        app.flow.form_focus("rt")
        yield SETTLED_S
        tap(screen().ids.keypad.key_for("7"))
        yield SETTLED_S
        report["rt"] = moment("rt") | {"rt": app.flow.form.values["rt"],
                                       "keypad": visible(screen().ids.keypad),
                                       "keyboard": visible(screen().ids.keyboard)}

    run_on_clock(app, script(), report, out_path)
    app.run()


if __name__ == "__main__":
    main()
