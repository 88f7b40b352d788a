"""A seeded monkey on the real touchscreen app: random touches, pauses and device faults,
some citizens who know what to do, and the kiosk's promises checked all along.

    python app_monkey.py CONFIG OUT.json SEED SECONDS [--plant leak,raise,stall]

Runs ``kiosk run``'s app (simulated hardware) under the current DISPLAY, scripted on its
own clock (``clock_script.run_on_clock``). For ``SECONDS`` it picks, from ``SEED``, one
action after another: a tap on a random visible, enabled, touchable widget of the current
screen or of the overlay on top (buttons, keypad and keyboard keys, chips, picker items,
the fields; a stroke on the signature box), a burst of keys, a swipe on a scroll view, a tap
anywhere, a double tap, a long press, two fingers at once, a pause (short; or the flow's
clock moved on past the idle warning, or past the wipe; with ``SECONDS`` over 120 also a
real wait as long as the wipe takes), the GPIO help button, a device
fault (camera stills failing, the fingerprint sensor failing, slow, or without a finger;
the UPS on battery, low, back on mains, read by the real ``power watch`` loop), or one step
of a citizen who knows what to do (a synthetic citizen: ``kiosk.enrollment.synthetic``;
sometimes changing a step from review, retaking the photo, or leaving the receipt to its
timer). Every touch goes through the window's own dispatch (Kivy's ``UnitTestTouch``), so
the app's double-tap guard and the overlays take them as they take a finger's. Then the
faults are cleared and one citizen enrolls from the welcome to the receipt by touch: the
kiosk must still work.

Checked, and written to the JSON report (``violations`` empty when all held):

* no exception reached Kivy's handler, a touch handler, a thread, or the log at ERROR;
* the UI thread never stalled more than ``STALL_S`` (a callback every frame measures the
  gaps, less the time this driver's own checks took and the time the thread waited for a
  CPU the machine gave to other jobs);
* after every wipe no widget holds what any earlier citizen typed or was shown (five
  characters or more, not a text the kiosk shows by itself), nor an image of them
  (``leak_search.widget_leaks``), and the flow's forms are blank; at the end no live object
  holds it either (``leak_search.live_leaks``), nor any log line (the kiosk's from DEBUG)
  or audit event of the journal;
* the view and the flow agree, and the flow is never busy for over ``BUSY_S``;
* every receipt number a done screen showed (``receipts``): the test holds each to the
  journal, with ``kiosk journal check`` and no record left in progress;
* the final citizen got a receipt (``final``).

The report also carries ``trace``, every action and touch with its time and screen: the
repro of a failing seed.

``--plant`` makes the app wrong on purpose (the control): ``leak`` adds a label to the
identity screen that keeps the NIK typed, ``raise`` makes the Help button's handler raise
after calling an officer, ``stall`` makes closing the help overlay hold the UI thread for
1.5 s. The run then begins with a short scripted prologue that reaches each plant.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import json
import logging
import random
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kiosk.app import create_app
from kiosk.config import load_config
from kiosk.enrollment.synthetic import SyntheticCitizen, citizens
from tests.integration import leak_search
from tests.integration.clock_script import draw_signature, run_on_clock, waits

#: The longest the UI thread may go without a frame (s).
STALL_S = 1.0
#: The longest the flow may stay busy (s): a finger the sensor waits for (10 s a try),
#: slowed down by a fault, then the durable commit.
BUSY_S = 30.0
#: Strings shorter than this are not searched for after a wipe ("3" is everywhere).
MIN_SECRET = 5
#: Longer than the kiosk waits after a change of view before it takes a tap (SECOND_TAP_S).
SETTLED_S = 0.6
TYPED_FIELDS = ("full_name", "place_of_birth", "address", "rt", "rw")
KEYBOARD_CHARS = set("1234567890QWERTYUIOPASDFGHJKL'ZXCVBNM-.,/ ")
#: (action, weight). "advance" is a step of a citizen who knows what to do; its weight is
#: raised while the monkey plays such a citizen (see Monkey.purposeful).
ACTIONS = (("tap", 40), ("double", 5), ("long_press", 2), ("two_fingers", 2), ("burst", 8),
           ("swipe", 4), ("anywhere", 3), ("stroke", 3), ("pause", 10), ("idle", 2),
           ("fault", 5), ("help_button", 1), ("advance", 10))


class Monkey:
    """The monkey's state and checks; :meth:`script` is what runs on the app's clock."""

    def __init__(self, app: Any, config: Any, seed: int, seconds: float,
                 plants: set[str], report: dict[str, Any]) -> None:
        from kivy.core.window import Window

        self.app, self.config, self.seconds, self.plants = app, config, seconds, plants
        self.rng = random.Random(seed)  # a test's dice
        self.people: Iterator[SyntheticCitizen] = citizens(seed + 1000)
        self.person: SyntheticCitizen | None = None  # the purposeful citizen, if any
        self.purposeful = False
        self.window = Window
        self.report = report
        self.actions: collections.Counter[str] = collections.Counter()
        self.faults: collections.Counter[str] = collections.Counter()
        self.screens: collections.Counter[str] = collections.Counter()
        self.secrets: dict[int, set[str]] = collections.defaultdict(set)
        self.corpus = ""  # every text the kiosk shows by itself, lower case
        self.receipts: list[str] = []
        self.generation = 0
        self.own_s = 0.0  # this driver's own checks since the last frame
        self.offset = [0.0]  # how far the flow's clock was moved on
        self.fault_ends: dict[str, float] = {}
        self.until, self.on = waits(app)
        self.ups: Any = None
        self.watch_stop = threading.Event()
        self.watcher: threading.Thread | None = None
        self.shutdowns: list[list[str]] = []
        self.last_action = ""
        self.strict_now = False  # the final citizen: no detours
        self.last_view: tuple[object, ...] = ()  # what the citizen saw after their last step
        self.started = time.monotonic()
        #: Every touch and action, in order (the repro of a failing seed).
        self.trace: collections.deque[str] = collections.deque(maxlen=5000)
        report.update({"seed": seed, "seconds": seconds, "actions": self.actions,
                       "faults": self.faults, "screens_seen": self.screens, "wipes": 0,
                       "leak_checks": 0, "leaks": [], "exceptions": [], "error_logs": [],
                       "stalls": [], "max_gap_s": 0.0, "receipts": self.receipts,
                       "log_leaks": [], "live": [], "final": {}, "citizens_started": 0,
                       "inconsistent": []})
        self.busy_since = time.monotonic()

    # -- what the monkey sees -----------------------------------------------------------
    def screen(self) -> Any:
        return self.app.screens.current_screen

    def modal(self) -> Any:
        """The overlay on top (it takes every touch), or None."""
        from kivy.uix.modalview import ModalView

        return next((w for w in self.window.children if isinstance(w, ModalView)), None)

    def box(self, widget: Any) -> tuple[float, float, float, float] | None:
        """The part of ``widget`` a finger can reach, in window coordinates: inside the
        window and every scroll view around it; None if nothing (or it is hidden)."""
        from kivy.uix.scrollview import ScrollView

        x0, y0 = widget.to_window(widget.x, widget.y)
        x1, y1 = x0 + widget.width, y0 + widget.height
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.window.width), min(y1, self.window.height)
        w = widget
        while w is not None and w is not w.parent:
            if w.opacity == 0 or w.width < 1 or w.height < 1:
                return None
            parent = w.parent
            if isinstance(parent, ScrollView):
                px, py = parent.to_window(parent.x, parent.y)
                x0, y0 = max(x0, px), max(y0, py)
                x1, y1 = min(x1, px + parent.width), min(y1, py + parent.height)
            w = parent
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        return x0, y0, x1, y1

    def touchables(self) -> list[Any]:
        """Visible, enabled widgets a finger can use on the current view."""
        from kivy.uix.behaviors import ButtonBehavior

        from kiosk.screens.widgets.signature_pad import SignaturePad

        root = self.modal() or self.app.root
        return [w for w in root.walk(restrict=True)
                if isinstance(w, (ButtonBehavior, SignaturePad)) and not w.disabled
                and self.box(w) is not None]

    # -- touches --------------------------------------------------------------------------
    def touch(self, x: float, y: float, moves: list[tuple[float, float]] | None = None
              ) -> None:
        """One finger down at (x, y), through ``moves``, up; what a handler raises is an
        exception the kiosk would have crashed on (Kivy's loop re-raises it)."""
        from kivy.tests.common import UnitTestTouch

        self.log(f"touch {x:.0f},{y:.0f}" + (f" +{len(moves)} moves" if moves else ""))
        try:
            finger = UnitTestTouch(x, y)
            finger.touch_down()
            for mx, my in moves or ():
                finger.touch_move(mx, my)
            finger.touch_up()
        except Exception as exc:
            self.exception("touch handler", exc)

    def log(self, what: str) -> None:
        self.trace.append(f"{time.monotonic() - self.started:7.2f} "
                          f"{self.app.screens.current}: {what}")

    def tap(self, widget: Any, *, anywhere: bool = False) -> None:
        """A tap on ``widget``: its centre, or (``anywhere``) a random point of it."""
        kind = type(getattr(widget, "__self__", widget)).__name__  # ids: weak proxies
        self.log(f"tap {kind} {str(getattr(widget, 'text', ''))[:20]!r}")
        box = self.box(widget)
        if box is None:
            x, y = widget.to_window(*widget.center)
        elif anywhere:
            x, y = self.rng.uniform(box[0], box[2]), self.rng.uniform(box[1], box[3])
        else:
            x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        self.touch(x, y)

    def stroke(self, pad: Any) -> None:
        box = self.box(pad)
        if box is None:
            return
        if self.rng.random() < 0.5:
            try:
                draw_signature(pad)
            except Exception as exc:
                self.exception("touch handler", exc)
            return
        points = [(self.rng.uniform(box[0], box[2]), self.rng.uniform(box[1], box[3]))
                  for _ in range(self.rng.randint(1, 25))]
        self.touch(*points[0], points[1:])

    # -- the checks -------------------------------------------------------------------------
    @contextlib.contextmanager
    def own(self) -> Iterator[None]:
        """Time spent in this driver's checks: not the kiosk's stall."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.own_s += time.monotonic() - started

    def exception(self, where: str, exc: BaseException) -> None:
        self.report["exceptions"].append({
            "where": where, "screen": self.app.screens.current,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_exception(exc))[-3000:]})

    def start_meter(self) -> None:
        from kivy.clock import Clock

        last = [time.monotonic(), _runqueue_wait_s()]

        def frame(_dt: float) -> None:
            now, waited = time.monotonic(), _runqueue_wait_s()
            # Time the UI thread was ready to run but the machine ran something else (a
            # loaded test machine; other jobs on its two cores) is not the kiosk's stall;
            # time it ran, or waited for a lock, a disk or a device, is.
            queued = waited - last[1]
            gap = now - last[0] - self.own_s - queued
            last[0], last[1], self.own_s = now, waited, 0.0
            self.report["max_gap_s"] = round(max(self.report["max_gap_s"], gap), 3)
            if gap > STALL_S:
                self.report["stalls"].append({"gap_s": round(gap, 3),
                                              "queued_s": round(queued, 3),
                                              "screen": self.app.screens.current,
                                              "after": self.last_action})
        Clock.schedule_interval(frame, 0)

    def note(self) -> None:
        """What the current citizen entered or was shown so far, and a receipt on show."""
        flow = self.app.flow
        found = self.secrets[flow.generation]
        found.update({flow.identity.nik, flow.identity.kk})
        found.update(flow.form.values.get(name, "") for name in TYPED_FIELDS)
        if flow.nik is not None:
            found.update((flow.nik.digits, flow.nik.birth_date.strftime("%d-%m-%Y")))
        if self.app.screens.current == "done":
            receipt = self.screen().ids.receipt.text
            if receipt:
                found.add(receipt)
                if receipt not in self.receipts:
                    self.receipts.append(receipt)
        self.screens[self.app.screens.current] += 1

    def wanted(self, upto: int, *, receipts: bool = True) -> list[str]:
        """The secrets of every citizen before generation ``upto``: long enough, not a
        text the kiosk shows by itself, and only the shortest of those that contain
        another (a widget holding the longer holds the shorter). The receipt numbers
        (``receipts``) only for the widgets: a record id is no personal data in a log
        line or in the journal's objects, but the next citizen must not see it."""
        pool = {s.strip() for gen, found in self.secrets.items() if gen < upto
                for s in found if receipts or s not in self.receipts}
        pool = {s for s in pool if len(s) >= MIN_SECRET and s.lower() not in self.corpus}
        return sorted(s for s in pool if not any(t != s and t in s for t in pool))

    def learn_corpus(self) -> None:
        """Every text the kiosk shows by itself (both languages' catalog, each widget's
        text now, before any citizen, and the regency's place names), lower case."""
        from kiosk.enrollment import regions
        from kiosk.i18n import catalog_ids, translate

        texts = [*catalog_ids("id"), *(translate(t, "id") for t in catalog_ids("id"))]
        roots = [self.app.root, *self.app.screens.screens, *self.app.overlays.values()]
        texts += [str(getattr(w, "text", "")) for root in roots for w in root.walk()]
        province, regency = self.config["kiosk"]["regency"].split(".")
        for code, name in regions.districts(province, regency):
            texts.append(name)
            texts += [village for _c, village in regions.villages(province, regency, code)]
        self.corpus = "\n".join(texts).lower()

    def after_wipe(self) -> Iterator[object]:
        """On a new generation (a wipe): nothing of any earlier citizen on any widget."""
        flow = self.app.flow
        if flow.generation == self.generation:
            return
        self.generation = flow.generation
        self.report["wipes"] += 1
        yield 0.3  # the wipe's refresh and the screens' releases are drawn
        with self.own():
            secrets = self.wanted(self.generation)
            found = leak_search.widget_leaks(self.app, secrets)
            found += self.stale_forms()
            self.dead_ids()
        self.report["leak_checks"] += 1
        if found:
            self.report["leaks"].append({"wipe": self.report["wipes"], "found": found,
                                         "screen": self.app.screens.current,
                                         "rendered": leak_search.rendered_hidden(self.app),
                                         "trace": list(self.trace)[-12:]})

    def consistent(self) -> None:
        """The view and the flow agree, and nothing stays busy: the screen shown is the
        flow's; a session's screens only with a session, welcome and closed only without;
        no cancel question or idle warning outside a session; the flow busy (a capture, a
        commit) at most ``BUSY_S`` on end. Each broken rule is reported once."""
        from kiosk.screens.flow_screens import SESSION_SCREENS

        app, flow = self.app, self.app.flow
        wrong = []
        if app.screens.current != flow.screen:
            wrong.append(f"the view shows {app.screens.current}, the flow is on {flow.screen}")
        if flow.screen in SESSION_SCREENS and flow.session is None:
            wrong.append(f"{flow.screen} without a session")
        if flow.screen in ("welcome", "closed") and flow.session is not None:
            wrong.append(f"{flow.screen} with a session")
        if flow.screen not in SESSION_SCREENS and (flow.confirm_cancel or flow.idle_warning):
            wrong.append(f"a cancel question or idle warning on {flow.screen}")
        now = time.monotonic()
        if not flow.busy:
            self.busy_since = now
        elif now - self.busy_since > BUSY_S:
            wrong.append(f"busy on {flow.screen} for over {BUSY_S:g} s")
        for rule in wrong:
            if rule not in self.report["inconsistent"]:
                self.report["inconsistent"].append(rule)
                self.log(f"INCONSISTENT {rule}")

    def dead_ids(self) -> None:
        """Ids (weak proxies) whose widget is gone, for the report: harmless until code
        reads one (ReferenceError)."""
        roots = [self.app.root, *self.app.screens.screens, *self.app.overlays.values()]
        for root in roots:
            for w in root.walk():
                for key, value in getattr(w, "ids", {}).items():
                    try:
                        value.__self__  # noqa: B018 - the read is the check
                    except ReferenceError:
                        leak_search.DEAD_IDS.add(f"{type(w).__name__}.ids.{key}")
                    except AttributeError:
                        pass

    def stale_forms(self) -> list[str]:
        """Between citizens (welcome, closed) and at a new citizen's consent the flow's
        forms are blank: a key or choice of the last citizen must not be waiting there."""
        from kiosk.screens.forms import DemographicsForm

        flow = self.app.flow
        if flow.screen not in ("welcome", "closed", "consent"):
            return []
        blank = DemographicsForm.blank().values
        found = [f"flow.identity.{name}" for name in ("nik", "kk")
                 if getattr(flow.identity, name)]
        found += [f"flow.form.values[{name!r}]" for name, value in flow.form.values.items()
                  if value != blank.get(name)]
        return found

    # -- faults ---------------------------------------------------------------------------
    def device(self, kind: str) -> Any:
        runtime = self.app.flow.runtime
        return None if runtime is None else runtime.devices.get(kind)

    def start_watcher(self) -> None:
        """The real ``kiosk power watch`` loop on a simulated UPS, in a thread: it
        publishes the verdict the app's acceptance check reads, and journals power
        events as on a kiosk."""
        from kiosk.power import SimPower
        from kiosk.power.policy import Thresholds
        from kiosk.power.watcher import STATE_FILE, watch
        from kiosk.runtime import open_journal

        section = self.config["power"]
        self.ups = SimPower()
        self.ups.open()

        def shutdown(command: Any) -> int:
            self.shutdowns.append(list(command))
            return 0

        def run() -> None:
            watch(self.ups.read, thresholds=Thresholds.from_config(section),
                  state_path=self.config.data_dir / STATE_FILE,
                  journal_factory=lambda: open_journal(self.config, owner=False),
                  shutdown_command=["true"], poll_interval_s=section["poll_interval_s"],
                  stop=self.watch_stop, run_shutdown=shutdown)

        self.watcher = threading.Thread(target=run, name="monkey-power-watch", daemon=True)
        self.watcher.start()

    def stop_watcher(self) -> None:
        self.watch_stop.set()
        if self.watcher is not None:
            self.watcher.join(timeout=10)
        if self.ups is not None:
            self.ups.close()

    def set_fault(self, name: str, healthy: bool = False) -> None:
        camera, sensor = self.device("camera"), self.device("fingerprint")
        rng = self.rng
        if name == "camera":
            camera.fail_every = 0 if healthy else rng.choice((1, 2, 3))
        elif name == "sensor_fails":
            sensor.fail_every = 0 if healthy else rng.choice((1, 2, 4))
        elif name == "no_finger":
            sensor.no_finger = not healthy
        elif name == "sensor_slow":
            sensor.capture_delay_s = 0.0 if healthy else rng.choice((0.5, 1.5))
        elif name == "power":
            if healthy:
                self.ups.set(source="mains", battery_percent=100.0, runtime_s=3600.0)
            elif rng.random() < 0.5:
                self.ups.set(source="battery", battery_percent=80.0, runtime_s=3000.0)
            else:  # below power.min_battery_percent, above the shutdown's limits
                self.ups.set(source="battery", battery_percent=20.0, runtime_s=1500.0)
        self.log(f"fault {name} {'healed' if healthy else 'on'}")
        if healthy:
            self.fault_ends.pop(name, None)
        else:
            self.faults[name] += 1
            self.fault_ends[name] = time.monotonic() + rng.uniform(3, 20)

    def heal(self, everything: bool = False) -> None:
        now = time.monotonic()
        for name, ends in list(self.fault_ends.items()):
            if everything or now >= ends:
                self.set_fault(name, healthy=True)

    # -- the actions ----------------------------------------------------------------------
    def act(self) -> Iterator[object]:
        names, weights = zip(*ACTIONS, strict=True)
        weights = tuple(w * 6 if n == "advance" and self.purposeful else w
                        for n, w in zip(names, weights, strict=True))
        action = self.rng.choices(names, weights)[0]
        self.log(f"action {action}")
        self.actions[action] += 1
        self.last_action = action
        rng = self.rng
        if action == "tap":
            widgets = self.touchables()
            if widgets:
                target = rng.choice(widgets)
                self.last_action = f"tap {type(target).__name__} {getattr(target, 'text', '')!r}"
                if type(target).__name__ == "SignaturePad":
                    self.stroke(target)
                else:
                    self.tap(target, anywhere=rng.random() < 0.5)
            yield rng.uniform(0.03, 0.4)
        elif action in ("double", "long_press", "two_fingers"):
            widgets = self.touchables()
            if widgets:
                yield from self.fingers(action, rng.choice(widgets), rng.choice(widgets))
            yield rng.uniform(0.05, 0.4)
        elif action == "burst":
            keys = [w for w in self.touchables() if type(w).__name__ in ("CharKey",
                                                                          "BackspaceKey")]
            for _ in range(rng.randint(3, 12) if keys else 0):
                self.tap(rng.choice(keys))
                yield rng.uniform(0.02, 0.12)
            yield 0.05
        elif action == "swipe":
            yield from self.swipe()
        elif action == "anywhere":
            self.touch(rng.uniform(0, self.window.width), rng.uniform(0, self.window.height))
            yield rng.uniform(0.05, 0.4)
        elif action == "stroke":
            pads = [w for w in self.touchables() if type(w).__name__ == "SignaturePad"]
            if pads:
                self.stroke(pads[0])
            yield 0.1
        elif action == "pause":
            yield rng.choice((rng.uniform(0.05, 0.6), rng.uniform(0.5, 3.0)))
        elif action == "idle":
            yield from self.idle()
        elif action == "fault":
            self.set_fault(rng.choice(("camera", "sensor_fails", "no_finger", "sensor_slow",
                                       "power")))
            yield 0.1
        elif action == "help_button":
            pin = self.device("gpio").pin_factory.pin(22)  # pressed = low (pulled up)
            pin.drive_low()
            yield rng.uniform(0.05, 0.3)
            pin.drive_high()
            yield 0.2
        else:
            yield from self.advance(strict=False)

    def fingers(self, how: str, first: Any, second: Any) -> Iterator[object]:
        """A double tap on ``first`` (the second tap 0.05-0.5 s later, a button's
        own or the next view's), a press held 0.5-2 s, or two fingers down at once (a
        resting palm: ``first``, then ``second``, up in the same order)."""
        from kivy.tests.common import UnitTestTouch

        rng = self.rng
        points = [self.point(first), self.point(second)]
        self.log(f"{how} {type(first).__name__} {str(getattr(first, 'text', ''))[:20]!r}")
        try:
            if how == "double":
                self.touch(*points[0])
                yield rng.uniform(0.05, 0.5)
                self.touch(*points[0])
                return
            down = [UnitTestTouch(*p) for p in points[:1 if how == "long_press" else 2]]
            for finger in down:
                finger.touch_down()
            yield rng.uniform(0.5, 2.0) if how == "long_press" else rng.uniform(0.05, 0.3)
            for finger in down:
                finger.touch_up()
        except Exception as exc:
            self.exception("touch handler", exc)

    def point(self, widget: Any) -> tuple[float, float]:
        box = self.box(widget)
        if box is None:
            return widget.to_window(*widget.center)
        return self.rng.uniform(box[0], box[2]), self.rng.uniform(box[1], box[3])

    def swipe(self) -> Iterator[object]:
        from kivy.uix.scrollview import ScrollView

        root = self.modal() or self.app.root
        views = [w for w in root.walk(restrict=True) if isinstance(w, ScrollView)
                 and self.box(w) is not None]
        if not views:
            yield 0.05
            return
        box = self.box(self.rng.choice(views))
        assert box is not None
        x, y = (box[0] + box[2]) / 2, self.rng.uniform(box[1], box[3])
        dy = self.rng.uniform(-0.8, 0.8) * (box[3] - box[1])
        from kivy.tests.common import UnitTestTouch

        finger = UnitTestTouch(x, y)
        try:
            finger.touch_down()
            for i in range(1, 9):  # one step a frame, as a finger moves
                finger.touch_move(x, y + dy * i / 8)
                yield 0
            finger.touch_up()
        except Exception as exc:
            self.exception("touch handler", exc)
        yield 0.3

    def idle(self) -> Iterator[object]:
        """The citizen walks away: the flow's clock moves on past the idle warning (and
        maybe past the wipe), or, in long runs, a real wait as long as the wipe takes."""
        s = self.app.flow.settings
        if self.seconds > 120 and self.rng.random() < 0.2:
            self.last_action = "idle (real)"
            yield s.idle_timeout_s + s.idle_warning_s + 1.5
            return
        self.offset[0] += s.idle_timeout_s + 0.5
        yield 1.5  # the flow's tick (each second) shows the warning
        if self.rng.random() < 0.5:
            self.offset[0] += s.idle_warning_s
            yield 1.5  # ...and wipes

    # -- a citizen who knows what to do ----------------------------------------------------
    def advance(self, *, strict: bool) -> Iterator[object]:
        """One step of the way to the receipt from wherever the kiosk is. Not ``strict``
        (the monkey's citizen): it gives up quietly on what does not come; ``strict``
        (the final citizen): a wait in vain raises TimeoutError."""
        app = self.app

        self.strict_now = strict

        def wait(cond: Callable[[], bool], timeout: float) -> Callable[[], bool]:
            if strict:
                return self.until(cond, timeout)
            deadline = time.monotonic() + timeout
            return lambda: cond() or time.monotonic() > deadline

        if self.view() != self.last_view:
            # The view changed since this citizen last looked (between two steps, by the
            # kiosk's own doing: the last finger's scan brings the signature): they read it
            # first. Touches in the frame a screen is shown in go nowhere (Kivy's screen
            # manager takes none during its switch), and a tap soon after a change of view,
            # near the last, is dropped (SECOND_TAP_S).
            self.last_view = self.view()
            yield SETTLED_S
        modal = self.modal()
        name = app.screens.current
        view = self.view()
        yield from self.advance_once(modal, name, wait)
        yield SETTLED_S if self.view() != view else 0.05
        self.last_view = self.view()

    def view(self) -> tuple[object, ...]:
        """What the citizen sees: the screen, the overlay, the keyboard or the form."""
        return (self.app.screens.current, self.modal(), self.app.flow.form.focus is None)

    def advance_once(self, modal: Any, name: str, wait: Callable[..., Any]
                     ) -> Iterator[object]:
        app, flow = self.app, self.app.flow
        if modal is not None:
            kind = type(modal).__name__
            if kind == "PickerPopup":
                yield from self.pick(modal)
            else:
                if kind == "CancelOverlay":
                    self.tap(modal.ids.no)  # "No, continue"
                else:  # idle: "Continue"; help: "Close"
                    self.tap(next(w for w in modal.walk()
                                  if getattr(w, "role", "") == "primary"))
                yield wait(lambda: self.modal() is not modal, 5)
            return
        if flow.busy and name != "fingerprints":
            yield wait(lambda: not flow.busy, 30)
            return
        screen = self.screen()
        nav = screen.ids.nav.ids if "nav" in screen.ids else None
        if name == "welcome":
            self.person = next(self.people)
            self.report["citizens_started"] += 1
            self.tap(screen.ids["lang_" + self.rng.choice(("id", "en"))])
            yield wait(lambda: app.screens.current != "welcome" and not flow.busy, 10)
        elif name == "closed":
            yield wait(lambda: app.screens.current != "closed", 3)
        elif name == "consent":
            self.tap(nav.primary)
            yield wait(lambda: app.screens.current != "consent" and not flow.busy, 15)
        elif name == "identity":
            if flow.editing and not self.strict_now and self.rng.random() < 0.5:
                self.person = next(self.people)  # another NIK: the demographics must follow
            yield from self.type_identity(screen)
            self.tap(screen.ids.keypad.key_for("action"))
            yield wait(lambda: app.screens.current != "identity" and not flow.busy, 15)
        elif name == "demographics":
            yield from self.fill_demographics(screen, wait)
        elif name == "portrait":
            if flow.portrait_jpeg and not self.strict_now and self.rng.random() < 0.15:
                self.tap(screen.ids.retake)
                yield 0.2
            elif flow.portrait_jpeg:
                self.tap(nav.primary)
                yield wait(lambda: app.screens.current != "portrait" and not flow.busy, 15)
            elif not flow.countdown:
                yield wait(lambda: screen.frames_shown > 2, 10)
                self.tap(screen.ids.take)
                yield wait(lambda: bool(flow.portrait_jpeg) or (
                    bool(flow.message) and not flow.busy and not flow.countdown), 20)
        elif name == "fingerprints":
            retry = nav.primary  # Try again, shown after a failed try
            if not retry.disabled and retry.opacity:
                self.tap(retry)
            # Until the step is done or a try failed ("Good. Lift your finger." is neither).
            yield wait(lambda: app.screens.current != "fingerprints" or (
                bool(flow.message) and flow.message.kind != "ok" and not flow.busy), 40)
        elif name == "signature":
            if not screen.ids.pad.has_ink:
                draw_signature(screen.ids.pad)
                yield 0.3
            self.tap(nav.primary)
            yield wait(lambda: app.screens.current != "signature" and not flow.busy, 15)
        elif name == "review":
            changes = [w for w in screen.walk() if type(w).__name__ == "SecondaryButton"
                       and getattr(w.parent, "step", "")]
            if changes and not self.strict_now and self.rng.random() < 0.3:
                change = self.rng.choice(changes)  # a step done again, then back here
                screen.ids.scroll.scroll_to(change, padding=10, animate=False)
                yield 0.25
                self.tap(change)
                yield wait(lambda: app.screens.current != "review" and not flow.busy, 15)
                return
            self.tap(nav.primary)
            yield wait(lambda: app.screens.current != "review" and not flow.busy, 20)
        elif name == "done":
            self.note()  # the receipt
            if self.strict_now or self.rng.random() < 0.7:
                self.tap(nav.primary)  # Finish; else the receipt's own timer
            yield wait(lambda: app.screens.current != "done", 5 + flow.settings.receipt_s)

    def citizen(self) -> SyntheticCitizen:
        if self.person is None:
            self.person = next(self.people)
        return self.person

    def type_identity(self, screen: Any) -> Iterator[object]:
        """NIK and No. KK, each field emptied first, typed on the keypad."""
        person, flow = self.citizen(), self.app.flow
        pad = screen.ids.keypad
        for field in ("nik", "kk"):
            self.tap(screen.ids[field])
            yield 0.05
            for _ in range(len(getattr(flow.identity, field))):
                self.tap(pad.key_for("backspace"))
            for digit in (c for c in getattr(person, field) if c.isdigit()):
                self.tap(pad.key_for(digit))
            yield 0.1
        self.note()  # before OK: the flow keeps the digits only until the session has them

    def fill_demographics(self, screen: Any, wait: Callable[..., Any]) -> Iterator[object]:
        """The next thing the form lacks: a text field typed, a chip, a list's item, or
        (all there) Next."""
        flow = self.app.flow
        values = self.citizen().demographics
        form = flow.form
        if form.focus:  # the keyboard is up: type this field afresh, then Next
            keyboard = screen  # its key_for: the keyboard or, for RT/RW, the keypad
            for _ in range(len(form.values[form.focus])):
                self.tap(keyboard.key_for("backspace"))
            for char in str(getattr(values, form.focus)).upper():
                if char in KEYBOARD_CHARS:
                    self.tap(keyboard.key_for(char))
            self.tap(keyboard.key_for("action"))
            yield 0.2
            return
        problems = set(form.errors)
        for field in TYPED_FIELDS:
            if not form.values[field] or field in problems:
                row = screen.ids["rt" if field == "rw" else field]
                yield from self.into_view(screen, row)
                self.tap(row)
                yield 0.3
                return
        for field in ("religion", "marital_status", "blood_type"):
            if not form.values[field] or field in problems:
                chips = next(w for w in screen.ids[field].walk() if hasattr(w, "chip_for"))
                options = chips.chips()
                chip = next((c for c in options if c.value == getattr(values, field)),
                            options[0])
                yield from self.into_view(screen, chip)
                self.tap(chip)
                yield 0.3
                return
        for field in ("kecamatan", "kelurahan_desa", "occupation"):
            if not form.values[field] or field in problems:
                row = screen.ids[field]
                yield from self.into_view(screen, row)
                self.tap(row)
                yield wait(lambda: self.modal() is not None, 3)
                yield 0.3
                return
        self.tap(screen.ids.nav.ids.primary)
        yield wait(lambda: self.app.screens.current != "demographics" and not flow.busy, 15)
        if self.app.screens.current == "demographics":  # refused: the errors say why
            yield 0.2

    def into_view(self, screen: Any, widget: Any) -> Iterator[object]:
        screen.ids.scroll.scroll_to(widget, padding=10, animate=False)
        yield 0.25

    def pick(self, modal: Any) -> Iterator[object]:
        options = [w for w in modal.walk() if type(w).__name__ == "PickerOption"
                   and w.text and self.box(w) is not None]
        if options:
            self.tap(self.rng.choice(options[:5]))
        yield 0.3

    # -- the whole run -----------------------------------------------------------------------
    def plant(self) -> None:
        """Make the app wrong on purpose (``--plant``): see the module docstring."""
        from kivy.uix.label import Label

        flow = self.app.flow
        if "leak" in self.plants:
            identity = self.app._screen("identity")
            kept = Label(size_hint=(None, None), size=(1, 1))
            identity.add_widget(kept)
            refresh = identity.refresh

            def forgetful(flow_: Any) -> None:  # never clears what it once showed
                refresh(flow_)
                if flow_.identity.nik:
                    kept.text = flow_.identity.nik
            identity.refresh = forgetful
        if "raise" in self.plants:
            call_help = flow.call_help

            def failing() -> None:
                call_help()
                raise RuntimeError("planted: the help handler fails")
            flow.call_help = failing
        if "stall" in self.plants:
            close_help = flow.close_help

            def slow() -> None:
                close_help()
                time.sleep(1.5)
            flow.close_help = slow

    def prologue(self) -> Iterator[object]:
        """With plants: reach each of them once (Help, its Close, a NIK typed, cancel)."""
        app = self.app
        self.tap(self.screen().ids.lang_id)
        yield self.on("consent")
        yield SETTLED_S
        nav = self.screen().ids.nav.ids
        self.tap(nav.help)
        yield self.until(lambda: self.modal() is not None, 5)
        yield SETTLED_S
        self.tap(next(w for w in self.modal().walk() if getattr(w, "role", "") == "primary"))
        yield self.until(lambda: self.modal() is None, 5)
        yield SETTLED_S
        self.tap(nav.primary)
        yield self.on("identity")
        yield SETTLED_S
        self.note()
        pad = self.screen().ids.keypad
        for digit in "72020141079":
            self.tap(pad.key_for(digit))
        yield 0.2
        self.note()
        self.tap(self.screen().ids.nav.ids.cancel)
        yield self.until(lambda: self.modal() is not None, 5)
        yield SETTLED_S
        self.tap(self.modal().ids.yes)  # "Yes, stop"
        yield self.until(lambda: app.screens.current == "welcome", 5)
        yield from self.after_wipe()

    def script(self) -> Iterator[object]:
        app = self.app
        yield self.until(lambda: app.flow.runtime is not None and not app._pending
                         and gc.get_freeze_count() > 0, 60)
        yield self.until(lambda: app.flow.accepting, 15)
        self.start_watcher()
        yield 0.5
        with self.own():
            self.learn_corpus()
        flow = app.flow
        offset = self.offset
        flow.clock = lambda: time.monotonic() + offset[0]
        flow._last_touch = flow.clock()
        self.generation = flow.generation
        self.start_meter()
        self.plant()
        started = time.monotonic()
        if self.plants:
            yield from self.prologue()
        while time.monotonic() - started < self.seconds:
            with self.own():
                self.note()
                self.consistent()
            yield from self.after_wipe()
            self.heal()
            if app.screens.current == "welcome":
                self.purposeful = self.rng.random() < 0.5
                self.person = None
            yield from self.act()
        self.report["monkey_s"] = round(time.monotonic() - started, 1)
        if not self.plants:  # the plants' run: each was reached; the rest is the others'
            yield from self.final()

    def final(self) -> Iterator[object]:
        """All faults cleared, back to the welcome, one citizen from welcome to receipt."""
        app, flow = self.app, self.app.flow
        started = time.monotonic()
        self.heal(everything=True)
        self.purposeful = True
        yield self.until(lambda: not flow.busy or flow.waiting_finger, 45)
        while self.modal() is not None:  # Close, Continue, No; a list: an item
            yield from self.advance(strict=True)
        if flow.session is not None and app.screens.current != "done":
            # Cancel asks once ("Yes, stop"); on the consent screen it is "No", at once.
            self.tap(self.screen().ids.nav.ids.cancel)
            yield self.until(lambda: self.modal() is not None or flow.session is None, 5)
            yield SETTLED_S
            if self.modal() is not None:
                self.tap(self.modal().ids.yes)
        elif app.screens.current == "done":
            self.note()
            yield SETTLED_S
            self.tap(self.screen().ids.nav.ids.primary)
        yield self.until(lambda: app.screens.current == "welcome" and not flow.busy, 30)
        self.note()
        yield from self.after_wipe()
        yield SETTLED_S
        self.person = None
        deadline = time.monotonic() + 120
        while app.screens.current != "done" or flow.busy:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the final citizen is stuck on {app.screens.current}: "
                                   f"{flow.message.text('en')}")
            with self.own():
                self.note()
            yield from self.advance(strict=True)
        yield SETTLED_S
        self.note()
        record_id = self.screen().ids.receipt.text
        self.report["final"] = {"record_id": record_id,
                                "seconds": round(time.monotonic() - started, 1)}
        collected = [0]

        def count_full(phase: str, info: dict[str, int]) -> None:
            if phase == "stop" and info["generation"] == 2:
                collected[0] += 1
        gc.callbacks.append(count_full)
        self.tap(self.screen().ids.nav.ids.primary)  # Finish
        yield self.on("welcome")
        yield from self.after_wipe()
        # The kiosk's own full collection after the wipe: then nothing of anyone is alive.
        yield self.until(lambda: collected[0] > 0, 10)
        gc.callbacks.remove(count_full)
        with self.own():
            secrets = self.wanted(flow.generation, receipts=False)
            self.report["secrets_searched"] = len(secrets)
            mine = (id(self), id(self.__dict__), id(self.secrets),
                    *(id(s) for s in self.secrets.values()), id(self.report),
                    id(self.people), id(self.person))
            self.report["live"] = leak_search.live_leaks(secrets, skip=mine)


