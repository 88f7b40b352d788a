"""Enroll citizen after citizen on the real touchscreen app, by touch, until killed.

    python app_kill_drive.py CONFIG EVENTS RECEIPTS SEED [PREVIOUS.json]

Runs ``kiosk run``'s app (simulated hardware) under the current DISPLAY and, scripted on
its own clock (``clock_script.run_on_clock``), taps one synthetic citizen
(``kiosk.enrollment.synthetic``, from ``SEED``) after another from the welcome to the
receipt, as ``app_drive.py`` taps one: a language, consent, the NIK and No. KK on the
keypad, the text fields on the keyboard, chips and lists, the photo, the fingers (the
sensor needs no tap), a signature, Confirm, and Finish after a pause on the receipt. It
never stops by itself: ``test_touch_kill.py`` SIGKILLs it.

``RECEIPTS``: each time the done screen shows a receipt number, that number is appended
and the file fsync'd before anything else happens: the number was confirmed to a person.

``EVENTS``: one line per event, appended with a single ``write`` (readable while the app
runs; no fsync: the reader is on this machine), ``<seconds since start> <kind> <detail>``:

* ``recover`` / ``recovered [ids]`` around start-up recovery (the ids it discarded);
* ``up {json}`` once the kiosk shows the welcome and accepts, its screens all built: what
  start-up left (the screen, whether it accepts, the self-service records in progress in
  its journal, what of ``PREVIOUS.json``'s citizens any widget shows);
* ``citizen {json}`` the strings a citizen is about to type (for the next start's search);
* ``phase <name>``: ``welcome``, ``consent``, ``identity`` (the typing on the keypad),
  ``demographics`` (on the keyboard), ``portrait``, ``fingerprints``, ``signature``,
  ``review``, ``done``;
* ``commit <step>`` / ``committed <step>`` around each durable commit (the record's first
  step, each later step) and ``seal`` / ``sealed <id>`` around sealing, from the worker
  thread that makes them;
* ``capture <device>`` / ``captured <device>`` around each capture;
* ``receipt <id>`` once the number is in ``RECEIPTS``.

When the script fails (a wait in vain, a wrong receipt) the app stops and ``EVENTS.json``
holds the error (``clock_script.run_on_clock``'s report).

The last event before a kill says where the kill landed.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kiosk.app import create_app
from kiosk.config import load_config
from kiosk.enrollment.synthetic import citizens
from tests.integration import leak_search
from tests.integration.clock_script import draw_signature, run_on_clock, tap, waits

KEYBOARD_CHARS = set("1234567890QWERTYUIOPASDFGHJKL'ZXCVBNM-.,/ ")
#: Longer than the kiosk waits after a change of view before it takes a tap (SECOND_TAP_S).
SETTLED_S = 0.6


class Events:
    """The events file: one ``os.write`` a line, from any thread."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.t0 = time.monotonic()

    def __call__(self, kind: str, detail: str = "") -> None:
        line = f"{time.monotonic() - self.t0:.3f} {kind} {detail}".rstrip() + "\n"
        os.write(self.fd, line.encode())


def confirm_receipt(path: str, receipt: str) -> None:
    """Append ``receipt`` to ``path`` and fsync it: once this returns, it was shown."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{receipt}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def instrument(runtime: Any, event: Events) -> None:
    """Report each durable commit, the seal and each capture (begin and end) as events:
    the methods of this runtime's store and devices, wrapped on the instances."""

    def wrap(obj: Any, name: str, begin: str, end: str,
             detail: Callable[[inspect.BoundArguments], str]) -> None:
        inner = getattr(obj, name)
        signature = inspect.signature(inner)

        @functools.wraps(inner)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            said = detail(signature.bind(*args, **kwargs))
            event(begin, said)
            result = inner(*args, **kwargs)
            event(end, said)
            return result

        setattr(obj, name, wrapped)

    store = runtime.store
    wrap(store, "begin", "commit", "committed", lambda a: a.arguments["step"])
    wrap(store, "save_step", "commit", "committed", lambda a: a.arguments["step"])
    wrap(store, "seal", "seal", "sealed", lambda a: a.arguments["record_id"])
    for kind, method in (("fingerprint", "capture"), ("camera", "capture_still")):
        device = runtime.devices.get(kind)
        if device is not None:
            wrap(device, method, "capture", "captured", lambda _a, kind=kind: kind)


def watch_recovery(event: Events) -> None:
    """Report start-up recovery (``kiosk.recovery.recover_unfinished``, as the runtime calls
    it when it opens) as events: ``recover``, then ``recovered`` with the ids discarded."""
    import kiosk.runtime

    inner = kiosk.runtime.recover_unfinished

    @functools.wraps(inner)
    def recover(*args: Any, **kwargs: Any) -> Any:
        event("recover")
        result = inner(*args, **kwargs)
        event("recovered", json.dumps(result.discarded))
        return result

    kiosk.runtime.recover_unfinished = recover


