"""EnrollmentSession: the state machine, journaling order, aborts, timeouts, devices."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from kiosk.core.vocabulary import STEPS
from kiosk.enrollment.demographics import NotEligible
from kiosk.enrollment.nik import InvalidNik
from kiosk.enrollment.session import (
    ALLOWED_TRANSITIONS,
    EDITABLE,
    FINGERS,
    JOURNAL_STEPS,
    AssistanceRequired,
    EnrollmentSession,
    LowQuality,
    Step,
)
from kiosk.errors import (
    CaptureRejected,
    DeviceBusy,
    DeviceNotFound,
    IllegalTransition,
    InvalidInput,
    JournalError,
    SessionExpired,
)
from kiosk.hardware.base import FingerprintImage
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
    FakeClock,
    FakeScanner,
    FakeStore,
    face_jpeg,
    ridge_pixels,
    signature_png,
)


class Kit:
    """A session with fake store, devices and clock."""

    def __init__(self, *, assisted: bool = False) -> None:
        self.store = FakeStore()
        self.scanner = FakeScanner()
        self.camera = FakeCamera()
        self.clock = FakeClock()
        self.session = EnrollmentSession(
            self.store, fingerprint=self.scanner, camera=self.camera, assisted=assisted,
            timeout_s=300, clock=self.clock, today=lambda: TODAY)
        self.store.session = self.session


# Each step's action, in order; running the first n reaches ORDER[n].
def _fingers(s: EnrollmentSession) -> None:
    for code in FINGERS:
        s.capture_finger(code)
    s.finish_fingerprints()


def _portrait(s: EnrollmentSession) -> None:
    s.capture_portrait()
    s.accept_portrait()


STEP_ACTIONS: list[Callable[[EnrollmentSession], object]] = [
    lambda s: s.choose_language("en"),
    lambda s: s.give_consent(True),
    lambda s: s.enter_identity(NIK_TEXT, KK_TEXT),
    lambda s: s.confirm_demographics(PERSON),
    _portrait,
    _fingers,
    lambda s: s.submit_signature(signature_png()),
    lambda s: s.confirm(),
]
ORDER = [Step.LANGUAGE, Step.CONSENT, Step.IDENTITY, Step.DEMOGRAPHICS, Step.PORTRAIT,
         Step.FINGERPRINTS, Step.SIGNATURE, Step.REVIEW, Step.SEALED]


def reach(step: Step, *, assisted: bool = False) -> Kit:
    kit = Kit(assisted=assisted)
    if step is Step.ABORTED:
        reach_actions(kit, Step.FINGERPRINTS)
        kit.session.abort("test")
    else:
        reach_actions(kit, step)
    assert kit.session.step is step
    return kit


def reach_actions(kit: Kit, step: Step) -> None:
    for action in STEP_ACTIONS[: ORDER.index(step)]:
        action(kit.session)


def test_happy_path_journals_each_step_before_moving_on(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    kit = Kit()
    s = kit.session
    s.choose_language("id")
    s.give_consent(True)
    nik = s.enter_identity(NIK_TEXT, KK_TEXT)
    assert nik.digits == NIK_DIGITS and nik.sex == "F"
    s.confirm_demographics(PERSON)
    assert s.capture_portrait().ok
    s.accept_portrait()
    for code in FINGERS:
        assert s.capture_finger(code).ok
    assert s.finger_png("R1")[:4] == b"\x89PNG"  # what the screen shows stays PNG
    s.finish_fingerprints()
    s.submit_signature(signature_png())
    summary = s.review()
    assert summary.nik.digits == NIK_DIGITS
    assert summary.demographics == PERSON
    assert summary.fingers_captured == FINGERS and not summary.fingers_missing
    assert summary.portrait_jpeg[:2] == b"\xff\xd8"
    record_id = s.confirm()
    assert s.step is Step.SEALED and record_id in kit.store.sealed

    # Each save happened while the session was still at the step being saved.
    assert kit.store.calls == [
        ("begin", "consent", Step.CONSENT),  # the record is created with its consent step
        ("save_step", "identity", Step.IDENTITY),
        ("save_step", "demographics", Step.DEMOGRAPHICS),
        ("save_step", "portrait", Step.PORTRAIT),
        ("save_step", "fingerprints", Step.FINGERPRINTS),
        ("save_step", "signature", Step.SIGNATURE),
        ("seal", "seal", Step.REVIEW),
    ]
    steps = kit.store.steps[record_id]
    assert json.loads(steps["consent"]["consent.json"])["accepted"] is True
    assert json.loads(steps["identity"]["identity.json"]) == {"nik": NIK_DIGITS,
                                                              "kk": KK_TEXT}
    assert steps["demographics"]["demographics.json"] == PERSON.to_json()
    assert steps["portrait"]["portrait.jpg"][:2] == b"\xff\xd8"
    assert set(steps["fingerprints"]) == {f"{c}.png" for c in FINGERS} | {"exceptions.json"}
    # Lossless: exactly the pixels the sensor delivered (the fake's ridge image).
    assert all(FingerprintImage.decode(steps["fingerprints"][f"{c}.png"]).pixels
               == ridge_pixels() for c in FINGERS)
    assert json.loads(steps["fingerprints"]["exceptions.json"]) == {"missing": {}}
    assert steps["signature"]["signature.png"][:4] == b"\x89PNG"

    assert "consent -> identity" in caplog.text and "review -> sealed" in caplog.text
    for secret in (NIK_DIGITS, "Nur'aini", "Tobondo", "1985", KK_TEXT):
        assert secret not in caplog.text


METHODS: dict[str, tuple[Callable[[EnrollmentSession], object], frozenset[Step]]] = {
    "choose_language": (lambda s: s.choose_language("id"), frozenset({Step.LANGUAGE})),
    "give_consent": (lambda s: s.give_consent(True), frozenset({Step.CONSENT})),
    "enter_identity": (lambda s: s.enter_identity(NIK_TEXT, KK_TEXT),
                       frozenset({Step.IDENTITY})),
    "confirm_demographics": (lambda s: s.confirm_demographics(PERSON),
                             frozenset({Step.DEMOGRAPHICS})),
    "capture_portrait": (lambda s: s.capture_portrait(), frozenset({Step.PORTRAIT})),
    "accept_portrait": (lambda s: s.accept_portrait(), frozenset()),  # needs a capture first
    "capture_finger": (lambda s: s.capture_finger("R1"), frozenset({Step.FINGERPRINTS})),
    "record_missing_finger": (lambda s: s.record_missing_finger("R1", "amputated"),
                              frozenset({Step.FINGERPRINTS})),
    "finish_fingerprints": (lambda s: s.finish_fingerprints(), frozenset()),  # none yet
    "submit_signature": (lambda s: s.submit_signature(signature_png()),
                         frozenset({Step.SIGNATURE})),
    "review": (lambda s: s.review(), frozenset({Step.REVIEW})),
    "confirm": (lambda s: s.confirm(), frozenset({Step.REVIEW})),
}
ILLEGAL = [(step, name) for step in Step for name, (_, ok) in METHODS.items()
           if step not in ok]


@pytest.mark.parametrize(("step", "method"), ILLEGAL,
                         ids=[f"{s.value}-{m}" for s, m in ILLEGAL])
def test_every_illegal_call_raises_illegal_transition(step: Step, method: str) -> None:
    kit = reach(step, assisted=True)
    before = list(kit.store.calls)
    with pytest.raises(IllegalTransition):
        METHODS[method][0](kit.session)
    assert kit.session.step is step
    assert kit.store.calls == before


@pytest.mark.parametrize(("step", "method"), [
    (step, name) for step in Step for name, (_, ok) in METHODS.items() if step in ok])
def test_every_legal_call_is_allowed(step: Step, method: str) -> None:
    kit = reach(step, assisted=True)
    METHODS[method][0](kit.session)


def test_transition_table_goes_forward_aborts_or_edits_from_review() -> None:
    for old, targets in ALLOWED_TRANSITIONS.items():
        if old in (Step.SEALED, Step.ABORTED):
            assert not targets
            continue
        forward = {ORDER[ORDER.index(old) + 1], Step.ABORTED}
        if old is Step.REVIEW:
            assert targets == forward | set(EDITABLE)
        elif old in EDITABLE[1:]:  # an edited step returns to review
            assert targets == forward | {Step.REVIEW}
        else:
            assert targets == forward


@pytest.mark.parametrize("step", EDITABLE)
def test_edit_from_review_rejournals_the_step_and_returns_to_review(step: Step) -> None:
    kit = reach(Step.REVIEW)
    s = kit.session
    record_id = s.record_id
    s.edit(step)
    assert s.step is step and s.is_editing
    if step is Step.IDENTITY:
        s.enter_identity(NIK_TEXT, KK_TEXT)
        assert s.step is Step.DEMOGRAPHICS  # must agree with the new NIK: asked again
        s.confirm_demographics(replace(PERSON, full_name="Siti Rahma Tobondo"))
    else:
        STEP_ACTIONS[ORDER.index(step)](s)
    assert s.step is Step.REVIEW and not s.is_editing
    saved = [detail for what, detail, _ in kit.store.calls if what == "save_step"]
    assert saved.count(step.value) == 2  # journaled again, replacing the first
    assert s.confirm() == record_id and record_id in kit.store.sealed


@pytest.mark.parametrize("step", EDITABLE)
def test_cancel_edit_returns_to_review_with_the_journal_matching_memory(step: Step) -> None:
    kit = reach(Step.REVIEW)
    s = kit.session
    earlier = s.finger_png("R2")
    s.edit(step)
    if step is Step.FINGERPRINTS:
        s.capture_finger("R2")  # retaken, then Back: the earlier one is kept
    if step is Step.PORTRAIT:
        s.capture_portrait()  # taken, not accepted: dropped
    s.cancel_edit()
    assert s.step is Step.REVIEW and not s.is_editing
    saved = [detail for what, detail, _ in kit.store.calls if what == "save_step"]
    rejournaled = step in (Step.IDENTITY, Step.DEMOGRAPHICS)
    assert saved.count("fingerprints") == 1  # the journal's fingers are the earlier ten
    assert s.finger_png("R2") == earlier  # and so are the review's
    assert saved.count(step.value) in ((1, 2) if rejournaled else (1,))
    s.confirm()


def test_edit_is_refused_outside_review_and_for_consent() -> None:
    kit = reach(Step.SIGNATURE)
    with pytest.raises(IllegalTransition):
        kit.session.edit(Step.PORTRAIT)
    s = reach(Step.REVIEW).session
    with pytest.raises(IllegalTransition):
        s.edit(Step.CONSENT)
    with pytest.raises(IllegalTransition):
        s.cancel_edit()


def test_keep_alive_pushes_expiry_back() -> None:
    kit = reach(Step.DEMOGRAPHICS)
    kit.clock.now += 250
    kit.session.keep_alive()
    kit.clock.now += 250  # 500 s since the last step, 250 since the last touch
    assert not kit.session.check_timeout()
    kit.clock.now += 301
    assert kit.session.check_timeout()


@pytest.mark.parametrize("failing", ["begin", *STEPS, "seal"])
def test_store_failure_keeps_the_step_and_retry_succeeds(failing: str) -> None:
    kit = Kit()
    kit.store.fail_on = {failing}
    failed_at = None
    for action, step in zip(STEP_ACTIONS, ORDER, strict=False):
        try:
            action(kit.session)
        except JournalError:
            failed_at = step
            break
    assert failed_at is not None and kit.session.step is failed_at
    kit.store.fail_on = set()
    if failed_at is Step.PORTRAIT:
        kit.session.accept_portrait()  # the good capture is kept for the retry
    elif failed_at is Step.FINGERPRINTS:
        kit.session.finish_fingerprints()
    else:
        STEP_ACTIONS[ORDER.index(failed_at)](kit.session)
    for action in STEP_ACTIONS[ORDER.index(failed_at) + 1:]:
        action(kit.session)
    assert kit.session.step is Step.SEALED
    assert [c for c in kit.store.calls if c[0] == "begin"] == (
        [("begin", "consent", Step.CONSENT)] * (2 if failing in ("begin", "consent") else 1))
    assert len(kit.store.steps) == 1  # a retried consent does not begin a second record


def test_abort_wipes_data_and_discards_the_record() -> None:
    kit = reach(Step.FINGERPRINTS)
    s = kit.session
    for code in ("R1", "R2"):
        s.capture_finger(code)
    held = [*s._fingers.values(), s._portrait]
    assert all(any(buf) for buf in held)
    record_id = s.record_id
    s.abort("citizen left")
    assert s.step is Step.ABORTED
    assert kit.store.discarded == {record_id: "citizen left"}
    assert all(buf is not None and not any(buf) for buf in held)  # overwritten with zeros
    assert s._nik is None and s._demographics is None and not s._fingers
    for call, _ in METHODS.values():
        with pytest.raises(IllegalTransition):
            call(s)
    s.abort("again")  # a second abort is harmless
    assert kit.store.discarded == {record_id: "citizen left"}


def test_abort_before_consent_discards_nothing() -> None:
    kit = reach(Step.CONSENT)
    kit.session.abort("walked away")
    assert kit.session.step is Step.ABORTED and kit.store.discarded == {}
    assert not [c for c in kit.store.calls if c[0] == "begin"]


def test_refused_consent_aborts_without_beginning_a_record() -> None:
    kit = reach(Step.CONSENT)
    kit.session.give_consent(False)
    assert kit.session.step is Step.ABORTED and kit.store.calls == []


def test_abort_after_sealing_is_illegal() -> None:
    kit = reach(Step.SEALED)
    with pytest.raises(IllegalTransition):
        kit.session.abort("too late")
    assert kit.store.discarded == {}


def test_abort_still_wipes_when_discard_fails() -> None:
    kit = reach(Step.DEMOGRAPHICS)
    kit.store.fail_on = {"discard"}
    kit.session.abort("test")
    assert kit.session.step is Step.ABORTED and kit.session._nik is None


def test_timeout_wipes_and_expires_the_session() -> None:
    kit = reach(Step.FINGERPRINTS)
    s = kit.session
    s.capture_finger("R1")
    buf = s._fingers["R1"]
    kit.clock.now += 299
    assert not s.check_timeout()
    s.capture_finger("R2")  # activity restarts the timer
    kit.clock.now += 299
    assert s.remaining_s() == pytest.approx(1)
    kit.clock.now += 1
    with pytest.raises(SessionExpired):
        s.capture_finger("R3")
    assert s.step is Step.ABORTED and not any(buf)
    assert list(kit.store.discarded.values()) == ["timeout"]
    assert s.check_timeout()
    for call, _ in METHODS.values():
        with pytest.raises(SessionExpired):
            call(s)


def test_check_timeout_expires_the_session_for_the_ui_timer() -> None:
    kit = reach(Step.IDENTITY)
    kit.clock.now += 301
    assert kit.session.check_timeout()
    assert kit.session.step is Step.ABORTED
    assert list(kit.store.discarded.values()) == ["timeout"]
    with pytest.raises(SessionExpired):
        kit.session.enter_identity(NIK_TEXT, KK_TEXT)


def test_sealed_session_does_not_time_out() -> None:
    kit = reach(Step.SEALED)
    kit.clock.now += 10_000
    assert not kit.session.check_timeout() and kit.session.step is Step.SEALED


def test_self_service_cannot_record_a_missing_finger() -> None:
    kit = reach(Step.FINGERPRINTS)
    with pytest.raises(AssistanceRequired) as info:
        kit.session.record_missing_finger("L3", "amputated")
    assert info.value.part == "assistance"
    assert "staff" in info.value.message_en and "petugas" in info.value.message_id
    with pytest.raises(IllegalTransition):
        kit.session.finish_fingerprints()


def test_assisted_session_records_a_missing_finger() -> None:
    kit = reach(Step.FINGERPRINTS, assisted=True)
    s = kit.session
    s.capture_finger("L3")
    s.record_missing_finger("L3", "amputated")  # replaces the capture
    for code in FINGERS:
        if code != "L3":
            s.capture_finger(code)
    s.finish_fingerprints()
    parts = kit.store.steps[s.record_id]["fingerprints"]
    assert "L3.png" not in parts and len(parts) == 10
    assert json.loads(parts["exceptions.json"]) == {"missing": {"L3": "amputated"}}


@pytest.mark.parametrize(("code", "reason", "part"), [
    ("L6", "amputated", "finger"), ("r1", "amputated", "finger"),
    ("L3", "lost", "reason"), ("L3", "", "reason")])
def test_missing_finger_needs_a_known_code_and_reason(code: str, reason: str,
                                                      part: str) -> None:
    kit = reach(Step.FINGERPRINTS, assisted=True)
    with pytest.raises(InvalidInput) as info:
        kit.session.record_missing_finger(code, reason)
    assert info.value.part == part


def test_finish_fingerprints_needs_every_finger() -> None:
    kit = reach(Step.FINGERPRINTS)
    for code in FINGERS[:-1]:
        kit.session.capture_finger(code)
    with pytest.raises(IllegalTransition, match="L5"):
        kit.session.finish_fingerprints()
    assert kit.session.step is Step.FINGERPRINTS


def test_poor_fingerprint_is_rejected_and_can_be_retried() -> None:
    kit = reach(Step.FINGERPRINTS)
    kit.scanner.queue.append(bytes(256 * 288))  # a blank frame
    with pytest.raises(LowQuality) as info:
        kit.session.capture_finger("R1")
    assert isinstance(info.value, CaptureRejected)
    assert info.value.message("en") == info.value.report.reason_en != ""
    assert "R1" not in kit.session._fingers
    assert kit.session.capture_finger("R1").ok
    assert "R1" in kit.session._fingers


def test_second_capture_while_one_runs_is_device_busy() -> None:
    kit = reach(Step.FINGERPRINTS)
    kit.scanner.gate = threading.Event()
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append(kit.session.capture_finger("R1")))
    worker.start()
    assert kit.scanner.started.wait(5)
    with pytest.raises(DeviceBusy):
        kit.session.capture_finger("R2")
    kit.scanner.gate.set()
    worker.join(5)
    assert kit.scanner.captures == 1
    assert len(results) == 1 and "R1" in kit.session._fingers
    assert kit.session.capture_finger("R2").ok  # free again


def test_abort_during_a_capture_drops_its_result() -> None:
    kit = reach(Step.FINGERPRINTS)
    kit.scanner.gate = threading.Event()
    errors: list[BaseException] = []

    def capture() -> None:
        try:
            kit.session.capture_finger("R1")
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=capture)
    worker.start()
    assert kit.scanner.started.wait(5)
    kit.session.abort("help button")  # the UI thread is not blocked by the capture
    kit.scanner.gate.set()
    worker.join(5)
    assert len(errors) == 1 and isinstance(errors[0], IllegalTransition)
    assert not kit.session._fingers


def test_missing_devices_are_reported() -> None:
    store = FakeStore()
    s = EnrollmentSession(store, fingerprint=None, camera=None, today=lambda: TODAY)
    for action in STEP_ACTIONS[:4]:
        action(s)
    with pytest.raises(DeviceNotFound):
        s.capture_portrait()


def test_poor_portrait_is_rejected_and_can_be_retried() -> None:
    kit = reach(Step.PORTRAIT)
    kit.camera.queue.append(face_jpeg(dark=True))
    with pytest.raises(LowQuality, match="too dark"):
        kit.session.capture_portrait()
    with pytest.raises(IllegalTransition):
        kit.session.accept_portrait()
    kit.session.capture_portrait()
    kit.session.accept_portrait()
    assert kit.session.step is Step.FINGERPRINTS


def test_wrong_identity_keeps_the_step() -> None:
    kit = reach(Step.IDENTITY)
    with pytest.raises(InvalidNik) as info:
        kit.session.enter_identity("7204 0152 0885 000", KK_TEXT)
    assert info.value.part == "length"
    assert kit.session.step is Step.IDENTITY
    assert [c for c in kit.store.calls if c[1] == "identity"] == []


def test_demographics_must_match_the_nik_and_be_eligible() -> None:
    kit = reach(Step.DEMOGRAPHICS)
    with pytest.raises(InvalidInput) as info:
        kit.session.confirm_demographics(replace(PERSON, sex="M"))
    assert info.value.part == "sex" and kit.session.step is Step.DEMOGRAPHICS
    young = Kit()
    for action in STEP_ACTIONS[:2]:
        action(young.session)
    young.session.enter_identity("7204010101100001", KK_TEXT)  # a boy born 1 Jan 2010
    with pytest.raises(NotEligible):
        young.session.confirm_demographics(replace(
            PERSON, sex="M", date_of_birth=date(2010, 1, 1), marital_status="Belum Kawin"))


def test_blank_signature_is_refused() -> None:
    kit = reach(Step.SIGNATURE)
    for data in (signature_png(blank=True), b"", face_jpeg()):
        with pytest.raises(InvalidInput) as info:
            kit.session.submit_signature(data)
        assert info.value.part == "signature"
    assert kit.session.step is Step.SIGNATURE


def test_unknown_language_is_refused() -> None:
    kit = Kit()
    with pytest.raises(InvalidInput):
        kit.session.choose_language("fr")
    assert kit.session.step is Step.LANGUAGE


def test_confirm_wipes_the_data_and_returns_the_record_id() -> None:
    kit = reach(Step.REVIEW)
    buffers = [*kit.session._fingers.values()]
    record_id = kit.session.confirm()
    assert record_id == kit.session.record_id and record_id.startswith("test-01-")
    assert not any(any(buf) for buf in buffers)
    assert kit.session._demographics is None and not kit.session._fingers


# -- resuming after a power cut -----------------------------------------------------------
OLD = {  # what the journal held before the cut (the kiosk cannot read it; only the names)
    "consent": {"consent.json": b'{"accepted":true}'},
    "identity": {"identity.json": b"old identity"},
    "demographics": {"demographics.json": b"old demographics"},
    "portrait": {"portrait.jpg": b"old portrait"},
    "fingerprints": {"exceptions.json": b"old fingerprints"},
    "signature": {"signature.png": b"old signature"},
}
RESUMED_ID = "test-01-0000042-abcdef"


def resumed(journaled: tuple[str, ...]) -> Kit:
    """A Kit whose session resumes RESUMED_ID with ``journaled`` steps in the store."""
    kit = Kit()
    kit.store.steps[RESUMED_ID] = {name: dict(OLD[name]) for name in journaled}
    kit.session = EnrollmentSession.resume(
        kit.store, RESUMED_ID, journaled, fingerprint=kit.scanner, camera=kit.camera,
        timeout_s=300, clock=kit.clock, today=lambda: TODAY)
    kit.store.session = kit.session
    return kit


def test_resume_after_portrait_reenters_identity_then_lands_at_fingerprints(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    kit = resumed(("consent", "identity", "demographics", "portrait"))
    s = kit.session
    assert s.assisted and s.record_id == RESUMED_ID and s.step is Step.IDENTITY
    assert s.kept_from_before == ("demographics", "portrait")
    s.enter_identity(NIK_TEXT, KK_TEXT)
    assert s.step is Step.FINGERPRINTS
    s.record_missing_finger("L5", "bandaged")  # assisted: allowed
    for code in FINGERS[:-1]:
        s.capture_finger(code)
    s.finish_fingerprints()
    s.submit_signature(signature_png())
    summary = s.review()
    assert summary.kept_from_before == ("demographics", "portrait")
    assert summary.nik.digits == NIK_DIGITS and summary.kk.digits == KK_TEXT
    assert summary.demographics is None and summary.portrait_jpeg is None
    assert summary.fingers_captured == FINGERS[:-1]
    assert summary.fingers_missing == {"L5": "bandaged"}
    assert summary.signature_png is not None and summary.signature_png[:4] == b"\x89PNG"
    assert s.confirm() == RESUMED_ID and RESUMED_ID in kit.store.sealed

    assert kit.store.calls == [  # no second begin(); identity saved again at IDENTITY
        ("save_step", "identity", Step.IDENTITY),
        ("save_step", "fingerprints", Step.FINGERPRINTS),
        ("save_step", "signature", Step.SIGNATURE),
        ("seal", "seal", Step.REVIEW),
    ]
    steps = kit.store.steps[RESUMED_ID]
    assert json.loads(steps["identity"]["identity.json"]) == {"nik": NIK_DIGITS,
                                                              "kk": KK_TEXT}  # replaced
    for kept in ("consent", "demographics", "portrait"):
        assert steps[kept] == OLD[kept]  # untouched
    assert kit.camera.queue == [] and kit.scanner.captures == 9
    # The skips went through the transition method, one logged step at a time.
    for move in ("language -> consent (resumed)", "consent -> identity (resumed)",
                 "demographics -> portrait (kept from before the cut)",
                 "portrait -> fingerprints (kept from before the cut)"):
        assert move in caplog.text
    for secret in (NIK_DIGITS, KK_TEXT):
        assert secret not in caplog.text


def test_resume_with_only_consent_goes_through_every_step() -> None:
    kit = resumed(("consent",))
    assert kit.session.step is Step.IDENTITY and kit.session.kept_from_before == ()
    for action, step in zip(STEP_ACTIONS[2:], ORDER[2:], strict=False):
        assert kit.session.step is step
        if step is Step.REVIEW:
            summary = kit.session.review()
            assert summary.kept_from_before == () and summary.demographics == PERSON
            assert summary.fingers_captured == FINGERS
        action(kit.session)
    assert kit.session.step is Step.SEALED
    assert [c[1] for c in kit.store.calls] == [
        "identity", "demographics", "portrait", "fingerprints", "signature", "seal"]


def test_resume_with_every_step_journaled_goes_from_identity_to_review() -> None:
    kit = resumed(tuple(OLD))
    kit.session.enter_identity(NIK_TEXT, KK_TEXT)
    assert kit.session.step is Step.REVIEW
    summary = kit.session.review()
    assert summary.kept_from_before == ("demographics", "portrait", "fingerprints",
                                        "signature")
    assert (summary.demographics, summary.portrait_jpeg, summary.fingers_captured,
            summary.fingers_missing, summary.signature_png) == (None,) * 5
    kit.session.confirm()
    assert [c[1] for c in kit.store.calls] == ["identity", "seal"]


def test_resumed_identity_is_validated_and_a_failing_store_keeps_the_step() -> None:
    kit = resumed(("consent", "identity", "demographics"))
    with pytest.raises(InvalidNik):
        kit.session.enter_identity("7204 0152 0885 000", KK_TEXT)
    kit.store.fail_on = {"identity"}
    with pytest.raises(JournalError):
        kit.session.enter_identity(NIK_TEXT, KK_TEXT)
    assert kit.session.step is Step.IDENTITY
    assert kit.store.steps[RESUMED_ID]["identity"] == OLD["identity"]
    kit.store.fail_on = set()
    kit.session.enter_identity(NIK_TEXT, KK_TEXT)
    assert kit.session.step is Step.PORTRAIT


@pytest.mark.parametrize("journaled", [(), ("identity", "demographics"), ("identity",)])
def test_resume_without_consent_is_refused(journaled: tuple[str, ...]) -> None:
    store = FakeStore()
    with pytest.raises(IllegalTransition, match="no consent step"):
        EnrollmentSession.resume(store, RESUMED_ID, journaled, fingerprint=FakeScanner(),
                                 camera=FakeCamera(), today=lambda: TODAY)
    assert store.calls == []


def test_resume_refuses_unknown_step_names() -> None:
    with pytest.raises(IllegalTransition, match="unknown step"):
        EnrollmentSession.resume(FakeStore(), RESUMED_ID, ("consent", "review"),
                                 fingerprint=None, camera=None)


def test_resumed_session_is_always_assisted_and_aborts_like_any_other() -> None:
    kit = resumed(("consent", "identity"))
    s = kit.session
    assert s.assisted
    with pytest.raises(TypeError):  # resume() has no way to make a self-service session
        EnrollmentSession.resume(kit.store, RESUMED_ID, ("consent",), fingerprint=None,
                                 camera=None, assisted=False)  # type: ignore[call-arg]
    for call, ok in METHODS.values():  # only identity input is accepted at first
        if Step.IDENTITY not in ok:
            with pytest.raises(IllegalTransition):
                call(s)
    s.abort("staff cancelled")
    assert kit.store.discarded == {RESUMED_ID: "staff cancelled"}


def test_a_sealed_record_holds_every_journal_step_in_order(tmp_path: Path) -> None:
    """What a whole session journals, read back from a real journal: the steps of
    :data:`~kiosk.core.vocabulary.STEPS`, saved in that order, and no other."""
    sealer = Sealer(bytes(PrivateKey.generate().public_key), DeviceKey.generate(), "test-01")
    with Journal.open(tmp_path / "journal.db", kiosk_id="test-01", boot_id="boot-1",
                      clock_trusted=lambda: True) as journal:
        session = EnrollmentSession(
            JournalRecordStore(journal, sealer, kiosk_id="test-01"), fingerprint=FakeScanner(),
            camera=FakeCamera(), clock=FakeClock(), today=lambda: TODAY)
        for action in STEP_ACTIONS[:-1]:
            action(session)
        record_id = session.confirm()
        assert journal.record(record_id).state == "sealed"
        assert tuple(journal.step_digests(record_id)) == STEPS
    assert tuple(step.value for step in Step if step.value in JOURNAL_STEPS) == STEPS


# -- an officer at the kiosk (staff card and PIN) -------------------------------------------
def test_an_officer_takes_over_a_self_service_session_and_records_a_missing_finger() -> None:
    kit = reach(Step.FINGERPRINTS)
    s = kit.session
    with pytest.raises(AssistanceRequired):
        s.record_missing_finger("L3", "amputated")
    s.assist("STAFF-0042")
    assert s.assisted and s.staff_id == "STAFF-0042"
    assert kit.store.assisted_by == {s.record_id: "STAFF-0042"}  # durable before it returns
    s.record_missing_finger("L3", "amputated")
    s.end_assistance()  # the officer takes the card and leaves; the citizen goes on
    assert s.staff_id is None and s.assisted
    for code in FINGERS:
        if code != "L3":
            s.capture_finger(code)
    s.finish_fingerprints()
    exceptions = json.loads(kit.store.steps[s.record_id]["fingerprints"]["exceptions.json"])
    assert exceptions == {"missing": {"L3": "amputated"},
                          "recorded_by": {"L3": "STAFF-0042"}}


def test_a_take_over_the_store_refuses_leaves_the_session_self_service() -> None:
    kit = reach(Step.FINGERPRINTS)
    kit.store.fail_on.add("mark_assisted")
    with pytest.raises(JournalError):
        kit.session.assist("STAFF-0042")
    assert not kit.session.assisted and kit.session.staff_id is None
    with pytest.raises(AssistanceRequired):
        kit.session.record_missing_finger("L3", "amputated")


def test_an_officer_who_begins_the_session_is_named_in_its_consent() -> None:
    store = FakeStore()
    s = EnrollmentSession(store, fingerprint=FakeScanner(), camera=FakeCamera(),
                          staff_id="STAFF-0007", today=lambda: TODAY)
    assert s.assisted
    s.choose_language("id")
    s.give_consent(True)
    consent = json.loads(store.steps[s.record_id]["consent"]["consent.json"])
    assert consent["assisted"] is True and consent["staff"] == "STAFF-0007"
    s.assist("STAFF-0007")  # the same officer again: nothing new to record
    assert not any(call[0] == "mark_assisted" for call in store.calls)


def test_a_finger_recorded_missing_drops_the_scan_still_waiting_for_it() -> None:
    kit = reach(Step.FINGERPRINTS, assisted=True)
    s = kit.session
    kit.scanner.gate = threading.Event()
    result: list[BaseException | None] = []

    def scan() -> None:
        try:
            s.capture_finger("R1")
            result.append(None)
        except BaseException as exc:  # the test looks at it
            result.append(exc)

    worker = threading.Thread(target=scan)
    worker.start()
    time.sleep(0.05)
    s.record_missing_finger("R1", "bandaged")
    kit.scanner.gate.set()
    worker.join(5)
    assert isinstance(result[0], IllegalTransition)
    assert "R1" not in s.fingers_captured
    assert s._missing == {"R1": "bandaged"}


def test_suspend_keeps_an_assisted_record_and_wipes_the_memory() -> None:
    kit = reach(Step.FINGERPRINTS, assisted=True)
    s = kit.session
    s.capture_finger("R1")
    rid = s.record_id
    assert s.suspend("idle") is True
    assert s.step is Step.ABORTED and rid not in kit.store.discarded
    assert s._fingers == {} and s._nik is None
    assert s.suspend("again") is False


def test_suspend_of_a_self_service_session_discards_it() -> None:
    kit = reach(Step.FINGERPRINTS)
    rid = kit.session.record_id
    assert kit.session.suspend("idle") is False
    assert kit.store.discarded[rid] == "idle"


def test_a_taken_over_record_is_resumable_after_a_cut_and_audited(tmp_path: Path) -> None:
    """Through the real journal: the take-over is durable (the record survives start-up
    recovery, listed for the officer with its steps) and the audit names the officer."""
    from kiosk.errors import IllegalStateChange
    from kiosk.recovery import list_resumable, recover_unfinished

    sealer = Sealer(bytes(PrivateKey.generate().public_key), DeviceKey.generate(), "test-01")
    path = tmp_path / "journal.db"
    with Journal.open(path, kiosk_id="test-01", boot_id="boot-1",
                      clock_trusted=lambda: True) as journal:
        store = JournalRecordStore(journal, sealer, kiosk_id="test-01")
        kept = EnrollmentSession(store, fingerprint=FakeScanner(), camera=FakeCamera(),
                                 today=lambda: TODAY)
        lost = EnrollmentSession(store, fingerprint=FakeScanner(), camera=FakeCamera(),
                                 today=lambda: TODAY)
        for session in (kept, lost):
            for action in STEP_ACTIONS[:3]:  # language, consent, identity
                action(session)
        kept.assist("STAFF-0042")
        sealed = EnrollmentSession(store, fingerprint=FakeScanner(), camera=FakeCamera(),
                                   clock=FakeClock(), today=lambda: TODAY)
        for action in STEP_ACTIONS[:-1]:
            action(sealed)
        with pytest.raises(IllegalStateChange, match="sealed"):
            store.mark_assisted(sealed.confirm(), "STAFF-0042")
    # the power cut: nothing closed the sessions
    with Journal.open(path, kiosk_id="test-01", boot_id="boot-2",
                      clock_trusted=lambda: True) as journal:
        recovery = recover_unfinished(journal, resume_assisted=True)
        assert recovery.resumable == [kept.record_id]
        assert recovery.discarded == [lost.record_id]
        (entry,) = list_resumable(journal)
        assert entry.record_id == kept.record_id
        assert entry.steps == {"consent", "identity"} and entry.clock_trusted
        (event,) = journal.audit_events(event="record_assisted")
        assert event.details == {"record": kept.record_id, "staff": "STAFF-0042"}
