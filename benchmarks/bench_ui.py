"""The touchscreen under a virtual display: start-up, tap latency, memory, preview rate.

Every figure comes from a fresh process (a Kivy app cannot be started twice in one), run
under a private Xvfb that this module starts itself (``Xvfb -displayfd``, 1280x800x24, as
the GUI tests do), at the kiosk's 800x480 with speech off, simulated hardware and a
throw-away data directory. The same file is the child: ``python bench_ui.py child MODE
...`` imports nothing of Kivy or the kiosk before it takes its first timestamp.

* ``start``: process spawn (the parent's ``time.monotonic()`` just before ``Popen``; on
  Linux that clock is the same in every process) to the first frame swapped to the screen
  after the app's ``on_start`` (``Window.flip`` returned: the welcome screen is built and
  drawn). Compared with a bare Kivy app of the same shape: a ``ScreenManager`` with 10
  ``Screen``s of a few ``Label``s and ``Button``s, the same Kivy settings, no kiosk code.
  Median of ``rounds`` after one unmeasured warm-up each (the page cache, Kivy's home).
* ``taps``: a ``UnitTestTouch`` down + up on a button to the first frame swapped with the
  next screen current. The kiosk's taps do the flow's real work: the language button
  (a new session; ``choose_language`` on the worker), consent "I agree" (the record's first
  durable journal commit, on the worker) and, after Cancel (not timed, it opens the
  question), "Yes, stop" (the wipe of every screen, on the UI thread; the discard commit
  runs behind). The bare app's taps switch to its next screen in the button's handler.
  The kiosk switches ``screens.current`` first and copies the flow's state into the screen
  in ``KioskApp._refresh``, a Clock trigger that runs a tick later, so its first frame of
  the new screen can show stale contents (the previous language after "Yes stop"); a
  second figure runs to the first frame after that refresh (the bare app's screens are
  final at once). Also reported: the median time of one buffer swap (``Window.flip``),
  which under Xvfb is Mesa's software renderer (llvmpipe) drawing the frame.
* ``flow``: the full flow with the flow's own verbs (welcome to receipt and Finish); on the
  portrait screen ``frames_shown`` is counted over ``preview_s`` (frames actually drawn);
  at the end ``VmHWM`` of ``/proc/self/status``: the peak RSS of the UI process (the
  journal, the devices and the worker threads live in it too), and how its RSS then
  divides into anonymous memory and file pages (libraries' code: Mesa's LLVM, OpenCV).
  How many file pages a library brings in depends on the disk's read-ahead (with large
  page-cache folios a fault maps all of what was read ahead), so the report names the
  ``read_ahead_kb`` of the disk the libraries live on: on 2026-12-02 the same code measured
  232 MB at 128 KiB and 281 MB at 4,096 KiB (the kernel's default, which an SD card keeps,
  is 128).
  With the sim camera, and with the ``v4l2`` backend reading a generated 30 fps MJPG clip
  (skipped without OpenCV). With the sim camera, three more citizens follow the same way:
  ``VmHWM`` again (a leak between citizens would raise it) and every garbage collection
  from the first citizen's welcome on, timed with ``gc.callbacks`` (a full one holds the UI
  thread while it walks every object the collector tracks).

On a Pi, ``KIOSK_BENCH_DISPLAY=:0`` runs the same on the panel instead of a private Xvfb.
"""

from __future__ import annotations

import time

T_SCRIPT = time.monotonic()  # a child's first timestamp: before any other import

import contextlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import sysconfig  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

WIDTH, HEIGHT = 800, 480


def _screen_count() -> int:
    """How many screens the kiosk has (``kiosk.screens.flow_screens.SCREEN_NAMES``): the bare
    app gets as many. A child is told by its parent, so the bare app's start does not pay
    for importing the kiosk."""
    if "BENCH_UI_SCREENS" in os.environ:
        return int(os.environ["BENCH_UI_SCREENS"])
    from kiosk.screens.flow_screens import SCREEN_NAMES

    return len(SCREEN_NAMES)


