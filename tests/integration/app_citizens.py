"""Drive the real touchscreen app through one short citizen after another, by touch, and
count what stays alive between them.

    python app_citizens.py CONFIG OUT.json CITIZENS

Runs ``kiosk run``'s app (simulated hardware) under the current DISPLAY. Each citizen taps a
language, scrolls the consent text with a finger, agrees, types the NIK and No. KK on the
keypad, types the text fields on the keyboard, scrolls the form down and up, then cancels ("Yes,
stop": the wipe). Back at the welcome, once the kiosk has made its own full collection
after the wipe (``GC_AFTER_WIPE_S``), it counts the objects the collector tracks, by type,
and the bindings of each scroll view's bar colour. Writes a JSON report: one entry per
citizen, and errors.

Not counted: the simulated GPIO's ``gpiozero.pins.mock.PinState`` (gpiozero's mock pins
record every change of the status LED, by design: test instrumentation, not the kiosk's)
and dead weak references (sqlite3 keeps one per cursor a connection made, and drops the
dead ones every 200 cursors: a plateau, not a leak).
"""

from __future__ import annotations

import collections
import gc
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from kiosk.app import create_app
from kiosk.config import load_config
from tests.integration.clock_script import run_on_clock

NIK = "7202014107900003"
KK = "7202010504180002"
TYPED = ("SITI NURAINI", "POSO", "JL. MAWAR 1", "3", "1")  # name, place, address, RT, RW
NOT_COUNTED = ("gpiozero.pins.mock.PinState",)


def live_objects(report: dict[str, Any]) -> collections.Counter[str]:
    """The objects the collector tracks (the kiosk froze its start-up ones: not listed),
    by type, less those :data:`NOT_COUNTED`, dead weak references and ``report``'s own."""
    counts: collections.Counter[str] = collections.Counter()
    rows = report["citizens"]
    mine = {id(rows)} | {id(row) for row in rows} | {id(row["types"]) for row in rows}
    for obj in gc.get_objects():
        if id(obj) in mine:
            continue
        kind = type(obj)
        name = f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', '?')}"
        if name in NOT_COUNTED or (name == "weakref.ReferenceType" and obj() is None):
            continue
        counts[name] += 1
    return counts


def main() -> None:
    config_path, out_path, citizens = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = create_app(load_config(config_path))

    from kivy.core.window import Window
    from kivy.tests.common import UnitTestTouch
    from kivy.uix.modalview import ModalView
    from kivy.uix.scrollview import ScrollView

    report: dict[str, Any] = {"citizens": [], "errors": []}
    collected = [0]

    def count_full(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            collected[0] += 1

    def tap(widget: Any) -> None:
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        touch.touch_up()

    def drag(view: Any, dy: float, moves: int = 12) -> Iterator[object]:
        """A finger on ``view`` moved by ``dy`` px, one step a frame (as a finger does)."""
        x, y = view.to_window(view.center_x, view.center_y - dy / 2)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        for i in range(1, moves + 1):
            touch.touch_move(x, y + dy * i / moves)
            yield 0
        touch.touch_up()
        yield 0.3

    def screen() -> Any:
        return app.screens.current_screen

    def until(cond: Callable[[], bool], timeout: float = 30.0) -> Callable[[], bool]:
        deadline = time.monotonic() + timeout

        def check() -> bool:
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited in vain on screen {app.screens.current}")
            return cond()
        return check

    def on(name: str) -> Callable[[], bool]:
        return until(lambda: app.screens.current == name and not app.flow.busy)

    def scroll_views() -> list[Any]:
        roots = [app.root, *app.screens.screens, *app.overlays.values()]
        return [w for root in roots for w in root.walk(restrict=True)
                if isinstance(w, ScrollView)]

    def bar_bindings() -> int:
        """The most bindings of ``bar_color`` to its own ``_change_bar_color`` that any
        scroll view holds (Kivy's fade needs at most one)."""
        return max(sum(1 for callback, *_rest in view.get_property_observers(
            "bar_color", args=True) if callback == view._change_bar_color)
            for view in scroll_views())

    def citizen() -> Iterator[object]:
        tap(screen().ids.lang_en)
        yield on("consent")
        yield 0.2
        scroll = next(w for w in screen().walk() if isinstance(w, ScrollView))
        yield from drag(scroll, 120)
        tap(screen().ids.nav.ids.primary)
        yield on("identity")
        pad = screen().ids.keypad
        for digit in NIK + KK:
            tap(pad.key_for(digit))
        yield 0.1
        tap(pad.key_for("action"))
        yield on("demographics")
        yield 0.2
        keyboard = screen()  # its key_for: the keyboard or, for RT/RW, the keypad
        for text in TYPED:  # each field in turn; after the last the keyboard closes
            for char in text:
                tap(keyboard.key_for(char))
            tap(keyboard.key_for("action"))
            yield 0.1
        yield until(lambda: not app.flow.form.focus, 5)
        yield 0.2
        form = next(w for w in screen().walk() if isinstance(w, ScrollView))
        yield from drag(form, 200)
        yield from drag(form, -200)
        tap(screen().ids.nav.ids.cancel)
        overlay = app.overlays["cancel"]
        yield until(lambda: overlay in Window.children, 5)
        yield 0.1
        tap(overlay.ids.yes)  # "Yes, stop"
        yield until(lambda: not any(isinstance(w, ModalView) for w in Window.children), 5)
        yield on("welcome")

    def script() -> Iterator[object]:
        yield until(lambda: app.flow.runtime is not None and app.flow.accepting
                    and not app._pending)
        yield 0.3
        gc.callbacks.append(count_full)
        for number in range(1, citizens + 1):
            collected[0] = 0
            yield from citizen()
            # The kiosk's own full collection after the wipe: only then is the citizen's
            # garbage gone rather than merely unreachable.
            yield until(lambda: collected[0] > 0, 10)
            yield 1.0  # a scroll's fade, a worker's answer: nothing still in flight
            gc.collect()
            counts = live_objects(report)
            report["citizens"].append({"citizen": number, "objects": sum(counts.values()),
                                       "bar_bindings": bar_bindings(), "types": counts})

    steps = script()

    app.bind(on_start=lambda *_args: run_on_clock(app, steps, report, out_path))
    app.run()


if __name__ == "__main__":
    main()
