"""Drive the real touchscreen app through an officer's visit, by touch, and report.

    python app_staff.py CONFIG OUT.json LANGUAGE

Runs ``kiosk run``'s app (simulated hardware, the simulated staff card out of its reader)
under the current DISPLAY, on battery (the power banner up: the least room). A citizen
alone reaches the finger step in LANGUAGE; the sensor fails the first finger three times.
The officer puts the staff card in (``reader.insert_card()``: the driver's hand), types a
wrong PIN on the pad, then the right one; the sensor waits for the finger meanwhile, and
"Cannot be scanned" opens the reasons; a reason. The officer takes the card out and the
citizen finishes alone. Then the officer's home: the card in at the welcome, the PIN, the
home, Log out. Writes a JSON report: the visible labels at each point (text and window
box), what the widgets said, the record id.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from kiosk.app import create_app
from kiosk.config import load_config
from tests.integration.clock_script import (
    draw_signature,
    run_on_clock,
    type_fields,
    visible,
    waits,
)

NIK = "7202014107900003"
KK = "7202010504180002"
TYPED = ("SITI NUR'AINI", "POSO", "JL. MAWAR 1", "3", "1")  # name, place, address, RT, RW
PIN = "246810"
WRONG_PIN = "975319"
#: Longer than the kiosk waits after a view change before it takes a tap (SECOND_TAP_S).
SETTLED_S = 0.6


def main() -> None:
    config_path, out_path, language = sys.argv[1:4]
    app = create_app(load_config(config_path))

    from kivy.core.window import Window
    from kivy.tests.common import UnitTestTouch
    from kivy.uix.label import Label
    from kivy.uix.modalview import ModalView

    report: dict[str, Any] = {"errors": [], "views": {}}

    def tap(widget: Any) -> None:
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        touch.touch_up()

    def screen() -> Any:
        return app.screens.current_screen

    def nav(which: str) -> Any:
        return screen().ids.nav.ids[which]

    def opened(name: str) -> bool:
        overlay = app.overlays.get(name)
        return overlay is not None and overlay.parent is not None

    until, on = waits(app)

    def viewport(widget: Any) -> tuple[float, float, float, float] | None:
        w = widget.parent
        while w is not None and w is not w.parent:
            if type(w).__name__ == "ScrollView":
                x0, y0 = w.to_window(w.x, w.y)
                return (x0, y0, x0 + w.width, y0 + w.height)
            w = w.parent
        return None

    def labels(root: Any) -> list[dict[str, Any]]:
        """Each visible label's text and the window box of its rendered text (what a
        scroll view shows of it)."""
        out = []
        for w in root.walk():
            if isinstance(w, Label) and w.text and visible(w):
                width, height = w.texture_size
                x, y = w.to_window(w.center_x - width / 2, w.center_y - height / 2)
                box = [x, y, x + width, y + height]
                view = viewport(w)
                if view is not None:
                    if box[3] <= view[1] or box[1] >= view[3]:
                        continue  # scrolled out of sight
                    box = [box[0], max(box[1], view[1]), box[2], min(box[3], view[3])]
                out.append({"text": w.text, "box": box})
        return out

    def note(name: str) -> None:
        """What shows now: the screen's labels and those of every overlay open."""
        found = labels(app.root)
        for modal in Window.children:
            if isinstance(modal, ModalView):
                found += labels(modal)
        report["views"][name] = {"screen": app.screens.current, "labels": found,
                                 "language": app.flow.language}

    def type_pin(pin: str) -> Iterator[object]:
        keypad = app.overlays["pin"].ids.keypad
        for digit in pin:
            tap(keypad.key_for(digit))
            yield 0.05

    def script() -> Iterator[object]:
        yield until(lambda: app.flow.runtime is not None and app.flow.accepting)
        app._poll.cancel()  # the script says the power: on battery, still accepting
        app._show_acceptance = lambda *_args: None  # a check in flight answered mains after
        app.flow.set_acceptance(True, "", True)
        yield SETTLED_S
        devices = app.flow.runtime.devices
        card, scanner = devices["card"], devices["fingerprint"]
        report["card_in_at_start"] = card.is_card_present

        # -- a citizen alone, to the finger step ----------------------------------------
        tap(screen().ids["lang_" + language])
        yield on("consent")
        yield SETTLED_S
        tap(nav("primary"))
        yield on("identity")
        yield SETTLED_S
        pad = screen().ids.keypad
        for digit in NIK + KK:
            tap(pad.key_for(digit))
        yield 0.2
        tap(pad.key_for("action"))
        yield on("demographics")
        yield SETTLED_S
        yield from type_fields(screen(), TYPED, tap)
        yield until(lambda: not app.flow.form.focus)
        flow = app.flow  # the chips and lists are other tests'; here only their values
        for field, value in (("religion", "Islam"), ("marital_status", "Kawin"),
                             ("occupation", "Petani/Pekebun")):
            flow.form_choose(field, value)
        flow.form_choose("kelurahan_desa", flow.picker_options("kelurahan_desa")[0][0])
        yield SETTLED_S
        tap(nav("primary"))
        yield on("portrait")
        yield until(lambda: screen().frames_shown > 3)
        yield SETTLED_S
        tap(screen().ids.take)
        yield until(lambda: bool(app.flow.portrait_jpeg), 15)
        yield SETTLED_S
        scanner.fail_every = 1  # every scan fails at once (the sensor's own fault switch)
        tap(nav("primary"))
        yield until(lambda: app.screens.current == "fingerprints", 15)
        first = app.flow.current_finger
        report["first_finger"] = first
        for tries in (1, 2, 3):
            yield until(lambda tries=tries: app.flow.finger_tries == tries
                        and not app.flow.busy, 30)
            yield SETTLED_S
            if tries < 3:
                tap(nav("primary"))  # Try again
        note("fingers-alone")
        button = screen().ids.missing
        report["alone"] = {"missing_shown": visible(button), "help": nav("help").role}

        # -- the officer comes: the card, a wrong PIN, the right one ---------------------
        card.insert_card()
        yield until(lambda: opened("pin"), 5)
        yield SETTLED_S
        note("pin-empty")
        yield from type_pin(WRONG_PIN)
        yield 0.2
        dots = app.overlays["pin"].ids.dots
        report["dots_typed"] = dots.length
        note("pin-typed")
        tap(app.overlays["pin"].ids.keypad.key_for("action"))
        yield until(lambda: bool(app.flow.pin_message) and not app.flow.pin_busy, 10)
        yield SETTLED_S
        note("pin-wrong")
        report["pin_message"] = app.overlays["pin"].ids.message.text
        report["dots_after_wrong"] = dots.length
        yield from type_pin(PIN)
        yield 0.2
        note("pin-right-typed")
        tap(app.overlays["pin"].ids.keypad.key_for("action"))
        yield until(lambda: bool(app.flow.staff_id) and not opened("pin"), 10)
        yield SETTLED_S
        note("fingers-officer")
        report["staff_id"] = app.flow.staff_id
        # Each key keeps the touch that last pressed it, with its time: in time order the
        # keys would spell the PIN. None may be left once the pad has closed.
        report["pin_touches_kept"] = [
            getattr(w, "text", "") for w in app.overlays["pin"].walk(restrict=True)
            if getattr(getattr(w, "last_touch", None), "time_start", None) is not None]
        report["officer"] = {"missing_shown": visible(button), "disabled": button.disabled,
                             "text": button.text, "help": nav("help").role,
                             "try_again": nav("primary").role}

        # -- the sensor waits for the finger; "Cannot be scanned" meanwhile ----------------
        scanner.fail_every = 0
        scanner.no_finger = True
        tap(nav("primary"))  # Try again: the sensor waits
        yield until(lambda: app.flow.waiting_finger, 5)
        yield SETTLED_S
        report["while_waiting"] = {"busy": app.flow.busy, "disabled": button.disabled}
        tap(button)
        yield until(lambda: opened("missing"), 5)
        yield SETTLED_S
        note("reasons")
        overlay = app.overlays["missing"]
        report["reasons"] = [overlay.ids[f"reason{i}"].text for i in range(5)]
        report["reasons_finger"] = overlay.ids.finger.text
        tap(overlay.ids.reason1)  # the second reason: bandaged
        scanner.no_finger = False  # the next fingers come to the sensor
        yield until(lambda: not opened("missing") and app.flow.current_finger != first, 10)
        yield SETTLED_S
        note("fingers-missing")
        report["after_reason"] = {
            "missing": dict(app.flow.fingers_missing), "hands": list(screen().ids.hands.missing),
            "done": list(screen().done),
            "progress": screen().ids.progress.text, "legend": screen().ids.legend.text}

        # -- the officer leaves; the citizen finishes alone ------------------------------
        card.remove_card()
        yield until(lambda: not app.flow.staff_id, 5)
        yield SETTLED_S
        report["after_card_out"] = {"missing_shown": visible(button),
                                    "screen": app.screens.current}
        yield until(lambda: app.screens.current == "signature", 60)
        yield SETTLED_S
        draw_signature(screen().ids.pad)
        yield 0.3
        tap(nav("primary"))
        yield on("review")
        yield SETTLED_S
        note("review")
        report["review_fingers"] = screen().ids.fingers.text
        tap(nav("primary"))  # Confirm
        yield on("done")
        yield SETTLED_S
        report["record_id"] = app.flow.receipt_id
        tap(nav("primary"))  # Finish
        yield on("welcome")
        yield SETTLED_S

        # -- the officer's home: logged in at the welcome, Log out -----------------------
        report["welcome_login_no_card"] = visible(screen().ids.officer_login)
        card.insert_card()
        yield until(lambda: opened("pin"), 5)
        yield SETTLED_S
        # Cancel by mistake, the card still in: the welcome offers the pad again
        tap(app.overlays["pin"].ids.cancel)
        yield until(lambda: not opened("pin"), 5)
        yield SETTLED_S
        note("welcome-card-waiting")
        report["welcome_login_card_in"] = visible(screen().ids.officer_login)
        tap(screen().ids.officer_login)
        yield until(lambda: opened("pin"), 5)
        yield SETTLED_S
        note("pin-welcome")
        yield from type_pin(PIN)
        tap(app.overlays["pin"].ids.keypad.key_for("action"))
        yield until(lambda: app.screens.current == "staff" and not opened("pin"), 10)
        # where the records stand: read on a worker as the home opens
        yield until(lambda: bool(screen().ids.queue.children), 5)
        yield SETTLED_S
        note("staff")
        home = screen()
        report["home"] = {"staff_id": home.staff_id, "empty": home.empty,
                          "rows": len(home.ids.rows.children)}
        tap(home.ids.logout)
        yield until(lambda: app.screens.current == "welcome", 5)
        yield SETTLED_S
        report["after_logout"] = {"screen": app.screens.current,
                                  "staff_id": app.flow.staff_id,
                                  "officer_login": visible(screen().ids.officer_login)}
        # The battery runs low, the card still in: the closed screen's title bar offers it
        app.flow.set_acceptance(False, "battery 18 % < power.min_battery_percent 30", True,
                                "battery_low")
        yield until(lambda: app.screens.current == "closed", 5)
        yield SETTLED_S
        note("closed-card-waiting")
        report["closed_login"] = visible(screen().ids.officer_login)
        tap(screen().ids.officer_login)
        yield until(lambda: opened("pin"), 5)
        report["closed_login_opens_pad"] = True
        tap(app.overlays["pin"].ids.cancel)
        yield until(lambda: not opened("pin"), 5)
        app.flow.set_acceptance(True, "", True)
        yield until(lambda: app.screens.current == "welcome", 5)
        card.remove_card()
        yield 0.2
        report["welcome_login_card_out"] = visible(screen().ids.officer_login)

        # -- F2 on a development desktop: the simulated card in, then out -----------------
        from kivy.core.window import Window

        Window.dispatch("on_key_down", 283, 0, None, [])
        yield until(lambda: opened("pin"), 5)
        f2 = [card.is_card_present]
        Window.dispatch("on_key_down", 283, 0, None, [])
        yield until(lambda: not opened("pin"), 5)
        report["f2"] = [*f2, card.is_card_present]

    run_on_clock(app, script(), report, out_path)
    app.run()


if __name__ == "__main__":
    main()
