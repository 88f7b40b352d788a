"""Ten distinct fingers: the session refuses a finger already taken, on the simulated sensor
and through the ZhianTec emulator on a pty with the real driver; ten different ones pass."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.enrollment.session import FINGERS, DuplicateFinger, EnrollmentSession, Step
from kiosk.hardware.base import FingerprintImage
from kiosk.hardware.fingerprint.emulator import FingerprintEmulator
from kiosk.hardware.fingerprint.sim import SimFingerprint
from kiosk.hardware.fingerprint.zfm import ZfmFingerprint
from kiosk.i18n import translate
from tests.unit.enrollment.fakes import (
    KK_TEXT,
    NIK_TEXT,
    PERSON,
    TODAY,
    FakeCamera,
    FakeScanner,
    FakeStore,
)

pytestmark = pytest.mark.timeout(120)

REFUSAL = "This finger was already scanned. Please place the finger shown."


def at_fingers(scanner: object, store: FakeStore | None = None, *,
               assisted: bool = False, storage: str = "png") -> EnrollmentSession:
    store = store or FakeStore()
    session = EnrollmentSession(store, fingerprint=scanner, camera=FakeCamera(),  # type: ignore[arg-type]
                                assisted=assisted, today=lambda: TODAY,
                                fingerprint_storage=storage)
    store.session = session
    session.choose_language("en")
    session.give_consent(True)
    session.enter_identity(NIK_TEXT, KK_TEXT)
    session.confirm_demographics(PERSON)
    session.capture_portrait()
    session.accept_portrait()
    assert session.step is Step.FINGERPRINTS
    return session


@pytest.fixture
def sim() -> Iterator[SimFingerprint]:
    with SimFingerprint(seed=41) as scanner:
        yield scanner


@pytest.fixture
def zfm(tmp_path: Path) -> Iterator[tuple[FingerprintEmulator, ZfmFingerprint]]:
    with FingerprintEmulator(link=tmp_path / "fp0", seed=42) as emu, \
            ZfmFingerprint(port=emu.port, timeout_s=0.5, poll_interval_s=0.01) as scanner:
        yield emu, scanner


def test_sim_same_finger_twice_is_refused_in_both_languages(sim: SimFingerprint) -> None:
    session = at_fingers(sim)
    sim.present(0)
    session.capture_finger("R1")
    with pytest.raises(DuplicateFinger) as caught:
        session.capture_finger("R2")  # the right thumb again, asked for the index finger
    assert caught.value.matched == "R1"
    assert caught.value.message("en") == REFUSAL
    assert caught.value.message("id") == translate(REFUSAL, "id") != REFUSAL
    assert session.fingers_captured == ("R1",)
    sim.present(1)  # the right finger this time
    session.capture_finger("R2")
    assert session.fingers_captured == ("R1", "R2")


@pytest.mark.parametrize("storage", ["png", "webp"])
def test_sim_ten_distinct_fingers_pass_and_are_stored_at_four_bits(
        sim: SimFingerprint, storage: str) -> None:
    store = FakeStore()
    session = at_fingers(sim, store, storage=storage)
    for number, code in enumerate(FINGERS):
        sim.present(number, person=7)
        assert session.capture_finger(code).ok
    session.finish_fingerprints()
    assert session.step is Step.SIGNATURE
    parts = store.steps[session.record_id or ""]["fingerprints"]
    for number, code in enumerate(FINGERS):
        kept = parts[f"{code}.{storage}"]
        if storage == "webp":
            assert kept[:4] == b"RIFF" and b"VP8L" in kept[:64]  # lossless WebP
        else:
            assert kept[:8] == b"\x89PNG\r\n\x1a\n" and kept[24] == 4  # 4-bit gray PNG
        image = FingerprintImage.decode(kept)
        # The sensor's 16 levels, bit for bit: impression 0 of person 7's finger.
        assert image.bits == 4 and image == sim.generate(number, 0, person=7)


def test_sim_retaking_the_same_finger_is_no_repeat_of_itself(sim: SimFingerprint) -> None:
    """Retaking R1 (from review) is compared with the other fingers, not with the old R1."""
    session = at_fingers(sim)
    sim.present(0)
    session.capture_finger("R1")
    session.capture_finger("R1")
    assert session.fingers_captured == ("R1",)


def test_a_finger_recorded_missing_is_forgotten_for_matching() -> None:
    scanner = FakeScanner(finger="thumb")
    session = at_fingers(scanner, assisted=True)
    session.capture_finger("R1")
    session.record_missing_finger("R1", "bandaged")
    session.capture_finger("R2")  # the same "thumb" template: R1 is no longer held
    with pytest.raises(DuplicateFinger):
        session.capture_finger("R3")


def test_zfm_same_finger_twice_is_refused_through_the_emulator(
        zfm: tuple[FingerprintEmulator, ZfmFingerprint]) -> None:
    emu, scanner = zfm
    session = at_fingers(scanner)
    emu.present(5, person=3)
    session.capture_finger("R1")
    with pytest.raises(DuplicateFinger) as caught:
        session.capture_finger("R2")
    assert caught.value.matched == "R1"
    emu.present(6, person=3)
    session.capture_finger("R2")
    assert session.fingers_captured == ("R1", "R2")


def test_zfm_ten_distinct_fingers_pass_through_the_emulator(
        zfm: tuple[FingerprintEmulator, ZfmFingerprint]) -> None:
    emu, scanner = zfm
    session = at_fingers(scanner)
    for number, code in enumerate(FINGERS):
        emu.present(number, person=4)
        session.capture_finger(code)
    session.finish_fingerprints()
    assert session.step is Step.SIGNATURE
