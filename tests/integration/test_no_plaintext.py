"""Nothing personal on disk or in the logs: no NIK, no name, no raw image of any citizen."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

from kiosk.config import load_config
from kiosk.enrollment.synthetic import citizens
from kiosk.hardware.registry import create_device
from tests.conftest import KIOSK, kiosk_env

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_JFIF = b"\xff\xd8\xff\xe0\x00\x10JFIF"
WEBP_HEAD = b"WEBPVP8"  # bytes 8-14 of every WebP file (the fingerprints a record keeps)


def _needles(config_path: Path, count: int, seed: int) -> list[bytes]:
    needles: list[bytes] = []
    for person in itertools.islice(citizens(seed), count):
        digits_nik = "".join(ch for ch in person.nik if ch.isdigit())
        digits_kk = "".join(ch for ch in person.kk if ch.isdigit())
        needles += [digits_nik.encode(), digits_kk.encode(),
                    person.demographics.full_name.encode(), person.demographics.address.encode()]
    # Raw pixels as the simulated devices produce them: 48-byte runs from the middle.
    config = load_config(config_path)
    with create_device("fingerprint", config.backend_options("fingerprint")) as scanner:
        pixels = scanner.capture(timeout=5).pixels
    needles += [pixels[i:i + 48] for i in range(len(pixels) // 3, len(pixels) // 2, 4096)]
    with create_device("camera", config.backend_options("camera")) as camera:
        jpeg = camera.capture_still().jpeg
    needles += [jpeg[i:i + 48] for i in range(1000, len(jpeg) - 48, 4096)]
    return needles


def test_data_dir_and_logs_hold_no_personal_data(kiosk_config: Path) -> None:
    result = subprocess.run([*KIOSK, "demo", "--citizens", "15", "--seed", "11"],
                            env=kiosk_env(kiosk_config) | {"KIOSK_LOG_LEVEL": "DEBUG"},
                            capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    data_dir = kiosk_config.parent / "data"
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "journal.db" for p in files)
    blobs = {p: p.read_bytes() for p in files}
    needles = _needles(kiosk_config, 15, 11)
    assert len(needles) > 60
    for path, blob in blobs.items():
        assert PNG_SIGNATURE not in blob, f"a PNG in the clear in {path}"
        assert JPEG_JFIF not in blob, f"a JPEG in the clear in {path}"
        assert WEBP_HEAD not in blob, f"a WebP in the clear in {path}"
        for needle in needles:
            assert needle not in blob, f"personal data in the clear in {path}"
    for needle in needles:
        assert needle not in result.stderr, "personal data in the log output"
