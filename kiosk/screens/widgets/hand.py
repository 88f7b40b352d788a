"""Two hands, drawn, showing which finger to place on the sensor and which are done.

Convention: the hands as the citizen sees their own hands lying palm-down on the counter,
backs up, fingers pointing away: the left hand on the left with its thumb on its right, the
right hand on the right with its thumb on its left. Reading across the screen:
``L5 L4 L3 L2 L1  R1 R2 R3 R4 R5`` (codes R1..R5 right thumb..little, L1..L5 left).

The finger to place now (``current``) is filled with ``app.ui.highlight``, outlined thick
and ringed by a pulsing halo; fingers in ``done`` are filled with ``app.ui.done`` and carry
a tick; fingers an officer recorded as impossible to scan (``missing``) are greyed
(``app.ui.disabled_bg``) and crossed out in ``app.ui.error_ink``; the others are plain.
Colour is never the only sign (halo, thick outline, tick, cross). :class:`MissingMark` is
one crossed-out finger alone, for a legend.
"""

from __future__ import annotations

from typing import Any

from kivy.animation import Animation
from kivy.clock import Clock
from kivy.graphics import Color, InstructionGroup, Line, RoundedRectangle
from kivy.properties import ListProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.widget import Widget

__all__ = ["HandDiagram", "MissingMark"]

# The right hand in "hand units" (about a millimetre of a small adult hand), thumb on the
# left, fingers up; the left hand is its mirror image. Each finger is a capsule from its base
# (inside the palm) to the centre of its tip: (base x, base y, tip x, tip y, width).
_HAND_W, _HAND_H = 30.0, 35.0
_PALM = (9.0, 0.5, 18.0, 16.5, 4.5)  # x, y, width, height, corner radius
_FINGERS: dict[int, tuple[float, float, float, float, float]] = {
    1: (12.0, 5.0, 3.0, 15.5, 5.0),     # thumb, out to the side and up
    2: (11.3, 13.0, 10.4, 28.5, 4.2),   # index
    3: (15.8, 13.0, 15.8, 31.8, 4.3),   # middle
    4: (20.3, 13.0, 21.1, 30.0, 4.2),   # ring
    5: (24.7, 12.0, 26.6, 25.2, 3.8),   # little
}
_GAP = 4.0      # between the two thumbs' hands
_MARGIN = 1.5   # room for the halo at the edges


