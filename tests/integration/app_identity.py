"""Drive the real touchscreen app to the identity step by touch, type a wrong NIK and then
a KK on the keypad, and report what the screen shows.

    python app_identity.py CONFIG OUT.json LANGUAGE

Runs ``kiosk run``'s app (simulated hardware) under the current DISPLAY, like
``app_slips.py``. The report holds, for each moment (``empty``, ``wrong_nik``: a wrong NIK
then a valid KK, ``worst``: the same NIK and a KK whose message is the longest), every
visible label's text and the window box its rendered text covers, the two fields' boxes
and frame colours, the title bar's bottom and the nav bar's top; and errors.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from kiosk.app import create_app
from kiosk.config import load_config
from tests.integration.clock_script import run_on_clock, tap, visible, waits, window_box

WRONG_NIK = "9902015208850001"  # province 99 does not exist
KK = "7202011203150007"
#: The KK whose message is the longest in English: its regency/city code 00.
WORST_KK = "7200011203150007"
SETTLED_S = 0.6  # a citizen reads the new screen before the next tap (app_slips.py)


def main() -> None:
    config_path, out_path, language = sys.argv[1:4]
    app = create_app(load_config(config_path))

    from kivy.core.window import Window
    from kivy.graphics import Color
    from kivy.uix.button import Button
    from kivy.uix.label import Label

    report: dict[str, Any] = {"errors": []}
    until, on = waits(app)

    def screen() -> Any:
        return app.screens.current_screen

    def nav(which: str) -> Any:
        return screen().ids.nav.ids[which]

    def texts() -> list[dict[str, Any]]:
        """Each visible label of the screen (a button's too, marked): its text and the
        window box its rendered text covers."""
        found = []
        for w in screen().walk():
            if isinstance(w, Label) and w.text and visible(w):
                width, height = w.texture_size
                x, y = w.to_window(w.center_x - width / 2, w.center_y - height / 2)
                found.append({"text": w.text, "box": [x, y, x + width, y + height],
                              "button": isinstance(w, Button)})
        return found

    def frame(field: Any) -> list[float]:
        """The colour the field's frame is drawn in (its canvas's first colour)."""
        return list(next(i.rgba for i in field.canvas.before.children
                         if isinstance(i, Color)))

    def record(name: str) -> None:
        body = screen()
        title = body.children[0].children[-1]  # the TitleBar, then the body, the nav
        report[name] = {
            "window": [Window.width, Window.height],
            "between": [title.to_window(title.x, title.y)[1],
                        nav("primary").parent.to_window(0, nav("primary").parent.top)[1]],
            "texts": texts(),
            "fields": {name: {"box": window_box(body.ids[name]),
                              "frame": frame(body.ids[name])} for name in ("nik", "kk")},
            "next_disabled": nav("primary").disabled,
        }

    def type_digits(digits: str) -> None:
        pad = screen().ids.keypad
        for digit in digits:
            tap(pad.key_for(digit))

    def script() -> Iterator[object]:
        yield until(lambda: app.flow.runtime is not None and app.flow.accepting)
        yield SETTLED_S
        tap(screen().ids["lang_" + language])
        yield on("consent")
        yield SETTLED_S
        tap(nav("primary"))
        yield on("identity")
        yield SETTLED_S
        report["colours"] = {name: list(getattr(app.ui, name))
                             for name in ("error_ink", "highlight", "panel")}
        record("empty")
        type_digits(WRONG_NIK + KK)
        yield SETTLED_S
        record("wrong_nik")
        pad = screen().ids.keypad
        for _ in KK:
            tap(pad.key_for("backspace"))
        type_digits(WORST_KK)
        yield SETTLED_S
        record("worst")

    run_on_clock(app, script(), report, out_path)
    app.run()


if __name__ == "__main__":
    main()
