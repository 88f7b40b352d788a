"""Fixtures shared by the hardware driver tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.hardware.fingerprint.emulator import FingerprintEmulator


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[FingerprintEmulator]:
    """The ZhianTec emulator on a pty (seed 5), for the real driver to talk to."""
    emulator = FingerprintEmulator(link=tmp_path / "fp0", seed=5)
    emulator.start()
    yield emulator
    emulator.stop()