SCREENS = _screen_count()
TARGET_START_RATIO = 1.5
TARGET_TAP_RATIO = 1.5
TARGET_RSS_MB = 250.0
TARGET_FPS = 15.0
CHILD_TIMEOUT_S = 240.0

NIK = "7202015208850001"
KK = "7202011203150007"
NAME = "SITI NUR'AINI AL-HAMID"

CONFIG = f"""[kiosk]
id = "bench-01"
data_dir = "data"
disk_reserve_bytes = 0
[ui]
width = {WIDTH}
height = {HEIGHT}
speech = false
"""


# -- the parent ---------------------------------------------------------------------------------
@contextlib.contextmanager
def xvfb() -> Iterator[str]:
    """A private X display for the children; its DISPLAY value. ``KIOSK_BENCH_DISPLAY``
    names a display to use instead (a Pi's own screen, ``:0``: its GL driver, not Mesa's
    software renderer)."""
    given = os.environ.get("KIOSK_BENCH_DISPLAY", "")
    if given:
        yield given
        return
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.xvfb import private_display

    with private_display() as display:
        yield display


def _kiosk_dir(base: Path, name: str, extra: str = "") -> Path:
    directory = base / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kiosk.toml").write_text(CONFIG + extra)
    return directory


def _child(display: str, directory: Path, *args: str) -> tuple[dict[str, Any], float]:
    """Run ``bench_ui.py child ARGS`` and return its JSON report and its spawn time."""
    out = directory / "report.json"
    out.unlink(missing_ok=True)
    env = dict(os.environ, DISPLAY=display, PYTHONPATH=str(REPO), KIVY_NO_CONSOLELOG="1",
               KIOSK_CONFIG=str(directory / "kiosk.toml"),
               KIOSK_SYSTEM_CONFIG=str(directory / "no-etc.toml"),
               BENCH_UI_SCREENS=str(SCREENS))
    env.pop("KIVY_HOME", None)
    if args[1] == "bare":  # the kiosk keeps Kivy's home under its data directory
        env["KIVY_HOME"] = str(directory / "kivy")
    spawned = time.monotonic()
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "child", *args,
                             str(out)], env=env, cwd=REPO, capture_output=True, text=True,
                            timeout=CHILD_TIMEOUT_S)
    if result.returncode != 0 or not out.exists():
        raise RuntimeError(f"child {args} failed ({result.returncode}):\n"
                           f"{result.stderr[-4000:]}")
    report = json.loads(out.read_text())
    if report.get("errors"):
        raise RuntimeError(f"child {args}: {report['errors']}\n{result.stderr[-3000:]}")
    return report, spawned


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def measure_start(display: str, base: Path, rounds: int = 5) -> dict[str, Any]:
    dirs = {"kiosk": _kiosk_dir(base, "start-kiosk"), "bare": _kiosk_dir(base, "start-bare")}
    runs: dict[str, list[dict[str, float]]] = {"kiosk": [], "bare": []}
    for i in range(rounds + 1):
        for kind in ("kiosk", "bare"):  # alternating, so drift hits both alike
            report, spawned = _child(display, dirs[kind], "start", kind)
            if i == 0:
                continue  # warm-up: page cache, Kivy's home directory
            marks = report["marks"]
            runs[kind].append({
                "first_frame_s": marks["first_frame"] - spawned,
                "interpreter_s": marks["script"] - spawned,
                "import_window_s": marks["created"] - marks["script"],
                "build_s": marks["built"] - marks["created"],
                "draw_s": marks["first_frame"] - marks["built"],
                "vmhwm_mb": report["memory"]["vmhwm_kb"] / 1000})
            if report["screen"] != ("welcome" if kind == "kiosk" else "s0"):
                raise RuntimeError(f"{kind}: first frame showed {report['screen']}")
    out: dict[str, Any] = {"rounds": rounds}
    for kind, values in runs.items():
        out[kind] = {key: statistics.median(v[key] for v in values) for key in values[0]}
        out[kind]["min_s"] = min(v["first_frame_s"] for v in values)
        out[kind]["max_s"] = max(v["first_frame_s"] for v in values)
    out["ratio"] = out["kiosk"]["first_frame_s"] / out["bare"]["first_frame_s"]
    return out


