"""Drive the real touchscreen app to the receipt (the done screen) and report what it
shows.

    python app_receipt.py CONFIG OUT.json LANGUAGE [battery] [timer]

Runs ``kiosk run``'s app (simulated hardware) under the current DISPLAY, like
``app_identity.py``. The receipt is shown with a receipt number of the kiosk's own length
(the screen shows the flow's ``receipt_id``; no record is sealed for it). With ``battery``
the power-cut banner is up over it. The report (``shown``) holds every visible label's
text, the window box its rendered text covers, its own box and what it rendered, and the
QR code's box; and errors.

With ``timer`` the flow's clock is the script's (no real waiting: the script moves it on and
calls the flow's once-a-second tick), and the report adds, at each moment, what the title
bar says of the time left and whether More time is enabled (``moments``): as shown, 30 s
later, after a touch on the text, 40 s later, after More time, at the receipt's longest;
and the screen after it (``after``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from kiosk.app import create_app
from kiosk.config import load_config
from tests.integration.clock_script import run_on_clock, tap, visible, waits, window_box

#: A receipt number as the kiosk makes them: 21 characters.
RECEIPT = "rev-01-0000002-8c3b23"
SETTLED_S = 0.6


def main() -> None:
    config_path, out_path, language = sys.argv[1:4]
    battery = "battery" in sys.argv[4:]
    timer = "timer" in sys.argv[4:]
    app = create_app(load_config(config_path))

    from kivy.core.window import Window
    from kivy.uix.button import Button
    from kivy.uix.label import Label

    report: dict[str, Any] = {"errors": []}
    until, on = waits(app)

    def screen() -> Any:
        return app.screens.current_screen

    def rendered(label: Any) -> str:
        lines = getattr(label._label, "_cached_lines", None) or []
        return "\n".join("".join(word.text for word in line.words) for line in lines)

    def texts() -> list[dict[str, Any]]:
        """Each visible label of the window (the banner's too; a button's marked)."""
        found = []
        for w in app.root.walk():
            if isinstance(w, Label) and w.text and visible(w):
                width, height = w.texture_size
                x, y = w.to_window(w.center_x - width / 2, w.center_y - height / 2)
                found.append({"text": w.text, "box": [x, y, x + width, y + height],
                              "button": isinstance(w, Button), "label_box": window_box(w),
                              "rendered": rendered(w), "font_size": w.font_size})
        return found

    def record(name: str) -> None:
        report[name] = {"window": [Window.width, Window.height], "texts": texts(),
                        "qr": window_box(screen().ids.qr), "mm": app.ui.mm(1),
                        "banner": app.banner.active, "screen": app.screens.current}

    def script() -> Iterator[object]:
        yield until(lambda: app.flow.runtime is not None and app.flow.accepting)
        yield SETTLED_S
        if battery:
            app._poll.cancel()  # the script says the power
            app._show_acceptance = lambda *_args: None
            app.flow.set_acceptance(True, "", True)
        flow = app.flow
        flow.set_language(language)
        flow.receipt_id = RECEIPT
        flow.show("done")
        yield on("done")
        yield SETTLED_S
        record("shown")
        if timer:
            yield from timed()

    def moment(name: str) -> None:
        title = screen().children[0].children[-1]  # the TitleBar, then the body, the nav
        more = screen().ids.nav.ids.cancel
        report["moments"].append({"name": name, "left": title.ids.step_label.text,
                                  "more": more.text, "more_enabled": not more.disabled,
                                  "more_shown": visible(more), "screen": app.screens.current})

    def timed() -> Iterator[object]:
        from kiosk.screens.flow_privacy import RECEIPT_MAX_S

        flow = app.flow
        now = [flow.clock()]
        flow.clock = lambda: now[0]
        flow._start_receipt()  # counted on the script's clock from here
        report["moments"] = []

        def seconds(n: int) -> Iterator[object]:
            for _ in range(n):
                now[0] += 1
                flow.tick()
            yield 0.2  # drawn

        yield from seconds(0)
        moment("shown")
        yield from seconds(30)
        moment("30 s")
        tap(screen().ids.instruction)  # a touch on the text, not a button
        yield 0.2
        moment("touched")
        yield from seconds(40)
        moment("70 s")
        tap(screen().ids.nav.ids.cancel)  # More time
        yield 0.2
        moment("more time")
        yield from seconds(30)
        tap(screen().ids.instruction)  # 100 s: until 145 s
        yield 0.2
        yield from seconds(int(RECEIPT_MAX_S) - 100 - 45)
        tap(screen().ids.instruction)
        yield 0.2
        moment("longest")  # touched 45 s before its longest: no more to give after it
        yield from seconds(44)
        moment("last second")
        yield from seconds(1)
        report["after"] = app.screens.current

    run_on_clock(app, script(), report, out_path)
    app.run()


if __name__ == "__main__":
    main()
