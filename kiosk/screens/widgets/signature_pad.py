"""The signature pad: a white box with a frame and a baseline where a finger signs.

What the finger does is kept as a time series in the manner of ISO/IEC 19794-7: strokes of
``(x, y, t)``, ``x`` and ``y`` normalised to 0..1 of the box (``y`` upwards) and ``t`` in
seconds since the signature's first point. The ink on screen is redrawn from those strokes,
so it follows the box when the layout changes. :func:`kiosk.enrollment.signature.
render_signature_png` turns the strokes into the PNG the session stores.
"""

from __future__ import annotations

from typing import Any

from kivy.graphics import Color, Ellipse, InstructionGroup, Line
from kivy.input.motionevent import MotionEvent
from kivy.properties import BooleanProperty, ListProperty, ObjectProperty
from kivy.uix.widget import Widget

__all__ = ["SignaturePad"]

Point = tuple[float, float, float]


class SignaturePad(Widget):
    """A box to sign in with a finger; one finger at a time, touches outside ignored.

    A touch that starts in the box is grabbed: its moves stay in this stroke (clamped to
    the box) even when the finger strays out. A second finger while one is signing (a
    resting palm) is swallowed and not drawn.

    Usage (a screen's ``.kv``)::

        SignaturePad:
            id: pad
            size_hint_y: None
            height: self.width / 3       # the aspect of the stored 600x200 image
            on_ink_changed: root.ink_changed(self.has_ink)
        KeyButton:
            text: tr('Clear', root.language)
            disabled: not pad.has_ink
            on_release: pad.clear()

    and on "Next": ``render_signature_png(self.ids.pad.strokes)``.
    """

    #: Strokes of ``(x, y, t)`` points; replace only through :meth:`clear`.
    strokes: list[list[Point]] = ListProperty([])
    #: True once a stroke has at least two points (a line, not just a tap).
    has_ink = BooleanProperty(False)
    #: The app's :class:`~kiosk.screens.theme.Theme`, bound in ``widgets.kv`` to ``app.ui``.
    ui = ObjectProperty(None, allownone=True)

    __events__ = ("on_ink_changed",)

    def __init__(self, **kwargs: Any) -> None:
        self._ink = InstructionGroup()
        self._touch: MotionEvent | None = None
        self._stroke: list[Point] | None = None
        self._line: Line | None = None
        self._t0: float | None = None
        super().__init__(**kwargs)
        self.canvas.add(self._ink)
        self.fbind("pos", self._redraw)
        self.fbind("size", self._redraw)
        self.fbind("ui", self._redraw)

    # -- public --------------------------------------------------------------------------
    def clear(self) -> None:
        """Wipe the ink (and any stroke being drawn) and dispatch ``on_ink_changed``."""
        if self._touch is not None:
            self._touch.ungrab(self)
        self._touch = self._stroke = self._line = None
        self._t0 = None
        self.strokes = []
        self.has_ink = False
        self._redraw()
        self.dispatch("on_ink_changed")

    def on_ink_changed(self) -> None:
        """A stroke was finished, or the pad cleared."""

    # -- touches -------------------------------------------------------------------------
    def on_touch_down(self, touch: MotionEvent) -> bool:
        if self.disabled or not self.collide_point(*touch.pos):
            return False
        if touch.is_mouse_scrolling:
            return False
        if self._touch is not None:
            return True  # another finger or a palm while signing: not ink
        touch.grab(self)
        self._touch = touch
        if self._t0 is None:
            self._t0 = touch.time_update
        self._stroke = []
        self.strokes.append(self._stroke)
        self._line = None
        self._add_point(touch)
        return True

    def on_touch_move(self, touch: MotionEvent) -> bool:
        if touch is not self._touch:
            return False
        if touch.grab_current is self:
            self._add_point(touch)
        return True

    def on_touch_up(self, touch: MotionEvent) -> bool:
        if touch is not self._touch:
            return False
        if touch.grab_current is not self:
            return True  # the ordinary pass; the grabbed one below finishes the stroke
        touch.ungrab(self)
        self._add_point(touch)
        stroke = self._stroke or []
        self._touch = self._stroke = self._line = None
        if len(stroke) == 1:
            self._draw_dot(stroke[0])
        if len(stroke) >= 2:
            self.has_ink = True
        self.dispatch("on_ink_changed")
        return True

    # -- drawing -------------------------------------------------------------------------
    def _normalise(self, touch: MotionEvent) -> tuple[float, float]:
        x, y = touch.pos
        nx = (x - self.x) / self.width if self.width > 0 else 0.0
        ny = (y - self.y) / self.height if self.height > 0 else 0.0
        return min(max(nx, 0.0), 1.0), min(max(ny, 0.0), 1.0)

    def _add_point(self, touch: MotionEvent) -> None:
        stroke = self._stroke
        if stroke is None or self._t0 is None:
            return
        nx, ny = self._normalise(touch)
        t = max(touch.time_update - self._t0, stroke[-1][2] if stroke else 0.0, 0.0)
        if stroke and (nx, ny) == stroke[-1][:2]:
            return  # no movement: nothing to draw or keep
        stroke.append((nx, ny, t))
        if len(stroke) == 2:
            self._line = self._new_line(stroke)
        elif self._line is not None:
            self._line.points = [*self._line.points, *self._to_px(nx, ny)]

    def _to_px(self, nx: float, ny: float) -> tuple[float, float]:
        return self.x + nx * self.width, self.y + ny * self.height

    def _pen(self) -> float:
        """Half the ink's width in px (Kivy's ``Line.width``): the ink is 0.8 mm wide."""
        return self.ui.mm(0.4)

    def _new_line(self, stroke: list[Point]) -> Line | None:
        if self.ui is None:  # not themed yet: drawn once ``ui`` is bound
            return None
        self._ink.add(Color(*self.ui.ink))
        points = [c for x, y, _t in stroke for c in self._to_px(x, y)]
        line = Line(points=points, width=self._pen(), cap="round", joint="round")
        self._ink.add(line)
        return line

    def _draw_dot(self, point: Point) -> None:
        if self.ui is None:
            return
        r = self._pen()
        x, y = self._to_px(point[0], point[1])
        self._ink.add(Color(*self.ui.ink))
        self._ink.add(Ellipse(pos=(x - r, y - r), size=(2 * r, 2 * r)))

    def _redraw(self, *_args: object) -> None:
        self._ink.clear()
        self._line = None
        for stroke in self.strokes:
            if len(stroke) >= 2:
                line = self._new_line(stroke)
                if stroke is self._stroke:
                    self._line = line
            elif stroke and stroke is not self._stroke:
                self._draw_dot(stroke[0])
