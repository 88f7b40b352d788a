"""Hardware-in-the-loop: the maintainer's capture tool through the ZFM driver against the
emulator always, and against a real sensor when ``KIOSK_HIL_FP_PORT`` names its port
(``KIOSK_HIL_FP_BAUD``, default 57600); ``kiosk demo`` end to end through the driver.

With a real sensor, keep a finger on it while the suite runs (``KIOSK_HIL_FP_TIMEOUT``
seconds per capture, default 15). The end-to-end ``kiosk demo`` runs use the emulator only.
What every fingerprint backend does (self-test, capture, busy, timeouts, matching) is
checked once, in ``tests/contract/test_fingerprint.py``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kiosk.config import load_config
from kiosk.hardware.base import FingerprintImage
from kiosk.hardware.fingerprint.emulator import FingerprintEmulator
from kiosk.maintenance.fingerprint import capture_command
from kiosk.sealing import generate_central_keypair
from tests.conftest import ENROLLED, KIOSK, REPO, kiosk_env
from tests.contract.backends import real_param

pytestmark = pytest.mark.timeout(120)

REAL_PORT = os.environ.get("KIOSK_HIL_FP_PORT", "")
REAL_BAUD = int(os.environ.get("KIOSK_HIL_FP_BAUD", "57600"))
REAL_TIMEOUT = float(os.environ.get("KIOSK_HIL_FP_TIMEOUT", "15"))


@dataclass
class Target:
    port: str
    baudrate: int
    capture_timeout: float
    emulator: FingerprintEmulator | None


@pytest.fixture(params=["emulator", real_param(
    "real", named=bool(REAL_PORT),
    reason="no real sensor: set KIOSK_HIL_FP_PORT=/dev/kiosk-fingerprint (and "
           "KIOSK_HIL_FP_BAUD) to run against one")])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "real":
        yield Target(REAL_PORT, REAL_BAUD, REAL_TIMEOUT, None)
        return
    with FingerprintEmulator(link=tmp_path / "fp0", seed=11) as emu:
        yield Target(emu.port, 57600, 3.0, emu)


def test_fingerprint_hil_capture_command_writes_the_png(target: Target, tmp_path: Path
                                                        ) -> None:
    config = write_zfm_config(tmp_path, target.port, target.baudrate)
    out, err = io.StringIO(), io.StringIO()
    status = capture_command(load_config(config), tmp_path / "finger.png",
                             target.capture_timeout, stdout=out, stderr=err)
    assert status == 0, err.getvalue()
    image = FingerprintImage.from_png((tmp_path / "finger.png").read_bytes())
    assert (image.width, image.height) == (256, 288)
    if target.emulator is not None:
        assert image.pixels == target.emulator.expected_image(0).pixels


# -- kiosk demo end to end, on the real driver and the emulator ----------------------------------
def write_zfm_config(directory: Path, port: str, baudrate: int = 57600) -> Path:
    """A kiosk config on the ZFM backend; real hardware needs a real central key file."""
    central = directory / "central"
    if not (central / "central.pub").exists():
        generate_central_keypair(central)
    path = directory / "kiosk.toml"
    path.write_text(
        f'[kiosk]\nid = "hil-01"\ndata_dir = "{directory / "data"}"\n'
        f"disk_reserve_bytes = 0\n"
        f'[sealing]\ncentral_key = "{central / "central.pub"}"\n'
        f'[hardware.fingerprint]\ntype = "zfm"\nport = "{port}"\nbaudrate = {baudrate}\n'
        f"timeout_s = 0.5\nreconnect_timeout_s = 3.0\n")
    return path


def run_demo(config: Path, citizens: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KIOSK, "demo", "--citizens", str(citizens), "--seed", "4"],
                          env=kiosk_env(config), capture_output=True, text=True, timeout=90)


def test_fingerprint_demo_enrolls_three_citizens_through_the_zfm_driver(tmp_path: Path
                                                                        ) -> None:
    with FingerprintEmulator(link=tmp_path / "fp0", seed=4) as emu:
        result = run_demo(write_zfm_config(tmp_path, emu.port), 3)
        assert result.returncode == 0, result.stderr[-3000:]
        lines = result.stdout.splitlines()
        assert len(lines) == 3 and all(ENROLLED.fullmatch(line) for line in lines), lines
        assert emu.uploads >= 3 * 8  # most of ten fingers each; some may be excepted
        assert emu.drops == 0


def test_fingerprint_demo_survives_the_line_dropping_once_per_citizen(tmp_path: Path) -> None:
    """The standalone emulator, dropping the line halfway through every 10th image."""
    link = tmp_path / "fp0"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    emulator = subprocess.Popen(
        [sys.executable, "-m", "kiosk.hardware.fingerprint.emulator", "--link", str(link),
         "--seed", "4", "--fault", "drop-every=10", "--fault", "drop-s=0.2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert emulator.stdout is not None
        first = emulator.stdout.readline()
        assert first.startswith("fingerprint emulator on /dev/"), first
        assert f"(link {link})" in first
        result = run_demo(write_zfm_config(tmp_path, str(link)), 3)
        assert result.returncode == 0, result.stderr[-3000:]
        lines = result.stdout.splitlines()
        assert len(lines) == 3 and all(ENROLLED.fullmatch(line) for line in lines), lines
        assert "reconnecting" in result.stderr  # the drops happened and were survived
        assert result.stderr.count("is back") >= 2
    finally:
        emulator.terminate()
        try:
            _, err = emulator.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            emulator.kill()
            _, err = emulator.communicate()
    assert emulator.returncode == 0, err[-2000:]
    assert err.count("line dropped") >= 2
    assert not link.exists()  # a stopped emulator leaves no dangling link
