"""Durable files and directories, for the kiosk and the intake alike.

A new directory exists after a power cut only once its parent directory has been fsync'd
(POSIX; ext4 often hides the difference, XFS and btrfs do not): every directory the kiosk
creates goes through :func:`make_dirs`. A whole small file (a key, a registration, a
receipt, a certificate) is written with :func:`write_atomic`: after a power cut it is there
whole, or as it was before, never half. A file something else wrote under a temporary name
(a SQLite export, a staged copy) is given its name with :func:`commit_file`, which is also
:func:`write_atomic`'s last step. A status file rewritten every second is written with
``write_atomic(..., durable=False)``: never half, but not fsync'd. Its writer calls
:func:`sweep_temporaries` as it starts: a process killed mid-write (a power cut) leaves its
temp file behind, and a file rewritten all day on a kiosk that loses power often would
otherwise collect them.

Imports nothing from ``kiosk``: any layer may use it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
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


def commit_file(temporary: Path, path: Path, *, overwrite: bool, durable: bool = True) -> None:
    """Give the finished file ``temporary`` (beside ``path``, written by the caller or by
    a library) the name ``path`` atomically: fsync it, rename it over ``path``, fsync the
    directory. Without ``overwrite`` an existing ``path`` raises FileExistsError, even if
    it appears between our check and our rename (``os.link`` does not clobber).
    ``temporary`` is gone afterwards, whether the commit worked or not.

    ``durable=False`` (for :func:`write_atomic`'s often rewritten status files) fsyncs
    neither the file nor the directory: readers still see the old file or the new one
    whole, never half, but a power cut may lose the new one, see :func:`write_atomic`.
    """
    path = Path(path)
    try:
        if durable:
            fd = os.open(temporary, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if overwrite:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                # file systems without hard links (FAT on a USB stick): check, then rename
                if path.exists():
                    raise FileExistsError(errno.EEXIST, "exists", str(path)) from exc
                os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    if durable:
        fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes, mode: int | None, *, overwrite: bool,
                 temporary: str | None = None, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically: temp file (``mode`` from birth), then
    :func:`commit_file` (fsync, rename, fsync the directory). Without ``overwrite`` an
    existing ``path`` raises FileExistsError. ``temporary`` names the temp file beside
    ``path`` (default: hidden, with this process's id and a random part), for a caller
    that sweeps up what a killed process left (the intake); it must not exist.

    ``mode=None``: the file system decides (0o666 less the umask where it keeps modes), for
    a file written on a USB stick: FAT and exFAT keep no modes, take them from the mount's
    options and refuse a chmod that differs (the kernel's vfat: EPERM; fusefat: ENOSYS).

    ``durable=False`` is for a status file rewritten every second or every poll (upload
    progress, the power watcher's verdict), where an fsync each time would wear the SD card
    for nothing: no fsync of the file or the directory. Readers still never see half a file.
    After a power cut, on ext4 (its defaults: data=ordered, auto_da_alloc, whose rename
    heuristic writes a file renamed over another out before the rename is committed)
    ``path`` is the old file or the new one whole; a ``path`` that did not exist before,
    or another file system, may leave it missing or empty, and a temp file may be left
    behind. Its readers must take a missing, empty or stale file for "nothing known".
    """
    path = Path(path)
    tmp = path.with_name(temporary or _temporary_name(path, os.getpid(), secrets.token_hex(4)))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o666 if mode is None else mode)
    try:
        try:
            if mode is not None:  # the umask may have removed bits we want (never added any)
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    commit_file(tmp, path, overwrite=overwrite, durable=durable)


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def _temporary_name(path: Path, pid: int, tag: str) -> str:
    """:func:`write_atomic`'s default temp file name: hidden, beside ``path``, the writer's
    process id and a random tag (8 hex digits)."""
    return f"{_temporary_prefix(path)}{pid}-{tag}"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host exists (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_temporaries(path: Path) -> list[Path]:
    """Remove the temp files :func:`write_atomic` (default names) left beside ``path`` when
    the process writing it died mid-write: a SIGKILL, a power cut. The process id in a temp
    file's name says whose it is: one whose process still runs is left alone (after a
    reboot an id may belong to another process, and the file waits for the next sweep).
    Returns the files removed; an unreadable directory or a file that vanished meanwhile is
    not an error.
    """
    path = Path(path)
    pattern = re.compile(re.escape(_temporary_prefix(path)) + r"(\d+)-[0-9a-f]{8}")
    removed: list[Path] = []
    try:
        names = os.listdir(path.parent)
    except OSError:
        return removed
    for name in names:
        match = pattern.fullmatch(name)
        if match is None or process_alive(int(match.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path.parent / name)
            removed.append(path.parent / name)
    return removed


def flock_holders(path: Path) -> list[int] | None:
    """The process ids holding an ``flock`` on ``path`` (``/proc/locks``; the pid is the
    process that took the lock, a child that inherited the descriptor not named), [] when
    none does, None when it cannot be told (no such file, no ``/proc``). Reads only: the
    lock is never taken."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    ours = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    holders: list[int] = []
    try:
        with open("/proc/locks") as locks:
            for line in locks:
                # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" ("->" for a waiter)
                fields = line.split()
                if "->" in fields or fields[1:2] != ["FLOCK"] or ours not in fields:
                    continue
                pid = fields[4]
                if pid.isdigit() and int(pid) not in holders:
                    holders.append(int(pid))
    except (OSError, IndexError):
        return None
    return holders


def describe_process(pid: int) -> str:
    """``process 1234 (flock -x journal.db.lock sleep 100)``: its command line as far as it
    can be read, for a maintainer deciding whether to stop it."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"process {pid}"
    command = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    if len(command) > 120:
        command = command[:117] + "..."
    return f"process {pid} ({command})" if command else f"process {pid}"
