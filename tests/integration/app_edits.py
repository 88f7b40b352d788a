"""Drive the real touchscreen app to the review page by touch, then change a part of it
from there as a citizen would (the Change buttons, Back), and report what the screens did.

    python app_edits.py CONFIG OUT.json SCENARIO LANGUAGE [SHOTS_DIR]

Runs ``kiosk run``'s app (simulated hardware) under the current DISPLAY, like
``app_drive.py``. Each scenario walks one edit path from review; the JSON report says what
the citizen saw on the way (screens, buttons, messages, the review's rows and pictures) and
lists errors. With SHOTS_DIR, the moments that matter are saved there as PNGs.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kiosk.app import create_app
from kiosk.config import load_config
from tests.integration.clock_script import (
    draw_signature,
    run_on_clock,
    tap,
    type_fields,
    visible,
    waits,
)

NIK = "7202014107900003"   # Poso Kota, a woman born 1 July 1990
KK = "7202010504180002"
#: The NIK typed again from review: a man born 1 May 1991 (another year, another sex, and
#: an odd year: the photo's background red, not blue as for 1990).
NEW_NIK = "7202010105910004"
TYPED = ("SITI NUR'AINI", "POSO", "JL. MAWAR 1", "3", "1")  # name, place, address, RT, RW
SETTLED_S = 0.6  # a citizen reads the new screen before the next tap (app_slips.py)


def main() -> None:
    config_path, out_path, scenario, language = sys.argv[1:5]
    shots = Path(sys.argv[5]) if len(sys.argv) > 5 else None
    app = create_app(load_config(config_path))

    from kivy.core.window import Window
    from kivy.tests.common import UnitTestTouch
    from kivy.uix.button import Button
    from kivy.uix.label import Label
    from kivy.uix.modalview import ModalView

    report: dict[str, Any] = {"errors": []}
    until, on = waits(app)

    def screen() -> Any:
        return app.screens.current_screen

    def nav(which: str) -> Any:
        return screen().ids.nav.ids[which]

    def shot(name: str) -> None:
        if shots is not None:
            Window.screenshot(name=str(shots / f"{Window.width}x{Window.height}-{language}-"
                                       f"{scenario}-{name}.png"))

    def scroll_to(widget: Any) -> None:
        parent = widget.parent
        while parent is not None and type(parent).__name__ != "ScrollView":
            parent = parent.parent
        if parent is not None:
            parent.scroll_to(widget, padding=10, animate=False)

    def texts() -> list[str]:
        """The visible labels' texts of the screen and any overlay."""
        roots = [app.root] + [w for w in Window.children if isinstance(w, ModalView)]
        return [w.text for root in roots for w in root.walk()
                if isinstance(w, Label) and w.text and visible(w)]

    def boxes() -> list[dict[str, Any]]:
        """Each visible non-button label's rendered text box in the window (the current
        screen, not scrolled out of its view)."""
        found = []
        for w in screen().walk():
            if not (isinstance(w, Label) and not isinstance(w, Button) and w.text
                    and visible(w)):
                continue
            width, height = w.texture_size
            x, y = w.to_window(w.center_x - width / 2, w.center_y - height / 2)
            found.append({"text": w.text, "box": [x, y, x + width, y + height],
                          "kind": getattr(w, "kind", None)})  # a Note's colour
        return found

    def change(step: str) -> Any:
        """The review's Change button of ``step``."""
        head = next(w for w in screen().walk()
                    if type(w).__name__ == "SectionHead" and w.step == step)
        return next(w for w in head.children if isinstance(w, Button))

    def review_state() -> dict[str, Any]:
        s = app.flow.summary
        d = s.demographics if s is not None else None
        return {
            "screen": app.screens.current,
            "note": screen().note if hasattr(screen(), "note") else "",
            "nik": s.nik.digits if s else None,
            "kk": s.kk.digits if s else None,
            "born": d.date_of_birth.isoformat() if d else None,
            "sex": d.sex if d else None,
            "name": d.full_name if d else None,
            "religion": d.religion if d else None,
            "village": d.kelurahan_desa if d else None,
            "portrait": digest(s.portrait_jpeg if s else b""),
            "signature": digest(s.signature_png if s else b""),
            "fingers": {c: digest(app.flow.session.finger_png(c))
                        for c in (s.fingers_captured or ())} if s else {},
            "rows": [r for r in texts() if ":" in r],
        }

    def digest(data: bytes | None) -> str:
        return hashlib.sha256(data or b"").hexdigest()[:12]

    # -- to review, by touch ---------------------------------------------------------------
    def to_review() -> Iterator[object]:
        yield until(lambda: app.flow.runtime is not None and app.flow.accepting)
        yield SETTLED_S
        tap(screen().ids["lang_" + language])
        yield on("consent")
        yield SETTLED_S
        tap(nav("primary"))
        yield on("identity")
        yield SETTLED_S
        yield from type_identity(NIK)
        tap(screen().ids.keypad.key_for("action"))
        yield on("demographics")
        yield SETTLED_S
        yield from type_fields(screen(), TYPED)
        yield until(lambda: not app.flow.form.focus)
        yield SETTLED_S
        for field, value in (("religion", "Islam"), ("marital_status", "Kawin")):
            yield from chip(field, value)
        for field in ("occupation", "kelurahan_desa"):
            yield from pick(field, 0)
        tap(nav("primary"))
        yield on("portrait")
        yield from photo()
        tap(nav("primary"))
        yield on("fingerprints")
        yield until(lambda: app.screens.current == "signature", 90)
        yield SETTLED_S
        draw_signature(screen().ids.pad)
        yield 0.3
        tap(nav("primary"))
        yield on("review")
        yield SETTLED_S
        report["before"] = review_state()

    def type_identity(nik: str) -> Iterator[object]:
        """Each field tapped, emptied (Change shows the numbers the review had), typed."""
        pad = screen().ids.keypad
        for field, digits in (("nik", nik), ("kk", KK)):
            tap(screen().ids[field])
            yield 0.1
            for _ in range(len(getattr(app.flow.identity, field))):
                tap(pad.key_for("backspace"))
            for digit in digits:
                tap(pad.key_for(digit))
        yield 0.2

    def chip(field: str, value: str) -> Iterator[object]:
        row = screen().ids[field]
        chips = next(w for w in row.walk() if hasattr(w, "chip_for"))
        found = next(c for c in chips.chips() if c.value == value)
        scroll_to(found)
        yield 0.2
        tap(found)
        yield 0.3

    def pick(field: str, index: int) -> Iterator[object]:
        row = screen().ids[field]
        scroll_to(row)
        yield 0.2
        tap(row)
        yield until(lambda: any(isinstance(w, ModalView) for w in Window.children))
        yield SETTLED_S
        modal = next(w for w in Window.children if isinstance(w, ModalView))
        options = [w for w in modal.walk() if type(w).__name__ == "PickerOption" and w.text]
        tap(options[index])
        yield until(lambda: not any(isinstance(w, ModalView) for w in Window.children))
        yield SETTLED_S

    def photo() -> Iterator[object]:
        yield until(lambda: screen().frames_shown > 3)
        yield SETTLED_S
        tap(screen().ids.take)
        yield until(lambda: bool(app.flow.portrait_jpeg), 15)
        yield SETTLED_S

    def open_change(step: str) -> Iterator[object]:
        button = change(step)
        scroll_to(button)
        yield 0.3
        tap(button)
        # Not "not busy": on the fingers the sensor waits for a finger (busy) at once.
        yield until(lambda: app.screens.current == step)
        yield SETTLED_S
        report.setdefault("left", []).append(nav("cancel").text)

    def back() -> Iterator[object]:
        tap(nav("cancel"))
        yield SETTLED_S
        yield until(lambda: not app.flow.busy, 15)
        yield SETTLED_S

    # -- the scenarios -------------------------------------------------------------------
    def identity_new_nik() -> Iterator[object]:
        """Change the NIK to one of another birth date and sex, then Next on the details."""
        yield from to_review()
        yield from open_change("identity")
        shot("identity")
        yield SETTLED_S
        report["typed_shown"] = [app.flow.identity.nik, app.flow.identity.kk]
        report["fields_shown"] = [screen().ids[f].value for f in ("nik", "kk")]
        yield from type_identity(NEW_NIK)
        tap(screen().ids.keypad.key_for("action"))
        yield until(lambda: app.screens.current == "demographics" and not app.flow.busy)
        yield SETTLED_S
        report["details"] = {"texts": texts(), "message": app.flow.message.text(language),
                             "left": nav("cancel").text, "boxes": boxes()}
        shot("details")
        tap(nav("primary"))
        yield from photo_again()
        report["after"] = review_state()
        shot("review")

    def photo_again() -> Iterator[object]:
        """After a new NIK of another background colour: the photo asked for again, Back
        tried, then a photo taken and used; to review."""
        yield until(lambda: not app.flow.busy and app.screens.current != "demographics", 15)
        yield SETTLED_S
        report["next_screen"] = app.screens.current
        if app.screens.current != "portrait":
            return
        report["portrait_note"] = app.flow.message.text(language)
        report["portrait_boxes"] = boxes()
        shot("portrait-again")
        tap(nav("cancel"))
        yield SETTLED_S
        report["portrait_back"] = {"screen": app.screens.current,
                                   "note": app.flow.message.text(language)}
        yield from photo()
        report["new_photo"] = digest(app.flow.portrait_jpeg)
        tap(nav("primary"))
        yield until(lambda: not app.flow.busy and app.screens.current == "review", 15)
        yield SETTLED_S

    def identity_new_nik_back() -> Iterator[object]:
        """Change the NIK to one of another birth date and sex, then Back on the details."""
        yield from to_review()
        yield from open_change("identity")
        yield from type_identity(NEW_NIK)
        tap(screen().ids.keypad.key_for("action"))
        yield until(lambda: app.screens.current == "demographics" and not app.flow.busy)
        yield SETTLED_S
        tap(nav("cancel"))
        yield from photo_again()
        report["back"] = {"screen": app.screens.current,
                          "message": app.flow.message.text(language), "texts": texts()}
        shot("back")
        if app.screens.current == "review":
            report["after"] = review_state()

    def identity_back() -> Iterator[object]:
        """Change the NIK, type half of it, Back."""
        yield from to_review()
        yield from open_change("identity")
        pad = screen().ids.keypad
        for digit in NEW_NIK[:7]:
            tap(pad.key_for(digit))
        yield from back()
        report["after"] = review_state()
        yield from open_change("identity")
        report["typed_shown"] = [app.flow.identity.nik, app.flow.identity.kk]

    def demographics_half_typed() -> Iterator[object]:
        """Change the details: a letter typed and another religion chosen, then Back; then
        Change again (what does the form show?), and Back without changing."""
        yield from to_review()
        yield from open_change("demographics")
        scroll_to(screen().ids.full_name)
        yield 0.2
        tap(screen().ids.full_name)
        yield SETTLED_S
        tap(screen().ids.keyboard.key_for("Q"))
        yield 0.2
        tap(screen().ids.keyboard.key_for("action"))
        yield 0.2
        app.flow.form_focus(None)
        yield SETTLED_S
        yield from chip("religion", "Kristen")
        yield from back()
        report["after_back"] = review_state()
        yield from open_change("demographics")
        report["form_again"] = {"name": app.flow.form.values["full_name"],
                                "religion": app.flow.form.values["religion"]}
        shot("again")
        yield from back()
        report["after_second_back"] = review_state()

    def demographics_changed() -> Iterator[object]:
        """Change the details: another village from the list, Next."""
        yield from to_review()
        yield from open_change("demographics")
        app.flow.form_focus(None)
        yield SETTLED_S
        yield from pick("kelurahan_desa", 1)
        yield from pick("occupation", 2)
        tap(nav("primary"))
        yield until(lambda: app.screens.current == "review" and not app.flow.busy, 15)
        yield SETTLED_S
        report["after"] = review_state()
        report["village"] = app.flow.summary.demographics.kelurahan_desa
        yield from open_change("demographics")  # again: where does the page open?
        app.flow.form_focus(None)
        yield SETTLED_S
        report["again_scroll_y"] = round(screen().ids.scroll.scroll_y, 3)

    def portrait_back() -> Iterator[object]:
        """Change the photo: a new photo taken, then Back; Change again; a new photo used."""
        yield from to_review()
        yield from open_change("portrait")
        yield from photo()
        report["taken"] = digest(app.flow.portrait_jpeg)
        shot("taken")
        yield from back()
        report["after_back"] = review_state()
        yield from open_change("portrait")
        report["again"] = {"photo_shown": screen().photo_texture is not None,
                           "primary": nav("primary").text,
                           "take_disabled": screen().ids.take.disabled}
        shot("again")
        if app.flow.portrait_jpeg:  # the old photo again: Use it
            tap(nav("primary"))
            yield until(lambda: not app.flow.busy, 15)
            yield SETTLED_S
            report["use_stale"] = {"screen": app.screens.current,
                                   "message": app.flow.message.text(language)}
            if app.screens.current == "portrait":
                tap(screen().ids.retake)
                yield SETTLED_S
        if app.screens.current == "portrait":
            yield from photo()
            new = digest(app.flow.portrait_jpeg)
            tap(nav("primary"))
            yield until(lambda: app.screens.current == "review" and not app.flow.busy, 15)
            yield SETTLED_S
            report["after_use"] = review_state()
            report["new"] = new

    def fingerprints_back() -> Iterator[object]:
        """Change the fingerprints: two fingers again, then Back while the sensor waits for
        the third."""
        yield from to_review()
        yield from open_change("fingerprints")
        yield until(lambda: app.flow.finger_index >= 2 and app.flow.waiting_finger, 30)
        yield 0.3
        report["at_back"] = {"index": app.flow.finger_index,
                             "disabled": nav("cancel").disabled}
        shot("midway")
        tap(nav("cancel"))
        yield 2.0
        report["after_tap"] = app.screens.current
        yield until(lambda: app.screens.current == "review" and not app.flow.busy, 30)
        yield 1.5  # any late answer of the sensor
        report["after_back"] = review_state()
        shot("review")
        yield from open_change("fingerprints")
        report["again"] = {"index": app.flow.finger_index,
                           "finger": app.flow.current_finger}
        yield until(lambda: app.screens.current == "review" and not app.flow.busy, 90)
        yield SETTLED_S
        report["after_redo"] = review_state()

    def fingerprints_back_waiting() -> Iterator[object]:
        """Change the fingerprints; no finger comes to the sensor (it waits up to its
        timeout): Back. The finger placed afterwards, and Change again."""
        yield from to_review()
        sensor = app.flow.runtime.devices["fingerprint"]
        sensor.no_finger = True
        yield from open_change("fingerprints")
        yield until(lambda: app.flow.waiting_finger, 10)
        yield SETTLED_S
        report["at_back"] = {"busy": app.flow.busy, "disabled": nav("cancel").disabled}
        tap(nav("cancel"))
        yield 1.0
        report["after_tap"] = app.screens.current
        yield until(lambda: app.screens.current == "review" and not app.flow.busy, 30)
        sensor.no_finger = False  # the finger comes: the sensor still waiting scans it
        yield 2.0
        report["after_back"] = review_state()
        shot("review")
        yield from open_change("fingerprints")
        report["again"] = app.flow.current_finger
        yield until(lambda: app.screens.current == "review" and not app.flow.busy, 90)
        yield SETTLED_S
        report["after_redo"] = review_state()

    def signature_back() -> Iterator[object]:
        """Change the signature: Clear, Back; Change again, a new one drawn, Done."""
        yield from to_review()
        yield from open_change("signature")
        tap(screen().ids["clear"])
        yield SETTLED_S
        yield from back()
        report["after_back"] = review_state()
        yield from open_change("signature")
        report["pad_strokes"] = len(screen().ids.pad.strokes)
        pad = screen().ids.pad
        from kivy.tests.common import UnitTestTouch as T

        x0, y0 = pad.to_window(pad.x + pad.width * 0.2, pad.y + pad.height * 0.7)
        touch = T(x0, y0)
        touch.touch_down()
        for i in range(1, 30):
            touch.touch_move(x0 + i * pad.width * 0.02, y0 - (i % 4) * pad.height * 0.08)
        touch.touch_up()
        yield 0.3
        tap(nav("primary"))
        yield until(lambda: app.screens.current == "review" and not app.flow.busy, 15)
        yield SETTLED_S
        report["after_new"] = review_state()

    def idle_while_editing() -> Iterator[object]:
        """Help, then the idle warning, then the idle wipe, while changing the details."""
        yield from to_review()
        yield from open_change("demographics")
        tap(nav("help"))
        yield until(lambda: app.overlays["help"].parent is not None, 5)
        yield SETTLED_S
        report["help"] = texts()
        shot("help")
        close = next(w for w in app.overlays["help"].walk()
                     if type(w).__name__ == "PrimaryButton")
        tap(close)
        yield until(lambda: app.overlays["help"].parent is None, 5)
        yield SETTLED_S
        flow = app.flow
        clock = flow.clock  # nobody touches the screen: the idle warning, then the wipe
        flow.clock = lambda: clock() + flow.settings.idle_timeout_s + 1
        yield until(lambda: app.overlays["idle"].parent is not None, 5)
        yield SETTLED_S
        report["idle"] = texts()
        shot("idle")
        flow.clock = lambda: clock() + 3600
        yield until(lambda: app.screens.current == "welcome", 5)
        yield SETTLED_S
        report["wiped"] = {"screen": app.screens.current, "session": flow.session is not None,
                           "editing": flow.editing}

    def double_taps() -> Iterator[object]:
        """Change tapped twice quickly, then Back tapped twice quickly."""
        yield from to_review()
        button = change("signature")
        scroll_to(button)
        yield 0.3
        x, y = button.to_window(*button.center)
        for _ in range(2):
            t = UnitTestTouch(x, y)
            t.touch_down()
            t.touch_up()
            yield 0.15
        yield SETTLED_S
        report["after_change_twice"] = {"screen": app.screens.current,
                                        "strokes": len(screen().ids.pad.strokes)
                                        if app.screens.current == "signature" else None}
        left = nav("cancel")
        x, y = left.to_window(*left.center)
        for _ in range(2):
            t = UnitTestTouch(x, y)
            t.touch_down()
            t.touch_up()
            yield 0.15
        yield until(lambda: not app.flow.busy, 15)
        yield SETTLED_S
        report["after_back_twice"] = {
            "screen": app.screens.current,
            "cancel_asked": app.overlays["cancel"].parent is not None}

    scenarios = {f.__name__: f for f in (
        identity_new_nik, identity_new_nik_back, identity_back, demographics_half_typed,
        demographics_changed, portrait_back, fingerprints_back, fingerprints_back_waiting,
        signature_back, idle_while_editing, double_taps)}
    run_on_clock(app, scenarios[scenario](), report, out_path)
    app.run()


if __name__ == "__main__":
    main()
