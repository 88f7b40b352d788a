"""A private X display (Xvfb) for whatever needs a screen: the GUI tests, the touchscreen
benchmark. Xvfb picks a free display number itself and tells it on a pipe (-displayfd)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def private_display(screen: str = "1280x800x24") -> Iterator[str]:
    """Start Xvfb with one ``screen``; yield its DISPLAY value (":N"); stop it after."""
    if shutil.which("Xvfb") is None:
        raise RuntimeError("Xvfb is not installed (package xvfb; `make setup` installs it)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    try:
        if not number:
            raise RuntimeError("Xvfb did not start")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