class HandDiagram(Widget):
    """Both hands with ``current`` highlighted and ``done`` ticked.

    The halo pulses only while the diagram is in the window; set ``current`` to "" when
    the screen is left to be sure it stops.

    Usage (a screen's ``.kv``)::

        HandDiagram:
            size_hint: None, None
            size: app.ui.mm(60), app.ui.mm(35)
            current: root.finger          # e.g. "R2", "" for none
            done: root.fingers_done       # e.g. ["R1"]
    """

    #: The code of the finger to place now ("" for none).
    current = StringProperty("")
    #: Codes of the fingers already captured.
    done = ListProperty([])
    #: Codes of the fingers recorded as impossible to scan (greyed, crossed out).
    missing = ListProperty([])
    #: The app's :class:`~kiosk.screens.theme.Theme`, bound in ``widgets.kv`` to ``app.ui``.
    ui = ObjectProperty(None, allownone=True)
    #: 0..1, animated while a finger is current: the halo's strength.
    pulse = NumericProperty(0.0)

    def __init__(self, **kwargs: Any) -> None:
        self._group = InstructionGroup()
        self._halo_colour: Color | None = None
        self._halo: Line | None = None
        self._anim: Animation | None = None
        super().__init__(**kwargs)
        self.canvas.add(self._group)
        for name in ("pos", "size", "current", "done", "missing", "ui"):
            self.fbind(name, self._redraw)
        # (Re)start the pulse when shown again: a screen coming back lays its widgets out.
        for name in ("parent", "current", "pos", "size"):
            self.fbind(name, self._animate)
        self._redraw()

    # -- geometry ------------------------------------------------------------------------
    def _scale_origin(self) -> tuple[float, float, float]:
        total_w = 2 * _HAND_W + _GAP + 2 * _MARGIN
        total_h = _HAND_H + 2 * _MARGIN
        scale = max(0.0, min(self.width / total_w, self.height / total_h))
        x0 = self.center_x - total_w * scale / 2 + _MARGIN * scale
        y0 = self.center_y - total_h * scale / 2 + _MARGIN * scale
        return scale, x0, y0

    def finger_segments(self) -> dict[str, tuple[float, float, float, float, float]]:
        """Each finger's capsule in widget px: code -> (base x, base y, tip x, tip y, width)."""
        scale, x0, y0 = self._scale_origin()
        right_x0 = x0 + (_HAND_W + _GAP) * scale
        out = {}
        for n, (bx, by, tx, ty, w) in _FINGERS.items():
            out[f"R{n}"] = (right_x0 + bx * scale, y0 + by * scale,
                            right_x0 + tx * scale, y0 + ty * scale, w * scale)
            out[f"L{n}"] = (x0 + (_HAND_W - bx) * scale, y0 + by * scale,
                            x0 + (_HAND_W - tx) * scale, y0 + ty * scale, w * scale)
        return out

    def _palms(self) -> list[tuple[float, float, float, float, float]]:
        scale, x0, y0 = self._scale_origin()
        px, py, pw, ph, r = _PALM
        right_x0 = x0 + (_HAND_W + _GAP) * scale
        return [(x0 + (_HAND_W - px - pw) * scale, y0 + py * scale, pw * scale, ph * scale,
                 r * scale),
                (right_x0 + px * scale, y0 + py * scale, pw * scale, ph * scale, r * scale)]

    # -- drawing -------------------------------------------------------------------------
    def _redraw(self, *_args: object) -> None:
        group = self._group
        group.clear()
        self._halo_colour = self._halo = None
        ui = self.ui
        if ui is None or self.width <= 0 or self.height <= 0:
            return
        segments = self.finger_segments()
        palms = self._palms()
        done = set(self.done)
        missing = set(self.missing) - done
        current = self.current if self.current in segments else ""
        thin = ui.mm(0.4)
        thick = ui.mm(0.9)

        def capsule(code: str, extra: float) -> Line:
            bx, by, tx, ty, w = segments[code]
            return Line(points=[bx, by, tx, ty], width=w / 2 + extra, cap="round")

        # 1. the halo behind the current finger
        if current:
            self._halo_colour = Color(*ui.highlight[:3], self._halo_alpha())
            group.add(self._halo_colour)
            self._halo = capsule(current, self._halo_extra(ui))
            group.add(self._halo)
        # 2. outlines of palms and fingers (under every fill: one silhouette per hand)
        group.add(Color(*ui.ink))
        for x, y, w, h, r in palms:
            group.add(Line(rounded_rectangle=(x, y, w, h, r), width=2 * thin))
        for code in segments:
            if code != current:
                group.add(capsule(code, thin))
        # 3. fills of the other fingers
        for code in segments:
            if code != current:
                fill = (ui.done if code in done
                        else ui.disabled_bg if code in missing else ui.panel)
                group.add(Color(*fill))
                group.add(capsule(code, 0))
        # 4. the current finger on top of its neighbours, outlined thick
        if current:
            group.add(Color(*ui.ink))
            group.add(capsule(current, thick))
            group.add(Color(*ui.highlight))
            group.add(capsule(current, 0))
        # 5. the palms over the fingers' bases
        group.add(Color(*ui.panel))
        for x, y, w, h, r in palms:
            group.add(RoundedRectangle(pos=(x, y), size=(w, h), radius=[r]))
        # 6. ticks on the fingers done
        group.add(Color(*ui.paper))
        for code in segments:
            if code in done and code != current:
                group.add(self._tick(segments[code], thin))
        # 7. crosses on the fingers that cannot be scanned
        group.add(Color(*ui.error_ink))
        for code in segments:
            if code in missing and code != current:
                for line in cross(segments[code], thin):
                    group.add(line)

    @staticmethod
    def _tick(segment: tuple[float, float, float, float, float], thin: float) -> Line:
        """An upright tick mark on the finger, just below the tip."""
        bx, by, tx, ty, w = segment
        length = max(1e-6, ((tx - bx) ** 2 + (ty - by) ** 2) ** 0.5)
        cx = tx - (tx - bx) / length * w * 0.6
        cy = ty - (ty - by) / length * w * 0.6
        s = w * 0.5
        # A short leg down from the left, then a long one up to the right.
        points = [cx - 0.75 * s, cy + 0.05 * s, cx - 0.2 * s, cy - 0.5 * s,
                  cx + 0.8 * s, cy + 0.6 * s]
        return Line(points=points, width=max(thin, w * 0.09), cap="round", joint="round")

    # -- pulse ---------------------------------------------------------------------------
    def _halo_alpha(self) -> float:
        return 0.35 + 0.65 * self.pulse

    def _halo_extra(self, ui: Any) -> float:
        return ui.mm(0.9) + ui.mm(1.1) * self.pulse

    def on_pulse(self, _instance: object, _value: float) -> None:
        if self.get_root_window() is None:  # off screen (its screen left): stop ticking
            Clock.schedule_once(self._animate, 0)
            return
        if self._halo is not None and self._halo_colour is not None and self.ui is not None:
            self._halo_colour.a = self._halo_alpha()
            w = self.finger_segments()[self.current][4]
            self._halo.width = w / 2 + self._halo_extra(self.ui)

    def _animate(self, *_args: object) -> None:
        """Pulse while a finger is current and the diagram is in the window."""
        wanted = bool(self.current) and self.get_root_window() is not None
        if wanted and self._anim is None:
            self._anim = (Animation(pulse=1.0, d=0.6, t="in_out_sine")
                          + Animation(pulse=0.0, d=0.6, t="in_out_sine"))
            self._anim.repeat = True
            self._anim.start(self)
        elif not wanted and self._anim is not None:
            self._anim.cancel(self)
            self._anim = None
            self.pulse = 0.0


