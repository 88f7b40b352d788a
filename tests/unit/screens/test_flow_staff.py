"""The officer at the touchscreen (Kivy-free flow, real runtime, simulated reader with a
PIV staff card): the PIN pad, the officer's home, a finger recorded missing, the card taken
out mid-session, an assisted session left idle and continued, an unfinished one deleted."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kiosk.core.vocabulary import FINGERS
from kiosk.enrollment.session import EnrollmentSession
from kiosk.errors import IllegalTransition, StorageFull
from kiosk.hardware.card.sim import SimCardReader
from kiosk.i18n import translate
from kiosk.recovery import list_resumable
from tests.plaintext import open_sealed_records
from tests.unit.screens.harness import KK, NIK, Kit, power_cut

PIN = "246810"
STAFF = "STAFF-0042"
#: Another woman of Poso Kota, born 1 Jan 1990, and her family card.
OTHER_NIK, OTHER_KK = "7202014101900002", "7202010101180003"


class StaffKit(Kit):
    """The flow with a staff card reader, wired as the app wires it (events through the
    executor's posts, handed over by :meth:`drain`)."""

    def __init__(self, tmp_path: Path, *, card_in: bool = False, **settings: object) -> None:
        super().__init__(tmp_path, **settings)
        self.reader = SimCardReader(pin=PIN, staff_id=STAFF, present=card_in)
        self.reader.open()
        self.runtime.devices["card"] = self.reader
        self.flow.set_card_present(self.reader.is_card_present)
        self.reader.when_card_inserted = lambda _e: self.executor.post(self.flow.card_inserted)
        self.reader.when_card_removed = lambda _e: self.executor.post(self.flow.card_removed)
        from kiosk.upload.usb import sync_configured_stick  # as the app wires it

        self.flow.stick_sync = lambda: sync_configured_stick(self.config, self.runtime.journal)

    def insert(self) -> None:
        self.reader.insert_card()
        self.executor.drain()

    def remove(self) -> None:
        self.reader.remove_card()
        self.executor.drain()

    def type_pin(self, pin: str = PIN) -> None:
        for digit in pin:
            self.flow.pin_key(digit)
        self.tap("pin_submit")

    def login(self) -> None:
        self.insert()
        assert self.flow.pin_entry
        self.type_pin()
        assert self.flow.staff_id == STAFF, self.flow.pin_message.text("en")

    def walk_away(self) -> None:
        """Nobody touches the screen until the idle warning has run out."""
        s = self.flow.settings
        self.clock.now += s.idle_timeout_s + s.idle_warning_s + 1
        self.flow.tick()

    def leave_one(self, language: str = "en") -> str:
        """An enrollment begun with the officer, past its consent, left (kept for the
        officer); the officer back, logged in again. Its record id."""
        self.login()
        self.tap("staff_start", language)
        self.tap("consent", True)
        record_id = self.flow.session.record_id
        self.walk_away()
        self.remove()
        self.login()
        return record_id

    def seal_one_and_log_in(self, language: str = "en") -> str:
        """A citizen enrolls alone to the receipt and finishes; the officer logs in at the
        welcome. The sealed record's id."""
        self.to("done", language)
        record_id = self.flow.receipt_id
        self.tap("finish")
        self.login()
        return record_id

    def close(self) -> None:
        self.reader.close()
        super().close()


@pytest.fixture
def kit(tmp_path: Path):
    kit = StaffKit(tmp_path)
    yield kit
    kit.close()


def test_a_card_in_the_reader_at_start_opens_no_pin_pad(tmp_path: Path) -> None:
    kit = StaffKit(tmp_path, card_in=True)
    try:
        assert kit.flow.card_present and not kit.flow.pin_entry
        assert kit.flow.screen == "welcome"
        kit.remove()
        kit.insert()  # taken out and put back: now it is an officer at the kiosk
        assert kit.flow.pin_entry
    finally:
        kit.close()


def test_a_card_left_in_the_reader_is_offered_officer_login(tmp_path: Path) -> None:
    """A card in at start (a power cut mid assisted session, the card never out), after a
    Cancel on the pad, after the home logged out by itself: "Officer login" (the welcome's
    and the closed screen's) opens the pad; with no card there is nothing to log in."""
    kit = StaffKit(tmp_path, card_in=True)
    try:
        flow = kit.flow
        assert flow.card_waiting and not flow.pin_entry
        flow.open_pin()  # Officer login
        assert flow.pin_entry and not flow.card_waiting
        kit.tap("pin_cancel")  # by mistake
        assert flow.card_waiting
        flow.open_pin()
        kit.type_pin()
        assert flow.staff_id == STAFF and flow.screen == "staff" and not flow.card_waiting
        s = flow.settings
        kit.clock.now += s.idle_timeout_s + s.idle_warning_s + 1
        flow.tick()  # the officer stepped away: logged out, the card still in
        assert flow.screen == "welcome" and not flow.staff_id and flow.card_waiting
        kit.remove()
        assert not flow.card_waiting
        flow.open_pin()  # a stale tap once the card is out: no pad for no card
        assert not flow.pin_entry
    finally:
        kit.close()


def test_a_pin_answer_for_a_card_taken_out_is_not_applied_to_the_next(kit: StaffKit) -> None:
    """The card is pulled out while it checks the PIN and a card is put back before the
    answer comes: the new pad stays as it is (no login without a PIN typed on it)."""
    held: list[tuple[object, object]] = []
    submit = kit.executor.submit

    def hold_pin_check(work: object, done: object) -> None:
        if kit.flow.pin_busy and not held:
            held.append((work, done))
            return
        submit(work, done)

    kit.executor.submit = hold_pin_check  # type: ignore[method-assign]
    kit.insert()
    for digit in PIN:
        kit.flow.pin_key(digit)
    kit.tap("pin_submit")
    assert held and kit.flow.pin_busy
    work, done = held.pop()
    staff_id = work()  # type: ignore[operator]  # the card said yes...
    kit.remove()  # ...as it came out
    kit.insert()  # and a card went in again: a fresh pad
    assert kit.flow.pin_entry and kit.flow.pin_length == 0
    done(staff_id, None)  # type: ignore[operator]  # the first insertion's answer
    assert not kit.flow.staff_id and kit.flow.pin_entry and not kit.flow.pin_message
    kit.executor.submit = submit  # type: ignore[method-assign]
    kit.type_pin()  # the PIN typed for this insertion logs in
    assert kit.flow.staff_id == STAFF


@pytest.mark.parametrize("language", ["id", "en"])
def test_wrong_pin_then_the_right_one_opens_the_officers_home(kit: StaffKit,
                                                              language: str) -> None:
    kit.flow.language = language
    kit.insert()
    assert kit.flow.pin_entry and kit.flow.screen == "welcome"
    for digit in "1234":
        kit.flow.pin_key(digit)
    kit.flow.pin_submit()  # too short: the card is not asked, no try is used
    assert kit.flow.pin_message.text("en") == "The PIN has 6 to 8 digits."
    assert kit.reader.pin_retries_left == 3
    for _ in range(4):
        kit.flow.pin_backspace()
    assert kit.flow.pin_length == 0
    kit.type_pin("000000")
    assert kit.flow.pin_entry and not kit.flow.staff_id
    expected = {"id": "PIN salah. Sisa percobaan: 2.", "en": "Wrong PIN. Tries left: 2."}
    assert kit.flow.pin_message.text(language) == expected[language]
    assert kit.flow.pin_length == 0  # the digits are not kept
    kit.type_pin()
    assert not kit.flow.pin_entry and kit.flow.staff_id == STAFF
    assert kit.flow.screen == "staff" and kit.view.shown[-1] == "staff"
    events = [(e.event, e.details) for e in kit.runtime.journal.audit_events()
              if e.event.startswith("staff")]
    assert events == [("staff_login_failed", {"tries_left": 2}),
                      ("staff_login", {"staff": STAFF})]
    kit.tap("logout")
    assert kit.flow.screen == "welcome" and not kit.flow.staff_id
    assert kit.runtime.journal.audit_events(event="staff_logout")[-1].details == {
        "staff": STAFF}


def test_a_blocked_card_is_said_plainly(kit: StaffKit) -> None:
    kit.insert()
    for _ in range(3):
        kit.type_pin("000000")
    assert kit.flow.pin_message.text("en") == (
        "The card's PIN is blocked. Ask an administrator to unblock it.")
    kit.remove()
    assert not kit.flow.pin_entry  # the pad goes with the card


def test_a_card_pulled_out_as_the_pin_is_checked(kit: StaffKit) -> None:
    kit.insert()
    kit.reader.remove_on_ins = 0x20  # pulled out as the PIN is checked
    kit.type_pin()
    kit.executor.drain()
    assert not kit.flow.pin_entry and not kit.flow.staff_id
    kit.reader.remove_on_ins = None
    kit.insert()
    kit.type_pin()
    assert kit.flow.staff_id == STAFF


def test_no_pin_pad_over_the_receipt_but_once_it_has_gone(kit: StaffKit) -> None:
    kit.to("done", "en")
    kit.insert()
    assert not kit.flow.pin_entry and kit.flow.screen == "done"
    kit.tap("finish")  # the citizen is done: the officer's card, still in, is asked for
    assert kit.flow.screen == "welcome" and kit.flow.pin_entry
    kit.type_pin()
    assert kit.flow.staff_id == STAFF and kit.flow.screen == "staff"


def test_a_card_in_and_out_during_the_receipt_opens_nothing_after(kit: StaffKit) -> None:
    kit.to("done", "en")
    kit.insert()
    kit.remove()
    kit.clock.now += kit.flow.settings.receipt_s + 1
    kit.flow.tick()  # the receipt ends by itself
    assert kit.flow.screen == "welcome" and not kit.flow.pin_entry


def test_the_officer_logs_in_on_the_closed_screen_and_may_only_use_the_stick(
        kit: StaffKit) -> None:
    """A battery too low for new enrollments: the officer's home still opens (the records
    may go to a stick before the power dies), but enrolls and continues nobody."""
    kit.flow.set_acceptance(False, "battery low", True, "battery_low")
    assert kit.flow.screen == "closed"
    kit.login()
    assert kit.flow.screen == "staff"
    kit.flow.set_acceptance(False, "battery low", True, "battery_low")  # the next check
    assert kit.flow.screen == "staff"
    kit.tap("staff_start", "id")
    assert kit.flow.screen == "staff" and kit.flow.session is None
    kit.tap("usb_sync")
    assert kit.flow.usb_lines  # tried (no stick here)
    kit.tap("logout")
    assert kit.flow.screen == "closed"
    kit.flow.set_acceptance(True, "", False)
    assert kit.flow.screen == "welcome"


def _to_fingerprints_with_l3_failing(kit: StaffKit) -> None:
    """A citizen alone reaches the finger step; the sensor never sees the left middle
    finger (it times out) until an officer comes."""
    scanner = kit.runtime.devices["fingerprint"]
    kit.to("portrait", "id")
    kit.through_portrait()
    for _ in range(6):
        if kit.flow.current_finger == "L3":
            break
        kit.executor.advance(1.0)
    assert kit.flow.current_finger == "L3"
    scanner.no_finger = True
    for _ in range(3):
        kit.flow.retry_finger()
    assert kit.flow.need_officer and kit.flow.help_wanted
    scanner.no_finger = False


def test_an_officer_called_to_the_finger_step_records_a_missing_finger(
        tmp_path: Path) -> None:
    kit = StaffKit(tmp_path, capture_timeout_s=0.05)
    try:
        _to_fingerprints_with_l3_failing(kit)
        session = kit.flow.session
        assert not session.assisted and not kit.flow.can_record_missing
        kit.tap("ask_missing")  # no officer: nothing opens
        assert not kit.flow.missing_picker
        kit.login()
        assert kit.flow.screen == "fingerprints"  # the pad closed over the same step
        assert session.assisted and kit.flow.can_record_missing
        record = kit.runtime.journal.record(session.record_id)
        assert record.assisted  # durable: kept to resume after a power cut
        kit.tap("ask_missing")
        assert kit.flow.missing_picker
        kit.tap("record_missing", "amputated")
        assert not kit.flow.missing_picker
        assert kit.flow.fingers_missing == {"L3": "amputated"}
        assert kit.flow.current_finger == "L4" and "L4" in kit.flow.fingers_done
        kit.remove()  # the officer leaves; the citizen goes on alone
        assert not kit.flow.staff_id and not kit.flow.can_record_missing
        assert kit.flow.screen == "fingerprints"
        for _ in range(3):
            kit.executor.advance(1.0)
        assert kit.flow.screen == "signature", kit.flow.message.text("en")
        kit.sign()
        kit.tap("confirm")
        assert kit.flow.screen == "done"
        rid = kit.flow.receipt_id
        steps = open_sealed_records(kit.config.sources[-1]).steps[rid]
        exceptions = json.loads(steps["fingerprints"]["exceptions.json"])
        assert exceptions == {"missing": {"L3": "amputated"},
                              "recorded_by": {"L3": STAFF}}
        assert sorted(steps["fingerprints"]) == sorted(
            [f"{c}.png" for c in FINGERS if c != "L3"] + ["exceptions.json"])
    finally:
        kit.close()


def test_an_officer_enrolls_a_person_and_returns_to_the_home(kit: StaffKit) -> None:
    kit.login()
    kit.tap("staff_start", "en")
    assert kit.flow.screen == "consent" and kit.flow.language == "en"
    assert kit.flow.session.staff_id == STAFF
    kit.tap("consent", True)
    rid = kit.flow.session.record_id
    kit.type_identity()
    kit.tap("submit_identity")
    kit.fill_demographics()
    kit.tap("submit_demographics")
    kit.through_portrait()
    kit.through_fingers()
    kit.sign()
    kit.tap("confirm")
    assert kit.flow.screen == "done"
    kit.tap("finish")
    assert kit.flow.screen == "staff" and kit.flow.staff_id == STAFF
    assert kit.runtime.journal.record(rid).state == "sealed"


def test_an_assisted_session_left_idle_is_kept_and_continued(kit: StaffKit) -> None:
    s = kit.flow.settings
    kit.login()
    kit.tap("staff_start", "id")
    kit.tap("consent", True)
    kit.type_identity()
    kit.tap("submit_identity")
    kit.fill_demographics()
    kit.tap("submit_demographics")
    rid = kit.flow.session.record_id
    assert kit.flow.screen == "portrait"
    kit.clock.now += s.idle_timeout_s + 1
    kit.flow.tick()
    # The warning says the record is kept for the officer (not "deleted", as a citizen's)
    assert kit.flow.idle_warning and kit.flow.idle_keeps
    kit.clock.now += s.idle_warning_s
    kit.flow.tick()
    # Nobody at the kiosk: the screen is wiped, the officer logged out, the record kept.
    assert kit.flow.screen == "welcome" and not kit.flow.staff_id
    assert kit.flow.session is None and not kit.flow.identity.nik
    assert kit.flow.notice.text("en").startswith("The session ended")
    assert "kept" in kit.flow.notice.text("en")
    assert translate(kit.flow.notice.msgid, "id") != kit.flow.notice.msgid
    assert kit.runtime.journal.record(rid).state == "in_progress"
    assert [r.record_id for r in list_resumable(kit.runtime.journal)] == [rid]
    kit.remove()
    kit.login()
    assert kit.flow.screen == "staff"
    (entry,) = kit.flow.resumable
    assert entry.record_id == rid
    assert entry.steps == {"consent", "identity", "demographics"}
    kit.tap("staff_resume", rid)
    assert kit.flow.screen == "identity" and kit.flow.session.record_id == rid
    kit.type_identity(NIK, KK)
    kit.tap("submit_identity")
    assert kit.flow.screen == "portrait"  # the details were kept from before
    kit.through_portrait()
    kit.through_fingers()
    kit.sign()
    kit.tap("confirm")
    assert kit.flow.screen == "done" and kit.flow.receipt_id == rid
    assert kit.runtime.journal.record(rid).state == "sealed"


def test_cancel_of_an_assisted_session_deletes_it_in_the_officers_name(kit: StaffKit) -> None:
    kit.login()
    kit.tap("staff_start", "id")
    kit.tap("consent", True)
    rid = kit.flow.session.record_id
    kit.tap("ask_cancel")
    kit.tap("answer_cancel", True)
    assert kit.flow.screen == "staff"  # the officer stays logged in
    assert rid not in {r.id for r in kit.runtime.journal.records()}
    # deleted in the officer's name
    deleted = kit.runtime.journal.audit_events(event="record_deleted")[-1].details
    assert deleted["record"] == rid and deleted["reason"] == f"cancelled by officer {STAFF}"


def test_the_officer_deletes_an_unfinished_enrollment_after_asking_once(
        kit: StaffKit) -> None:
    rid = kit.leave_one("id")
    assert [r.record_id for r in kit.flow.resumable] == [rid]
    kit.tap("ask_discard", rid)
    assert kit.flow.discard_asked == rid
    kit.tap("answer_discard", False)
    assert [r.record_id for r in kit.flow.resumable] == [rid]
    kit.tap("ask_discard", rid)
    kit.tap("answer_discard", True)
    assert kit.flow.resumable == []
    assert rid not in {r.id for r in kit.runtime.journal.records()}
    deleted = kit.runtime.journal.audit_events(event="record_deleted")[-1].details
    assert deleted["record"] == rid and STAFF in deleted["reason"]


def test_the_officers_home_logs_out_when_left(kit: StaffKit) -> None:
    s = kit.flow.settings
    kit.login()
    kit.clock.now += s.idle_timeout_s + s.idle_warning_s + 1
    kit.flow.tick()
    assert kit.flow.screen == "welcome" and not kit.flow.staff_id
    assert not kit.flow.pin_entry  # nobody there: no PIN pad for the next citizen


def test_a_new_enrollment_is_refused_at_the_home_when_the_kiosk_stops_taking_them(
        kit: StaffKit) -> None:
    kit.login()
    kit.flow.set_acceptance(False, "battery low", True, "battery_low")
    assert kit.flow.screen == "staff" and not kit.flow.accepting
    assert kit.flow.closed_category == "battery_low"  # the home says why
    kit.tap("staff_start", "id")
    assert kit.flow.session is None
    kit.flow.set_acceptance(True, "", False)
    kit.tap("staff_start", "id")
    assert kit.flow.screen == "consent"


def test_a_staff_id_with_control_characters_is_not_a_staff_card(kit: StaffKit) -> None:
    from kiosk.hardware.card import devca, piv
    from kiosk.hardware.card.pivcard import PivCard

    # A card the office's CA signed (so it passes the card checks), whose staff id holds
    # a terminal escape: the certificate's CN and the CHUID agree on it.
    claimed = "STAFF\x1b[2J"
    key = devca.dev_card_key(claimed)
    kit.reader.card = PivCard(pin=PIN, staff_id=STAFF, auth_key=key,
                              auth_cert=devca.issue_card_certificate(
                                  devca.dev_ca_key(), devca.dev_ca_certificate(),
                                  key.public_key(), claimed))
    kit.reader.card._chuid = piv.tlv(0x53, piv.tlv(0x34, claimed.encode().ljust(16, b"\0")))
    kit.insert()
    kit.type_pin()
    assert not kit.flow.staff_id
    assert kit.flow.pin_message.text("en") == "This is not a staff card."


@pytest.mark.parametrize("language", ["id", "en"])
def test_the_stick_button_says_when_no_stick_is_there(tmp_path: Path, language: str) -> None:
    kit = StaffKit(tmp_path)
    try:
        kit.flow.language = language
        kit.login()
        kit.tap("usb_sync")
        (line,) = kit.flow.usb_lines
        assert line.msgid.startswith("No USB stick found")
        assert line.text(language) == translate(line.msgid, language)
        assert line.text("id") != line.msgid  # translated
    finally:
        kit.close()


def test_the_stick_button_copies_the_waiting_records(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kiosk.upload import usb

    stick = tmp_path / "stick"
    stick.mkdir()
    # The tests' "stick" is a directory of the same disk: taken for one (the kiosk checks
    # it is another file system; tests/integration/test_usb.py tests that check).
    real = usb.stick_problem
    monkeypatch.setattr(usb, "stick_problem",
                        lambda target, data_dir, local: real(target, data_dir, local=True))
    kit = StaffKit(tmp_path, body=f'[usb]\nmount_point = "{stick}"\n')
    try:
        rid = kit.seal_one_and_log_in()
        assert [line.text("en") for line in kit.flow.queue_lines] == [
            "Records on this kiosk not yet sent: 1."]
        kit.tap("usb_sync")
        texts = [line.text("en") for line in kit.flow.usb_lines]
        assert texts == ["Records copied to the stick: 1.",
                         "You may remove the stick. Take it to the office."]
        assert [line.text("id") for line in kit.flow.queue_lines] == [
            "Data perekaman di flashdisk yang menunggu konfirmasi kantor: 1."]
        assert kit.runtime.journal.record(rid).state == "exported"
        assert [p.suffix for p in stick.iterdir()] == [".ektp"]
        kit.tap("usb_sync")  # nothing new on the stick: not sent to the office
        assert [line.text("en") for line in kit.flow.usb_lines] == [
            "No records are waiting for the stick.",
            "You may remove the stick."]
        kit.tap("logout")
        assert kit.flow.usb_lines == []  # the next officer does not see it
        assert kit.flow.queue_lines == []
    finally:
        kit.close()


def _stick(*, confirmed: int = 0, waiting: int = 0, copied: int = 0, full: int = 0,
           unreadable: int = 0, error: str = "", problem: str = "",
           removed: int = 0, too_large: int = 0) -> object:
    """A StickReport as sync_stick makes it: ``full`` records did not fit; ``removed``
    confirmed records' bundle left the stick."""
    from kiosk.upload.usb import CleanupReport, ExportReport, ImportReport, StickReport

    ids = [f"test-01-{n:07d}-abcdef" for n in range(waiting)]
    exported = ExportReport(exported=ids[:copied], error=error,
                            unreadable=[(i, "damaged") for i in ids[copied:copied + unreadable]],
                            did_not_fit=ids[copied + unreadable:][:full],
                            too_large=ids[copied:copied + unreadable][:too_large])
    left = waiting - unreadable if problem else (
        waiting - copied - unreadable if error else full)
    return StickReport(problem=problem, why="why", stick_read=problem != "no_stick",
                       imported=ImportReport(acknowledged=["x"] * confirmed),
                       exported=exported, waiting=waiting, left=left,
                       cleanup=CleanupReport(removed=["b.ektp"] * bool(removed),
                                             records=removed, freed=removed * 400_000))


TAKE = "You may remove the stick. Take it to the office."
REMOVE = "You may remove the stick."
CONFIRMED = "Records confirmed by the office: 4."
NOTHING = "No records are waiting for the stick."
FULL = "The stick is full: no record could be copied."
READ_ONLY = "The stick cannot be written: it is write-protected or damaged."
FAILED = ("The stick failed. Nothing was lost: the records stay on the kiosk. Try another "
          "stick.")


def left(count: int) -> str:
    return f"Records still waiting on the kiosk: {count}. Use another stick."


def unreadable(count: int) -> str:
    return f"Records that could not be read: {count}. A maintainer must check the journal."


@pytest.mark.parametrize(("report", "lines"), [
    (_stick(waiting=3, copied=3), ["Records copied to the stick: 3.", TAKE]),
    (_stick(confirmed=4, waiting=3, copied=3),
     [CONFIRMED, "Records copied to the stick: 3.", TAKE]),
    # the office's confirmed records leave the stick, and make room
    (_stick(confirmed=4, removed=4, waiting=3, copied=3),
     [CONFIRMED, "Old records the office confirmed were removed from the stick: 4.",
      "Records copied to the stick: 3.", TAKE]),
    (_stick(waiting=5, copied=2, full=3),
     ["Records copied to the stick: 2.", left(3), TAKE]),
    # nothing fits: not sent to the office with nothing new
    (_stick(waiting=3, full=3), [FULL, left(3), REMOVE]),
    (_stick(confirmed=4, waiting=3, full=3), [CONFIRMED, FULL, left(3), REMOVE]),
    # nothing was waiting
    (_stick(), [NOTHING, REMOVE]),
    (_stick(confirmed=4), [CONFIRMED, NOTHING, REMOVE]),
    # records the journal cannot give: a maintainer's, not another stick's
    (_stick(waiting=2, unreadable=2), [unreadable(2), REMOVE]),
    (_stick(waiting=4, copied=3, unreadable=1),
     ["Records copied to the stick: 3.", unreadable(1), TAKE]),
    (_stick(waiting=6, copied=2, unreadable=1, full=3),
     ["Records copied to the stick: 2.", unreadable(1), left(3), TAKE]),
    (_stick(waiting=4, unreadable=1, full=3), [FULL, unreadable(1), left(3), REMOVE]),
    # a packet larger than a bundle carries reads, and goes by upload only
    (_stick(waiting=3, copied=2, unreadable=1, too_large=1),
     ["Records copied to the stick: 2.",
      "Records too large for a stick: 1. They go when the kiosk has a link.", TAKE]),
    # the stick failed while written
    (_stick(waiting=3, error="EIO"), [FAILED]),
    (_stick(waiting=5, copied=2, error="EIO"), ["Records copied to the stick: 2.", FAILED]),
    # read, not written
    (_stick(confirmed=4, problem="read_only"), [CONFIRMED, READ_ONLY, NOTHING, REMOVE]),
    (_stick(confirmed=4, waiting=2, problem="read_only"),
     [CONFIRMED, READ_ONLY, left(2), REMOVE]),
    (_stick(waiting=2, problem="not_writable"),
     ["The kiosk may not write to this stick. Ask a maintainer.", REMOVE]),
    (_stick(problem="no_stick"),
     ["No USB stick found. Insert the stick, wait a few seconds and try again."]),
])
def test_the_stick_lines_say_what_is_true(report: object, lines: list[str]) -> None:
    """Each combination of receipts, records copied (all, some, none, none waiting),
    unreadable ones, a read-only stick and a failing one: the officer reads what is so, and
    is sent to the office only with a stick that carries new records."""
    from kiosk.screens.flow_staff import usb_summary

    summary = usb_summary(report)
    assert [line.text("en") for line in summary] == lines
    assert all(line.text("id") != line.text("en") for line in summary)


def test_a_card_the_office_did_not_issue_is_refused_and_audited(kit: StaffKit) -> None:
    """The card answers the PIN but its certificate is another CA's: "could not be
    checked", no login, an audit event of the refusal's kind."""
    from kiosk.hardware.card.pivcard import PivCard

    kit.reader.card = PivCard(pin=PIN, staff_id=STAFF, auth_fault="other_ca")
    _refused_as_unchecked(kit, "CardNotTrusted")


def _refused_as_unchecked(kit: StaffKit, why: str) -> None:
    """The card in, the right PIN: no login, "could not be checked" on the PIN pad, and
    the refusal audited as ``why``."""
    kit.insert()
    kit.type_pin()
    assert not kit.flow.staff_id and kit.flow.pin_entry
    assert kit.flow.pin_message.text("en") == (
        "This card could not be checked. Ask an administrator.")
    events = kit.runtime.journal.audit_events(event="staff_login_refused")
    assert [e.details for e in events] == [{"why": why}]


def _crl_pem(*staff_ids: str) -> bytes:
    """The development CA's CRL revoking these staff ids' cards."""
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives import serialization

    from kiosk.hardware.card import devca

    crl = devca.issue_crl(devca.dev_ca_key(), devca.dev_ca_certificate(),
                          [devca.dev_card_certificate(s).serial_number for s in staff_ids],
                          last_update=datetime.now(UTC))
    return crl.public_bytes(serialization.Encoding.PEM)


def test_a_card_revoked_while_the_kiosk_runs_is_refused_at_its_next_login(
        tmp_path: Path) -> None:
    """The office revokes the officer's card ([staff] crl) and installs the new CRL while
    the touchscreen runs: the next login with the genuine card and its PIN is refused like
    any card not trusted, without a restart, and the audit tells the two apart."""
    crl = tmp_path / "staff-crl.pem"
    crl.write_bytes(_crl_pem())  # the office's CRL: nobody revoked yet
    kit = StaffKit(tmp_path, body='[staff]\ncrl = "staff-crl.pem"\n')
    try:
        kit.login()
        kit.remove()
        new = tmp_path / "staff-crl.pem.new"  # installed as a maintainer would: renamed
        new.write_bytes(_crl_pem(STAFF))
        new.replace(crl)
        _refused_as_unchecked(kit, "CardRevoked")
        assert kit.reader.pin_retries_left == 3  # the right PIN: no try lost
    finally:
        kit.close()


def test_a_crl_that_cannot_be_read_stops_login_and_says_so(tmp_path: Path) -> None:
    """[staff] crl set, its file gone: no card is believed (a revoked one must not get in),
    and the PIN pad says what stops the login, in both languages; the file back, the
    officer logs in."""
    kit = StaffKit(tmp_path, body='[staff]\ncrl = "staff-crl.pem"\n')
    try:
        kit.insert()
        kit.type_pin()
        assert not kit.flow.staff_id
        assert kit.flow.pin_message.text("en") == (
            "Officer login is stopped on this kiosk: its list of revoked staff cards cannot "
            "be read. Ask an administrator.")
        assert kit.flow.pin_message.text("id").startswith("Login petugas dihentikan")
        assert kit.reader.pin_retries_left == 3  # nothing was sent to the card
        (tmp_path / "staff-crl.pem").write_bytes(_crl_pem("STAFF-0001"))
        kit.type_pin()
        assert kit.flow.staff_id == STAFF
    finally:
        kit.close()


def test_the_reasons_close_when_the_finger_is_scanned_after_all(tmp_path: Path) -> None:
    """The officer opened the reasons, then the finger scanned: a reason chosen now would
    be recorded for the next finger."""
    kit = StaffKit(tmp_path, capture_timeout_s=0.05)
    try:
        _to_fingerprints_with_l3_failing(kit)
        kit.login()
        kit.tap("ask_missing")
        assert kit.flow.missing_picker
        kit.tap("retry_finger")  # the finger comes to the sensor after all
        assert "L3" in kit.flow.fingers_done and not kit.flow.missing_picker
        kit.executor.advance(1.0)
        assert kit.flow.current_finger != "L3" and not kit.flow.missing_picker
        assert kit.flow.fingers_missing == {}
    finally:
        kit.close()


def test_the_officer_called_with_help_logs_in_and_the_light_stops_blinking(
        tmp_path: Path) -> None:
    kit = StaffKit(tmp_path, capture_timeout_s=0.05)
    try:
        _to_fingerprints_with_l3_failing(kit)
        kit.tap("call_help")
        gpio = kit.runtime.devices["gpio"]
        assert kit.flow.help_active and gpio.status == "fault"
        kit.login()
        assert not kit.flow.help_active and gpio.status == "busy"
    finally:
        kit.close()


def test_a_power_cut_mid_assisted_session_is_continued_by_the_officer(tmp_path: Path) -> None:
    """The field case: an officer is enrolling a person when the battery dies (nothing
    closes: the journal is simply opened again by the next start, as after a cut). The
    next start keeps the record (start-up recovery), the officer logs in, sees it, and
    continues it to a sealed record with the details kept from before."""
    first = StaffKit(tmp_path)
    first.login()
    first.tap("staff_start", "id")
    first.tap("consent", True)
    first.type_identity()
    first.tap("submit_identity")
    first.fill_demographics()
    first.tap("submit_demographics")
    first.through_portrait()
    rid = first.flow.session.record_id
    assert first.flow.screen == "fingerprints"
    # The cut: the process is gone; its journal connection was never closed by it (the
    # devices are released here only because this test's next "boot" is the same process).
    first.reader.close()
    power_cut(first.runtime)  # what a dead process leaves: no close, no checkpoint
    second = StaffKit(tmp_path)  # the next boot, on the same data directory
    try:
        assert second.runtime.journal.record(rid).state == "in_progress"
        second.login()
        (entry,) = second.flow.resumable
        assert entry.record_id == rid
        assert entry.steps == {"consent", "identity", "demographics", "portrait"}
        second.tap("staff_resume", rid)
        second.type_identity()
        second.tap("submit_identity")
        assert second.flow.screen == "fingerprints"  # details and photo kept from before
        second.through_fingers()
        second.sign()
        second.tap("confirm")
        assert second.flow.screen == "done" and second.flow.receipt_id == rid
        assert second.runtime.journal.record(rid).state == "sealed"
        steps = open_sealed_records(second.config.sources[-1]).steps[rid]
        consent = json.loads(steps["consent"]["consent.json"])
        assert consent["staff"] == STAFF and consent["assisted"] is True
    finally:
        second.close()


# -- from the fresh-eye review ------------------------------------------------------------
def _hold_captures(kit: StaffKit) -> list[tuple[object, object]]:
    """The finger captures wait (the sensor waits for a finger) until the test runs them."""
    held: list[tuple[object, object]] = []
    run_now = kit.executor.submit

    def submit(work, done) -> None:  # type: ignore[no-untyped-def]
        if kit.flow.screen == "fingerprints" and kit.flow.waiting_finger and not held:
            held.append((work, done))
            return
        run_now(work, done)

    kit.executor.submit = submit  # type: ignore[method-assign]
    return held


def test_an_officer_who_logs_in_while_the_sensor_waits_takes_the_session_over(
        tmp_path: Path) -> None:
    kit = StaffKit(tmp_path, capture_timeout_s=0.05)
    try:
        kit.to("portrait", "id")
        held = _hold_captures(kit)
        kit.through_portrait()
        assert kit.flow.busy and kit.flow.waiting_finger and held
        session = kit.flow.session
        kit.login()
        assert session.assisted and session.staff_id == STAFF  # not skipped while busy
        assert kit.runtime.journal.record(session.record_id).assisted
        assert kit.flow.can_record_missing
        kit.tap("ask_missing")
        kit.tap("record_missing", "bandaged")
        assert kit.flow.fingers_missing == {"R1": "bandaged"}
    finally:
        kit.close()


def test_a_half_typed_pin_goes_with_the_wipe_and_with_time(kit: StaffKit) -> None:
    s = kit.flow.settings
    kit.to("consent", "en")
    kit.insert()
    for digit in "246":
        kit.flow.pin_key(digit)
    kit.clock.now += s.idle_timeout_s + s.idle_warning_s + 1
    kit.flow.tick()
    assert kit.flow.screen == "welcome"
    assert not kit.flow.pin_entry and kit.flow.pin_length == 0
    kit.flow.open_pin()  # at the welcome: left untouched, it closes by itself
    kit.flow.pin_key("2")
    kit.clock.now += s.idle_timeout_s
    kit.flow.tick()
    assert not kit.flow.pin_entry and kit.flow.pin_length == 0


def test_a_kiosk_that_trusts_no_ca_refuses_even_the_simulated_card(tmp_path: Path) -> None:
    kit = StaffKit(tmp_path, body='[staff]\nca = "no-such-ca.pem"\n')  # [staff] ca unusable
    try:
        kit.insert()
        kit.type_pin()
        assert not kit.flow.staff_id
        assert kit.flow.pin_message.text("en").startswith("Officer login is not set up")
        assert kit.reader.pin_retries_left == 3  # nothing was sent to the card
    finally:
        kit.close()


def _stick_started_and_held(kit: StaffKit) -> Any:
    """The officer logs in and taps the stick button; its work is held (a slow stick):
    returns the flow's ``done(result, error)`` for the test to answer with."""
    held: list[tuple[object, Any]] = []
    kit.flow.stick_sync = lambda: "report"
    run_now = kit.executor.submit
    kit.login()
    kit.executor.submit = lambda work, done: held.append((work, done))  # type: ignore
    kit.tap("usb_sync")
    kit.executor.submit = run_now  # type: ignore[method-assign]
    (_work, done), = held
    return done


def test_a_stick_answer_is_not_shown_to_the_next_officer(kit: StaffKit) -> None:
    from kiosk.hardware.card.pivcard import PivCard

    done = _stick_started_and_held(kit)
    kit.remove()  # the officer takes the card while the copy runs
    kit.reader.card = PivCard(pin=PIN, staff_id="STAFF-0077")  # another officer's card
    kit.insert()
    kit.type_pin()
    assert kit.flow.staff_id == "STAFF-0077"
    done(None, RuntimeError("the stick failed"))
    assert kit.flow.usb_lines == []
    kit.remove()
    kit.reader.card = PivCard(pin=PIN, staff_id=STAFF)
    kit.login()  # the officer who asked: what the stick did
    assert [line.text("en") for line in kit.flow.usb_lines] == [
        "The stick failed. Nothing was lost: the records stay on the kiosk. Try another "
        "stick."]


def test_the_card_out_while_the_stick_is_written_says_not_to_remove_it(
        kit: StaffKit) -> None:
    """The officer takes the card (or the home logs out) while the stick is written: the
    welcome says not to remove the stick until it is done, then that it may come out; the
    same officer's next login shows what was copied. Log out waits for the stick."""
    from kiosk.upload.usb import StickReport

    done = _stick_started_and_held(kit)
    flow = kit.flow
    assert flow.stick_writing and not flow.stick_line  # the home says it itself
    kit.remove()
    assert flow.screen == "welcome"
    assert flow.stick_line.text("en") == "Working with the USB stick. Do not remove it."
    kit.tap("start", "id")  # a tap on the welcome: the line stays while the stick is written
    assert flow.stick_line
    done(StickReport(problem="no_stick", why="no stick"), None)
    assert not flow.stick_writing and not flow.stick_line
    assert flow.notice.text("en") == "The USB stick is done: it can be removed."
    assert flow.stick_notice == flow.notice  # the closed screen says it too
    assert translate(flow.notice.msgid, "id") != flow.notice.msgid
    kit.login()  # the same officer: what the stick did
    assert [line.text("en") for line in flow.usb_lines] == [
        "No USB stick found. Insert the stick, wait a few seconds and try again."]


def test_the_citizen_an_officer_helped_finishes_and_the_officer_is_logged_out(
        tmp_path: Path) -> None:
    kit = StaffKit(tmp_path, capture_timeout_s=0.05)
    try:
        _to_fingerprints_with_l3_failing(kit)
        kit.login()  # the officer helps, and walks away leaving the card in the reader
        kit.tap("retry_finger")
        for _ in range(3):
            kit.executor.advance(1.0)
        kit.sign()
        kit.tap("confirm")
        assert kit.flow.screen == "done" and kit.flow.staff_id == STAFF
        kit.tap("finish")
        assert kit.flow.screen == "welcome" and not kit.flow.staff_id
    finally:
        kit.close()


def test_an_officers_login_lasts_at_most_half_an_hour(kit: StaffKit) -> None:
    from kiosk.screens.flow_staff import STAFF_LOGIN_S

    kit.login()
    for _ in range(int(STAFF_LOGIN_S // 50) + 1):  # touched every 50 s, never idle
        kit.clock.now += 50
        kit.flow.touch()
        kit.flow.tick()
    assert kit.flow.screen == "welcome" and not kit.flow.staff_id
    assert kit.flow.pin_entry  # the card still in, the officer there: the PIN again
    kit.type_pin()
    assert kit.flow.staff_id == STAFF and kit.flow.screen == "staff"


# -- from the field officer's review ------------------------------------------------------
def _leave_two_enrollments(kit: StaffKit) -> tuple[str, str]:
    """Two people begun with the officer, each left at the photo (idle): the first with
    NIK / KK, the second another woman's numbers. The officer logs in again."""
    rids = []
    for nik, kk in ((NIK, KK), (OTHER_NIK, OTHER_KK)):
        kit.login()
        kit.tap("staff_start", "en")
        kit.tap("consent", True)
        kit.type_identity(nik, kk)
        kit.tap("submit_identity")
        kit.fill_demographics()
        kit.tap("submit_demographics")
        rids.append(kit.flow.session.record_id)
        kit.walk_away()
        kit.remove()
    kit.login()
    return rids[0], rids[1]


def test_the_wrong_row_cannot_be_continued_with_the_other_persons_numbers(
        kit: StaffKit) -> None:
    first, second = _leave_two_enrollments(kit)
    assert [r.record_id for r in kit.flow.resumable] == [first, second]
    kit.tap("staff_resume", first, "en")
    kit.type_identity(OTHER_NIK, OTHER_KK)  # the second person, at the first row
    kit.tap("submit_identity")
    assert kit.flow.screen == "identity"
    assert kit.flow.message.text("en") == "Not the NIK and No. KK this enrollment was begun with."
    from kiosk.screens.identity import IdentityScreen

    screen = IdentityScreen()  # neither field "looks right" beside it (both are in question)
    screen.refresh(kit.flow)
    notes = {screen.nik_kind: screen.nik_note, screen.kk_kind: screen.kk_note}
    assert "ok" not in notes and notes["error"].startswith("Not the NIK and No. KK"), notes
    # The way back without deleting the first person's record: Cancel, keep it for later.
    kit.tap("ask_cancel")
    assert kit.flow.can_keep_for_later
    kit.tap("keep_for_later")
    assert kit.flow.screen == "staff" and kit.flow.staff_id == STAFF
    assert kit.runtime.journal.record(first).state == "in_progress"
    assert [r.record_id for r in kit.flow.resumable] == [first, second]
    kit.tap("staff_resume", second, "en")
    kit.type_identity(OTHER_NIK, OTHER_KK)
    kit.tap("submit_identity")
    assert kit.flow.screen == "portrait"  # the right row: its details kept from before


def test_keep_for_later_is_not_offered_to_a_citizen_alone(kit: StaffKit) -> None:
    kit.to("identity", "en")
    kit.tap("ask_cancel")
    assert not kit.flow.can_keep_for_later
    kit.tap("keep_for_later")  # nothing: the citizen's choice is continue or stop
    assert kit.flow.confirm_cancel and kit.flow.screen == "identity"
    kit.tap("answer_cancel", True)
    deleted = kit.runtime.journal.audit_events(event="record_deleted")[-1].details
    assert deleted["reason"] == "cancelled by the citizen"


def test_change_then_back_on_a_continued_enrollment_returns_to_review(kit: StaffKit) -> None:
    """The officer checks a digit of the NIK from review on a continued enrollment whose
    details were saved before the break, then goes Back: review again, not a trap."""
    first, _second = _leave_two_enrollments(kit)
    kit.tap("staff_resume", first, "en")
    kit.type_identity(NIK, KK)
    kit.tap("submit_identity")
    kit.through_portrait()
    kit.through_fingers()
    kit.sign()
    assert kit.flow.screen == "review"
    kit.tap("edit", "identity")
    kit.tap("cancel_edit")
    assert kit.flow.screen == "review" and not kit.flow.message
    kit.tap("edit", "demographics")
    kit.tap("cancel_edit")
    assert kit.flow.screen == "review" and not kit.flow.message
    kit.tap("confirm")
    assert kit.flow.screen == "done" and kit.runtime.journal.record(first).state == "sealed"


@pytest.mark.parametrize(("counts", "en", "id_"), [
    ({}, [], []),
    ({"in_progress": 2, "acknowledged": 40, "purged": 300},
     ["Every record made on this kiosk has reached Dukcapil."],
     ["Semua data perekaman dari kios ini sudah sampai di Dukcapil."]),
    ({"sealed": 3, "uploading": 1, "exported": 12, "rejected": 2, "acknowledged": 5},
     ["Records on this kiosk not yet sent: 4.",
      "Records on a USB stick, waiting for the office's confirmation: 12.",
      "Records refused by Dukcapil: 2. A maintainer must check them."],
     ["Data perekaman di kios ini yang belum terkirim: 4.",
      "Data perekaman di flashdisk yang menunggu konfirmasi kantor: 12.",
      "Data perekaman yang ditolak Dukcapil: 2. Teknisi harus memeriksanya."]),
    ({"sealed": 0, "exported": 1}, ["Records on a USB stick, waiting for the office's "
                                    "confirmation: 1."],
     ["Data perekaman di flashdisk yang menunggu konfirmasi kantor: 1."]),
])
def test_the_home_says_where_the_records_stand(counts: dict[str, int], en: list[str],
                                               id_: list[str]) -> None:
    from kiosk.screens.flow_staff import queue_summary

    lines = queue_summary(counts)
    assert [line.text("en") for line in lines] == en
    assert [line.text("id") for line in lines] == id_
    # refused records are the officer's to report (red); the rest is information
    assert [line.kind for line in lines] == [
        "error" if "refused" in text else "ok" if "reached" in text else "info" for text in en]


def test_the_homes_record_counts_follow_the_uploader_while_it_shows(kit: StaffKit) -> None:
    from kiosk.screens.flow_staff import QUEUE_REFRESH_S

    rid = kit.seal_one_and_log_in()
    assert [line.text("en") for line in kit.flow.queue_lines] == [
        "Records on this kiosk not yet sent: 1."]
    # The uploader (another process) has the intake's receipt: the home says so within
    # QUEUE_REFRESH_S, the officer touching nothing.
    kit.runtime.journal.acknowledge(rid, b"receipt")
    kit.clock.now += QUEUE_REFRESH_S / 2
    kit.flow.tick()
    kit.executor.drain()
    assert kit.flow.queue_lines[0].text("en") == "Records on this kiosk not yet sent: 1."
    kit.clock.now += QUEUE_REFRESH_S / 2
    kit.flow.tick()
    kit.executor.drain()
    assert [line.text("en") for line in kit.flow.queue_lines] == [
        "Every record made on this kiosk has reached Dukcapil."]


def test_a_journal_that_cannot_count_leaves_the_line_out(
        kit: StaffKit, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> dict[str, int]:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(kit.runtime.journal, "counts", broken)
    kit.login()
    assert kit.flow.screen == "staff" and kit.flow.queue_lines == []
    kit.tap("staff_start", "en")  # the home still works
    assert kit.flow.screen == "consent"


def test_the_officer_reads_the_home_in_the_language_chosen_until_log_out(
        kit: StaffKit) -> None:
    kit.login()
    assert kit.flow.language == "id"  # the kiosk's own
    kit.tap("set_staff_language", "en")
    assert kit.flow.screen == "staff" and kit.flow.language == "en"
    # A person enrolled in Indonesian: the home comes back in the officer's English.
    kit.tap("staff_start", "id")
    assert kit.flow.language == "id" and kit.flow.session.language == "id"
    kit.tap("ask_cancel")
    kit.tap("answer_cancel", True)
    assert kit.flow.screen == "staff" and kit.flow.language == "en"
    kit.tap("set_staff_language", "xx")  # not a language: nothing changes
    assert kit.flow.language == "en"
    # Log out: the next citizen's welcome is in the kiosk's own language, and the next
    # officer's home too.
    kit.tap("logout")
    assert kit.flow.screen == "welcome" and kit.flow.language == "id"
    kit.remove()
    kit.login()
    assert kit.flow.screen == "staff" and kit.flow.language == "id"


def test_the_homes_language_is_not_changed_from_another_screen(kit: StaffKit) -> None:
    kit.login()
    kit.tap("staff_start", "id")
    kit.tap("set_staff_language", "en")  # a stale tap: the home is not shown
    assert kit.flow.screen == "consent" and kit.flow.language == "id"


@pytest.mark.parametrize(("error", "said"), [
    (StorageFull("disk full"), "the kiosk's storage is full"),
    (sqlite3.OperationalError("disk I/O error"), "could not write to its storage"),
])
def test_a_delete_the_journal_refuses_is_said_on_the_home_in_the_officers_words(
        kit: StaffKit, error: Exception, said: str) -> None:
    rid = kit.leave_one()

    def refuse(record_id: str, reason: str) -> None:
        raise error

    kit.runtime.store.discard = refuse  # type: ignore[method-assign]
    kit.tap("ask_discard", rid)
    kit.tap("answer_discard", True)
    flow = kit.flow
    assert flow.screen == "staff" and [r.record_id for r in flow.resumable] == [rid]
    text = flow.staff_message.text("en")
    assert text.startswith("The enrollment was not deleted") and said in text, text
    assert "HELP" not in text and not flow.message  # not the citizen's "press HELP"
    assert translate(flow.staff_message.msgid, "id") != flow.staff_message.msgid
    kit.tap("ask_discard", rid)  # the officer's next action: the old message goes
    assert not flow.staff_message


def test_a_failed_continue_is_said_until_the_officers_next_action(
        kit: StaffKit, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = kit.leave_one()
    real = EnrollmentSession.resume
    calls: list[int] = []

    def flaky(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise IllegalTransition("a hiccup")
        return real(*args, **kwargs)

    monkeypatch.setattr(EnrollmentSession, "resume", staticmethod(flaky))
    kit.tap("staff_resume", rid)
    text = kit.flow.staff_message.text("en")
    assert kit.flow.screen == "staff" and text.startswith("This enrollment could not be continued")
    assert "HELP" not in text
    kit.tap("staff_resume", rid)  # again: it goes on, and the home's message has gone
    assert kit.flow.screen == "identity" and not kit.flow.staff_message


def test_the_officer_at_the_portrait_after_three_failed_photos_is_not_sent_to_help(
        kit: StaffKit) -> None:
    """Three failed photos send the citizen to HELP; once the officer called has logged in,
    the screen no longer says to press HELP, nor draws Help as the way forward (as at the
    finger step): taking the photo again, with the officer's help, is."""
    kit.to("portrait", "id")
    kit.runtime.devices["camera"].fail_every = 1  # every still fails
    for _ in range(kit.flow.settings.capture_tries):
        kit.tap("take_photo")
        kit.executor.advance(3.5)
    flow = kit.flow
    assert flow.need_officer and flow.help_wanted
    kit.login()
    assert flow.session.assisted and flow.screen == "portrait"
    assert not flow.need_officer and not flow.help_wanted
    from kiosk.screens.messages import CALL_OFFICER
    from kiosk.screens.portrait import PortraitScreen

    screen = PortraitScreen()
    screen.refresh(flow)
    assert screen.note and translate(CALL_OFFICER, "id") not in screen.note
    kit.runtime.devices["camera"].fail_every = 0
    kit.tap("take_photo")
    kit.executor.advance(3.5)
    assert flow.portrait_jpeg


# -- a delete and the home's list racing (the reviewer's ghost rows) -----------------------
def _two_kept_and_one_cancelled(kit: StaffKit) -> tuple[list[str], str]:
    """Two enrollments kept for later, then a third begun with the officer, at its
    identity step, and the cancel question asked: the kept ids and the third's."""
    kept = list(_leave_two_enrollments(kit))
    kit.tap("staff_start", "id")
    kit.tap("consent", True)
    cancelled = kit.flow.session.record_id
    kit.tap("ask_cancel")
    return kept, cancelled


def test_the_home_lists_only_once_the_cancelled_enrollment_is_deleted(
        kit: StaffKit) -> None:
    """The wipe hands the delete to one worker and the home's list to another: the list,
    done first, showed the deleted record as a ghost row (its Continue then failed). The
    list waits for the delete; a list answer older than the latest is dropped."""
    kept, cancelled = _two_kept_and_one_cancelled(kit)
    held: list[tuple[Any, Any]] = []
    kit.executor.submit = lambda work, done: held.append((work, done))  # type: ignore
    kit.tap("answer_cancel", True)
    assert kit.flow.screen == "staff"
    while held:  # the worst order: the work submitted last ends first
        work, done = held.pop()
        try:
            result, error = work(), None
        except Exception as exc:
            result, error = None, exc
        done(result, error)
    assert cancelled not in {r.id for r in kit.runtime.journal.records()}
    assert [r.record_id for r in kit.flow.resumable] == kept
    assert not kit.flow.staff_message


def test_a_record_deleted_between_the_lists_reads_is_left_out(kit: StaffKit) -> None:
    """The delete lands between the list's two reads (the records, then each one's steps):
    the record is left out, the others listed, not "the list cannot be read"."""
    kept = list(_leave_two_enrollments(kit))
    journal = kit.runtime.journal
    real = journal.records

    def then_one_goes(state: str | None = None) -> list[Any]:
        found = real(state)
        if state == "in_progress" and any(r.id == kept[0] for r in found):
            journal.delete_record(kept[0], "deleted by officer meanwhile")
        return found

    journal.records = then_one_goes  # type: ignore[method-assign]
    assert [r.record_id for r in list_resumable(journal)] == [kept[1]]
    journal.records = real  # type: ignore[method-assign]
    kit.remove()
    kit.login()
    assert [r.record_id for r in kit.flow.resumable] == [kept[1]]
    assert not kit.flow.staff_message


def test_a_finger_recorded_missing_is_followed_by_the_next_fingers_name(
        tmp_path: Path) -> None:
    """After "Cannot be scanned" the screen shows the next finger: its instruction and name
    are said (the last thing said was the excluded finger's)."""
    from kiosk.screens.flow_screens import FINGER_NAMES, PROMPTS

    kit = StaffKit(tmp_path, capture_timeout_s=0.05)
    try:
        kit.to("portrait", "id")
        kit.login()
        held = _hold_captures(kit)
        kit.through_portrait()
        assert kit.flow.waiting_finger and kit.flow.current_finger == "R1"
        assert kit.speaker.utterances[-1] == (
            "id", (PROMPTS["fingerprints"], FINGER_NAMES["R1"]))
        held.clear()  # the sensor still waits for the right index finger
        kit.tap("ask_missing")
        kit.tap("record_missing", "bandaged")
        assert kit.flow.current_finger == "R2" and kit.flow.waiting_finger
        assert kit.speaker.utterances[-1] == (
            "id", (PROMPTS["fingerprints"], FINGER_NAMES["R2"]))
        kit.tap("repeat_prompt")
        assert kit.speaker.utterances[-1][1][:2] == (
            PROMPTS["fingerprints"], FINGER_NAMES["R2"])
    finally:
        kit.close()


def test_the_refusal_of_the_wrong_numbers_goes_at_the_next_key(kit: StaffKit) -> None:
    """"Not the NIK and No. KK this enrollment was begun with" stayed under the fields
    while the officer typed the right numbers: it goes at the next key, the field's own
    message follows what is typed."""
    from kiosk.screens.identity import IdentityScreen

    first, _second = _leave_two_enrollments(kit)
    kit.tap("staff_resume", first, "en")
    kit.type_identity(OTHER_NIK, OTHER_KK)
    kit.tap("submit_identity")
    assert kit.flow.message.text("en").startswith("Not the NIK and No. KK")
    kit.flow.identity_backspace()
    assert not kit.flow.message
    screen = IdentityScreen()
    screen.refresh(kit.flow)
    assert "Not the NIK" not in screen.nik_note + screen.kk_note
    kit.type_identity(NIK, KK)
    kit.tap("submit_identity")
    assert kit.flow.screen == "portrait"


def test_a_fault_that_asks_for_help_stays_while_the_numbers_are_typed(kit: StaffKit) -> None:
    from kiosk.screens import messages as m

    kit.to("identity", "en")
    kit.flow.message = m.Msg.of(m.DISK_FULL)
    kit.flow.identity_digit("7")
    assert kit.flow.message.msgid == m.DISK_FULL
