"""Two citizens at the consent, by touch: the first scrolls its text to the end and says
No; the second's consent must open at its top, with the "scroll down" hint.

    python app_consent.py CONFIG OUT.json

Runs ``kiosk run``'s app (simulated hardware) under the current DISPLAY, like
``app_details.py``; the report says, for each citizen, where the consent's text stood
(``scroll_y``: 1 is the top) and whether the hint showed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from kiosk.app import create_app
from kiosk.config import load_config
from tests.integration.clock_script import run_on_clock, tap, visible, waits

SETTLED_S = 0.6


def main() -> None:
    config_path, out_path = sys.argv[1:3]
    app = create_app(load_config(config_path))

    from kivy.tests.common import UnitTestTouch

    report: dict[str, Any] = {"errors": [], "citizens": []}
    until, on = waits(app)

    def screen() -> Any:
        return app.screens.current_screen

    def drag(view: Any, dy: float, moves: int = 12) -> Iterator[object]:
        """A finger on ``view`` moved up by ``dy`` px, one step a frame."""
        x, y = view.to_window(view.center_x, view.center_y - dy / 2)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        for i in range(1, moves + 1):
            touch.touch_move(x, y + dy * i / moves)
            yield 0
        touch.touch_up()
        yield 1.5  # the scroll settles

    def seen() -> dict[str, Any]:
        ids = screen().ids
        return {"scroll_y": ids.scroll.scroll_y, "hint": visible(ids.more)}

    def script() -> Iterator[object]:
        yield until(lambda: app.flow.runtime is not None and app.flow.accepting)
        for _citizen in range(2):
            yield SETTLED_S
            tap(screen().ids.lang_id)
            yield on("consent")
            yield SETTLED_S
            shown = {"opened": seen()}
            for _ in range(3):
                yield from drag(screen().ids.scroll, screen().ids.scroll.height * 0.8)
            shown["scrolled"] = seen()
            report["citizens"].append(shown)
            tap(screen().ids.nav.ids.cancel)  # No: nothing kept, back to the welcome
            yield on("welcome")
            yield 2.5  # past the welcome's double-tap guard and its notice

    run_on_clock(app, script(), report, out_path)
    app.run()


if __name__ == "__main__":
    main()
