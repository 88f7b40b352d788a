"""The citizen's flow, driven without Kivy on the real journal, sealing and simulated
devices: every step, the errors a citizen can meet, cancel, idle wipe, power, double taps."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.core.vocabulary import STEPS
from kiosk.errors import DeviceError, DeviceTimeout, StorageFull
from kiosk.screens.flow import PROMPTS, SESSION_SCREENS
from tests.unit.screens.harness import NIK, Kit


@pytest.fixture
def kit(tmp_path: Path):
    k = Kit(tmp_path)
    yield k
    k.close()


def test_a_citizen_enrolls_from_welcome_to_receipt_and_the_record_is_sealed(kit: Kit) -> None:
    kit.to("done")
    record_id = kit.flow.receipt_id
    assert record_id
    assert kit.runtime.journal.record(record_id).state == "sealed"
    assert set(kit.runtime.journal.step_digests(record_id)) == set(STEPS)
    assert kit.view.shown[-8:] == ["consent", "identity", "demographics", "portrait",
                                   "fingerprints", "signature", "review", "done"]
    assert kit.taps <= 25, kit.taps
    # Nothing personal is left in the flow once the receipt shows.
    assert kit.flow.summary is None and kit.flow.nik is None
    assert not any(kit.flow.form.values[k] for k in ("full_name", "address"))


def test_each_screen_speaks_its_instruction_in_the_chosen_language(kit: Kit) -> None:
    kit.to("review", "id")
    said = kit.speaker.said
    assert ("id", PROMPTS["identity"]) in said and ("id", PROMPTS["review"]) in said
    assert all(language == "id" for language, _msgid in said)
    prompts = [msgid for _language, msgid in said if msgid in PROMPTS.values()]
    assert prompts == [PROMPTS[s] for s in ("consent", "identity", "demographics",
                                            "portrait", "fingerprints", "signature", "review")]


def test_a_wrong_nik_shows_the_domain_message_and_next_stays_disabled(kit: Kit) -> None:
    kit.to("identity")
    for digit in "9902015208850001":  # province 99 does not exist
        kit.flow.identity_digit(digit)
    msg = kit.flow.identity.message("nik")
    assert "province" in msg.text("en") and "provinsi" in msg.text("id")
    assert kit.flow.identity.focus == "nik"  # a wrong NIK keeps the keys (review)
    kit.flow.identity_focus("kk")
    for digit in "7202011203150007":
        kit.flow.identity_digit(digit)
    assert not kit.flow.identity.is_valid
    kit.flow.submit_identity()
    assert kit.flow.screen == "identity"


def test_typing_progress_then_verdict_under_the_field(kit: Kit) -> None:
    kit.to("identity")
    for digit in NIK[:5]:
        kit.flow.identity_digit(digit)
    assert kit.flow.identity.message("nik").text("en") == "5 of 16 digits"
    for digit in NIK[5:]:
        kit.flow.identity_digit(digit)
    assert kit.flow.identity.message("nik").kind == "ok"


def test_demographics_are_prefilled_from_the_nik_and_errors_name_the_field(kit: Kit) -> None:
    kit.to("demographics")
    facts = dict(kit.flow.nik_facts())
    assert facts["Date of birth"] == "12-08-1985" and facts["Sex"] == "Female"
    assert facts["Regency"] == "Kabupaten Poso"
    assert kit.flow.form.values["kecamatan"] == "Poso Kota"
    kit.flow.submit_demographics()  # nothing typed yet
    assert kit.flow.screen == "demographics"
    assert "full_name" in kit.flow.form.errors and kit.flow.message


def test_next_refused_names_the_first_problem_in_the_order_of_the_screen(kit: Kit) -> None:
    """RT and the village both left empty: the form shows RT's row above the village's,
    so RT's message is the one on top and the row the screen scrolls to (the domain lists
    the village first); each refused Next is counted for the screen to scroll again."""
    kit.to("demographics")
    kit.fill_demographics()
    f = kit.flow
    f.form_focus("rt")
    f.form_backspace()
    f.form_focus(None)
    f.form_choose("kelurahan_desa", "")
    before = f.problems_shown
    f.submit_demographics()
    assert f.screen == "demographics"
    assert set(f.form.errors) == {"rt", "kelurahan_desa"}
    assert f.form.first_problem() == "rt"
    assert f.message.text("en").startswith("RT ")
    assert f.problems_shown == before + 1
    f.submit_demographics()
    assert f.problems_shown == before + 2


def test_a_portrait_can_be_retaken(kit: Kit) -> None:
    kit.to("portrait")
    kit.flow.take_photo()
    assert kit.flow.countdown == 3
    kit.executor.advance(3.0)
    first = kit.flow.portrait_jpeg
    assert first
    kit.flow.retake_photo()
    assert not kit.flow.portrait_jpeg
    kit.flow.take_photo()
    kit.executor.advance(3.0)
    assert kit.flow.portrait_jpeg and kit.flow.portrait_jpeg != first
    kit.flow.accept_photo()
    assert kit.flow.screen == "fingerprints"


def test_a_second_tap_during_the_countdown_or_capture_starts_nothing(kit: Kit) -> None:
    kit.to("portrait")
    camera = kit.runtime.devices["camera"]
    before = camera.captures
    kit.flow.take_photo()
    kit.flow.take_photo()
    kit.executor.advance(1.5)
    kit.flow.take_photo()
    kit.executor.advance(2.0)
    assert camera.captures == before + 1
    kit.flow.busy = True  # a capture in flight
    assert kit.flow._run(lambda: None, lambda _r: None) is False


def test_a_finger_that_fails_three_times_asks_for_an_officer(tmp_path: Path) -> None:
    kit = Kit(tmp_path, '[hardware.fingerprint]\ntype = "sim"\nfail_every = 1\n')
    try:
        kit.to("fingerprints")
        assert kit.flow.message and not kit.flow.need_officer  # first try failed
        assert "sensor" in kit.flow.message.text("en")
        assert not kit.flow.help_wanted  # trying again is the way forward
        kit.flow.retry_finger()
        kit.flow.retry_finger()
        assert kit.flow.need_officer
        assert kit.flow.help_wanted  # now HELP is
        kit.flow.call_help()
        assert kit.flow.help_active
        assert kit.runtime.devices["gpio"].status == "fault"  # the LED blinks fast
        kit.flow.close_help()
        assert kit.flow.screen == "fingerprints"  # still there, can retry
    finally:
        kit.close()


@pytest.mark.parametrize(("error", "wanted"), [
    (DeviceTimeout("no answer"), False),  # "try again"
    (DeviceError("sensor unplugged"), True),  # "not working, press HELP"
    (StorageFull("disk reserve reached"), True),
    (OSError("i/o error"), True),  # "could not be saved ... or press HELP"
])
def test_help_is_the_way_forward_when_the_message_sends_the_citizen_to_it(
        kit: Kit, error: Exception, wanted: bool) -> None:
    kit.to("signature")
    kit.flow._fail(error, "fingerprint")
    assert ("HELP" in kit.flow.message.text("en")) is wanted
    assert kit.flow.help_wanted is wanted
    kit.flow.show("review")  # a new screen, no message: back to the usual look
    assert not kit.flow.help_wanted


def test_the_camera_failing_mid_capture_gives_a_message_and_a_retry(tmp_path: Path) -> None:
    kit = Kit(tmp_path, '[hardware.camera]\ntype = "sim"\nfail_every = 2\n')
    try:
        kit.to("portrait")
        kit.flow.take_photo()
        kit.executor.advance(3.0)
        assert kit.flow.portrait_jpeg  # still 1 worked
        kit.flow.retake_photo()
        kit.flow.take_photo()
        kit.executor.advance(3.0)  # still 2: the simulated camera times out
        assert not kit.flow.portrait_jpeg and not kit.flow.busy
        assert "camera" in kit.flow.message.text("en")
        kit.flow.take_photo()
        kit.executor.advance(3.0)
        assert kit.flow.portrait_jpeg
    finally:
        kit.close()


def test_after_three_failed_photos_the_officer_is_asked_for_only_while_none_goes_well(
        tmp_path: Path) -> None:
    """After three failed photos the screen says "Or press HELP to call an officer" and
    draws Help as the way forward; during a fourth try's countdown it still did, in red
    under "Good. Hold still.". A photo that then fails asks for the officer again; one
    that works, no longer."""
    kit = Kit(tmp_path)
    try:
        kit.to("portrait")
        camera = kit.runtime.devices["camera"]
        camera.fail_every = 1  # every still times out
        for _ in range(3):
            kit.flow.take_photo()
            kit.executor.advance(3.0)
        assert not kit.flow.portrait_jpeg
        assert kit.flow.need_officer and kit.flow.help_wanted  # the last failure shows
        kit.flow.take_photo()
        kit.executor.advance(1.0)
        assert kit.flow.countdown > 0
        # The portrait screen adds the officer's line only when need_officer holds.
        assert not kit.flow.need_officer and not kit.flow.help_wanted
        kit.executor.advance(3.0)  # this one fails too: the officer again
        assert kit.flow.message and kit.flow.need_officer and kit.flow.help_wanted
        camera.fail_every = 0
        kit.flow.take_photo()
        kit.executor.advance(3.0)
        assert kit.flow.portrait_jpeg and not kit.flow.need_officer
    finally:
        kit.close()


@pytest.mark.parametrize("screen", ["consent", "identity", "demographics", "portrait",
                                    "fingerprints", "signature", "review"])
def test_cancel_at_every_step_asks_once_then_wipes(kit: Kit, screen: str) -> None:
    kit.to(screen)
    record_id = kit.flow.session.record_id if kit.flow.session else None
    kit.flow.ask_cancel()
    assert kit.flow.confirm_cancel
    kit.flow.answer_cancel(False)
    assert kit.flow.screen == screen and not kit.flow.confirm_cancel
    kit.flow.ask_cancel()
    kit.flow.answer_cancel(True)
    assert kit.flow.screen == "welcome" and kit.flow.session is None
    if record_id is not None:
        assert record_id not in {r.id for r in kit.runtime.journal.records()}


def test_idle_warning_gives_time_to_continue_then_wipes(kit: Kit) -> None:
    kit.to("demographics")
    kit.clock.now += 59
    kit.flow.tick()
    assert not kit.flow.idle_warning
    kit.clock.now += 2
    kit.flow.tick()
    assert kit.flow.idle_warning and kit.flow.idle_left_s >= 20
    assert not kit.flow.idle_keeps  # a citizen alone: the warning says deleted
    kit.flow.continue_session()  # one tap
    assert not kit.flow.idle_warning
    kit.clock.now += 61
    kit.flow.tick()
    assert kit.flow.idle_warning
    kit.clock.now += 30
    kit.flow.tick()
    assert kit.flow.screen == "welcome" and kit.flow.session is None
    assert kit.flow.form.values["full_name"] == ""


def test_after_the_idle_wipe_the_welcome_says_why_in_the_citizens_language(kit: Kit) -> None:
    """The citizen walked away: the welcome then tells whoever comes back that the session
    ended and what was entered is deleted (true: the record is gone from the journal), in
    English as chosen, until a touch; then the welcome is in the kiosk's language again."""
    kit.to("demographics", "en")
    record_id = kit.flow.session.record_id
    assert record_id in {r.id for r in kit.runtime.journal.records()}
    kit.clock.now += 61
    kit.flow.tick()
    kit.clock.now += 30
    kit.flow.tick()
    assert kit.flow.screen == "welcome" and kit.flow.session is None
    assert record_id not in {r.id for r in kit.runtime.journal.records()}
    assert kit.flow.language == "en"
    assert kit.flow.notice.text("en").startswith("Your session ended because the screen")
    assert kit.flow.notice.text("id").startswith("Sesi Anda berakhir")
    kit.flow.touch()
    assert not kit.flow.notice and kit.flow.language == "id"