def main() -> None:
    config_path, events_path, receipts_path, seed = sys.argv[1:5]
    previous: list[str] = json.loads(Path(sys.argv[5]).read_text()) if sys.argv[5:] else []
    rng = random.Random(int(seed))
    people = citizens(int(seed))
    event = Events(events_path)
    watch_recovery(event)
    app = create_app(load_config(config_path))

    from kivy.core.window import Window
    from kivy.uix.modalview import ModalView

    report: dict[str, Any] = {"errors": [], "receipts": []}

    def screen() -> Any:
        return app.screens.current_screen

    def modal_open() -> bool:
        return any(isinstance(w, ModalView) for w in Window.children)

    until, on = waits(app)

    def started() -> Iterator[object]:
        """Up: the welcome, accepting, every screen built; then what start-up left."""
        yield until(lambda: app.flow.runtime is not None and app.flow.accepting
                    and app.screens.current == "welcome" and not app._pending, 60)
        runtime = app.flow.runtime
        instrument(runtime, event)
        unfinished = [info.id for info in runtime.journal.records("in_progress")
                      if not info.assisted]
        event("up", json.dumps({
            "screen": app.screens.current, "accepting": app.flow.accepting,
            "in_progress": unfinished,
            "leaks": leak_search.widget_leaks(app, previous) if previous else [],
            "session": app.flow.session is not None}))

    def citizen() -> Iterator[object]:
        person = next(people)
        d = person.demographics
        typed = ["".join(c for c in str(v).upper() if c in KEYBOARD_CHARS)
                 for v in (d.full_name, d.place_of_birth, d.address, d.rt, d.rw)]
        digits = ["".join(c for c in number if c.isdigit()) for number in (person.nik, person.kk)]
        event("citizen", json.dumps([*digits, typed[0], typed[2]]))
        event("phase", "welcome")
        yield rng.uniform(0.2, 1.5)  # a citizen reads the welcome
        tap(screen().ids["lang_" + rng.choice(("id", "en"))])
        yield on("consent")
        event("phase", "consent")
        yield SETTLED_S  # a tap sooner near the last one is taken for its second
        tap(screen().ids.nav.ids.primary)
        yield on("identity")
        event("phase", "identity")
        pad = screen().ids.keypad
        for number in digits:
            for digit in number:
                tap(pad.key_for(digit))
                yield 0.01
        yield 0.1
        tap(pad.key_for("action"))
        yield on("demographics")
        event("phase", "demographics")
        yield SETTLED_S
        keyboard = screen()  # its key_for: the keyboard or, for RT/RW, the keypad
        for text in typed:
            for char in text:
                tap(keyboard.key_for(char))
                yield 0.005
            tap(keyboard.key_for("action"))
            yield 0.15
        yield until(lambda: not app.flow.form.focus)
        yield 0.2
        for field in ("religion", "marital_status", "blood_type"):
            chips = next(w for w in screen().ids[field].walk() if hasattr(w, "chip_for"))
            options = chips.chips()
            chip = next((c for c in options if c.value == getattr(d, field)), options[0])
            screen().ids.scroll.scroll_to(chip, padding=10, animate=False)
            yield 0.15
            tap(chip)
            yield 0.1
        for field in ("occupation", "kelurahan_desa"):
            row = screen().ids[field]
            screen().ids.scroll.scroll_to(row, padding=10, animate=False)
            yield 0.15
            tap(row)
            yield until(modal_open, 10)
            yield SETTLED_S  # the first option may lie where the row was
            modal = next(w for w in Window.children if isinstance(w, ModalView))
            option = next(w for w in modal.walk() if type(w).__name__ == "PickerOption"
                          and w.text)
            tap(option)
            yield until(lambda: not modal_open(), 10)
            yield SETTLED_S
        tap(screen().ids.nav.ids.primary)
        yield on("portrait")
        event("phase", "portrait")
        yield SETTLED_S
        yield until(lambda: screen().frames_shown > 2, 15)
        tap(screen().ids.take)
        yield until(lambda: bool(app.flow.portrait_jpeg) and not app.flow.busy, 20)
        yield SETTLED_S
        tap(screen().ids.nav.ids.primary)
        yield on("fingerprints")
        event("phase", "fingerprints")
        yield until(lambda: app.screens.current == "signature" and not app.flow.busy, 90)
        event("phase", "signature")
        yield SETTLED_S
        draw_signature(screen().ids.pad)
        yield 0.2
        tap(screen().ids.nav.ids.primary)
        yield on("review")
        event("phase", "review")
        yield SETTLED_S
        tap(screen().ids.nav.ids.primary)  # Confirm: the seal
        yield on("done")
        shown = screen().ids.receipt.text
        if not shown or shown != app.flow.receipt_id:
            raise AssertionError(f"done screen shows {shown!r}, the flow {app.flow.receipt_id!r}")
        confirm_receipt(receipts_path, shown)
        report["receipts"].append(shown)
        event("receipt", shown)
        event("phase", "done")
        yield rng.uniform(SETTLED_S, 2.0)  # a citizen reads the receipt
        tap(screen().ids.nav.ids.primary)  # Finish
        yield on("welcome")

    def script() -> Iterator[object]:
        yield from started()
        while True:
            yield from citizen()

    run_on_clock(app, script(), report, events_path + ".json")
    app.run()


if __name__ == "__main__":
    main()