def measure_taps(display: str, base: Path, cycles: int = 10) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in ("kiosk", "bare"):
        report, _ = _child(display, _kiosk_dir(base, f"taps-{kind}"), "taps", kind,
                           str(cycles))
        taps = report["taps"]
        all_ms = [t["frame_ms"] for t in taps]
        by_kind: dict[str, dict[str, float]] = {}
        for name in dict.fromkeys(t["name"] for t in taps):
            mine = [t for t in taps if t["name"] == name]
            by_kind[name] = {
                "n": len(mine),
                "median_ms": statistics.median(t["frame_ms"] for t in mine),
                "p95_ms": _p95([t["frame_ms"] for t in mine]),
                "switch_ms": statistics.median(t["switch_ms"] for t in mine),
                "first_frame_ms": statistics.median(t["first_frame_ms"] for t in mine),
                "settled_ms": statistics.median(t["settled_ms"] for t in mine)}
        settled = [t["settled_ms"] for t in taps]
        out[kind] = {"n": len(all_ms), "median_ms": statistics.median(all_ms),
                     "p95_ms": _p95(all_ms), "settled_median_ms": statistics.median(settled),
                     "settled_p95_ms": _p95(settled), "by_tap": by_kind,
                     "swap_ms": report["swap_ms"]}
    out["ratio"] = out["kiosk"]["median_ms"] / out["bare"]["median_ms"]
    out["p95_ratio"] = out["kiosk"]["p95_ms"] / out["bare"]["p95_ms"]
    out["settled_ratio"] = out["kiosk"]["settled_median_ms"] / out["bare"]["median_ms"]
    out["settled_p95_ratio"] = out["kiosk"]["settled_p95_ms"] / out["bare"]["p95_ms"]
    return out


def measure_flow(display: str, base: Path, preview_s: float = 5.0,
                 citizens: int = 4) -> dict[str, Any]:
    out: dict[str, Any] = {}
    report, _ = _child(display, _kiosk_dir(base, "flow-sim"), "flow", "sim", str(preview_s),
                       str(citizens))
    out["sim"] = report
    try:
        from kiosk.hardware.camera.testclip import write_clip

        clip = write_clip(base / "clip.avi", frames=90, fps=30)
    except ImportError as exc:
        out["v4l2_skipped"] = f"no OpenCV ({exc.name}): the v4l2 extra is not installed"
        return out
    from kiosk.sealing_keys import generate_central_keypair

    # Real hardware configured: the development central key is refused, name one.
    _private, public = generate_central_keypair(base / "central")
    extra = (f'[sealing]\ncentral_key = "{public}"\n'
             f'[hardware.camera]\ntype = "v4l2"\ndevice = "{clip}"\n')
    try:
        report, _ = _child(display, _kiosk_dir(base, "flow-v4l2", extra), "flow", "v4l2",
                           str(preview_s), "1")
        out["v4l2"] = report
    except RuntimeError as exc:
        out["v4l2_skipped"] = f"the v4l2 backend did not run: {str(exc).splitlines()[0]}"
    return out


def run(rounds: int = 5, cycles: int = 10, preview_s: float = 5.0) -> dict[str, Any]:
    """``start``, ``taps``, ``flow`` (see the module docstring)."""
    with xvfb() as display, tempfile.TemporaryDirectory(
            dir=os.environ.get("BENCH_DIR")) as tmp:
        base = Path(tmp)
        return {"start": measure_start(display, base, rounds),
                "taps": measure_taps(display, base, cycles),
                "flow": measure_flow(display, base, preview_s),
                "read_ahead_kb": read_ahead_kb(sysconfig.get_paths()["purelib"])}


