"""``kiosk run``: the touchscreen application (Kivy).

Kivy is imported only from here and ``kiosk/screens``; the rest of the kiosk (demo, status,
uploader) runs without it. Screens are one class and one ``.kv`` file per step, loaded in
``build()``. The app polls whether enrollment may go on (power, disk, journal) on a worker
thread and switches to the closed screen, with the reason, when it may not.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from kiosk.config import Config

log = logging.getLogger(__name__)

SCREENS_DIR = Path(__file__).with_name("screens")
ACCEPTANCE_POLL_S = 1.0  # the power-cut banner must show within seconds


def _prepare_kivy(config: Config) -> None:
    """Kivy reads its settings at import: set them first. No argv parsing, logs through
    Python logging (so our redaction filter applies), state under the data directory."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    kivy_home = config.data_dir / "kivy"
    try:
        kivy_home.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("KIVY_HOME", str(kivy_home))
    except OSError:
        log.warning("cannot use %s for Kivy settings; using Kivy's default", kivy_home)
    from kivy.config import Config as KivyConfig

    ui = config["ui"]
    KivyConfig.set("graphics", "width", str(ui["width"]))
    KivyConfig.set("graphics", "height", str(ui["height"]))
    KivyConfig.set("graphics", "fullscreen", "auto" if ui["fullscreen"] else "0")
    KivyConfig.set("graphics", "resizable", "0")
    KivyConfig.set("kivy", "exit_on_escape", "0")  # a citizen must not close the kiosk
    KivyConfig.set("input", "mouse", "mouse,disable_multitouch")


def create_app(config: Config):  # -> KioskApp (typed loosely: Kivy is imported lazily)
    _prepare_kivy(config)
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.lang import Builder
    from kivy.properties import NumericProperty, StringProperty
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.screenmanager import FadeTransition, ScreenManager

    from kiosk.i18n import LANGUAGES
    from kiosk.runtime import check_acceptance
    from kiosk.screens.banner import PowerBanner
    from kiosk.screens.bridge import UiBridge
    from kiosk.screens.closed import ClosedScreen
    from kiosk.screens.welcome import WelcomeScreen

    class KioskApp(App):
        """The kiosk's touchscreen. ``language`` drives every label through ``tr()``."""

        language = StringProperty(config["kiosk"]["default_language"])
        # Layout scale: 1.0 on the 1280x800 panel, down to 0.75 on the 800x480 one.
        scale = NumericProperty(1.0)
        title = "e-KTP"

        def build(self) -> BoxLayout:
            Window.bind(size=self._rescale)
            self._rescale(Window, Window.size)
            for kv in sorted(SCREENS_DIR.glob("*.kv")):
                Builder.load_file(str(kv))
            self.bridge = UiBridge()
            self.screens = ScreenManager(transition=FadeTransition(duration=0.15))
            self.screens.add_widget(WelcomeScreen())
            self.screens.add_widget(ClosedScreen())
            self.banner = PowerBanner()
            # The banner takes its strip above the screens (they shrink), never covers them.
            root = BoxLayout(orientation="vertical")
            root.add_widget(self.banner)
            root.add_widget(self.screens)
            self._checking = False
            self._poll = Clock.schedule_interval(self._check_acceptance, ACCEPTANCE_POLL_S)
            Clock.schedule_once(self._check_acceptance, 0)
            return root

        def _rescale(self, _window: object, size: tuple[int, int]) -> None:
            width, height = size
            self.scale = max(0.75, min(1.5, width / 1280, height / 800))

        def set_language(self, language: str) -> None:
            if language in LANGUAGES:
                self.language = language

        def _check_acceptance(self, _dt: float) -> None:
            if self._checking:  # a slow UPS answer: never pile checks up
                return
            self._checking = True
            self.bridge.submit(lambda: check_acceptance(config), self._show_acceptance)

        def _show_acceptance(self, acceptance, error: BaseException | None) -> None:
            self._checking = False
            self.banner.active = error is None and acceptance.on_battery
            if error is not None:
                log.error("acceptance check failed: %s", error)
                reason = f"internal check failed: {type(error).__name__}"
                accepting = False
            else:
                accepting, reason = acceptance.accepting, acceptance.reason or ""
            closed = self.screens.get_screen("closed")
            if accepting and self.screens.current == "closed":
                self.screens.current = "welcome"
            elif not accepting:
                closed.reason = reason
                if self.screens.current != "closed":
                    log.warning("not accepting enrollments: %s", reason)
                    self.screens.current = "closed"

        def on_stop(self) -> None:
            self.bridge.shutdown()

    return KioskApp()


def run_app(config: Config) -> int:
    app = create_app(config)
    app.run()
    return 0