def cross(segment: tuple[float, float, float, float, float], thin: float) -> list[Line]:
    """An upright cross (an X) on the finger ``segment``, just below its tip."""
    bx, by, tx, ty, w = segment
    length = max(1e-6, ((tx - bx) ** 2 + (ty - by) ** 2) ** 0.5)
    cx = tx - (tx - bx) / length * w * 0.7
    cy = ty - (ty - by) / length * w * 0.7
    arm = w * 0.42
    width = max(thin, w * 0.11)
    return [Line(points=[cx - arm, cy - arm, cx + arm, cy + arm], width=width, cap="round"),
            Line(points=[cx - arm, cy + arm, cx + arm, cy - arm], width=width, cap="round")]


class MissingMark(Widget):
    """One finger drawn as :class:`HandDiagram` draws a finger that cannot be scanned
    (greyed, outlined, crossed out), upright in the widget's box: the legend's sign."""

    ui = ObjectProperty(None, allownone=True)

    def __init__(self, **kwargs: Any) -> None:
        self._group = InstructionGroup()
        super().__init__(**kwargs)
        self.canvas.add(self._group)
        for name in ("pos", "size", "ui"):
            self.fbind(name, self._redraw)

    def _redraw(self, *_args: object) -> None:
        group = self._group
        group.clear()
        ui = self.ui
        if ui is None or self.width <= 0 or self.height <= 0:
            return
        w = min(self.width, self.height * 0.5)
        thin = ui.mm(0.4)
        segment = (self.center_x, self.y + w / 2 + thin, self.center_x,
                   self.top - w / 2 - thin, w - 2 * thin)
        bx, by, tx, ty, width = segment
        group.add(Color(*ui.ink))
        group.add(Line(points=[bx, by, tx, ty], width=width / 2 + thin, cap="round"))
        group.add(Color(*ui.disabled_bg))
        group.add(Line(points=[bx, by, tx, ty], width=width / 2, cap="round"))
        group.add(Color(*ui.error_ink))
        for line in cross(segment, thin):
            group.add(line)