def test_the_wipe_notice_goes_by_itself_and_not_after_a_cancel(kit: Kit) -> None:
    kit.to("consent", "en")
    kit.clock.now += 91
    kit.flow.tick()
    assert kit.flow.notice
    kit.clock.now += 119
    kit.flow.tick()
    assert kit.flow.notice and kit.flow.language == "en"
    kit.clock.now += 2
    kit.flow.tick()
    assert not kit.flow.notice and kit.flow.language == "id"
    kit.to("consent", "en")  # the citizen stops on purpose: nothing to explain
    kit.flow.ask_cancel()
    kit.flow.answer_cancel(True)
    assert kit.flow.screen == "welcome" and not kit.flow.notice


def test_the_receipt_returns_to_welcome_by_itself(kit: Kit) -> None:
    kit.to("done")
    kit.clock.now += 44
    kit.flow.tick()
    assert kit.flow.screen == "done"
    kit.clock.now += 2
    kit.flow.tick()
    assert kit.flow.screen == "welcome" and not kit.flow.receipt_id


def _seconds(kit: Kit, n: int, *, touch_every: int = 0) -> None:
    """``n`` seconds of the app's once-a-second tick; a touch every ``touch_every``."""
    for i in range(1, n + 1):
        kit.clock.now += 1
        kit.flow.tick()
        if touch_every and i % touch_every == 0 and kit.flow.screen == "done":
            kit.flow.touch()


