"""Fingerprint contract suite: one set of checks for every fingerprint backend.

The one suite for the ``FingerprintScanner`` API (gpiozero's ``tests/test_real_pins.py``
way): the ``rig`` fixture is parametrised over every backend:

* ``sim``: the simulated scanner, always;
* ``zfm-emulator``: the real ZhianTec driver (``zfm``) on a pty, talking to the emulator
  that speaks the sensor's bytes, always;
* ``zfm-real``: a real sensor on ``KIOSK_HIL_FP_PORT`` (``KIOSK_HIL_FP_BAUD``, default
  57600; ``KIOSK_HIL_FP_TIMEOUT`` seconds per capture, default 15), marked ``hil``. Keep a
  finger on it while the suite runs; cases that need a hand to lift the finger or to show
  a chosen one are skipped there.

Protocol bytes and faults of one backend stay with it (``tests/unit/hardware/
test_fingerprint_zfm.py``, ``test_fingerprint_sim.py``); the maintainer tool and the demo
through the driver are in ``tests/hil/test_fingerprint.py``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.enrollment.fingerprint_quality import assess_fingerprint
from kiosk.errors import DeviceBusy, DeviceError, DeviceTimeout
from kiosk.hardware.base import FingerprintImage
from kiosk.hardware.fingerprint import FingerprintScanner
from kiosk.hardware.fingerprint.emulator import FingerprintEmulator
from kiosk.hardware.fingerprint.sim import SimFingerprint
from kiosk.hardware.fingerprint.zfm import ZfmFingerprint
from tests.contract.backends import real_param, rig_for

pytestmark = pytest.mark.timeout(120)

REAL_PORT = os.environ.get("KIOSK_HIL_FP_PORT", "")
REAL_BAUD = int(os.environ.get("KIOSK_HIL_FP_BAUD", "57600"))
REAL_TIMEOUT = float(os.environ.get("KIOSK_HIL_FP_TIMEOUT", "15"))
#: The emulator's driver options: short waits, so fault cases end quickly.
FAST = {"timeout_s": 0.5, "reconnect_timeout_s": 2.0, "poll_interval_s": 0.01}
LEVELS = {n * 17 for n in range(16)}  # the ZFM's 4-bit pixels, n * 17


class Rig:
    """A scanner, opened, and the hands that put fingers on it."""

    hands = True  # can lift the finger and choose which one lies on the sensor
    capture_timeout = 3.0
    scanner: Any
    selftest_words: tuple[str, ...] = ()

    def make(self) -> Any:
        """Another scanner like this one, closed."""
        raise NotImplementedError

    def expected(self, number: int) -> FingerprintImage | None:
        """The image the ``number``-th capture must return, if it is known."""
        return None

    def set_finger(self, present: bool) -> None:
        """Put a finger on the sensor (True) or lift it (False)."""
        raise NotImplementedError

    def present(self, finger: int, person: int) -> None:
        """Let the next captures see finger ``finger`` of ``person``."""
        raise NotImplementedError

    def close(self) -> None:
        self.scanner.close()


class SimRig(Rig):
    def __init__(self) -> None:
        self.scanner = self.make()
        self.scanner.open()
        self.selftest_words = ("256x288",)

    def make(self) -> SimFingerprint:
        return SimFingerprint(seed=0)

    def expected(self, number: int) -> FingerprintImage:
        return SimFingerprint(seed=0).generate(number)

    def set_finger(self, present: bool) -> None:
        self.scanner.no_finger = not present

    def present(self, finger: int, person: int) -> None:
        self.scanner.present(finger, person=person)


class EmulatorRig(Rig):
    def __init__(self, tmp_path: Path) -> None:
        self.emu = FingerprintEmulator(link=tmp_path / "fp0", seed=5)
        self.emu.start()
        self.scanner = self.make()
        self.scanner.open()
        self.selftest_words = (self.emu.port, "packets of")

    def make(self) -> ZfmFingerprint:
        return ZfmFingerprint(port=self.emu.port, **FAST)  # type: ignore[arg-type]

    def expected(self, number: int) -> FingerprintImage:
        return self.emu.expected_image(number)

    def set_finger(self, present: bool) -> None:
        self.emu.inject(no_finger=0 if present else -1)

    def present(self, finger: int, person: int) -> None:
        self.emu.present(finger, person=person)

    def close(self) -> None:
        try:
            self.scanner.close()
        finally:
            self.emu.stop()


class RealRig(Rig):
    hands = False
    capture_timeout = REAL_TIMEOUT

    def __init__(self) -> None:
        self.scanner = self.make()
        self.scanner.open()
        self.selftest_words = (REAL_PORT, "packets of")

    def make(self) -> ZfmFingerprint:
        return ZfmFingerprint(port=REAL_PORT, baudrate=REAL_BAUD, timeout_s=1.0)

    def set_finger(self, present: bool) -> None:
        pytest.skip("needs a hand to lift the finger off the real sensor")

    def present(self, finger: int, person: int) -> None:
        pytest.skip("needs a hand to show the real sensor chosen fingers")


@pytest.fixture(params=["sim", "zfm-emulator", real_param(
    "zfm-real", named=bool(REAL_PORT),
    reason="no real sensor: set KIOSK_HIL_FP_PORT=/dev/kiosk-fingerprint (and "
           "KIOSK_HIL_FP_BAUD) to run against one")])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    yield from rig_for(request.param, {
        "sim": SimRig,
        "zfm-emulator": lambda: EmulatorRig(tmp_path),
        "zfm-real": RealRig,
    })


def test_fingerprint_backend_is_a_fingerprint_scanner(rig: Rig) -> None:
    assert isinstance(rig.scanner, FingerprintScanner)


def test_fingerprint_selftest_reports_the_sensor(rig: Rig) -> None:
    ok, detail = rig.scanner.selftest()
    assert ok, detail
    for word in rig.selftest_words:
        assert word in detail


def test_fingerprint_captures_usable_zfm_images_in_turn(rig: Rig) -> None:
    first = rig.scanner.capture(timeout=rig.capture_timeout)
    second = rig.scanner.capture(timeout=rig.capture_timeout)
    for image in (first, second):
        assert (image.width, image.height, image.ppi) == (256, 288, 500)
        assert len(image.pixels) == 256 * 288
        assert set(image.pixels) <= LEVELS and image.bits == 4
    assert assess_fingerprint(first.pixels, first.width, first.height).ok
    expected = rig.expected(0)
    if expected is not None:
        assert first.pixels == expected.pixels
        assert second.pixels == rig.expected(1).pixels  # type: ignore[union-attr]
        assert first.pixels != second.pixels


def test_fingerprint_png_round_trip_keeps_every_pixel(rig: Rig) -> None:
    image = rig.scanner.capture(timeout=rig.capture_timeout)
    assert FingerprintImage.from_png(image.to_png()) == image


def test_fingerprint_without_a_finger_times_out_saying_so(rig: Rig) -> None:
    scanner = rig.scanner
    rig.set_finger(False)
    assert scanner.is_finger_present is False
    assert scanner.wait_for_finger(timeout=0.05) is False
    started = time.monotonic()
    with pytest.raises(DeviceTimeout, match="no finger"):
        scanner.capture(timeout=0.3)
    assert time.monotonic() - started < 1.5
    rig.set_finger(True)
    assert scanner.is_finger_present is True


def test_fingerprint_finger_placed_during_the_wait_is_captured(rig: Rig) -> None:
    rig.set_finger(False)
    timer = threading.Timer(0.1, rig.set_finger, args=(True,))
    timer.start()
    try:
        image = rig.scanner.capture(timeout=5)
    finally:
        timer.join()
    assert image.width == 256
    assert image.pixels == rig.expected(0).pixels  # type: ignore[union-attr]


@pytest.mark.parametrize("finger_comes", [False, True], ids=["first-times-out",
                                                             "first-completes"])
def test_fingerprint_second_capture_meets_device_busy(rig: Rig, finger_comes: bool) -> None:
    """A second capture while one waits for the finger is refused, never queued; the first
    goes on to its own end: an image once the finger comes, a timeout if it never does."""
    scanner = rig.scanner
    rig.set_finger(False)
    results: list[object] = []

    def first() -> None:
        try:
            results.append(scanner.capture(timeout=1))
        except BaseException as exc:
            results.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(0.2)
    with pytest.raises(DeviceBusy):
        scanner.capture(timeout=1)
    if finger_comes:
        rig.set_finger(True)
    thread.join(5)
    assert not thread.is_alive()
    if finger_comes:
        assert isinstance(results[0], FingerprintImage), results
    else:
        assert isinstance(results[0], DeviceTimeout), results


def test_fingerprint_same_finger_twice_matches_and_others_do_not(rig: Rig) -> None:
    scanner = rig.scanner
    rig.present(2, person=31)
    one = scanner.capture(timeout=rig.capture_timeout)
    first = scanner.extract_template()
    assert len(first) == 512
    rig.present(3, person=31)
    scanner.capture(timeout=rig.capture_timeout)
    other = scanner.extract_template()
    assert scanner.find_match(other, [first]) is None
    rig.present(2, person=31)
    two = scanner.capture(timeout=rig.capture_timeout)
    again = scanner.extract_template()
    assert two.pixels != one.pixels  # placed, turned, pressed differently
    assert again != first  # another impression, another template
    assert scanner.find_match(again, [other, first]) == 1


def test_fingerprint_ten_distinct_fingers_match_none_before_them(rig: Rig) -> None:
    scanner = rig.scanner
    taken: list[bytes] = []
    for finger in range(10):
        rig.present(finger, person=32)
        scanner.capture(timeout=rig.capture_timeout)
        probe = scanner.extract_template()
        assert scanner.find_match(probe, taken) is None
        taken.append(probe)


def test_fingerprint_closed_scanner_refuses_and_close_twice_is_safe(rig: Rig) -> None:
    fresh = rig.make()
    with pytest.raises(DeviceError, match="closed"):
        fresh.capture(timeout=0.1)  # created closed
    scanner = rig.scanner
    scanner.close()
    scanner.close()
    assert scanner.closed
    with pytest.raises(DeviceError, match="closed"):
        scanner.capture(timeout=0.1)
    scanner.open()
    assert scanner.capture(timeout=rig.capture_timeout).width == 256
