"""``kiosk hw camera snapshot --out F.jpg``: one still from the configured camera.

For a maintainer checking framing, light and focus over SSH (``scp`` the file back). The
result goes to stdout, a failure to stderr with the reason; the exit status is 0 or 1.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from kiosk.config import Config
from kiosk.core.exits import EXIT_FAIL, EXIT_OK
from kiosk.errors import KioskError
from kiosk.fsutil import write_atomic
from kiosk.hardware.registry import create_device


def snapshot_command(config: Config, out: Path, *, stdout: TextIO | None = None,
                     stderr: TextIO | None = None) -> int:
    """Take one still with ``[hardware.camera]`` and write the JPEG to ``out``.

    Prints ``wrote OUT: 480x640 JPEG, 45123 bytes (camera picamera2, 0.84 s)``; on failure
    prints ``camera snapshot failed: <reason>`` to stderr and returns 1. Never raises for a
    device or file problem.
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    out = Path(out)
    try:
        options = config.backend_options("camera")
        camera = create_device("camera", options)
        started = time.monotonic()
        with camera:
            photo = camera.capture_still()  # type: ignore[attr-defined]
        elapsed = time.monotonic() - started
    except (KioskError, OSError) as exc:
        print(f"camera snapshot failed: {exc}", file=stderr)
        return EXIT_FAIL
    try:
        write_atomic(out, photo.jpeg, 0o644, overwrite=True)  # never a half JPEG
    except OSError as exc:  # its text would name the temporary file beside ``out``
        print(f"camera snapshot failed: cannot write {out}: {exc.strerror or exc}",
              file=stderr)
        return EXIT_FAIL
    print(f"wrote {out}: {photo.width}x{photo.height} JPEG, {len(photo.jpeg)} bytes "
          f"(camera {options['type']}, {elapsed:.2f} s)", file=stdout)
    return EXIT_OK