def test_the_receipt_counts_down_and_a_touch_gives_the_time_back_up_to_its_longest(
        kit: Kit) -> None:
    """A citizen copying the number by hand, touching the screen as they go: the receipt
    stays while they touch it (each touch gives receipt_s again), up to RECEIPT_MAX_S in
    all; the screen says the seconds left. The usability review found it gone after 45 s
    however often it was touched, with no countdown."""
    from kiosk.screens.flow_privacy import RECEIPT_MAX_S

    receipt_s = kit.flow.settings.receipt_s
    assert receipt_s == 45
    kit.to("done")
    assert kit.flow.receipt_left_s == 45 and kit.flow.receipt_extendable
    _seconds(kit, 30)
    assert kit.flow.screen == "done" and kit.flow.receipt_left_s == 15
    kit.flow.touch()
    assert kit.flow.receipt_left_s == 45  # the full receipt_s again
    _seconds(kit, 40)
    assert kit.flow.screen == "done" and kit.flow.receipt_left_s == 5
    kit.tap("more_time")  # More time: as any touch
    assert kit.flow.receipt_left_s == 45
    # Touched every 30 s from here: it stays until RECEIPT_MAX_S after it was shown, the
    # last touches giving less than receipt_s, then none; then it goes.
    _seconds(kit, int(RECEIPT_MAX_S) - 70 - 1, touch_every=30)
    assert kit.flow.screen == "done" and kit.flow.receipt_left_s == 1
    assert not kit.flow.receipt_extendable
    kit.flow.touch()
    assert kit.flow.receipt_left_s == 1  # nothing more at its longest
    _seconds(kit, 1)
    assert kit.flow.screen == "welcome" and not kit.flow.receipt_id


