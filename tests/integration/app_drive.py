"""Drive the real touchscreen app with touch events, as a citizen would, then report.

    python app_drive.py CONFIG OUT.json LANGUAGE [--plant-leak]

Runs ``kiosk run``'s app (simulated hardware) under the current DISPLAY and taps its
widgets through the window's own touch dispatch (Kivy's ``UnitTestTouch``): the language
button, consent, the NIK and No. KK on the keypad, the demographics on the keyboard,
chips and pickers, the photo, the fingers (the sensor needs no tap), a signature drawn
with a moving touch, Confirm. Then it taps Finish and looks through every widget for
anything of the citizen left behind. Writes a JSON report: record id, taps (every touch
that is not a character key), the visible labels of each screen, what leaked.

``--plant-leak`` enrolls no one: once the kiosk is up it leaves a NIK in a widget's text
and a picture in the review screen's portrait, as a screen that forgot to wipe would, and
reports what the leak search finds (the test that shows the search can fail).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from kiosk.app import create_app
from kiosk.config import load_config
from kiosk.logs import setup_logging
from tests.integration import leak_search
from tests.integration.clock_script import draw_signature, run_on_clock, visible, waits

# A citizen whose numbers appear nowhere in the kiosk's code or docs (the search for what
# is left of them after the wipe would otherwise find the docstrings' examples).
NIK = "7202014107900003"   # Poso Kota, a woman born 1 July 1990
KK = "7202010504180002"    # issued 5 April 2018
NAME = "SITI NUR'AINI AL-HAMID"
PLACE = "POSO"
ADDRESS = "JL. PULAU JAWA NO. 12"
SECRETS = (NAME, NIK, KK, ADDRESS, "410790", "050418 0002", "AL-HAMID")


def main() -> None:
    config_path, out_path, language = sys.argv[1:4]
    plant_leak = sys.argv[4:5] == ["--plant-leak"]
    config = load_config(config_path)
    # As `kiosk run` does (kiosk/cli.py): the kiosk's own handler and redaction, at the
    # level $KIOSK_LOG_LEVEL asks (the test asks DEBUG: the most a log could hold).
    setup_logging(os.environ.get("KIOSK_LOG_LEVEL", config["kiosk"]["log_level"]).upper())
    app = create_app(config)

    from kivy.core.window import Window
    from kivy.tests.common import UnitTestTouch
    from kivy.uix.label import Label
    from kivy.uix.modalview import ModalView

    report: dict[str, object] = {"taps": 0, "chars": 0, "screens": {}, "errors": []}

    def viewport(widget):
        """The window rectangle of the ScrollView around ``widget``, if any."""
        w = widget.parent
        while w is not None and w is not w.parent:
            if type(w).__name__ in ("ScrollView", "RecycleView", "PickerList"):
                x0, y0 = w.to_window(w.x, w.y)
                return (x0, y0, x0 + w.width, y0 + w.height)
            w = w.parent
        return None

    def labels(root) -> list[dict[str, object]]:
        out = []
        for w in root.walk():
            if isinstance(w, Label) and w.text and visible(w):
                x, y = w.to_window(w.center_x - w.texture_size[0] / 2,
                                   w.center_y - w.texture_size[1] / 2)
                box = [x, y, x + w.texture_size[0], y + w.texture_size[1]]
                view = viewport(w)
                if view is not None:  # scrolled out of sight: not on screen now
                    if box[3] <= view[1] or box[1] >= view[3]:
                        continue
                    box = [box[0], max(box[1], view[1]), box[2], min(box[3], view[3])]
                out.append({"text": w.text, "font_px": float(w.font_size), "box": box})
        return out

    def note_screen(name: str | None = None) -> None:
        name = name or app.screens.current
        found = labels(app.root)
        for modal in Window.children:
            if isinstance(modal, ModalView):
                found += labels(modal)
        report["screens"][name] = found  # type: ignore[index]

    def tap(widget, *, char: bool = False) -> None:
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        touch.touch_up()
        report["chars" if char else "taps"] += 1  # type: ignore[operator]

    def scroll_to(widget) -> None:
        parent = widget.parent
        while parent is not None and type(parent).__name__ != "ScrollView":
            parent = parent.parent
        if parent is not None:
            parent.scroll_to(widget, padding=10, animate=False)

    def screen():
        return app.screens.current_screen

    until, on = waits(app)

    def script() -> Iterator[object]:
        yield until(lambda: app.flow.runtime is not None and app.flow.accepting)
        yield 0.3
        # The GPIO help button (gpiozero's mock pin 22, pulled up: pressed = low) calls an
        # officer: the overlay shows, the status LED blinks fast.
        gpio = app.flow.runtime.devices["gpio"]
        pin = gpio.pin_factory.pin(22)
        pin.drive_low()
        yield until(lambda: app.overlays["help"].parent is not None, 5)
        yield 0.2
        pin.drive_high()
        note_screen("help")
        report["help_led"] = gpio.status
        close = next(w for w in app.overlays["help"].walk()
                     if type(w).__name__ == "PrimaryButton")
        tap(close)
        report["taps"] -= 1  # not part of enrolling
        yield until(lambda: app.overlays["help"].parent is None, 5)
        note_screen()
        tap(screen().ids["lang_id" if language == "id" else "lang_en"])
        yield on("consent")
        yield 0.2
        note_screen()
        tap(screen().ids.nav.ids.primary)
        yield on("identity")
        pad = screen().ids.keypad
        for digit in NIK + KK:
            tap(pad.key_for(digit), char=True)
        yield 0.2
        note_screen()
        report["rendered_hidden"] = rendered_hidden()  # "I agree" made the flow busy twice
        tap(pad.key_for("action"))
        yield on("demographics")
        yield 0.3
        keyboard = screen()  # its key_for: the keyboard or, for RT/RW, the keypad
        for text in (NAME, PLACE, ADDRESS, "3", "1"):
            for char in text:
                tap(keyboard.key_for(char), char=True)
            if text == ADDRESS:
                yield 0.2
                note_screen("demographics-keyboard")
            tap(keyboard.key_for("action"))
            yield 0.15
        yield until(lambda: not app.flow.form.focus)
        yield 0.2
        for field, value in (("religion", "Islam"), ("marital_status", "Kawin"),
                             ("blood_type", "O")):
            row = screen().ids[field]
            chips = next(w for w in row.walk() if hasattr(w, "chip_for"))
            chip = next((c for c in chips.chips() if c.value == value), None)
            if chip is None:
                raise LookupError(f"{field}: no chip {value!r} in {chips.options}")
            scroll_to(chip)
            yield 0.15
            tap(chip)
            yield 0.1
        for field in ("occupation", "kelurahan_desa"):
            row = screen().ids[field]
            scroll_to(row)
            yield 0.15
            tap(row)
            yield until(lambda: any(isinstance(w, ModalView) for w in Window.children))
            # The first option may lie where the row was: a tap there sooner is taken for
            # the row's second (kiosk.app.SECOND_TAP_S); a citizen reads the list first.
            yield 0.6
            modal = next(w for w in Window.children if isinstance(w, ModalView))
            note_screen(f"picker-{field}")
            option = next(w for w in modal.walk() if type(w).__name__ == "PickerOption"
                          and w.text)
            tap(option)
            yield until(lambda: not any(isinstance(w, ModalView) for w in Window.children))
            yield 0.6  # likewise the next row where the option was, once the list closed
        yield 0.2
        scroll_to(screen().ids.full_name)
        yield 0.2
        note_screen()
        tap(screen().ids.nav.ids.primary)
        yield on("portrait")
        yield until(lambda: screen().frames_shown > 5)
        note_screen()
        tap(screen().ids.take)
        yield until(lambda: bool(app.flow.portrait_jpeg) or bool(app.flow.message), 15)
        yield 0.2
        note_screen("portrait-photo")
        tap(screen().ids.nav.ids.primary)
        yield on("fingerprints")
        yield 0.3
        note_screen()
        yield until(lambda: app.screens.current == "signature", 60)
        yield 0.3
        note_screen()
        draw_signature(screen().ids.pad)
        report["taps"] += 1  # type: ignore[operator]
        yield 0.2
        tap(screen().ids.nav.ids.primary)
        yield on("review")
        yield 0.3
        note_screen()
        report["rendered_hidden"] += rendered_hidden()  # type: ignore[operator]
        # Change a step from review, then go back without changing it (not part of
        # enrolling): the step's screen offers Back, and entering the edit renders nothing
        # on the screens not shown.
        change = next(w for w in screen().walk() if type(w).__name__ == "SecondaryButton"
                      and getattr(w.parent, "step", "") == "signature")
        scroll_to(change)
        yield 0.2
        tap(change)
        yield on("signature")
        yield 0.2
        report["edit_left"] = screen().ids.nav.ids.cancel.text
        report["rendered_hidden"] += rendered_hidden()  # type: ignore[operator]
        tap(screen().ids.nav.ids.cancel)
        yield on("review")
        yield 0.2
        report["review_left"] = screen().ids.nav.ids.cancel.text
        report["taps"] -= 2  # type: ignore[operator]
        tap(screen().ids.nav.ids.primary)
        yield on("done")
        # Finish sits where Confirm was: a tap there sooner is taken for Confirm's second
        # (kiosk.app.SECOND_TAP_S); a citizen reads the receipt first.
        yield 0.6
        note_screen()
        report["record_id"] = app.flow.receipt_id
        tap(screen().ids.nav.ids.primary)  # Finish
        yield on("welcome")
        collected[0] = 0
        yield 0.3
        report["leaks"] = leaks()
        # The kiosk's own full collection after the wipe (it makes one while the welcome
        # waits): only then is the citizen's garbage gone rather than merely unreachable.
        yield until(lambda: collected[0] > 0, 10)
        report["live"] = live_leaks()
        report["rendered_hidden"] += rendered_hidden()  # type: ignore[operator]

    collected = [0]

    def count_full(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            collected[0] += 1

    def live_leaks() -> list[str]:
        """Every live Python container holding a string with the citizen's data
        (leak_search.live_leaks). This driver's own record of the screens is set aside on
        disk meanwhile; its constants and its own source text are skipped."""
        aside = Path(out_path + ".screens")
        aside.write_text(json.dumps(report.pop("screens"), ensure_ascii=False))

        def this_source(obj: object) -> bool:
            """A list of this script's own source or tokens (it types the citizen's
            numbers, so its text holds them), kept by the interpreter."""
            if not isinstance(obj, list) or not obj:
                return False
            head = obj[0]
            if isinstance(head, bytes):
                head = head.decode("utf-8", "replace")
            return isinstance(head, str) and (__doc__ or "")[:25] in head.lstrip('"\\n b')

        try:
            return leak_search.live_leaks(SECRETS, skip=(id(report),), own_source=this_source)
        finally:
            report["screens"] = json.loads(aside.read_text())
            aside.unlink()

    def rendered_hidden() -> list[str]:
        return leak_search.rendered_hidden(app)

    def leaks() -> list[str]:
        return leak_search.widget_leaks(app, SECRETS)

    def planted() -> Iterator[object]:
        from kivy.graphics.texture import Texture

        # Once every screen is built (the app then drops what the hidden ones rendered and
        # freezes the start-up's objects): a leak is planted in a running kiosk.
        yield until(lambda: app.flow.runtime is not None and app.flow.accepting
                    and gc.get_freeze_count() > 0)
        yield 0.3
        # A plain label (a field's digits), not a message line (a Note): the leak is
        # reported by the widget's class.
        keypad_text = next(w for w in app._screen("identity").walk()
                           if type(w) is Label and w.text == "")
        keypad_text.text = NIK
        yield 0.1  # a hidden screen's watched label that renders is dropped again: it was
        # A label the hidden screen does not watch (added after that), drawn there.
        stray = Label(text=NIK)
        app._screen("identity").add_widget(stray)
        stray.texture_update()
        app._screen("review").ids.portrait.texture = Texture.create(size=(4, 4))
        app.flow.stale = {"name": " ".join(NAME.split())}  # a name left in an object
        # A label that showed a NIK, emptied: its core label still holds the pixels.
        emptied = app._screen("welcome").ids.lang_id
        emptied.text = NIK
        emptied.texture_update()
        emptied.text = ""
        emptied.texture_update()
        yield 0.2
        report["leaks"] = leaks()
        report["live"] = live_leaks()

    steps = planted() if plant_leak else script()

    import gc

    gc.callbacks.append(count_full)
    run_on_clock(app, steps, report, out_path)
    app.run()


if __name__ == "__main__":
    main()
