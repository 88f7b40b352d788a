"""``kiosk run``: the touchscreen application (Kivy).

Kivy is imported only from here and ``kiosk/screens``; the rest of the kiosk (demo, status,
uploader) runs without it. The app opens the runtime (keys, journal, devices) on a worker
thread and keeps it open (:class:`RuntimeKeeper`, Kivy-free: a device that does not open is
tried again alone, while an officer may still log in), then hands every touch to the
:class:`~kiosk.screens.flow.Flow`, which drives the same
:class:`~kiosk.enrollment.session.EnrollmentSession` as ``kiosk demo``. Screens are one class
and one ``.kv`` file per step; the app is the flow's view: it switches screens, copies the
flow's state into the current screen, opens the overlays, and shows preview frames.
Whether a new enrollment may start (power, disk, journal) is checked every second on a
worker thread; the closed screen shows, with the reason, only between citizens.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.config import Config, load_config, screen_config
from kiosk.core.exits import EXIT_CONFIG, EXIT_OK
from kiosk.errors import ConfigError
from kiosk.screens.flow_screens import SCREEN_NAMES

log = logging.getLogger(__name__)

SCREENS_DIR = Path(__file__).with_name("screens")
ACCEPTANCE_POLL_S = 1.0  # the power-cut banner must show within seconds
RUNTIME_RETRY_S = 10.0  # a device not ready at start, or lost since: try again this often
#: A device lost during a session: whether the session ended is looked at this often (the
#: device is tried again then, not RUNTIME_RETRY_S later).
LOST_RETRY_S = 1.0
#: No staff card reader at start (none plugged in, pcscd down): looked for this often, while
#: none is open, so that one plugged in later works without restarting the kiosk.
CARD_RETRY_S = 30.0
CONFIG_RECHECK_S = 5.0  # a configuration that did not load: read it again this often
DEVICE_KINDS = ("fingerprint", "camera", "gpio")
#: Seconds after a wipe before the last citizen's garbage is collected (if none began).
GC_AFTER_WIPE_S = 1.0
#: A double tap across a change of view: a second touch this soon after the one before it,
#: and this near it, once the screen, an overlay, a list or the field typed into changed in
#: between, was meant for the view that is gone (OK on the keypad would type into the
#: keyboard that replaced it, Done on the signature would confirm the review, a row's list
#: would take the second tap as a choice, a choice's row under the closed list would open
#: its own, Next on the keyboard would skip a field). 0.5 s is the usual longest
#: double-click time; 10 mm is the smallest touch target.
SECOND_TAP_S = 0.5
SECOND_TAP_MM = 10.0
#: The officer's screen and overlays: built on first use, not with the citizen's at start.
OFFICER_ONLY = ("staff", "pin", "missing")
#: Kivy's key code of F2: the simulated staff card in or out (``KioskApp._on_key``).
F2_KEY = 283
#: The overlays (``kiosk.screens.chrome`` classes), opened over any screen by the flow.
OVERLAYS = {"cancel": "CancelOverlay", "idle": "IdleOverlay", "help": "HelpOverlay",
            "pin": "PinOverlay", "missing": "MissingOverlay"}


class RuntimeKeeper:
    """The touchscreen's runtime (:class:`~kiosk.runtime.Runtime`), opened for the flow and
    kept open. No Kivy: the app drives it with its UiBridge, tests with a synchronous
    executor (``submit``, ``post`` and ``call_later``, as the flow's).

    * **The sealing keys and the journal** first: without them nothing opens (there is
      nothing an officer could put on a stick); the closed screen says why and the whole
      runtime is tried again every :data:`RUNTIME_RETRY_S`.
    * **The devices** (:data:`DEVICE_KINDS`): one that does not open (a camera's cable
      loose) leaves the rest open. The closed screen tells citizens a device is not
      working, while an officer can log in (the card reader is opened as ever), see the
      unfinished enrollments and copy the sealed records to a stick; the devices that did
      not open, and only they, are tried again every :data:`RUNTIME_RETRY_S`, and once
      they open the kiosk takes citizens again. A device lost later (a capture finds the
      sensor's line gone: :meth:`device_lost`) is the same: the citizen at the kiosk may
      try again or call an officer, the next one meets the closed screen until the device,
      closed and opened again once the session ends, answers.
    * **The staff card reader** is optional: one not there is looked for every
      :data:`CARD_RETRY_S` while none is open (a reader plugged in later), its absence
      logged once.
    """

    def __init__(self, config: Config, flow: Any, executor: Any) -> None:
        self.config = config
        self.flow = flow
        self.executor = executor
        self.runtime: Any = None
        self._timers: dict[str, Any] = {}  # what is scheduled: name -> its timer
        self._closed = False

    def start(self) -> None:
        """Open the runtime on a worker; what follows is scheduled from its answer."""
        if not self._closed:
            self.executor.submit(self._open, self._opened)

    def close(self) -> None:
        """Nothing more is tried; the runtime (and the devices opened late) close."""
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self.runtime is not None:
            self.runtime.close()

    # -- on a worker ----------------------------------------------------------------------
    def _open(self) -> tuple[Any, Any, bool]:
        from kiosk.enrollment import regions
        from kiosk.runtime import Runtime  # here: off the first frame's way

        runtime = Runtime.open(self.config, kinds=DEVICE_KINDS, require_accepting=False,
                               devices_required=False)
        card, card_in = self._open_card(runtime)
        try:
            # The village lists, before the first citizen; only this regency's.
            regions.preload(self.config["kiosk"]["regency"])
        except Exception as exc:
            log.error("region names unavailable: %s", exc)
        return runtime, card, card_in

    @staticmethod
    def _open_card(runtime: Any) -> tuple[Any, bool]:
        """The officer's card reader (not required: Runtime.open_optional) and whether a
        card is in it already (that card opens no PIN pad: kiosk.screens.flow_staff)."""
        card = runtime.open_optional("card")
        card_in = False
        if card is not None:
            try:
                card_in = bool(card.is_card_present)
            except Exception as exc:
                log.warning("card reader: %s", exc)
        return card, card_in

    # -- back on the UI thread ------------------------------------------------------------
    def _opened(self, result: Any, error: BaseException | None) -> None:
        if self._closed:  # the app stopped meanwhile
            if result is not None:
                result[0].close()
            return
        if error is not None:
            log.error("kiosk not ready: %s", error)
            self.flow.runtime_failed(error)
            self._later("runtime", RUNTIME_RETRY_S, self.start)
            return
        runtime, card, card_in = result
        self.runtime = runtime
        self._wire_gpio()
        from kiosk.upload.usb import sync_configured_stick

        # The officer's stick button (kiosk.screens.flow_staff.usb_sync).
        self.flow.stick_sync = lambda: sync_configured_stick(self.config, runtime.journal)
        self.flow.on_device_lost = self.device_lost
        self._devices_changed()
        self._card_opened(card, card_in)
        if runtime.device_faults:
            log.warning("kiosk open without %s: no enrollment until it opens; an officer "
                        "can log in and use the stick", ", ".join(runtime.device_faults))
        else:
            log.info("kiosk ready")

    def _devices_changed(self) -> None:
        """The flow told which devices are missing (the closed screen's reason), and the
        next try scheduled while one is."""
        from kiosk.errors import RefusalCategory

        runtime = self.runtime
        refusal = runtime.device_refusal
        self.flow.set_runtime(runtime, refusal or "", RefusalCategory.DEVICE if refusal else "")
        if runtime.device_faults:
            self._later("devices", RUNTIME_RETRY_S, self._retry_devices)

    def device_lost(self, kind: str, reason: str) -> None:
        """A capture found ``kind`` gone (the flow's call, on the UI thread): citizens are
        turned away from the next welcome on, with the reason, until it answers again."""
        if self._closed or self.runtime is None:
            return
        self.runtime.device_lost(kind, reason)
        self._devices_changed()

    def _retry_devices(self) -> None:
        runtime = self.runtime
        if self.flow.session is not None:
            # A device lost during a session is not closed and opened again under the
            # citizen, who may still try again or call an officer: tried once it ends.
            self._later("devices", LOST_RETRY_S, self._retry_devices)
            return

        def done(opened: list[str] | None, error: BaseException | None) -> None:
            if self._closed:
                return
            if error is not None:
                log.error("devices not opened: %s: %s", type(error).__name__, error)
            if "gpio" in (opened or ()):
                self._wire_gpio()
            self._devices_changed()
            if opened and not runtime.device_faults:
                log.info("kiosk ready: every device is open")

        self.executor.submit(runtime.retry_devices, done)

    def _wire_gpio(self) -> None:
        gpio = self.runtime.devices.get("gpio")
        if gpio is not None:
            gpio.when_help_pressed = lambda: self.executor.post(self.flow.call_help)

    def _card_opened(self, card: Any, card_in: bool) -> None:
        """The staff card's events, on the reader's thread, handed over by the executor; no
        reader: look for one again later."""
        if card is None:
            self._later("card", CARD_RETRY_S, self._retry_card)
            return
        flow = self.flow
        flow.set_card_present(card_in)
        card.when_card_inserted = lambda _event: self.executor.post(flow.card_inserted)
        card.when_card_removed = lambda _event: self.executor.post(flow.card_removed)

    def _retry_card(self) -> None:
        runtime = self.runtime
        if "card" in runtime.devices:
            return

        def done(result: Any, error: BaseException | None) -> None:
            if self._closed:
                return
            if error is not None:
                log.warning("card reader: %s: %s", type(error).__name__, error)
                result = (None, False)
            self._card_opened(*result)

        self.executor.submit(lambda: self._open_card(runtime), done)

    def _later(self, name: str, delay: float, fn: Callable[[], None]) -> None:
        if self._closed:
            return
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        self._timers[name] = self.executor.call_later(delay, fn)


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
    # No multisample anti-aliasing (Kivy's default asks for 2 samples): the screens are flat
    # rectangles and text the font renderer smooths itself; only the hand outline's slopes
    # lose a little. Measured under Mesa's software renderer: 14 MB less memory and a frame
    # swapped in 13 instead of 30 ms (benchmarks/bench_ui.py); a Pi's V3D offers 4 samples,
    # not 2, and some GL drivers fail to open a multisampled window (kivy issues 3576, 8048).
    KivyConfig.set("graphics", "multisamples", "0")
    # One touch, one event: with a touchscreen the mouse provider would report each touch
    # a second time (kivy issues 3801, 8494); the mouse stays for development desktops.
    KivyConfig.set("input", "mouse", "mouse,disable_multitouch,disable_on_activity")


def create_app(config: Config, *, open_runtime: bool = True, config_error: str = "",
               config_fixed: Callable[[], bool] | None = None) -> Any:
    """The Kivy app (typed loosely: Kivy is imported lazily). ``open_runtime=False`` leaves
    the journal and devices closed (screenshots of a kiosk that is not set up).

    ``config_error``: the kiosk's configuration does not load (``config`` is then the
    packaged defaults, for the screen's sizes only): the closed screen says so, with the
    error as its technical detail, and nothing is opened. ``config_fixed`` is asked every
    :data:`CONFIG_RECHECK_S`; once it says True the app stops (systemd starts it again, now
    with the corrected configuration)."""
    if config_error:
        open_runtime = False
    from kiosk.screens.memory import fix_malloc_threshold, limit_malloc_arenas

    fix_malloc_threshold()  # before the window's and the workers' threads start
    limit_malloc_arenas()
    _prepare_kivy(config)
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.factory import Factory
    from kivy.lang import Builder
    from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.modalview import ModalView
    from kivy.uix.screenmanager import NoTransition, ScreenManager

    from kiosk.screens import chrome
    from kiosk.screens.banner import PowerBanner
    from kiosk.screens.bridge import UiBridge
    from kiosk.screens.flow import Flow, FlowSettings
    from kiosk.screens.memory import (
        bind_modal_centre_once,
        bind_scroll_bar_colour_once,
        collect_between_citizens,
        freeze_startup_objects,
        release_label_surfaces,
    )
    from kiosk.screens.theme import Theme
    from kiosk.screens.widgets import load_widgets_kv
    from kiosk.service import Notifier
    from kiosk.speech import create_speaker

    release_label_surfaces()
    bind_scroll_bar_colour_once()
    bind_modal_centre_once()
    panel = tuple(float(v) for v in config["ui"]["panel_mm"])

    class Overlays(dict[str, Any]):
        """name -> overlay, each built on first use (after the first frame, or when first
        wanted): ``overlays["help"]`` always answers; ``values()`` lists those built."""

        def __missing__(self, name: str) -> Any:
            overlay = self[name] = getattr(chrome, OVERLAYS[name])()
            return overlay

    class KioskApp(App):
        """The kiosk's touchscreen; see the module docstring."""

        language = StringProperty(config["kiosk"]["default_language"])
        # rebind: kv rules read app.ui.<size>; a new Theme (resize) must reach all of them.
        ui = ObjectProperty(Theme.for_window((config["ui"]["width"], config["ui"]["height"]),
                                             panel), rebind=True)
        speech_on = BooleanProperty(False)
        idle_left = NumericProperty(0)
        title = "e-KTP"

        def build(self) -> BoxLayout:
            Window.bind(size=self._rescale)
            self._rescale(Window, Window.size)
            load_widgets_kv()
            Builder.load_file(str(SCREENS_DIR / "common.kv"))
            Builder.load_file(str(SCREENS_DIR / "banner.kv"))
            self.bridge = UiBridge()
            self.speaker = create_speaker(config["ui"]["speech"])
            self.flow = Flow(self.bridge, self, settings=FlowSettings.from_config(config),
                             speaker=self.speaker, language=self.language)
            if config_error:  # closed from the first frame: nothing can be opened
                from kiosk.errors import NotAccepting, RefusalCategory

                self.flow.runtime_failed(NotAccepting(config_error,
                                                      RefusalCategory.CONFIGURATION))
                self.flow.screen = "closed"
                if config_fixed is not None:
                    Clock.schedule_interval(lambda _dt: self._recheck_config(config_fixed),
                                            CONFIG_RECHECK_S)
            self.screens = ScreenManager(transition=NoTransition())
            # Welcome and closed now, the steps one per frame after the first frame: the
            # kiosk shows its welcome sooner, and show() builds any step still missing.
            first = ("welcome", "closed")
            for name in first:
                self._add_screen(name)
            # The overlays too, after the steps (or at once when one is wanted first). Not
            # the officer's: built when an officer first needs them (a citizen's flow does
            # not carry their memory: the peak RSS target).
            self._pending = [n for n in SCREEN_NAMES if n not in first + OFFICER_ONLY]
            self._pending += [n for n in OVERLAYS if n not in OFFICER_ONLY]
            self.overlays = Overlays()
            self.banner = PowerBanner()
            root = BoxLayout(orientation="vertical")
            root.add_widget(self.banner)  # its own strip: it never covers a screen
            root.add_widget(self.screens)
            # -1: the refresh runs before the next frame is drawn, in the same tick.
            self._refresh_trigger = Clock.create_trigger(self._refresh, -1)
            self._generation = self.flow.generation
            self._collect: Any = None  # the collection after a wipe (see _sync_app)
            Window.bind(on_touch_down=self._on_any_touch)
            Window.bind(on_key_down=self._on_key)
            # A list (the pickers, opened by a screen, not the flow) opening or closing.
            Window.bind(children=lambda *_args: self._note_view())
            self._last_down: tuple[float, tuple[float, float]] = (-math.inf, (0.0, 0.0))
            self._view: tuple[object, ...] = ()  # what the citizen sees (see _note_view)
            self._view_changed_at = -math.inf
            self._checking = False
            self._drawn = False  # the first frame: checks wait for it (see below)
            self._poll = Clock.schedule_interval(self._check_acceptance, ACCEPTANCE_POLL_S)
            self._tick = Clock.schedule_interval(lambda _dt: self.flow.tick(), 1.0)
            self.keeper = RuntimeKeeper(config, self.flow, self.bridge)
            # systemd's watchdog (kiosk/service.py), pinged by the clock on this UI thread:
            # a hung UI loop stops the pings and gets the touchscreen restarted.
            self.notifier = Notifier()
            if self.notifier.tick_s is not None:
                self._watchdog = Clock.schedule_interval(
                    lambda _dt: self.notifier.alive(), self.notifier.tick_s / 2)
            # The runtime, the first acceptance check and the other steps' screens wait for
            # the first frame: their imports and builds would compete with drawing it.
            Window.bind(on_flip=self._after_first_frame)
            self.show(self.flow.screen)
            return root

        def _after_first_frame(self, *_args: object) -> None:
            """``on_flip`` of the first frame (its handlers run just before the buffer
            swap): the work held back starts from the next clock tick. Fixed delays from
            build() did not wait: the clock counts them from its last tick, before build,
            so they fell due before the first frame was drawn."""
            Window.unbind(on_flip=self._after_first_frame)
            self._drawn = True
            self.notifier.ready("the touchscreen is up")
            if open_runtime:
                Clock.schedule_once(self._open_runtime, 0)
            Clock.schedule_once(self._check_acceptance, 0)
            Clock.schedule_once(self._build_next, 0)

        def _add_screen(self, name: str) -> Any:
            Builder.load_file(str(SCREENS_DIR / f"{name}.kv"))
            module = __import__(f"kiosk.screens.{name}", fromlist=["_"])
            cls = next(getattr(module, attr) for attr in dir(module)
                       if attr.endswith("Screen") and attr != "KioskScreen")
            screen = cls()
            self.screens.add_widget(screen)
            return screen

        def _build_next(self, _dt: float) -> None:
            if self._pending:
                name = self._pending.pop(0)
                if name in OVERLAYS:
                    self.overlays[name]  # built on first use: Overlays.__missing__
                elif not self.screens.has_screen(name):
                    self._add_screen(name)
                Clock.schedule_once(self._build_next, 0)
            else:
                # Built and laid out, not shown: their labels render when first shown, like
                # a step's screen left (KioskScreen.release_if_hidden), and hold no textures
                # until then (their first layout rendered them at its sizes).
                for screen in self.screens.screens:
                    screen.release_if_hidden()
                # All built: the collector's full passes need not walk them again.
                frozen = freeze_startup_objects()
                log.debug("touchscreen built: %d objects frozen", frozen)

        def _screen(self, name: str) -> Any:
            if not self.screens.has_screen(name):
                self._add_screen(name)
            return self.screens.get_screen(name)

        # -- the flow's view -----------------------------------------------------------
        def show(self, screen: str) -> None:
            # Filled in before it is shown: the first frame of a screen is never stale.
            target = self._screen(screen)
            self._sync_app()
            target.language = self.flow.language  # only this screen re-renders for it
            target.busy = self.flow.busy  # likewise (KioskScreen.busy)
            target.editing = self.flow.editing  # likewise (KioskScreen.editing)
            target.help_wanted = self.flow.help_wanted  # likewise
            target.refresh(self.flow)
            self.screens.current = screen
            self._note_view()

        def update(self) -> None:
            self._refresh_trigger()

        def preview(self, frame: Any) -> None:
            if self.screens.current == "portrait":
                self.screens.get_screen("portrait").show_frame(frame)

        def _sync_app(self) -> None:
            flow = self.flow
            if flow.generation != self._generation:  # a wipe: nothing of the last citizen
                self._generation = flow.generation
                if self._collect is not None:
                    self._collect.cancel()
                self._collect = Clock.schedule_once(self._collect_garbage, GC_AFTER_WIPE_S)
                for screen in self.screens.screens:
                    screen.reset_view()  # the next citizen's screens open at their top
                    screen.wipe()
                    screen.refresh(flow)
                    screen.release_if_hidden()  # rendered again when next shown
            self.language = flow.language
            self.speech_on = flow.speech_on  # Repeat goes once espeak-ng has failed
            self.idle_left = flow.idle_left_s
            self.banner.active = flow.on_battery
            closed = self.screens.get_screen("closed")
            closed.reason, closed.category = flow.closed_reason, flow.closed_category

        def _refresh(self, _dt: float = 0) -> None:
            flow = self.flow
            self._sync_app()
            current = self.screens.current_screen
            current.language = flow.language
            current.busy = flow.busy
            current.editing = flow.editing
            current.help_wanted = flow.help_wanted
            current.refresh(flow)
            # In this order: a later one opens over an earlier one (the PIN pad over "An
            # officer has been called", when the officer comes).
            for name, wanted in (("cancel", flow.confirm_cancel), ("idle", flow.idle_warning),
                                 ("help", flow.help_active), ("pin", flow.pin_entry),
                                 ("missing", flow.missing_picker)):
                overlay = self.overlays[name] if wanted else self.overlays.get(name)
                if overlay is None:  # not built yet, so not open
                    continue
                if wanted:
                    overlay.language = flow.language
                    overlay.refresh(flow)
                if wanted and overlay.parent is None and not getattr(overlay, "_window", None):
                    overlay.open(animation=False)
                elif not wanted and (overlay.parent is not None
                                     or getattr(overlay, "_window", None)):
                    overlay.dismiss(animation=False)
            self._note_view()

        def _note_view(self) -> None:
            """Remember when the view last changed: the screen, an overlay, a list opened
            over a screen (or closed), the demographics' field typed into (the keyboard
            taking the place of the form, the next field, the form again), the
            officer's Delete turned into "Yes, delete" in its row, or the language (the
            language button then names the other one)."""
            flow = self.flow
            modals = tuple(id(w) for w in Window.children if isinstance(w, ModalView))
            view = (self.screens.current, flow.confirm_cancel, flow.idle_warning,
                    flow.help_active, flow.pin_entry, flow.missing_picker,
                    flow.discard_asked, flow.form.focus, modals, flow.language)
            if view != self._view:
                self._view = view
                self._view_changed_at = time.monotonic()

        def _collect_garbage(self, _dt: float) -> None:
            """The last citizen's cyclic garbage, collected while the welcome waits (not in
            the next citizen's flow, where a full collection holds the UI thread)."""
            if self.flow.session is None:
                collected, ms = collect_between_citizens()
                log.debug("between citizens: %d objects collected in %.0f ms", collected, ms)

        def _rescale(self, _window: object, size: tuple[int, int]) -> None:
            self.ui = Theme.for_window(size, panel)
            # The paper behind every screen is the colour the window is cleared to, which
            # every frame pays for anyway: a full-window rectangle on each screen cost a
            # second fill of every pixel (about 2 of the 8 ms a frame takes to draw under
            # Mesa's software renderer; on a Pi, GPU fill and power).
            Window.clearcolor = self.ui.paper

        def _on_any_touch(self, _window: object, touch: Any) -> bool:
            """Any touch: the citizen is still here. True (the touch goes no further) for
            the second tap of a double tap whose first changed the view (SECOND_TAP_S)."""
            self.flow.touch()
            now = time.monotonic()
            (last_at, last_pos), self._last_down = self._last_down, (now, tuple(touch.pos))
            return (now - last_at < SECOND_TAP_S and self._view_changed_at > last_at
                    and math.dist(touch.pos, last_pos) < self.ui.mm(SECOND_TAP_MM))

        def _on_key(self, _window: object, key: int, *_args: object) -> bool:
            """F2 on a development desktop: the simulated staff card goes in or out of its
            reader (there is no card to hold). Nothing with a real reader."""
            card = self.runtime.devices.get("card") if self.runtime is not None else None
            if key != F2_KEY or card is None or not hasattr(card, "insert_card"):
                return False
            if card.is_card_present:
                card.remove_card()
            else:
                card.insert_card()
            return True

        def set_language(self, language: str) -> None:
            self.flow.set_language(language)
            self._refresh()

        # -- start-up and acceptance -----------------------------------------------------
        def _recheck_config(self, fixed: Callable[[], bool]) -> None:
            if fixed():
                log.info("the configuration loads now: stopping, to start again with it")
                self.stop()

        def _open_runtime(self, _dt: float = 0) -> None:
            self.keeper.start()  # and what follows: RuntimeKeeper

        @property
        def runtime(self) -> Any:
            """The runtime once opened (the keeper's), else None."""
            return self.keeper.runtime

        def _check_acceptance(self, _dt: float) -> None:
            # A slow UPS answer: never pile checks up. Before the first frame (a slow start
            # makes the 1 s poll fall due at once): the first runs right after it.
            if self._checking or not self._drawn:
                return
            self._checking = True

            def check() -> Any:
                from kiosk.runtime import check_acceptance

                return check_acceptance(config)

            self.bridge.submit(check, lambda result, error: self._show_acceptance(result, error))

        def _show_acceptance(self, acceptance: Any, error: BaseException | None) -> None:
            self._checking = False
            if error is not None:
                log.error("acceptance check failed: %s", error)
                self.flow.acceptance_check_failed(error)
                return
            self.flow.set_acceptance(acceptance.accepting, acceptance.reason or "",
                                     acceptance.on_battery, acceptance.category)

        def on_stop(self) -> None:
            self.notifier.stopping()
            self.flow.close()
            self.speaker.close()
            self.bridge.shutdown()
            self.keeper.close()

    del Factory
    return KioskApp()


def run_app(config: Config) -> int:
    app = create_app(config)
    app.run()
    return EXIT_OK


def run_misconfigured(error: ConfigError, path: str | Path | None) -> int:
    """``kiosk run`` when the configuration does not load: the closed screen, saying so to
    the officer (the error as its technical detail), instead of a blank panel while systemd
    restarts the unit every few seconds. It stops by itself once the file is corrected
    (exit 0: systemd starts the kiosk again); closed before that, exit 2."""
    fixed = {"now": False}

    def config_fixed() -> bool:
        try:
            load_config(path)
        except ConfigError:
            return False
        fixed["now"] = True
        return True

    app = create_app(screen_config(path), config_error=f"configuration error: {error}",
                     config_fixed=config_fixed)
    app.run()
    return EXIT_OK if fixed["now"] else EXIT_CONFIG
