"""Durable files and directories, for the kiosk and the intake alike.

A new directory exists after a power cut only once its parent directory has been fsync'd
(POSIX; ext4 often hides the difference, XFS and btrfs do not): every directory the kiosk
creates goes through :func:`make_dirs`. A whole small file (a key, a registration, a
receipt, a certificate) is written with :func:`write_atomic`: after a power cut it is there
whole, or as it was before, never half.

Imports nothing from ``kiosk``: any layer may use it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
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


def write_atomic(path: Path, data: bytes, mode: int, *, overwrite: bool,
                 temporary: str | None = None) -> None:
    """Write ``data`` to ``path`` atomically: temp file (``mode`` from birth), fsync, rename,
    fsync the directory. Without ``overwrite`` an existing ``path`` raises FileExistsError,
    even if it appears between our check and our rename (``os.link`` does not clobber).
    ``temporary`` names the temp file beside ``path`` (default: hidden, with this process's
    id), for a caller that sweeps up what a killed process left (the intake).
    """
    path = Path(path)
    tmp = path.with_name(temporary or f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, mode)
    try:
        try:
            os.fchmod(fd, mode)  # the umask may have removed bits we want (never added any)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                # file systems without hard links (FAT on a USB stick): check, then rename
                if path.exists():
                    raise FileExistsError(errno.EEXIST, "exists", str(path)) from exc
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    fsync_dir(path.parent)
