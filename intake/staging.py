"""The intake's packet and receipt files in ``DIR/records/<kiosk>/``: a checked packet is
copied beside its final name (hidden, named for this host and process), made durable, then
linked into place, so that a stored packet is never replaced; and the temporary files a
stopped process left behind are swept away.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path

from intake.packets import HASH_BLOCK
from kiosk.fsutil import fsync_dir, make_dirs

log = logging.getLogger(__name__)

# A staged packet copy or a receipt being written (``staged_name``), or a temporary of
# ``write_atomic``'s own naming (no host: receipts of an intake before the host was in it)
_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:64] or "host"
_TEMPORARY = re.compile(
    r"\..+\.(?:pkt|receipt)\.tmp-(?:(?P<host>[A-Za-z0-9._]+)-)?(?P<pid>[0-9]+)-[0-9a-f]{8}")
STALE_STAGED_S = 3600.0  # a temporary file this old is left over, whoever made it


def staged_name(path: Path) -> str:
    """The name of a copy staged beside ``path``: hidden, with this host and process, so
    that :func:`sweep_staged` can tell one a stopped process left behind."""
    return f".{path.name}.tmp-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}"


def process_gone(pid: int) -> bool:
    """Whether process ``pid`` of this host has ended (never this process itself)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it exists, as another user
        return False
    return False


def link_new(staged: Path, path: Path) -> bool:
    """Give the durable file ``staged`` the name ``path``, never replacing one; False when
    ``path`` exists already."""
    try:
        os.link(staged, path)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        if path.exists():  # file systems without hard links: check, then rename
            return False
        os.replace(staged, path)
    fsync_dir(path.parent)
    return True


def stage_copy(packet: Path, pkt: Path) -> Path:
    """A durable copy of the file ``packet`` beside its final name ``pkt`` (streamed: the
    packet is never whole in memory), for :func:`link_new` to give that name."""
    with open(packet, "rb") as source:
        return stage_stream(source.read, pkt)


def stage_stream(read: Callable[[int], bytes], pkt: Path, *, length: int | None = None,
                 durable: bool = True) -> Path:
    """A copy beside ``pkt`` (named for the sweep: :func:`staged_name`) of what ``read``
    gives, :data:`HASH_BLOCK` at a time: to its end, or exactly ``length`` bytes (EOFError
    when it ends sooner; never a byte more is asked for). ``durable``: fsync'd. A failure
    leaves no file."""
    make_dirs(pkt.parent)
    staged = pkt.with_name(staged_name(pkt))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(staged, flags, 0o640)
    try:
        os.fchmod(fd, 0o640)
        left = length
        while left is None or left > 0:
            block = read(HASH_BLOCK if left is None else min(HASH_BLOCK, left))
            if not block:
                if left is None:
                    break
                raise EOFError(f"{left} bytes short of {length}")
            if left is not None:
                left -= len(block)
            view = memoryview(block)
            while view:
                view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()
        raise
    os.close(fd)
    return staged


def sweep_staged(records: Path) -> int:
    """Remove the temporary files a stopped process left in ``records`` (a staged
    packet copy, or a receipt being written, never linked into place): on this host
    those whose process is gone, on any host (the directory may be shared, with
    ``--db``) those older than :data:`STALE_STAGED_S`. Returns how many went."""
    removed = 0
    now = time.time()
    with contextlib.suppress(FileNotFoundError), os.scandir(records) as kiosks:
        for kiosk in kiosks:
            if not kiosk.is_dir(follow_symlinks=False):
                continue
            with contextlib.suppress(FileNotFoundError), os.scandir(kiosk.path) as files:
                for entry in files:
                    found = _TEMPORARY.fullmatch(entry.name)
                    if found is None:
                        continue
                    try:
                        age = now - entry.stat(follow_symlinks=False).st_mtime
                    except FileNotFoundError:
                        continue
                    gone = found["host"] == _HOST and process_gone(int(found["pid"]))
                    if gone or age > STALE_STAGED_S:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(entry.path)
                            removed += 1
    if removed:
        log.info("removed %d temporary file(s) a stopped process left in %s", removed,
                 records)
    return removed
