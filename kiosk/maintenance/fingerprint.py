"""Maintainer tool: ``kiosk hw fingerprint capture --out FILE.png``.

Captures one image on the configured scanner (the real ZFM sensor, its emulator, or the
simulator) and writes it as a grayscale PNG at the sensor's depth (4 bits for a ZFM's 16
levels). Prints one line on stdout on success and one line on stderr on failure; never
raises for a device problem. A destination that cannot be written is refused before the
sensor asks for a finger.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from kiosk.config import Config
from kiosk.core.exits import EXIT_FAIL, EXIT_OK
from kiosk.errors import DeviceError, DeviceTimeout
from kiosk.fsutil import write_atomic
from kiosk.hardware.fingerprint.base import CAPTURE_TIMEOUT_S
from kiosk.hardware.registry import create_device

log = logging.getLogger(__name__)


def capture_command(config: Config, out: Path, timeout: float = CAPTURE_TIMEOUT_S, *,
                    stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Capture one fingerprint into ``out`` (PNG); return 0, or 1 with a reason on stderr.

    ``timeout`` is how long to wait for a finger, in seconds.
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    options = config.backend_options("fingerprint")
    where = options.get("port", options["type"])
    out = Path(out)
    unusable = _unwritable(out)
    if unusable:
        print(f"fingerprint capture failed: cannot write {out}: {unusable}", file=stderr)
        return EXIT_FAIL
    started = time.monotonic()
    try:
        scanner = create_device("fingerprint", options)
        with scanner:
            print(f"place a finger on the sensor ({where}), waiting up to {timeout:g} s",
                  file=stderr, flush=True)
            image = scanner.capture(timeout=timeout)
    except DeviceTimeout as exc:
        print(f"fingerprint capture failed: timeout: {exc}", file=stderr)
        return EXIT_FAIL
    except DeviceError as exc:
        from kiosk.status import START_THE_KIOSK, STOP_THE_KIOSK, held_by, is_held

        if is_held(str(exc)):  # the port works: the running kiosk has it
            print(f"fingerprint capture failed: the sensor on {where} is in use, held by "
                  f"{held_by(options).removeprefix('another program, ')}: stop it first "
                  f"(the touchscreen: {STOP_THE_KIOSK}), capture, then start it again "
                  f"({START_THE_KIOSK})", file=stderr)
            return EXIT_FAIL
        print(f"fingerprint capture failed: {type(exc).__name__}: {exc}", file=stderr)
        return EXIT_FAIL
    png = image.to_png()
    try:
        write_atomic(out, png, 0o644, overwrite=True)  # never a half PNG
    except OSError as exc:
        print(f"fingerprint capture failed: cannot write {out}: {exc.strerror or exc}",
              file=stderr)
        return EXIT_FAIL
    print(f"captured {image.width}x{image.height}, {1 << image.bits} gray levels, at "
          f"{image.ppi} ppi from {where} in {time.monotonic() - started:.1f} s -> {out} "
          f"({image.bits}-bit PNG, {len(png)} bytes)", file=stdout)
    return EXIT_OK


def _unwritable(out: Path) -> str:
    """Why ``out`` cannot be written ('' when it can): its directory missing or read-only,
    or a directory in its place."""
    folder = out.parent
    if not folder.is_dir():
        return f"no directory {folder}"
    if out.is_dir():
        return "it is a directory"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} is not writable"
    return ""
