"""Drive the real touchscreen app to the identity step by touch, type a wrong NIK and then
a KK on the keypad, and report what the screen shows.

    python app_identity.py CONFIG OUT.json LANGUAGE [battery]

Runs ``kiosk run``'s app (simulated hardware) under the current DISPLAY, like
``app_slips.py``. The report holds, for each moment (``empty``, ``wrong_nik``: a wrong NIK
then a valid KK, ``worst``: the same NIK and a KK whose message is the longest), every
visible label's text and the window box its rendered text covers, the two fields' boxes
and frame colours, the title bar's bottom and the nav bar's top; and errors.

With ``battery`` the power-cut banner is up over the screen (on battery, still accepting:
a session in progress may finish) and the moments are the longest messages both fields can
show at once: the wrong NIK's beside each wrong KK's (``kk_<part>``), and the step refused
as a whole after OK (the disk full: ``refused_kk``, then with the keys on the NIK,
``refused_nik``), each label's own box and what it rendered too (``label_box``,
``rendered``), and the keys' boxes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from kiosk.app import create_app
from kiosk.config import load_config
from tests.integration.clock_script import run_on_clock, tap, visible, waits, window_box

WRONG_NIK = "9902015208850001"  # province 99 does not exist
NIK = "7202015208850001"
KK = "7202011203150007"
#: The KK whose message is the longest in English: its regency/city code 00.
WORST_KK = "7200011203150007"
#: A KK refused for each of its parts the keypad can reach (format and length it cannot).
WRONG_KKS = {"province": "9902011203150007", "regency": WORST_KK,
             "district": "7202001203150007", "issue_date": "7202013213150007"}
SETTLED_S = 0.6  # a citizen reads the new screen before the next tap (app_slips.py)


def main() -> None:
    config_path, out_path, language = sys.argv[1:4]
    battery = sys.argv[4:5] == ["battery"]
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

    def rendered(label: Any) -> str:
        """The text the label drew, line after line (a shortened one has its "...")."""
        lines = getattr(label._label, "_cached_lines", None) or []
        return "\n".join("".join(word.text for word in line.words) for line in lines)

    def texts() -> list[dict[str, Any]]:
        """Each visible label of the screen (a button's too, marked): its text and the
        window box its rendered text covers; the label's own box, what it rendered, its
        font size and whether its text is drawn (a word hidden on a narrow key is not)."""
        found = []
        for w in screen().walk():
            if isinstance(w, Label) and w.text and visible(w):
                width, height = w.texture_size
                x, y = w.to_window(w.center_x - width / 2, w.center_y - height / 2)
                found.append({"text": w.text, "box": [x, y, x + width, y + height],
                              "button": isinstance(w, Button), "label_box": window_box(w),
                              "rendered": rendered(w), "font_size": w.font_size,
                              "drawn": (w.disabled_color if w.disabled else w.color)[3] > 0})
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
            "keys": [window_box(key) for key in body.ids.keypad.children],
            "mm": app.ui.mm(1),
            "font_body": app.ui.font_body,
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
        if battery:
            yield from on_battery()
            return
        record("empty")
        type_digits(WRONG_NIK)
        tap(screen().ids.kk)  # a wrong NIK keeps the keys: the citizen taps the KK
        type_digits(KK)
        yield SETTLED_S
        record("wrong_nik")
        pad = screen().ids.keypad
        for _ in KK:
            tap(pad.key_for("backspace"))
        type_digits(WORST_KK)
        yield SETTLED_S
        record("worst")

    def clear() -> None:
        pad = screen().ids.keypad
        tap(screen().ids.kk)
        for _ in range(2 * len(KK)):
            tap(pad.key_for("backspace"))

    def on_battery() -> Iterator[object]:
        """The banner up (the script says the power), then the longest messages."""
        app._poll.cancel()
        app._show_acceptance = lambda *_args: None
        app.flow.set_acceptance(True, "", True)
        yield SETTLED_S
        for part, kk in WRONG_KKS.items():
            clear()
            type_digits(WRONG_NIK)
            tap(screen().ids.kk)
            type_digits(kk)
            yield SETTLED_S
            record(f"kk_{part}")
        # Both valid, OK tapped, the step refused as a whole: the disk is full. Said under
        # the field the keys go to; the other says it looks right.
        from kiosk.errors import StorageFull

        def full(*_args: object) -> None:
            raise StorageFull("no space left (test)")

        app.flow.session.enter_identity = full
        clear()
        type_digits(NIK + KK)
        for field in ("kk", "nik"):
            tap(screen().ids[field])
            yield SETTLED_S  # the screen shows OK enabled from the next frame
            tap(screen().ids.keypad.key_for("action"))
            yield until(lambda: bool(app.flow.message) and not app.flow.busy)
            yield SETTLED_S
            record(f"refused_{field}")

    run_on_clock(app, script(), report, out_path)
    app.run()


if __name__ == "__main__":
    main()
