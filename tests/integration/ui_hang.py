"""Run the touchscreen app (simulated hardware) and hang its UI thread for a while.

    python ui_hang.py CONFIG START_S HANG_S STOP_S

``START_S`` after the app's first frame (when it tells systemd READY=1: however long the
imports and the first screen took on a loaded machine) a clock callback blocks the UI
thread for ``HANG_S`` (the way a stuck driver call or an endless loop in a screen would);
the app stops ``STOP_S`` after that frame. The test reads what the app told systemd
meanwhile (``NOTIFY_SOCKET``).
"""

from __future__ import annotations

import sys
import time

from kiosk.app import create_app
from kiosk.config import load_config


def main() -> None:
    config_path, start_s, hang_s, stop_s = sys.argv[1], *map(float, sys.argv[2:5])
    app = create_app(load_config(config_path), open_runtime=False)

    from kivy.clock import Clock
    from kivy.core.window import Window

    def drawn(*_args: object) -> None:
        Window.unbind(on_flip=drawn)
        Clock.schedule_once(lambda _dt: time.sleep(hang_s), start_s)
        Clock.schedule_once(lambda _dt: app.stop(), stop_s)

    Window.bind(on_flip=drawn)
    app.run()


if __name__ == "__main__":
    main()
