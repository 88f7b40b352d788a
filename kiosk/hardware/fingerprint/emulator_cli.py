"""The fingerprint emulator as a standalone program, for ``kiosk demo`` or a maintainer::

    python -m kiosk.hardware.fingerprint.emulator --link /tmp/fp0 [--fault drop-every=10]
    # kiosk.toml: [hardware.fingerprint]  type = "zfm"  port = "/tmp/fp0"

This module imports :mod:`kiosk.hardware.fingerprint.emulator`, never the reverse; that
module's ``__main__`` block runs this one by name (``python -m`` on either works).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from kiosk.core.exits import EXIT_OK
from kiosk.hardware.base import FingerprintImage
from kiosk.hardware.fingerprint import zfm_protocol as zp
from kiosk.hardware.fingerprint.emulator import FingerprintEmulator
from kiosk.hardware.fingerprint.emulator_faults import Faults, parse_fault

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Serve an emulated sensor until SIGINT/SIGTERM; print the pty path first. Exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m kiosk.hardware.fingerprint.emulator",
        description="Emulate a ZFM (R307/R503/AS608) fingerprint sensor on a pseudo-terminal.")
    parser.add_argument("--link", help="a stable symlink to the pty (e.g. /tmp/fp0); needed "
                        "for drop faults, since each drop makes a new pty")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME[=N]",
                        help="no-finger=N, bad-checksum=once|always|N, bad-checksum-image=..., "
                        "garbage=..., stall=..., drop=..., drop-every=N, drop-s=SECONDS, "
                        "disconnect, mute (repeatable)")
    parser.add_argument("--baudrate", type=int, default=zp.DEFAULT_BAUDRATE)
    parser.add_argument("--packet-size", type=int, default=zp.DEFAULT_PACKET_SIZE,
                        choices=tuple(zp.PACKET_SIZES.values()))
    parser.add_argument("--throttle", action="store_true",
                        help="pace replies at the baud rate (10 bits per byte), for benchmarks")
    parser.add_argument("--seed", type=int, default=0, help="synthetic person to show")
    parser.add_argument("--image", type=Path, help="serve this 256x288 grayscale PNG instead")
    parser.add_argument("--password", type=lambda s: int(s, 0), default=zp.DEFAULT_PASSWORD)
    parser.add_argument("--address", type=lambda s: int(s, 0), default=zp.DEFAULT_ADDRESS)
    args = parser.parse_args(argv)
    faults = Faults()
    try:
        for spec in args.fault:
            parse_fault(spec, faults)
    except ValueError as exc:
        parser.error(str(exc))
    images = None
    if args.image is not None:
        images = FingerprintImage.from_png(args.image.read_bytes())
    emu = FingerprintEmulator(link=args.link, images=images, seed=args.seed, faults=faults,
                              address=args.address, password=args.password,
                              packet_size=args.packet_size, baudrate=args.baudrate,
                              throttle=args.throttle)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    emu.start()
    print(f"fingerprint emulator on {emu.slave_path}" +
          (f" (link {emu.link})" if emu.link else ""), flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        emu.stop()
    return EXIT_OK


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(main())
