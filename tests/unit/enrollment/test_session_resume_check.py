"""Continuing an unfinished assisted enrollment: only with the numbers it was begun with
(its photo, fingers and details are that person's), and a change from review that the
details saved before the break can or cannot follow (found by a field officer's review:
the wrong row continued sealed one person's NIK onto another's photo; Change then Back on a
continued enrollment trapped the officer)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from kiosk.enrollment.resume_check import SCHEME, check_matches, make_check
from kiosk.enrollment.session import DETAILS_AGAIN, NOT_BEGUN_WITH, EnrollmentSession, Step
from kiosk.errors import InvalidInput
from kiosk.journal import Journal
from kiosk.record_store import JournalRecordStore
from kiosk.sealing import DeviceKey, Sealer
from tests.unit.enrollment.fakes import (
    KK_TEXT,
    NIK_DIGITS,
    NIK_TEXT,
    PERSON,
    TODAY,
    FakeCamera,
    FakeScanner,
)
from tests.unit.enrollment.test_session import OLD, RESUMED_ID, STEP_ACTIONS, Kit

#: Another woman of the same kecamatan, born 1 Jan 1990 (an even year: the other colour).
OTHER_NIK = "7204014101900002"
OTHER_KK = "7204010101180003"
#: A man born 1985 (the photo's colour unchanged; the details' sex no longer agrees).
MAN_1985 = "7204011208850003"


def resumed(journaled: tuple[str, ...], *, begun_with: tuple[str, str] | None = (
        NIK_DIGITS, KK_TEXT)) -> Kit:
    """A Kit resuming RESUMED_ID (``journaled`` steps), begun with ``begun_with``."""
    kit = Kit()
    kit.store.steps[RESUMED_ID] = {name: dict(OLD[name]) for name in journaled}
    if begun_with is not None:
        kit.store.checks[RESUMED_ID] = make_check(*begun_with)
    kit.session = EnrollmentSession.resume(
        kit.store, RESUMED_ID, journaled, fingerprint=kit.scanner, camera=kit.camera,
        timeout_s=300, clock=kit.clock, today=lambda: TODAY)
    kit.store.session = kit.session
    return kit


def test_the_check_tells_the_numbers_apart_and_each_is_salted() -> None:
    one, two = make_check(NIK_DIGITS, KK_TEXT), make_check(NIK_DIGITS, KK_TEXT)
    assert one != two and one.startswith(SCHEME)  # a fresh salt each time
    assert check_matches(one, NIK_DIGITS, KK_TEXT) and check_matches(two, NIK_DIGITS, KK_TEXT)
    assert not check_matches(one, OTHER_NIK, KK_TEXT)
    assert not check_matches(one, NIK_DIGITS, OTHER_KK)
    assert NIK_DIGITS.encode() not in one and KK_TEXT.encode() not in one
    with pytest.raises(ValueError, match="not a resume check"):
        check_matches(b"sha256:" + one[len(SCHEME):], NIK_DIGITS, KK_TEXT)


def test_another_persons_numbers_cannot_continue_the_enrollment() -> None:
    kit = resumed(("consent", "identity", "demographics", "portrait"))
    for nik, kk in ((OTHER_NIK, OTHER_KK), (OTHER_NIK, KK_TEXT), (NIK_DIGITS, OTHER_KK)):
        with pytest.raises(InvalidInput) as refused:
            kit.session.enter_identity(nik, kk)
        assert refused.value.part == "identity"
        assert refused.value.message_en == NOT_BEGUN_WITH
        assert refused.value.message_id != NOT_BEGUN_WITH  # said in Indonesian too
    assert kit.session.step is Step.IDENTITY
    assert kit.store.calls == []  # nothing saved: the old identity step stands
    kit.session.enter_identity(NIK_TEXT, KK_TEXT)  # the person it was begun with
    assert kit.session.step is Step.FINGERPRINTS
    assert kit.store.checks[RESUMED_ID] is not None


def test_a_record_begun_before_the_check_existed_continues_unchecked(
        caplog: pytest.LogCaptureFixture) -> None:
    kit = resumed(("consent", "identity"), begun_with=None)
    assert "not checked" in caplog.text
    kit.session.enter_identity(OTHER_NIK, OTHER_KK)
    assert kit.session.step is Step.DEMOGRAPHICS
    assert check_matches(kit.store.checks[RESUMED_ID], OTHER_NIK, OTHER_KK)  # kept from now


def test_only_assisted_records_keep_a_check() -> None:
    alone, helped = Kit(), Kit(assisted=True)
    for kit in (alone, helped):
        for action in STEP_ACTIONS[:3]:
            action(kit.session)
    assert alone.store.checks == {}
    (check,) = helped.store.checks.values()
    assert check_matches(check, NIK_DIGITS, KK_TEXT)
    # An officer taking over after the numbers were typed: the check is kept then.
    alone.session.assist("STAFF-0042")
    (check,) = alone.store.checks.values()
    assert check_matches(check, NIK_DIGITS, KK_TEXT)


def test_the_check_is_journaled_with_the_step_and_gone_once_sealed(tmp_path: Path) -> None:
    sealer = Sealer(bytes(PrivateKey.generate().public_key), DeviceKey.generate(), "test-01")
    with Journal.open(tmp_path / "journal.db", kiosk_id="test-01", boot_id="boot-1",
                      clock_trusted=lambda: True) as journal:
        store = JournalRecordStore(journal, sealer, kiosk_id="test-01")
        session = EnrollmentSession(store, fingerprint=FakeScanner(), camera=FakeCamera(),
                                    staff_id="STAFF-0042", today=lambda: TODAY)
        for action in STEP_ACTIONS[:3]:
            action(session)
        rid = session.record_id
        assert check_matches(journal.resume_check(rid), NIK_DIGITS, KK_TEXT)
        for action in STEP_ACTIONS[3:]:
            action(session)
        assert journal.record(rid).state == "sealed"
        assert journal.resume_check(rid) is None


def test_change_then_back_on_a_continued_enrollment_returns_to_review() -> None:
    kit = resumed(tuple(OLD))  # every step saved before the break
    s = kit.session
    s.enter_identity(NIK_TEXT, KK_TEXT)
    assert s.step is Step.REVIEW
    s.edit(Step.IDENTITY)
    s.cancel_edit()  # Back from the NIK page
    assert s.step is Step.REVIEW and not s.is_editing
    s.edit(Step.IDENTITY)
    s.enter_identity(NIK_TEXT, KK_TEXT)  # Next with the same numbers
    assert s.step is Step.DEMOGRAPHICS
    s.cancel_edit()  # Back from the details: those saved before stand
    assert s.step is Step.REVIEW
    s.edit(Step.DEMOGRAPHICS)
    s.cancel_edit()
    assert s.step is Step.REVIEW
    assert s.review().demographics is None  # still the ones saved before
    assert [c[1] for c in kit.store.calls] == ["identity", "identity"]
    assert kit.store.steps[RESUMED_ID]["demographics"] == OLD["demographics"]


def test_a_new_nik_on_a_continued_enrollment_needs_the_details_again() -> None:
    kit = resumed(tuple(OLD))
    s = kit.session
    s.enter_identity(NIK_TEXT, KK_TEXT)
    s.edit(Step.IDENTITY)
    s.enter_identity(MAN_1985, KK_TEXT)  # a correction: the officer's to make
    assert s.step is Step.DEMOGRAPHICS
    with pytest.raises(InvalidInput) as refused:
        s.cancel_edit()  # the details saved before were checked against the old NIK
    assert refused.value.message_en == DETAILS_AGAIN
    assert s.step is Step.DEMOGRAPHICS and s.is_editing  # still there, nothing lost
    man = replace(PERSON, sex="M", date_of_birth=date(1985, 8, 12))
    s.confirm_demographics(man)
    assert s.step is Step.REVIEW  # 1985: the photo saved before keeps its colour
    assert json.loads(kit.store.steps[RESUMED_ID]["demographics"]["demographics.json"]
                      )["sex"] == "M"


def test_a_new_nik_of_the_other_colour_asks_for_a_new_photo() -> None:
    kit = resumed(tuple(OLD))
    s = kit.session
    s.enter_identity(NIK_TEXT, KK_TEXT)  # born 1985: red
    assert s.portrait_fits
    s.edit(Step.IDENTITY)
    s.enter_identity(OTHER_NIK, OTHER_KK)  # born 1990: blue
    assert not s.portrait_fits  # the photo saved before is red
    s.confirm_demographics(replace(PERSON, date_of_birth=date(1990, 1, 1)))
    assert s.step is Step.PORTRAIT
    s.capture_portrait()
    s.accept_portrait()
    assert s.step is Step.REVIEW and s.portrait_fits
    assert s.confirm() == RESUMED_ID  # the fingers and signature saved before stand
