"""Run the kiosk app, switch language, wait for its own acceptance check, then save a PNG
of the window and a JSON list of every visible label (text, font size in px), and quit.

    python app_snapshot.py CONFIG OUT_PREFIX LANGUAGE [--force-closed REASON]

The closed screen is reached the way the product reaches it: the configuration makes the
acceptance check refuse (disk reserve, battery), the app's periodic check says so, the flow
shows it. The JSON carries the verdict of the last check the app received (``acceptance``),
so the test can hold the screen to it. ``--force-closed`` pushes the closed screen past the
check (as these snapshots once did); it exists only for the test that shows such a snapshot
is caught.
"""

from __future__ import annotations

import json
import os
import sys

from kiosk.app import create_app
from kiosk.config import load_config


def _lineage(widget):  # the widget and its parents up to the window
    while widget is not None and widget is not widget.parent:
        yield widget
        widget = widget.parent


def main() -> None:
    config_path, prefix, language = sys.argv[1:4]
    forced_reason = sys.argv[5] if sys.argv[4:5] == ["--force-closed"] else None
    app = create_app(load_config(config_path))
    verdicts: list[dict[str, object]] = []  # what the app's own check returned, in order
    show_acceptance = app._show_acceptance

    def spy(acceptance, error) -> None:  # the app's own callback
        verdicts.append({"error": repr(error)} if error is not None else {
            "accepting": acceptance.accepting, "reason": acceptance.reason or "",
            "on_battery": acceptance.on_battery})
        show_acceptance(acceptance, error)

    app._show_acceptance = spy

    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.uix.label import Label

    def labels() -> list[dict[str, object]]:
        out = []
        for w in app.root.walk():
            hidden = any(p.opacity == 0 or p.height < 1 for p in _lineage(w))
            if isinstance(w, Label) and w.text and not hidden:
                # Where the rendered text sits, in window pixels: must be on the screen.
                x, y = w.to_window(w.center_x - w.texture_size[0] / 2,
                                   w.center_y - w.texture_size[1] / 2)
                out.append({"text": w.text, "font_px": float(w.font_size),
                            "box": [x, y, x + w.texture_size[0], y + w.texture_size[1]]})
        return out

    waited = [0.0]

    def prepare(_dt: float) -> None:
        app.set_language(language)
        Clock.schedule_once(checked, 0)

    def checked(dt: float) -> None:
        waited[0] += dt
        if not verdicts and waited[0] < 60:
            Clock.schedule_once(checked, 0.1)
            return
        if forced_reason is not None:
            app._poll.cancel()
            app._show_acceptance = lambda *_args: None  # a check still in flight
            app.flow.set_acceptance(False, forced_reason, False)
        Clock.schedule_once(shoot, 1.0)

    def shoot(_dt: float) -> None:
        Window.dispatch("on_draw")  # read a frame drawn now, not what the last swap left
        saved = Window.screenshot(name=prefix + ".png")  # Kivy adds a counter to the name
        os.replace(saved, prefix + ".png")
        with open(prefix + ".json", "w") as fh:
            json.dump({"screen": app.screens.current, "window": list(Window.size),
                       "labels": labels(), "acceptance": verdicts[-1] if verdicts else None,
                       "checks": len(verdicts)}, fh, ensure_ascii=False)
        Clock.schedule_once(lambda _dt: app.stop(), 0.2)

    Clock.schedule_once(prepare, 1.0)
    app.run()


if __name__ == "__main__":
    main()