def rows(r: dict[str, Any]) -> list[str]:
    """README table rows."""
    s, t, f = r["start"], r["taps"], r["flow"]
    k, b = s["kiosk"], s["bare"]
    out = [
        f"| touchscreen start: process start to the first frame of the welcome screen "
        f"(Xvfb, {WIDTH}x{HEIGHT}, sim hardware), median of {s['rounds']}, vs. a bare Kivy "
        f"app with {SCREENS} screens of labels and buttons | {k['first_frame_s']:.2f} s vs. "
        f"{b['first_frame_s']:.2f} s = **{s['ratio']:.2f}x** (interpreter, Kivy + config + "
        f"window, build, first frame: {k['interpreter_s']:.2f} + {k['import_window_s']:.2f} + "
        f"{k['build_s']:.2f} + {k['draw_s']:.2f} s vs. {b['interpreter_s']:.2f} + "
        f"{b['import_window_s']:.2f} + {b['build_s']:.2f} + {b['draw_s']:.2f} s) | "
        f"<= {TARGET_START_RATIO:g}x |"]
    kt, bt = t["kiosk"], t["bare"]
    first = ", ".join(f"{name} {v['median_ms']:.0f}" for name, v in kt["by_tap"].items())
    final = ", ".join(f"{name} {v['settled_ms']:.0f}" for name, v in kt["by_tap"].items())
    out.append(
        f"| tap to the first frame with the next screen current, median / p95 "
        f"({kt['n']} kiosk taps: language (English), I agree, Yes stop; {bt['n']} bare-app "
        f"taps) | {kt['median_ms']:.0f} / {kt['p95_ms']:.0f} ms vs. {bt['median_ms']:.0f} / "
        f"{bt['p95_ms']:.0f} ms = **{t['ratio']:.1f}x** / {t['p95_ratio']:.1f}x (kiosk by tap: "
        f"{first} ms; one frame's buffer swap {kt['swap_ms']:.0f} vs. {bt['swap_ms']:.0f} ms)"
        f" | <= {TARGET_TAP_RATIO:g}x |")
    out.append(
        f"| the same, to the first frame after the kiosk's refresh of that screen (its final "
        f"contents) | {kt['settled_median_ms']:.0f} / {kt['settled_p95_ms']:.0f} ms vs. "
        f"{bt['median_ms']:.0f} / {bt['p95_ms']:.0f} ms = **{t['settled_ratio']:.1f}x** / "
        f"{t['settled_p95_ratio']:.1f}x (by tap: {final} ms) | |")
    sim = f["sim"]
    ahead = (f"the libraries' disk reads ahead {r['read_ahead_kb']:,} KiB"
             if r.get("read_ahead_kb") is not None else "the disk's read-ahead unknown")
    out.append(
        f"| peak RSS (`VmHWM`) of the touchscreen process over a full flow, welcome to receipt"
        f" (sim hardware) | **{sim['vmhwm_kb'] / 1000:.0f} MB** ({k['vmhwm_mb']:.0f} MB after"
        f" start; the bare Kivy app {b['vmhwm_mb']:.0f} MB; at the end "
        f"{sim.get('rssanon_kb', 0) / 1000:.0f} MB anonymous + "
        f"{sim.get('rssfile_kb', 0) / 1000:.0f} MB file pages; {ahead}) | "
        f"<= {TARGET_RSS_MB:g} MB |")
    pauses = sim.get("gc_pauses", [])
    during = [ms for _generation, ms, in_session in pauses if in_session]
    between = [ms for _generation, ms, in_session in pauses if not in_session]
    full = ", ".join(f"{ms:.0f}" for generation, ms, in_session in pauses
                     if generation == 2 and in_session) or "none"
    out.append(
        f"| the same over {sim.get('citizens', 1)} citizens in a row: peak RSS, and the "
        f"longest garbage collection during a citizen's session (it holds the UI thread) | "
        f"{sim.get('vmhwm_all_kb', 0) / 1000:.0f} MB; **{max(during, default=0):.0f} ms** "
        f"({len(during)} collections; full ones: {full} ms; between citizens, while the "
        f"welcome waits: {len(between)}, the longest {max(between, default=0):.0f} ms) | |")
    out.append(
        f"| portrait preview drawn on screen (`frames_shown` over {sim['preview_s']:.0f} s), "
        f"sim camera | **{sim['fps_shown']:.1f} frames/s** (`preview_fps` = "
        f"{sim['preview_fps']:g}) | >= {TARGET_FPS:g} fps |")
    v = f.get("v4l2")
    if v:
        out.append(
            f"| the same, v4l2 backend on a 30 fps MJPG clip (640x480) | "
            f"**{v['fps_shown']:.1f} frames/s** (peak RSS {v['vmhwm_kb'] / 1000:.0f} MB) "
            f"| >= {TARGET_FPS:g} fps |")
    else:
        out.append(f"| the same, v4l2 backend | skipped: {f.get('v4l2_skipped')} | "
                   f">= {TARGET_FPS:g} fps |")
    return out


