"""Making directories durable: a new directory exists after a power cut only once its
parent directory has been fsync'd (POSIX; ext4 often hides the difference, XFS and btrfs do
not). Every directory the kiosk creates goes through :func:`make_dirs`."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """fsync a directory, so the names in it (new files, renames, removals) are durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path, mode: int = 0o750) -> None:
    """``mkdir -p`` whose every newly made level is durable (its parent fsync'd)."""
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=mode)
        except FileExistsError:
            continue  # made meanwhile by another process: its maker fsyncs the parent
        fsync_dir(directory.parent)