class Recorder(logging.Handler):
    """Every log line (the kiosk's from DEBUG, Kivy's from INFO): ERROR ones are
    violations; none may hold a secret."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: collections.deque[str] = collections.deque(maxlen=50_000)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = f"{record.levelname} {record.name}: {record.getMessage()}"
        except Exception:  # a malformed record is itself worth seeing
            line = f"{record.levelname} {record.name}: {record.msg!r}"
        if record.exc_info:
            line += "\n" + "".join(traceback.format_exception(*record.exc_info))[-2000:]
        self.lines.append(line)
        if record.levelno >= logging.ERROR:
            self.errors.append(line[:3000])


def main() -> None:
    config_path, out_path, seed, seconds = sys.argv[1:5]
    plants = set(sys.argv[6].split(",")) if sys.argv[5:6] == ["--plant"] else set()
    config = load_config(config_path)
    app = create_app(config)

    from kivy.base import ExceptionHandler, ExceptionManager

    report: dict[str, Any] = {"errors": []}
    monkey = Monkey(app, config, int(seed), float(seconds), plants, report)

    class Caught(ExceptionHandler):  # type: ignore[misc]
        """What reached Kivy's loop: recorded, and the run goes on to see what else."""

        def handle_exception(self, inst: BaseException) -> int:
            monkey.exception("kivy", inst)
            return int(ExceptionManager.PASS)

    ExceptionManager.add_handler(Caught())
    threading.excepthook = lambda args: monkey.exception(
        f"thread {args.thread.name if args.thread else '?'}",
        args.exc_value or RuntimeError("?"))
    recorder = Recorder()
    root = logging.getLogger()
    root.addHandler(recorder)
    root.setLevel(logging.INFO)
    logging.getLogger("kiosk").setLevel(logging.DEBUG)  # the kiosk's own lines, all of them

    run_on_clock(app, monkey.script(), report, out_path)
    try:
        app.run()
    finally:
        monkey.stop_watcher()
    # After the run: the log's ERROR lines, and any line holding what a citizen entered.
    report["error_logs"] = recorder.errors
    secrets = monkey.wanted(sys.maxsize, receipts=False)
    report["log_leaks"] = [line[:200] for line in recorder.lines
                           if any(s in line for s in secrets)]
    report["log_lines"] = len(recorder.lines)
    # The journal's audit events (reasons, details) never hold what a citizen entered.
    from kiosk.journal import Journal

    journal = Journal.open_readonly(config.journal_path)
    try:
        events = journal.audit_events(limit=1_000_000)
    finally:
        journal.close()
    report["audit_events"] = len(events)
    report["audit_leaks"] = [f"{event.event} {event.details}"[:200] for event in events
                             if any(s in str(event.details) for s in secrets)]
    report["plants"] = sorted(plants)
    report["shutdowns"] = monkey.shutdowns
    flow = app.flow
    report["state_at_end"] = {
        "screen": app.screens.current, "busy": flow.busy, "session": flow.session is not None,
        "accepting": flow.accepting, "closed_reason": flow.closed_reason,
        "message": flow.message.text("en") if flow.message else "",
        "help": flow.help_active, "confirm_cancel": flow.confirm_cancel,
        "idle_warning": flow.idle_warning, "waiting_finger": flow.waiting_finger,
        "flow_screen": flow.screen, **_widgets_at_end(app)}
    report["trace"] = list(monkey.trace)
    report["dead_ids"] = sorted(leak_search.DEAD_IDS)
    report["violations"] = violations(report)
    Path(out_path).write_text(json.dumps(report, ensure_ascii=False, default=str))


