"""The simulated fingerprint scanner and its synthetic impressions.

What every fingerprint backend does (geometry, busy, timeouts, closed, self-test) is checked
once, in ``tests/contract/test_fingerprint.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.errors import DeviceTimeout
from kiosk.hardware.base import FingerprintImage
from kiosk.hardware.fingerprint import synth
from kiosk.hardware.fingerprint.sim import SimFingerprint


def _array(image: FingerprintImage) -> np.ndarray:
    return image.to_array().astype(np.float64)


def ridge_period(image: FingerprintImage) -> float:
    """Dominant ridge period in pixels: the peak of the radially summed power spectrum of
    the central 128 x 128 patch (summing rings makes it independent of ridge direction)."""
    a = _array(image)
    cy, cx = image.height // 2, image.width // 2
    patch = a[cy - 64:cy + 64, cx - 64:cx + 64]
    patch = (patch - patch.mean()) * np.outer(np.hanning(128), np.hanning(128))
    power = np.abs(np.fft.fftshift(np.fft.fft2(patch))) ** 2
    fy, fx = np.mgrid[-64:64, -64:64]
    rings = np.bincount(np.rint(np.hypot(fx, fy)).astype(int).ravel(), power.ravel())[:64]
    rings[:5] = 0  # DC and the finger outline's slow variation
    return 128 / int(rings.argmax())


@pytest.fixture
def scanner():
    with SimFingerprint(seed=0) as device:
        yield device


@pytest.mark.parametrize("finger", range(10))
def test_sim_impressions_have_fingerprint_statistics(finger):
    image = SimFingerprint(seed=11).generate(finger)
    a = _array(image)
    assert 110 < a.mean() < 200  # light background around a mid-gray ridge area
    assert a.std() > 35  # high-contrast ridges, not a flat or washed-out image
    centre = a[104:184, 88:168]
    assert centre.min() < 80 and centre.max() > 170  # dark ridges and light valleys
    assert a[:6].mean() > 200 or a[:, :6].mean() > 200  # uncovered sensor stays light
    assert 7.0 <= ridge_period(image) <= 13.0  # ~9 px at 500 ppi (0.45 mm); one patch


def test_sim_ridge_period_is_about_nine_pixels_on_average():
    periods = [ridge_period(SimFingerprint(seed=s).generate(f))
               for s in range(3) for f in range(10)]
    assert 8.0 <= float(np.median(periods)) <= 11.0
    assert sum(8.0 <= p <= 11.0 for p in periods) >= 24  # most fingers, not just the median


def test_sim_same_seed_gives_the_same_images():
    with SimFingerprint(seed=5) as a, SimFingerprint(seed=5) as b:
        assert [a.capture().pixels for _ in range(3)] == [b.capture().pixels for _ in range(3)]


def test_sim_different_fingers_differ():
    scanner = SimFingerprint(seed=5)
    images = [_array(scanner.generate(f)) for f in range(10)]
    for i in range(10):
        for j in range(i + 1, 10):
            assert np.abs(images[i] - images[j]).mean() > 20


def test_sim_different_seeds_differ():
    a = _array(SimFingerprint(seed=1).generate(0))
    b = _array(SimFingerprint(seed=2).generate(0))
    assert np.abs(a - b).mean() > 20


def test_sim_impressions_of_one_finger_share_the_pattern():
    assert synth.finger_pattern(3, 4) == synth.finger_pattern(3, 4)
    one, two = (SimFingerprint(seed=3).generate(4, i).pixels for i in (0, 1))
    assert one != two  # placement, pressure and noise differ


def test_sim_counts_its_captures(scanner):
    scanner.capture()
    scanner.capture()
    assert scanner.captures == 2


def test_sim_fail_every_raises_device_timeout_on_every_nth_capture():
    outcomes = []
    with SimFingerprint(fail_every=3) as scanner:
        for _ in range(7):
            try:
                scanner.capture(timeout=1)
                outcomes.append("ok")
            except DeviceTimeout:
                outcomes.append("timeout")
    assert outcomes == ["ok", "ok", "timeout", "ok", "ok", "timeout", "ok"]


def test_sim_generation_is_fast_enough_to_measure():
    # Loose: only that generation works repeatedly; timing asserts live in benchmarks/.
    scanner = SimFingerprint(seed=1)
    images = {scanner.generate(f).pixels for f in range(20)}
    assert len(images) == 20
