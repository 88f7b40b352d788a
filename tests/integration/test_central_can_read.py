"""What the demo sealed is readable by the central office, and only with its key."""

from __future__ import annotations

import io
import itertools
import json
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from intake.packets import manifest_of, verify_and_open
from kiosk.config import load_config
from kiosk.core.vocabulary import FINGERS, STEPS
from kiosk.enrollment.synthetic import citizens
from kiosk.errors import SealingError
from kiosk.hardware.base import FingerprintImage
from kiosk.journal import Journal
from kiosk.sealing import DeviceKey, Opener, build_packet, generate_central_keypair
from kiosk.sealing_keys import load_central_private_key
from tests.conftest import KIOSK, kiosk_env


@pytest.mark.parametrize("storage", ["png", "webp"])
def test_demo_records_open_at_the_intake_with_the_citizens_data(kiosk_config: Path,
                                                                tmp_path: Path,
                                                                storage: str) -> None:
    with kiosk_config.open("a") as config_file:  # [fingerprints] storage: both lossless
        config_file.write(f'\n[fingerprints]\nstorage = "{storage}"\n')
    result = subprocess.run([*KIOSK, "demo", "--citizens", "4", "--seed", "5"],
                            env=kiosk_env(kiosk_config), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    ids = [line.split()[1] for line in result.stdout.splitlines()]
    config = load_config(kiosk_config)
    device = DeviceKey.load_or_create(config.device_key_path)
    central = load_central_private_key(config.central_key_path.with_name("central.key"))
    opener = Opener(central, {device.key_id: device.public_bytes})

    journal = Journal.open_readonly(config.journal_path)
    try:
        people = list(itertools.islice(citizens(5), 4))
        for record_id, person in zip(ids, people, strict=True):
            info = journal.record(record_id)
            packet = build_packet(info.manifest, journal.step_blobs(record_id))
            opened = opener.open_packet(packet)
            assert opened.meta.record_id == record_id
            assert set(opened.steps) == set(STEPS)
            identity = json.loads(opened.steps["identity"]["identity.json"])
            assert identity["nik"] == "".join(c for c in person.nik if c.isdigit())
            demographics = json.loads(opened.steps["demographics"]["demographics.json"])
            assert demographics["full_name"] == person.demographics.full_name
            fingers = opened.steps["fingerprints"]
            images = {name: FingerprintImage.decode(data) for name, data in fingers.items()
                      if name.endswith(f".{storage}")}
            missing = json.loads(fingers["exceptions.json"])["missing"]
            assert len(images) + len(missing) == len(FINGERS)
            # Each print as the sensor gave it: 256 x 288 at 500 ppi, its 16 levels.
            assert {(i.width, i.height, i.ppi, i.bits) for i in images.values()} == {
                (256, 288, 500, 4)}
            assert opened.steps["portrait"]["portrait.jpg"][:3] == b"\xff\xd8\xff"
            with Image.open(io.BytesIO(opened.steps["portrait"]["portrait.jpg"])) as photo:
                assert photo.size == (360, 480)
            # The intake's own path (the one `kiosk-intake serve` runs on an upload) takes it.
            path = tmp_path / f"{record_id}.ektp"
            path.write_bytes(packet)
            with path.open("rb") as stream:
                signed, manifest = manifest_of(stream, len(packet))
                verify_and_open(stream, len(packet), signed, manifest, opener)

            # Another central key pair cannot open it.
            other_dir = tmp_path / f"other-{record_id}"
            generate_central_keypair(other_dir)
            stranger = Opener(load_central_private_key(other_dir / "central.key"),
                              {device.key_id: device.public_bytes})
            with pytest.raises(SealingError):
                stranger.open_packet(packet)
    finally:
        journal.close()
