"""Run a touch test's script on a Kivy app's own clock (the drivers ``app_drive.py`` and
``app_citizens.py``, each run in its own process under a display)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def run_on_clock(app: Any, steps: Iterator[object], report: dict[str, Any], out: str | Path,
                 *, start_s: float = 0.5, poll_s: float = 0.05) -> None:
    """Schedule ``steps`` on the clock, ``start_s`` from now: each item it yields is seconds
    to wait or a condition to poll every ``poll_s`` until true. When it ends, or raises
    (the error is appended to ``report["errors"]``), ``report`` is written to ``out`` as
    JSON and the app stops. Call before ``app.run()``."""
    from kivy.clock import Clock

    def run(_dt: float = 0) -> None:
        try:
            wait = next(steps)
        except StopIteration:
            finish()
            return
        except Exception as exc:
            report["errors"].append(f"{type(exc).__name__}: {exc}")
            finish()
            return
        if callable(wait):
            poll(wait)
        else:
            Clock.schedule_once(run, float(wait))  # type: ignore[arg-type]

    def poll(cond: Callable[[], bool]) -> None:
        try:
            ok = cond()
        except Exception as exc:
            report["errors"].append(f"{type(exc).__name__}: {exc}")
            report.setdefault("error_at", waiting_at(steps))
            finish()
            return
        if ok:
            Clock.schedule_once(run, 0)
        else:
            Clock.schedule_once(lambda _dt: poll(cond), poll_s)

    def finish() -> None:
        Path(out).write_text(json.dumps(report, ensure_ascii=False))
        Clock.schedule_once(lambda _dt: app.stop(), 0.1)

    Clock.schedule_once(run, start_s)


Condition = Callable[[], bool]


def waits(app: Any) -> tuple[Callable[..., Condition], Callable[[str], Condition]]:
    """``until(cond, timeout=30)`` and ``on(screen)``: conditions for a script to yield. The
    first raises TimeoutError naming the screen and the flow's message once ``timeout``
    seconds pass; the second is true once ``screen`` shows and the flow is not busy."""
    import time

    def until(cond: Callable[[], bool], timeout: float = 30.0) -> Callable[[], bool]:
        deadline = time.monotonic() + timeout

        def check() -> bool:
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited in vain on screen {app.screens.current}: "
                                   f"{app.flow.message.text('en')}")
            return cond()
        return check

    def on(name: str) -> Callable[[], bool]:
        return until(lambda: app.screens.current == name and not app.flow.busy)

    return until, on


def draw_signature(pad: Any) -> None:
    """One stroke across the signature ``pad`` by touch: down, 39 moves, up."""
    from kivy.tests.common import UnitTestTouch

    x0, y0 = pad.to_window(pad.x + pad.width * 0.1, pad.y + pad.height * 0.4)
    touch = UnitTestTouch(x0, y0)
    touch.touch_down()
    for i in range(1, 40):
        touch.touch_move(x0 + i * pad.width * 0.02, y0 + (i % 6) * pad.height * 0.05)
    touch.touch_up()


def tap(widget: Any) -> None:
    """A finger down and up at the centre of ``widget``, through the window's dispatch."""
    from kivy.tests.common import UnitTestTouch

    x, y = widget.to_window(*widget.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    touch.touch_up()


def window_box(widget: Any) -> list[float]:
    """``[x0, y0, x1, y1]`` of ``widget`` in the window (y upwards)."""
    x0, y0 = widget.to_window(widget.x, widget.y)
    x1, y1 = widget.to_window(widget.right, widget.top)
    return [x0, y0, x1, y1]


def visible(widget: Any) -> bool:
    """Whether ``widget`` and every parent up to the window are shown (not transparent,
    not collapsed to nothing)."""
    w = widget
    while w is not None and w is not w.parent:
        if w.opacity == 0 or w.width < 1 or w.height < 1:
            return False
        w = w.parent
    return True


def type_fields(keyboard: Any, texts: Iterator[str] | tuple[str, ...],
                key: Callable[[Any], None] = tap) -> Iterator[object]:
    """Type each of ``texts`` on the on-screen ``keyboard``, each followed by its Next
    (``key`` taps a key: a driver that counts its taps passes its own)."""
    for text in texts:
        for char in text:
            key(keyboard.key_for(char))
        key(keyboard.key_for("action"))
        yield 0.1


def waiting_at(steps: object) -> list[str]:
    """Where a script waits: its generator's line, then each one it delegates to (``yield
    from``), for the report when a wait timed out."""
    where = []
    while steps is not None and getattr(steps, "gi_frame", None) is not None:
        frame = steps.gi_frame
        where.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        steps = getattr(steps, "gi_yieldfrom", None)
    return where