def violations(report: dict[str, Any]) -> list[str]:
    """Each broken promise, one line each (the test adds the journal's)."""
    found = [f"script: {e}" for e in report["errors"]]
    found += [f"exception in {e['where']} on {e['screen']}: {e['error']}"
              for e in report["exceptions"]]
    found += [f"log ERROR: {line.splitlines()[0]}" for line in report["error_logs"]]
    found += [f"stall {s['gap_s']} s on {s['screen']} after {s['after']}"
              for s in report["stalls"]]
    found += [f"leak after wipe {leak['wipe']}: {leak['found']} {leak.get('rendered', '')} "
              f"after {leak.get('trace', '')}" for leak in report["leaks"]]
    found += [f"live after the last wipe: {held}" for held in report["live"]]
    found += [f"log line holds a citizen's data: {line}" for line in report["log_leaks"]]
    found += [f"inconsistent: {rule}" for rule in report["inconsistent"]]
    found += [f"audit event holds a citizen's data: {line}" for line in report["audit_leaks"]]
    if not report["plants"] and not report["final"].get("record_id"):
        found.append("the final citizen got no receipt")
    return found




def _widgets_at_end(app: Any) -> dict[str, Any]:
    """What the screen's own widgets say at the end (why a tap did nothing, when the final
    citizen is stuck): the forward button, the signature pad, the double-tap guard."""
    screen = app.screens.current_screen
    out: dict[str, Any] = {"screen_busy": screen.busy}
    nav = screen.ids.get("nav")
    if nav is not None:
        primary = nav.ids.primary
        out["primary"] = {"text": primary.text, "disabled": primary.disabled,
                          "opacity": primary.opacity, "state": primary.state}
    pad = screen.ids.get("pad")
    if pad is not None:
        out["pad"] = {"has_ink": pad.has_ink, "strokes": len(pad.strokes),
                      "touch_held": pad._touch is not None, "disabled": pad.disabled}
    last_at, last_pos = app._last_down
    out["guard"] = {"last_down_ago_s": round(time.monotonic() - last_at, 2),
                    "last_pos": list(last_pos),
                    "view_changed_ago_s": round(time.monotonic() - app._view_changed_at, 2)}
    return out


def _runqueue_wait_s() -> float:
    """Seconds the calling thread has spent ready to run but not running (the kernel's
    ``/proc/thread-self/schedstat``, second field); 0.0 where the kernel does not say."""
    try:
        with open("/proc/thread-self/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


if __name__ == "__main__":
    main()
