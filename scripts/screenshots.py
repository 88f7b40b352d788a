"""Render every screen of the touchscreen, in both languages, into PNG files.

    python scripts/screenshots.py OUT_DIR [--size 800x480] [--panel-mm 155x86]

The kiosk runs for real (simulated hardware, a throw-away data directory) under the
current DISPLAY; a sample citizen is walked through the flow with the flow's own verbs, and
each screen (and the overlays) is saved as ``<size>-<language>-<screen>.png``. `make
screenshots` runs it under a virtual display for both panels.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NIK = "7202015208850001"
KK = "7202011203150007"
#: The simulated staff card (``[hardware.card]``): out of the reader until the script
#: puts it in, as an officer does.
PIN = "246810"
STAFF_ID = "STAFF-0042"
#: kiosk.runtime.check_acceptance's words for a quarantined journal, on a real kiosk's paths.
CLOSED_REASON = ("journal was found corrupt and kept as /var/lib/kiosk/journal.db.corrupt-"
                 "20250314T031522Z; a maintainer must inspect it and move it out of "
                 "/var/lib/kiosk before enrollment resumes")
UNTIL_S = 30.0  # the longest a step may take to reach its screen (a finger scan: 10 s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", default="800x480")
    parser.add_argument("--panel-mm", default="155x86")
    parser.add_argument("--languages", default="id,en")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    panel = [float(v) for v in args.panel_mm.split("x")]
    args.out.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="kiosk-shots-"))
    config_path = data / "kiosk.toml"
    config_path.write_text(
        f'[kiosk]\nid = "shots-01"\ndata_dir = "data"\ndisk_reserve_bytes = 0\n'
        f"[ui]\nwidth = {width}\nheight = {height}\npanel_mm = {panel}\nspeech = false\n"
        f'[hardware.card]\npresent = false\npin = "{PIN}"\nstaff_id = "{STAFF_ID}"\n')
    os.environ["KIOSK_CONFIG"] = str(config_path)

    from kiosk.app import create_app
    from kiosk.config import load_config

    app = create_app(load_config(config_path))
    from kivy.clock import Clock
    from kivy.core.window import Window

    languages = args.languages.split(",")
    plan: list[tuple[str, object]] = []

    current = {"language": languages[0]}

    def shot(name: str) -> None:
        language = current["language"]
        target = args.out / f"{width}x{height}-{language}-{name}.png"
        # Draw the frame now and read that: between frames the back buffer holds whatever
        # the last swap left there (a stale frame, now and then a torn one under Xvfb).
        Window.dispatch("on_draw")
        saved = Window.screenshot(name=str(target))
        os.replace(saved, target)
        _shrink(target)
        print(target)

    def step(fn: object, wait: float = 0.7) -> None:
        plan.append(("do", fn))
        plan.append(("wait", wait))

    def capture(name: str) -> None:
        plan.append(("shot", name))

    def until(screen: str, settle: float = 0.4) -> None:
        """Wait for the flow to show ``screen`` with no work running (a worker's journal
        commit can take longer than any fixed wait on a busy machine), then ``settle``."""
        plan.append(("until", lambda: fl().screen == screen and app.screens.current == screen
                     and not fl().busy))
        plan.append(("wait", settle))

    f = None

    def fl():
        return app.flow

    def begin(language: str) -> None:
        current["language"] = language
        _hold_acceptance()
        fl().set_acceptance(True, "", False)
        # The last language's idle-wipe notice goes first (its end puts the welcome back in
        # the kiosk's own language), then the welcome before the choice, in this language.
        fl()._end_notice()
        fl().set_language(language)

    def officer(language: str) -> None:
        """The officer: the PIN pad (a wrong PIN first), the officer's home with an
        enrollment left unfinished (and its Delete asked), then that enrollment continued
        to the fingers, where one cannot be scanned (the reasons, then the finger crossed
        out), the review that lists it; the enrollment sealed, Log out."""
        step(lambda language=language: (fl().touch(), fl().set_language(language)), 0.3)
        step(lambda: _card().insert_card(), 0.5)
        step(lambda: _type_pin("000000"), 0.1)
        plan.append(("until", lambda: bool(fl().pin_message) and not fl().pin_busy))
        plan.append(("wait", 0.4))
        capture("pin")
        step(lambda: _type_pin(PIN), 0.1)
        until("staff")
        # An enrollment begun with the officer and left at the photo (nobody there: the
        # idle wipe keeps it for the officer, and logs the officer out).
        step(lambda language=language: fl().staff_start(language), 0.3)
        step(lambda: fl().consent(True), 0.1)
        until("identity", 0.1)
        # The officer's Cancel: delete, or keep the record to continue later.
        step(lambda: fl().ask_cancel(), 0.6)
        capture("cancel-officer")
        step(lambda: fl().answer_cancel(False), 0.3)
        step(lambda: ([fl().identity_digit(d) for d in NIK + KK], fl().submit_identity()),
             0.1)
        until("demographics", 0.1)
        step(lambda: (_fill_form(with_name=True), fl().submit_demographics()), 0.1)
        until("portrait", 0.3)
        step(lambda: _idle(), 0.2)
        step(lambda: _idle(31), 0.5)
        step(lambda: (_card().remove_card(), fl().touch()), 0.3)
        step(lambda: _card().insert_card(), 0.5)
        step(lambda: _type_pin(PIN), 0.1)
        until("staff")
        plan.append(("until", lambda: bool(fl().resumable)))
        step(lambda language=language: fl().set_language(language), 0.6)
        capture("staff")
        step(lambda: fl().ask_discard(fl().resumable[0].record_id), 0.6)
        capture("staff-delete")
        step(lambda: fl().answer_discard(False), 0.3)
        # Continued: the numbers typed again, the photo, then the first finger does not
        # come to the sensor: "Cannot be scanned" (enabled while it waits), the reasons.
        step(lambda language=language: fl().staff_resume(fl().resumable[0].record_id,
                                                         language), 0.1)
        until("identity", 0.1)
        step(lambda: ([fl().identity_digit(d) for d in NIK + KK], fl().submit_identity()),
             0.1)
        until("portrait", 1.4)
        step(lambda: fl().take_photo(), 0.1)
        plan.append(("until", lambda: fl().portrait_jpeg and not fl().busy))
        step(lambda: (_no_finger(True), fl().accept_photo()), 0.1)
        plan.append(("until", lambda: fl().screen == "fingerprints" and fl().waiting_finger))
        step(lambda: fl().ask_missing(), 0.7)
        capture("fingerprints-reasons")
        step(lambda: fl().record_missing("bandaged"), 0.1)
        plan.append(("until", lambda: fl().waiting_finger))
        plan.append(("wait", 0.7))
        capture("fingerprints-missing")
        step(lambda: _no_finger(False), 0.1)
        until("signature")
        step(lambda: _sign(), 0.3)
        step(lambda: fl().submit_signature(
            app.screens.get_screen("signature").ids.pad.strokes), 0.1)
        until("review")
        step(lambda: setattr(app.screens.get_screen("review").ids.scroll, "scroll_y", 1),
             0.5)
        capture("review-resumed")  # the details typed before the walk-away: saved earlier
        step(lambda: _scroll_review_to_fingers(), 0.5)
        capture("review-missing")
        step(lambda: fl().confirm(), 0.1)
        until("done")
        step(lambda: fl().finish(), 0.1)
        until("staff")
        # The stick button with no stick in (what most presses find first), then the home
        # while no enrollment may begin (a low battery): only the stick offered.
        step(lambda language=language: (fl().set_language(language), fl().usb_sync()), 0.1)
        plan.append(("until", lambda: not fl().busy))
        plan.append(("wait", 0.5))
        capture("staff-usb")
        step(lambda: fl().set_acceptance(False, "battery 18 % < power.min_battery_percent 30",
                                         True, "battery_low"), 0.6)
        capture("staff-closed")
        step(lambda: fl().set_acceptance(True, "", False), 0.3)
        step(lambda: (fl().logout(), _card().remove_card()), 0.5)

    for language in languages:
        step(lambda language=language: begin(language), 1.5)
        capture("welcome")
        step(lambda language=language: fl().start(language))
        capture("consent")
        step(lambda: fl().consent(True))
        capture("identity-empty")
        step(lambda: [fl().identity_digit(d) for d in "9902015208850001"])
        capture("identity-error")
        # On battery, both fields' longest messages at once (the KK's regency/city 00).
        step(lambda: (fl().set_acceptance(True, "", True), fl().identity_focus("kk"),
                      [fl().identity_digit(d) for d in "7200011203150007"]))
        capture("identity-battery")
        step(lambda: (fl().set_acceptance(True, "", False), fl().identity_focus("kk"),
                      [fl().identity_backspace() for _ in range(32)],
                      [fl().identity_digit(d) for d in NIK + KK]))
        capture("identity")
        step(lambda: fl().submit_identity())
        capture("demographics")
        step(lambda: (fl().form_focus("full_name"),
                      [fl().form_type(c) for c in "SITI NUR'AINI AL-HAMID"]))
        capture("demographics-keyboard")
        step(lambda: (fl().form_focus(None), fl().submit_demographics()))
        capture("demographics-errors")
        step(lambda: _fill_form(with_name=False))
        capture("demographics-filled")
        step(lambda: app.screens.get_screen("demographics").pick("kelurahan_desa"), 0.6)
        capture("picker")
        step(lambda: _close_popups())
        step(lambda: fl().submit_demographics(), 0.1)
        until("portrait", 1.4)
        capture("portrait")
        # Three stills that fail (the camera times out), then the one that works.
        step(lambda: _fail_every("camera", 1), 0.1)
        for _ in range(3):
            step(lambda: fl().take_photo(), 3.2)
            until("portrait", 0.2)
        capture("portrait-officer")
        step(lambda: _fail_every("camera", 0), 0.1)
        step(lambda: fl().take_photo(), 1.2)
        capture("portrait-countdown")
        plan.append(("until", lambda: fl().portrait_jpeg and not fl().busy))
        plan.append(("wait", 0.4))
        capture("portrait-photo")
        # The first finger fails once (a message and Try again), then twice more (call an
        # officer), then reads; the rest read by themselves.
        step(lambda: (_fail_every("fingerprint", 1), fl().accept_photo()), 0.1)
        until("fingerprints", 0.3)
        plan.append(("until", lambda: fl().finger_tries == 1 and not fl().busy))
        capture("fingerprints-retry")
        step(lambda: fl().retry_finger(), 0.1)
        plan.append(("until", lambda: fl().finger_tries == 2 and not fl().busy))
        step(lambda: fl().retry_finger(), 0.1)
        plan.append(("until", lambda: fl().finger_tries == 3 and not fl().busy))
        plan.append(("wait", 0.3))
        capture("fingerprints-officer")
        step(lambda: (_fail_every("fingerprint", 0), fl().retry_finger()), 0.1)
        plan.append(("until", lambda: len(fl().fingers_done) == 1))
        plan.append(("wait", 0.2))
        capture("fingerprints")
        until("signature")
        capture("signature")
        # A power cut during the session: the banner; the session may finish.
        step(lambda: fl().set_acceptance(True, "", True))
        capture("signature-battery")
        step(lambda: fl().set_acceptance(True, "", False), 0.1)
        step(lambda: _sign(), 0.3)
        capture("signature-signed")
        step(lambda: fl().submit_signature(
            app.screens.get_screen("signature").ids.pad.strokes), 0.1)
        until("review")
        capture("review")
        step(lambda: fl().ask_cancel())
        capture("cancel")
        step(lambda: fl().answer_cancel(False))
        step(lambda: fl().call_help())
        capture("help")
        step(lambda: fl().close_help())
        step(lambda: _idle(), 1.5)
        capture("idle")
        step(lambda: fl().continue_session())
        step(lambda: fl().confirm(), 0.1)
        until("done")
        capture("done")
        step(lambda: fl().finish())
        # The longest reason the acceptance check gives (a quarantined journal's, two
        # paths), on battery (the banner over it): the most the closed screen must hold.
        step(lambda language=language: (
            fl().set_acceptance(False, CLOSED_REASON, True, "journal"),
            fl().set_language(language)), 0.6)
        capture("closed")
        # The idle wipe's notice on the welcome, in the citizen's language.
        step(lambda language=language: (
            fl().set_acceptance(True, "", False), fl().start(language)))
        step(lambda: _idle(), 0.2)
        step(lambda: _idle(31), 0.8)
        capture("wiped")
        # The welcome after a start that deleted a citizen's unfinished recording.
        step(lambda: _restarted_notice(), 0.6)
        capture("restarted")
        officer(language)
    del f

    def _card():
        return app.runtime.devices["card"]

    def _restarted_notice() -> None:
        from kiosk.screens import messages as m
        from kiosk.screens.messages import Msg

        fl().notice = Msg.of(m.RESTARTED, "info")
        fl()._notice_at = fl().clock()
        fl().view.update()

    def _type_pin(pin: str) -> None:
        for digit in pin:
            fl().pin_key(digit)
        fl().pin_submit()

    def _no_finger(on: bool) -> None:
        """The simulated sensor's switch: no finger comes to it (it waits) or one does."""
        app.runtime.devices["fingerprint"].no_finger = on

    def _fill_form(*, with_name: bool) -> None:
        flow = fl()
        if with_name:
            flow.form_focus("full_name")
            for c in "SITI NUR'AINI AL-HAMID":
                flow.form_type(c)
            flow.form_next()
        flow.form_focus("place_of_birth")
        for text in ("POSO", "JL. PULAU JAWA NO. 12", "3", "1"):
            for c in text:
                flow.form_type(c)
            flow.form_next()
        for field, value in (("religion", "Islam"), ("marital_status", "Kawin"),
                             ("blood_type", "O"), ("occupation", "Petani/Pekebun")):
            flow.form_choose(field, value)
        flow.form_choose("kelurahan_desa", flow.picker_options("kelurahan_desa")[0][0])

    def _scroll_review_to_fingers() -> None:
        """The review scrolled so that its fingers' heading is at the top."""
        review = app.screens.get_screen("review")
        scroll, fingers = review.ids.scroll, review.ids.fingers
        content = scroll.children[0]
        heading = fingers.parent.children[fingers.parent.children.index(fingers) + 1]
        spare = content.height - scroll.height
        if spare > 0:
            scroll.scroll_y = max(0.0, 1 - (content.top - heading.top) / spare)

    def _hold_acceptance() -> None:
        """The script alone says whether the kiosk accepts and whether it is on battery:
        the app's own check (every second, accepting on simulated hardware) would otherwise
        take the closed screen and the banner away before their shots."""
        app._poll.cancel()
        app._show_acceptance = lambda *_args: None

    def _fail_every(kind: str, n: int) -> None:
        """The simulated device's own fault switch (``fail_every``)."""
        app.runtime.devices[kind].fail_every = n

    def _close_popups() -> None:
        from kivy.uix.modalview import ModalView

        for child in list(Window.children):
            if isinstance(child, ModalView):
                child.dismiss(animation=False)

    def _sign() -> None:
        import math

        from kivy.tests.common import UnitTestTouch

        pad = app.screens.get_screen("signature").ids.pad
        x0, y0 = pad.to_window(pad.x + pad.width * 0.08, pad.y + pad.height * 0.45)
        touch = UnitTestTouch(x0, y0)
        touch.touch_down()
        for i in range(1, 60):
            touch.touch_move(x0 + i * pad.width / 70,
                             y0 + pad.height * 0.25 * math.sin(i / 4))
        touch.touch_up()

    def _idle(seconds: float = 61) -> None:
        fl().clock = _Shifted(fl().clock, seconds)
        fl().tick()

    waited: dict[int, float] = {}

    def run(_dt: float = 0) -> None:
        while plan:
            kind, what = plan.pop(0)
            if kind == "wait":
                Clock.schedule_once(run, what)
                return
            if kind == "until":
                waited.setdefault(id(what), time.monotonic())
                if not what():
                    if time.monotonic() - waited[id(what)] > UNTIL_S:
                        app.stop()
                        raise SystemExit(f"the flow never reached the next screen: it shows "
                                         f"{fl().screen!r}, message {fl().message!r}")
                    plan.insert(0, (kind, what))
                    Clock.schedule_once(run, 0.05)
                    return
                continue
            if kind == "shot":
                shot(what)
            else:
                what()
        app.stop()

    Clock.schedule_once(run, 2.0)
    app.run()
    return 0


def _shrink(path: Path) -> None:
    """Flat UI colours fit a 256-colour palette: a third of the size, same to the eye."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


class _Shifted:
    """A clock running ``offset`` seconds ahead (to show the idle warning now)."""

    def __init__(self, clock, offset: float) -> None:
        self.clock, self.offset = clock, offset

    def __call__(self) -> float:
        return self.clock() + self.offset


if __name__ == "__main__":
    raise SystemExit(main())
