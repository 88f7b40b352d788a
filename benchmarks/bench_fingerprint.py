"""Fingerprint image transfer on the real ZFM driver against the line-rate floor.

The emulator paces every byte it sends at the configured baud rate (``throttle``: 10 bits
per byte, 8N1), so a capture costs what it would on a real UART. One capture is GenImg
(finger already down) then UpImage: two 12-byte acknowledges plus the 36,864-byte image in
288 data packets of 128 bytes (11 bytes of framing each). The floor is those sensor-to-host
bytes divided by the line rate, baud / 10 bytes per second; the commands (12 bytes each
way) travel the other direction and are not paced by the emulator, so they are left out of
both. Reported per baud rate as the ratio of the median capture time to the floor
(target: at most 1.15x).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from kiosk.hardware.fingerprint import zfm_protocol as zp
from kiosk.hardware.fingerprint.emulator import FingerprintEmulator
from kiosk.hardware.fingerprint.zfm import ZfmFingerprint

BAUDRATES = (57600, 115200)
PACKET_SIZE = 128  # the factory setting


def wire_bytes() -> int:
    """Sensor-to-host bytes of one capture: GenImg ack, UpImage ack, the image packets."""
    ack = zp.OVERHEAD + 1
    return 2 * ack + zp.wire_bytes(zp.IMAGE_BYTES, PACKET_SIZE)


def measure(baudrate: int, rounds: int = 3) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, FingerprintEmulator(
            link=Path(tmp) / "fp0", baudrate=baudrate, packet_size=PACKET_SIZE,
            throttle=True) as emu, ZfmFingerprint(port=emu.port, baudrate=baudrate,
                                                  timeout_s=1.0) as scanner:
        times = []
        for n in range(rounds):
            started = time.perf_counter()
            image = scanner.capture(timeout=10)
            times.append(time.perf_counter() - started)
            if image.pixels != emu.expected_image(n).pixels:
                raise AssertionError("the benchmark capture returned the wrong image")
    floor = wire_bytes() / (baudrate / 10)
    median = statistics.median(times)
    return {"baudrate": baudrate, "bytes": wire_bytes(), "median_s": median,
            "floor_s": floor, "ratio": median / floor, "rounds": rounds}


def run(rounds: int = 3) -> dict[str, dict[str, float]]:
    """``{"57600": {...}, "115200": {...}}``: median_s, floor_s, ratio, bytes, rounds."""
    return {str(baud): measure(baud, rounds) for baud in BAUDRATES}


if __name__ == "__main__":
    for baud, r in run().items():
        print(f"{baud} baud: {r['median_s']:.2f} s vs. floor {r['floor_s']:.2f} s "
              f"({r['bytes']} bytes) = {r['ratio']:.3f}x")