def test_a_receipt_nobody_touches_goes_after_receipt_s_and_finish_ends_it_at_once(
        kit: Kit) -> None:
    from kiosk.screens import messages as m

    kit.to("done")
    _seconds(kit, 24)
    assert kit.speaker.said[-1][1] != m.RECEIPT_ENDING
    _seconds(kit, 1)  # 20 s left: said, with how to keep it
    assert kit.speaker.said[-1][1] == m.RECEIPT_ENDING
    _seconds(kit, 19)
    assert kit.flow.screen == "done" and kit.flow.receipt_left_s == 1
    _seconds(kit, 1)
    assert kit.flow.screen == "welcome"
    kit.to("done")
    kit.flow.touch()  # the tap on Finish is a touch too
    kit.tap("finish")
    assert kit.flow.screen == "welcome" and not kit.flow.receipt_id


def test_on_battery_a_session_finishes_but_welcome_refuses_the_next(kit: Kit) -> None:
    kit.to("signature")
    kit.flow.set_acceptance(False, "on battery at 20%", True)
    assert kit.flow.screen == "signature" and kit.flow.on_battery
    kit.to_done = None
    kit.sign()
    kit.flow.confirm()
    assert kit.flow.screen == "done"
    kit.flow.finish()
    assert kit.flow.screen == "closed"
    kit.flow.start("id")
    assert kit.flow.session is None
    kit.flow.set_acceptance(True, "", False)
    assert kit.flow.screen == "welcome"


