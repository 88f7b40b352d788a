"""An assisted session cut off by a power loss resumes on the real journal and sealer."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kiosk.core.vocabulary import STEPS
from kiosk.demo import signature_png
from kiosk.enrollment.quality import prepare_portrait
from kiosk.enrollment.session import FINGERS, EnrollmentSession, Step
from kiosk.enrollment.synthetic import SyntheticCitizen, citizens
from kiosk.errors import CaptureRejected, DeviceTimeout
from kiosk.hardware.registry import create_device
from kiosk.journal import Journal
from kiosk.record_store import JournalRecordStore
from kiosk.recovery import recover_unfinished, resumable_sessions
from kiosk.sealing import (
    DeviceKey,
    Opener,
    Sealer,
    build_packet,
    generate_central_keypair,
    load_central_public_key,
)
from kiosk.sealing_keys import load_central_private_key

KIOSK_ID = "test-01"


@dataclass
class RecordingCamera:
    """The simulated camera, remembering every JPEG it handed out."""

    camera: Any
    jpegs: list[bytes] = field(default_factory=list)

    def capture_still(self) -> Any:
        photo = self.camera.capture_still()
        self.jpegs.append(photo.jpeg)
        return photo


@pytest.fixture
def devices() -> Iterator[tuple[Any, Any]]:
    with create_device("fingerprint", {"type": "sim", "seed": 3}) as scanner, \
            create_device("camera", {"type": "sim", "seed": 3}) as camera:
        yield scanner, camera


def _retry(action: Callable[[], object]) -> None:
    for attempt in range(5):
        try:
            action()
            return
        except (CaptureRejected, DeviceTimeout):
            if attempt == 4:
                raise


def _open_journal(tmp_path: Path, boot_id: str) -> Journal:
    return Journal.open(tmp_path / "journal.db", kiosk_id=KIOSK_ID, boot_id=boot_id,
                        clock_trusted=lambda: True)


def _citizen() -> SyntheticCitizen:
    return next(citizens(11))


def test_assisted_session_resumes_after_a_cut_and_seals_all_six_steps(
        tmp_path: Path, devices: tuple[Any, Any]) -> None:
    scanner, sim_camera = devices
    camera = RecordingCamera(sim_camera)
    generate_central_keypair(tmp_path / "central")
    device_key = DeviceKey.load_or_create(tmp_path / "device.key")
    sealer = Sealer(load_central_public_key(tmp_path / "central" / "central.pub"),
                    device_key, KIOSK_ID)
    person = _citizen()

    # -- before the cut: up to FINGERPRINTS, two fingers scanned (lost with the memory) --
    journal = _open_journal(tmp_path, "boot-1")
    store = JournalRecordStore(journal, sealer, kiosk_id=KIOSK_ID)
    session = EnrollmentSession(store, fingerprint=scanner, camera=camera, assisted=True)
    session.choose_language("id")
    session.give_consent(True)
    session.enter_identity(person.nik, person.kk)
    session.confirm_demographics(person.demographics)
    _retry(session.capture_portrait)
    session.accept_portrait()
    for code in FINGERS[:2]:
        _retry(lambda code=code: session.capture_finger(code))
    assert session.step is Step.FINGERPRINTS
    record_id = session.record_id
    assert record_id is not None
    # What the session keeps is the camera's still cut to the ICAO-style crop with the
    # birth year's background (deterministic), not the still itself.
    portrait_before = prepare_portrait(camera.jpegs[-1], session._birth_year())[1]
    del session  # the power goes: nothing is aborted, the record stays in_progress
    journal.close()

    # -- after the restart --
    journal = _open_journal(tmp_path, "boot-2")
    try:
        recovery = recover_unfinished(journal, resume_assisted=True)
        assert recovery.resumable == [record_id] and recovery.discarded == []
        offered = resumable_sessions(journal)
        assert offered == [(record_id, {"consent", "identity", "demographics", "portrait"})]
        store = JournalRecordStore(journal, sealer, kiosk_id=KIOSK_ID)
        sim_camera.subject += 1  # a new capture would now be a different photo
        shots_before = len(camera.jpegs)

        session = EnrollmentSession.resume(store, *offered[0], fingerprint=scanner,
                                           camera=camera)
        assert session.step is Step.IDENTITY
        session.enter_identity(person.nik, person.kk)
        assert session.step is Step.FINGERPRINTS
        for code in FINGERS:
            _retry(lambda code=code: session.capture_finger(code))
        session.finish_fingerprints()
        session.submit_signature(signature_png(person.index))
        summary = session.review()
        assert summary.kept_from_before == ("demographics", "portrait")
        assert summary.portrait_jpeg is None and summary.fingers_captured == FINGERS
        assert session.confirm() == record_id
        assert len(camera.jpegs) == shots_before  # the portrait was not taken again

        info = journal.record(record_id)
        assert info.state == "sealed" and info.assisted
        assert [r.id for r in journal.records()] == [record_id]  # no second record
        opener = Opener(load_central_private_key(tmp_path / "central" / "central.key"),
                        {device_key.key_id: device_key.public_bytes})
        opened = opener.open_packet(build_packet(info.manifest, journal.step_blobs(record_id)))
    finally:
        journal.close()

    steps = opened.steps
    assert set(steps) == set(STEPS)
    assert json.loads(steps["consent"]["consent.json"])["assisted"] is True
    identity = json.loads(steps["identity"]["identity.json"])
    assert identity["nik"] == "".join(c for c in person.nik if c.isdigit())
    demographics = json.loads(steps["demographics"]["demographics.json"])
    assert demographics["full_name"] == person.demographics.full_name
    assert steps["portrait"]["portrait.jpg"] == portrait_before
    fingers = steps["fingerprints"]
    assert {f"{c}.png" for c in FINGERS} | {"exceptions.json"} == set(fingers)
    assert steps["signature"]["signature.png"] == signature_png(person.index)