# -- the children ---------------------------------------------------------------------------------
def _make_app(kind: str) -> Any:
    if kind == "kiosk":
        from kiosk.app import create_app
        from kiosk.config import load_config

        return create_app(load_config())
    return _bare_app()


def _bare_app() -> Any:
    """10 screens of a title, three lines of text and three buttons; the same Kivy settings
    as the kiosk's ``_prepare_kivy``."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    from kivy.config import Config

    Config.set("graphics", "width", str(WIDTH))
    Config.set("graphics", "height", str(HEIGHT))
    Config.set("graphics", "fullscreen", "0")
    Config.set("graphics", "resizable", "0")
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("graphics", "multisamples", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch,disable_on_activity")
    from kivy.app import App
    from kivy.core.window import Window  # noqa: F401  (created here, as in create_app)
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.button import Button
    from kivy.uix.label import Label
    from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager

    class BareApp(App):
        def build(self) -> Any:
            self.screens = ScreenManager(transition=NoTransition())
            for i in range(SCREENS):
                screen = Screen(name=f"s{i}")
                box = BoxLayout(orientation="vertical", padding=12, spacing=8)
                box.add_widget(Label(text=f"Step {i + 1} of {SCREENS}", font_size=26,
                                     bold=True, size_hint_y=None, height=48))
                for line in range(3):
                    box.add_widget(Label(text=f"Line {line + 1}: some text to read on "
                                              f"screen {i + 1}.", font_size=20))
                row = BoxLayout(size_hint_y=None, height=64, spacing=8)
                row.add_widget(Button(text="Cancel", font_size=20))
                row.add_widget(Button(text="Help", font_size=20))
                forward = Button(text="Next", font_size=20, bold=True)
                forward.bind(on_release=lambda _b, n=f"s{(i + 1) % SCREENS}":
                             setattr(self.screens, "current", n))
                row.add_widget(forward)
                box.add_widget(row)
                screen.add_widget(box)
                screen.forward = forward
                self.screens.add_widget(screen)
            return self.screens

    return BareApp()


SWAPS_MS: list[float] = []  # how long each buffer swap took (the GL driver finishing)


def _hook_flips() -> list[Callable[[float], None]]:
    """Callbacks called with ``perf_counter()`` right after each buffer swap."""
    from kivy.core.window import Window

    after: list[Callable[[float], None]] = []
    swap = Window.flip

    def flip() -> None:
        started = time.perf_counter()
        swap()
        now = time.perf_counter()
        SWAPS_MS.append((now - started) * 1000)
        for callback in list(after):
            callback(now)

    Window.flip = flip  # on_flip's default handler calls self.flip(): the swap itself
    return after


_SCRIPTS: list[Script] = []


class Script:
    """Runs a generator on the Kivy clock: it yields seconds to wait or a condition to poll
    (every 20 ms, ``timeout`` s at most); an exception ends the app with the error noted."""

    def __init__(self, app: Any, steps: Iterator[Any], report: dict[str, Any], out: str,
                 timeout: float = 90.0) -> None:
        from kivy.clock import Clock

        self.app, self.steps, self.report, self.out = app, steps, report, out
        self.timeout, self.clock = timeout, Clock
        report.setdefault("errors", [])
        _SCRIPTS.append(self)  # the Clock holds bound methods weakly: keep this alive

    def start(self, delay: float = 0.0) -> None:
        self.clock.schedule_once(self._next, delay)

    def _next(self, _dt: float = 0) -> None:
        try:
            wait = next(self.steps)
        except StopIteration:
            self._finish()
            return
        except Exception as exc:
            self.report["errors"].append(f"{type(exc).__name__}: {exc}")
            self._finish()
            return
        if callable(wait):
            self._poll(wait, time.monotonic() + self.timeout)
        else:
            self.clock.schedule_once(self._next, float(wait))

    def _poll(self, cond: Callable[[], bool], deadline: float) -> None:
        try:
            ok = cond()
            if not ok and time.monotonic() > deadline:
                flow = getattr(self.app, "flow", None)
                why = f" ({flow.runtime_error or flow.closed_reason})" if flow else ""
                raise TimeoutError(f"waited in vain for {getattr(cond, 'what', cond)} on "
                                   f"{self.app.screens.current}{why}")
        except Exception as exc:
            self.report["errors"].append(f"{type(exc).__name__}: {exc}")
            self._finish()
            return
        if ok:
            self.clock.schedule_once(self._next, 0)
        else:
            self.clock.schedule_once(lambda _dt: self._poll(cond, deadline), 0.02)

    def _finish(self) -> None:
        Path(self.out).write_text(json.dumps(self.report))
        self.clock.schedule_once(lambda _dt: self.app.stop(), 0.1)


def read_ahead_kb(path: str | Path) -> int | None:
    """The read-ahead (``queue/read_ahead_kb``) of the block device holding ``path``, or
    None where the kernel does not say (a container's overlay, a tmpfs)."""
    dev = os.stat(path).st_dev
    node = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    for queue in (node / "queue", node / ".." / "queue"):  # a disk, or a partition's disk
        try:
            return int((queue / "read_ahead_kb").read_text())
        except (OSError, ValueError):
            continue
    return None


def _memory_kb() -> dict[str, int]:
    """VmHWM (peak RSS), VmRSS and its anonymous and file-backed parts (RssAnon: heap,
    arenas, stacks, textures; RssFile: the pages of libraries and mapped files, which the
    kernel can drop and read again) of this process, in kB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[key.lower() + "_kb"] = int(value.split()[0])
    return out


def _when(what: str, cond: Callable[[], bool]) -> Callable[[], bool]:
    cond.what = what  # type: ignore[attr-defined]
    return cond


def child_start(kind: str, out: str) -> None:
    marks = {"script": T_SCRIPT}
    app = _make_app(kind)
    marks["created"] = time.monotonic()
    after = _hook_flips()
    report: dict[str, Any] = {"marks": marks}

    def first_frame(_now: float) -> None:
        marks["first_frame"] = time.monotonic()
        report["screen"] = app.screens.current
        after.clear()

        def steps() -> Iterator[Any]:
            if kind == "kiosk":  # let the runtime open, so it closes cleanly at stop
                yield _when("the runtime", lambda: app.flow.runtime is not None)
            yield 0.3
            report["memory"] = _memory_kb()
        Script(app, steps(), report, out, timeout=30).start()

    def on_start(*_args: Any) -> None:
        marks["built"] = time.monotonic()
        after.append(first_frame)

    app.bind(on_start=on_start)
    app.run()


def _touch(widget: Any) -> None:
    from kivy.tests.common import UnitTestTouch

    x, y = widget.to_window(*widget.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    touch.touch_up()


def child_taps(kind: str, cycles: str, out: str) -> None:
    app = _make_app(kind)
    from kivy.tests.common import UnitTestTouch  # noqa: F401  (imports pytest: not in a tap)
    after = _hook_flips()
    report: dict[str, Any] = {"taps": []}
    pending: dict[str, Any] = {}

    def on_flip(now: float) -> None:
        if not pending:
            return
        if not pending["first"]:
            pending["first"] = now
        if pending["switched"] and not pending["shown"] and (
                app.screens.current == pending["target"]):
            pending["shown"] = now
        if pending["shown"] and (kind == "bare" or pending["refreshed"]):
            t0 = pending["t0"]
            report["taps"].append({
                "name": pending["name"], "first_frame_ms": (pending["first"] - t0) * 1000,
                "switch_ms": (pending["switched"] - t0) * 1000,
                "frame_ms": (pending["shown"] - t0) * 1000, "settled_ms": (now - t0) * 1000})
            pending.clear()

    def on_current(_sm: Any, current: str) -> None:
        if pending and current == pending["target"] and not pending["switched"]:
            pending["switched"] = time.perf_counter()

    def watch_refresh() -> None:
        """The kiosk copies the flow's state into the screens in ``_refresh`` (a Clock
        trigger, which looks the method up by name when it fires): a frame drawn before it
        ran shows the new screen with stale contents (e.g. the previous language)."""
        refresh = app._refresh

        def refreshed(*args: Any) -> None:
            refresh(*args)
            if pending and pending["switched"] and not pending["refreshed"]:
                pending["refreshed"] = time.perf_counter()

        app._refresh = refreshed

    def tap(name: str, widget: Any, target: str) -> Iterator[Any]:
        if widget.disabled:
            raise RuntimeError(f"{name}: the button is disabled")
        pending.update(name=name, target=target, first=0.0, switched=0.0, shown=0.0,
                       refreshed=0.0, t0=time.perf_counter())
        _touch(widget)
        yield _when(f"the frame after {name}", lambda: not pending)

    def kiosk_steps() -> Iterator[Any]:
        from kivy.core.window import Window
        from kivy.uix.modalview import ModalView

        flow, screens = app.flow, app.screens
        yield _when("the runtime", lambda: flow.runtime is not None and flow.accepting
                    and screens.current == "welcome")
        yield 0.5
        idle = _when("an idle flow", lambda: not flow.busy)
        overlay = app.overlays["cancel"]
        for _ in range(int(cycles)):
            yield from tap("language", screens.get_screen("welcome").ids.lang_en, "consent")
            yield idle
            yield 0.3
            yield from tap("I agree", screens.get_screen("consent").ids.nav.ids.primary,
                           "identity")
            yield idle
            yield 0.3
            _touch(screens.get_screen("identity").ids.nav.ids.cancel)  # asks; not timed
            yield _when("the cancel question", lambda: overlay in Window.children)
            yield 0.3
            yes = overlay.ids.yes
            yield from tap("Yes stop", yes, "welcome")
            yield _when("no question", lambda: not any(
                isinstance(w, ModalView) for w in Window.children))
            yield 0.5  # the discard commit runs behind the wipe

    def bare_steps() -> Iterator[Any]:
        screens = app.screens
        yield 0.5
        for _ in range(3 * int(cycles)):
            target = screens.next()
            yield from tap("next", screens.current_screen.forward, target)
            yield 0.3

    def main_steps() -> Iterator[Any]:
        yield from (kiosk_steps() if kind == "kiosk" else bare_steps())
        report["swap_ms"] = statistics.median(SWAPS_MS)

    def on_start(*_args: Any) -> None:
        after.append(on_flip)
        app.screens.bind(current=on_current)
        if kind == "kiosk":
            watch_refresh()
        Script(app, main_steps(), report, out).start(0.5)

    app.bind(on_start=on_start)
    app.run()


def _sign_strokes() -> list[list[tuple[float, float, float]]]:
    return [[(0.08 + i / 70, 0.45 + 0.25 * math.sin(i / 4), i * 0.02) for i in range(60)]]


def _gc_pauses(into: list[list[float]], flow: Any) -> None:
    """Append ``[generation, ms, in a session]`` for every garbage collection from now on:
    a full one holds the UI thread while it walks every object the collector tracks; the
    kiosk makes one itself between citizens, while the welcome waits."""
    import gc

    started = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            into.append([info["generation"], (time.perf_counter() - started[0]) * 1000,
                         flow.session is not None])

    gc.callbacks.append(timed)


def child_flow(camera: str, preview_s: str, citizens: str, out: str) -> None:
    """One citizen's flow, measured (RSS at each step, the preview's rate), then more
    citizens the same way: the garbage collections of all of them, and the peak again."""
    app = _make_app("kiosk")
    report: dict[str, Any] = {"camera": camera, "preview_s": float(preview_s),
                              "citizens": int(citizens), "gc_pauses": []}
    calls = [0]
    report["rss_trace"] = []

    def steps() -> Iterator[Any]:
        flow, screens = app.flow, app.screens
        report["preview_fps"] = flow.settings.preview_fps

        def on(name: str, timeout_ok: bool = True) -> Callable[[], bool]:
            def cond() -> bool:
                if flow.message.kind == "error" and flow.message and not flow.busy and (
                        flow.screen != name):  # a refusal; not "Good. Lift your finger."
                    raise RuntimeError(f"{flow.screen}: {flow.message.text('en')}")
                return flow.screen == name and screens.current == name and not flow.busy
            return _when(name, cond)

        yield _when("the runtime", lambda: flow.runtime is not None and flow.accepting)
        yield _when("every screen built", lambda: not app._pending)
        cam = flow.runtime.devices.get("camera")
        preview_frame = cam.preview_frame

        def counted() -> Any:
            calls[0] += 1
            return preview_frame()

        cam.preview_frame = counted
        _gc_pauses(report["gc_pauses"], flow)
        for citizen in range(int(citizens)):
            first = citizen == 0

            def trace(where: str, first: bool = first) -> None:
                if first:  # where the peak was reached: the first trace showing it
                    memory = _memory_kb()
                    report["rss_trace"].append([where, memory["vmrss_kb"],
                                                memory["vmhwm_kb"]])

            trace("runtime open")
            flow.start("en")
            yield on("consent")
            trace("consent")
            flow.consent(True)
            yield on("identity")
            trace("identity")
            for digit in NIK + KK:
                flow.identity_digit(digit)
            flow.submit_identity()
            yield on("demographics")
            trace("demographics")
            flow.form_focus("full_name")
            for char in NAME:
                flow.form_type(char)
            flow.form_focus("place_of_birth")
            for char in "POSO":
                flow.form_type(char)
            flow.form_next()
            for char in "JL. PULAU JAWA NO. 12":
                flow.form_type(char)
            flow.form_next()
            flow.form_type("3")
            flow.form_next()
            flow.form_type("1")
            flow.form_next()
            for field, value in (("religion", "Islam"), ("marital_status", "Kawin"),
                                 ("blood_type", "O"), ("occupation", "Petani/Pekebun")):
                flow.form_choose(field, value)
            flow.form_choose("kelurahan_desa", flow.picker_options("kelurahan_desa")[0][0])
            flow.form_focus(None)
            yield 0.2
            flow.submit_demographics()
            yield on("portrait")
            trace("portrait")
            portrait = screens.get_screen("portrait")
            yield _when("the first preview frame",
                        lambda portrait=portrait: portrait.frames_shown > 0)
            yield 0.5
            if first:
                shown0, calls0, t0 = portrait.frames_shown, calls[0], time.perf_counter()
                yield float(preview_s)
                elapsed = time.perf_counter() - t0
                report["fps_shown"] = (portrait.frames_shown - shown0) / elapsed
                report["camera_calls_per_s"] = (calls[0] - calls0) / elapsed
            trace("preview shown")
            flow.take_photo()
            yield _when("the photo", lambda: bool(flow.portrait_jpeg) and not flow.busy)
            trace("photo")
            flow.accept_photo()
            yield on("fingerprints")
            trace("fingerprints")
            started = time.perf_counter()
            yield _when("the signature screen", on("signature"))
            if first:
                report["fingerprints_s"] = time.perf_counter() - started
            trace("signature")
            flow.submit_signature(_sign_strokes())
            yield on("review")
            trace("review")
            flow.confirm()
            yield on("done")
            trace("done")
            report.setdefault("receipt", flow.receipt_id)
            yield 0.3
            flow.finish()
            yield on("welcome")
            yield 0.3
            trace("welcome again")
            if citizen + 1 < int(citizens):
                yield 2.0  # the next person steps up and reads the welcome
            if first:
                report.update(_memory_kb())
        report["vmhwm_all_kb"] = _memory_kb()["vmhwm_kb"]

    app.bind(on_start=lambda *_a: Script(app, steps(), report, out).start(0.2))
    app.run()


def child(argv: list[str]) -> None:
    mode, *rest = argv
    {"start": child_start, "taps": child_taps, "flow": child_flow}[mode](*rest)


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        child(sys.argv[2:])
    else:
        sys.path.insert(0, str(REPO))
        from benchmarks import print_report

        print_report(run(), rows)