def test_the_log_says_when_enrollments_stop_and_start_once_each(
        kit: Kit, caplog: pytest.LogCaptureFixture) -> None:
    """journalctl tells the maintainer why the kiosk closed (the screen cuts a long reason)
    and when it opened again; a battery that drains by the percent is not a new line."""
    with caplog.at_level("INFO", logger="kiosk.screens.flow"):
        kit.flow.set_acceptance(True, "", False)  # start-up: accepting, nothing to say
        for percent in (19, 18, 17):
            kit.flow.set_acceptance(False, f"on battery at {percent}%, below "
                                    "power.min_battery_percent=20", True, "battery_low")
        kit.flow.set_acceptance(False, "disk full: no free space in /d", True,
                                "storage_full")
        kit.flow.set_acceptance(True, "", False)
        kit.flow.set_acceptance(True, "", False)
    lines = [r.getMessage() for r in caplog.records if r.name == "kiosk.screens.flow"]
    assert lines == [
        "not taking enrollments: on battery at 19%, below power.min_battery_percent=20",
        "not taking enrollments: disk full: no free space in /d",
        "taking enrollments again"], lines


def test_refused_at_welcome_when_not_accepting(kit: Kit) -> None:
    kit.flow.set_acceptance(False, "disk reserve reached", False)
    assert kit.flow.screen == "closed" and kit.flow.closed_reason == "disk reserve reached"
    kit.flow.start("en")
    assert kit.flow.session is None


@pytest.mark.parametrize("step", ["identity", "demographics", "portrait", "fingerprints",
                                  "signature"])
def test_review_can_change_any_step_and_come_back(kit: Kit, step: str) -> None:
    kit.to("review")
    kit.tap("edit", step)
    assert kit.flow.screen == step
    if step == "identity":
        kit.type_identity()
        kit.flow.submit_identity()
        assert kit.flow.screen == "demographics"
        kit.flow.submit_demographics()
    elif step == "demographics":
        kit.flow.form_focus("full_name")
        kit.flow.form_type("X")
        kit.flow.submit_demographics()
    elif step == "portrait":
        kit.through_portrait()
    elif step == "fingerprints":
        kit.through_fingers()
    else:
        kit.sign()
    assert kit.flow.screen == "review", kit.flow.message.text("en")
    kit.flow.confirm()
    assert kit.flow.screen == "done"


def test_every_session_screen_has_a_prompt() -> None:
    assert set(PROMPTS) >= SESSION_SCREENS


def test_the_apps_stop_waits_for_the_preview_thread(kit: Kit) -> None:
    """The preview is a daemon thread that runs OpenCV's face check: left running as the
    process exits, OpenCV is torn down under it and the process aborts ("terminate called
    without an active exception", seen once in CI). ``close`` (the app's on_stop) ends it
    first, even with a frame in flight."""
    import threading
    import time

    camera = kit.runtime.devices["camera"]
    real = camera.preview_frame
    reading = threading.Event()

    def slow_frame():  # a frame that takes a while, as a face check on a Pi does
        reading.set()
        time.sleep(0.4)
        return real()

    camera.preview_frame = slow_frame
    kit.to("portrait", "en")
    assert reading.wait(2.0)
    thread = kit.flow._preview_thread
    assert thread is not None and thread.is_alive()
    kit.flow.close()
    assert not thread.is_alive()
