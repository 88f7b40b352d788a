"""The simulated disk itself: what survives a cut is exactly what was fsync'd."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.powercut.lazyfs import SECTOR, LazyMount


def fuse_unavailable() -> str | None:
    """Why FUSE cannot be mounted here, or None. mfusepy and fusermount3 are dependencies
    of the test suite (a missing one fails), only a kernel without FUSE skips."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse (kernel without FUSE, or a container started without it)"
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR))
    except OSError as exc:
        return f"/dev/fuse cannot be opened: {exc.strerror}"
    return None


needs_fuse = pytest.mark.skipif(fuse_unavailable() is not None,
                                reason=fuse_unavailable() or "")
pytestmark = needs_fuse


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[tuple[Path, Path, LazyMount]]:
    """(backing, mountpoint, fs): the backing directory starts with ``old.txt``."""
    assert shutil.which("fusermount3") or shutil.which("fusermount"), "install fuse3"
    backing, mount = tmp_path / "disk", tmp_path / "mnt"
    backing.mkdir()
    (backing / "old.txt").write_bytes(b"old contents\n")
    fs = LazyMount(backing, mount, tmp_path / "lazyfs.sock")
    fs.start()
    try:
        yield backing, mount, fs
    finally:
        fs.unmount()


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(path: Path, data: bytes, *, offset: int | None = None, sync: bool = False) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (0 if offset is not None else os.O_TRUNC)
    fd = os.open(path, flags, 0o644)
    try:
        os.pwrite(fd, data, offset or 0)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def test_reads_see_unsynced_writes_but_the_disk_does_not(disk: tuple[Path, Path, LazyMount]
                                                         ) -> None:
    backing, mount, fs = disk
    write(mount / "old.txt", b"NEW", offset=0)
    assert (mount / "old.txt").read_bytes() == b"NEW contents\n"
    assert (backing / "old.txt").read_bytes() == b"old contents\n"
    fs.cut()
    fs.unmount()
    assert (backing / "old.txt").read_bytes() == b"old contents\n"


def test_write_without_fsync_is_lost(disk: tuple[Path, Path, LazyMount]) -> None:
    backing, mount, fs = disk
    write(mount / "new.txt", b"x" * 10000)
    fsync_path(mount)  # the name is durable, its data is not
    fs.cut()
    fs.unmount()
    assert (backing / "new.txt").read_bytes() == b""


def test_write_with_fsync_of_file_and_directory_is_kept(disk: tuple[Path, Path, LazyMount]
                                                        ) -> None:
    backing, mount, fs = disk
    data = bytes(range(256)) * 40
    write(mount / "new.txt", data, sync=True)
    fsync_path(mount)
    write(mount / "new.txt", b"later, unsynced", offset=0)
    fs.cut()
    fs.unmount()
    assert (backing / "new.txt").read_bytes() == data


def test_new_name_needs_the_directory_fsync(disk: tuple[Path, Path, LazyMount]) -> None:
    """Chosen rule (strict POSIX): a file's own fsync makes its data durable, not its name."""
    backing, mount, fs = disk
    write(mount / "new.txt", b"data", sync=True)
    fs.cut()
    fs.unmount()
    assert not (backing / "new.txt").exists()


def test_rename_is_durable_only_after_the_directory_fsync(disk: tuple[Path, Path, LazyMount]
                                                          ) -> None:
    backing, mount, fs = disk
    write(mount / "a.tmp", b"first", sync=True)
    os.replace(mount / "a.tmp", mount / "a")
    fsync_path(mount)
    write(mount / "b.tmp", b"second", sync=True)
    os.replace(mount / "b.tmp", mount / "old.txt")  # not followed by a directory fsync
    fs.cut()
    fs.unmount()
    assert sorted(p.name for p in backing.iterdir()) == ["a", "old.txt"]
    assert (backing / "a").read_bytes() == b"first"
    assert (backing / "old.txt").read_bytes() == b"old contents\n"


def test_unlink_and_hard_link(disk: tuple[Path, Path, LazyMount]) -> None:
    backing, mount, fs = disk
    os.link(mount / "old.txt", mount / "twin")
    os.unlink(mount / "old.txt")
    fsync_path(mount)
    write(mount / "twin", b"OLD", offset=0, sync=True)
    os.unlink(mount / "twin")  # not durable: no directory fsync
    fs.cut()
    fs.unmount()
    assert sorted(p.name for p in backing.iterdir()) == ["twin"]
    assert (backing / "twin").read_bytes() == b"OLD contents\n"


def test_truncate_is_pending_until_fsync(disk: tuple[Path, Path, LazyMount]) -> None:
    backing, mount, fs = disk
    os.truncate(mount / "old.txt", 3)
    write(mount / "old.txt", b"!", offset=6)  # extending after a shrink reads zeros between
    assert (mount / "old.txt").read_bytes() == b"old\0\0\0!"
    fs.cut()
    fs.unmount()
    assert (backing / "old.txt").read_bytes() == b"old contents\n"
    fs.start()
    os.truncate(mount / "old.txt", 3)
    write(mount / "old.txt", b"!", offset=6, sync=True)
    fs.cut()
    fs.unmount()
    assert (backing / "old.txt").read_bytes() == b"old\0\0\0!"


def test_torn_write_persists_a_sector_aligned_prefix_of_one_write(
        disk: tuple[Path, Path, LazyMount]) -> None:
    backing, mount, fs = disk
    old = bytes(64 * 1024)
    write(mount / "f", old, sync=True)
    fsync_path(mount)
    new = bytes(range(1, 256)) * 200  # 51000 bytes, no zero byte
    write(mount / "f", new, offset=1000)
    info = fs.cut(torn=True, seed=11)
    fs.unmount()
    torn = info["torn"]
    # The kernel hands a big write() over in pieces (split at page boundaries); the torn
    # one is one of those pieces, inside the write, cut on a sector boundary.
    assert torn is not None and torn["file"] == "f"
    start, length, kept = torn["offset"], torn["length"], torn["kept"]
    assert start >= 1000 and start + length <= 1000 + len(new)
    assert 0 < kept < length and (start + kept) % SECTOR == 0
    piece = new[start - 1000 : start - 1000 + kept]
    on_disk = (backing / "f").read_bytes()
    assert on_disk == old[:start] + piece + old[start + kept:]


def test_every_request_fails_after_the_cut(disk: tuple[Path, Path, LazyMount]) -> None:
    _backing, mount, fs = disk
    fd = os.open(mount / "old.txt", os.O_RDWR)
    fs.cut()
    with pytest.raises(OSError) as caught:
        os.pwrite(fd, b"late", 0)
    assert caught.value.errno == errno.EIO
    with pytest.raises(OSError):
        os.close(fd)  # the flush on close fails too (the descriptor is released anyway)
    with pytest.raises(OSError):
        (mount / "old.txt").read_bytes()


def test_the_next_mount_starts_from_what_survived(disk: tuple[Path, Path, LazyMount]) -> None:
    backing, mount, fs = disk
    (mount / "dir").mkdir()
    write(mount / "dir" / "kept", b"kept", sync=True)
    fsync_path(mount / "dir")
    fsync_path(mount)
    write(mount / "dir" / "lost", b"lost", sync=True)
    fs.cut()
    fs.unmount()
    fs.start()
    assert sorted(p.name for p in (mount / "dir").iterdir()) == ["kept"]
    assert (mount / "dir" / "kept").read_bytes() == b"kept"
    assert sorted(p.name for p in (backing / "dir").iterdir()) == ["kept"]


def test_armed_cut_tears_the_write_it_lands_on(disk: tuple[Path, Path, LazyMount]) -> None:
    backing, mount, fs = disk
    write(mount / "f", bytes(8192), sync=True)
    fsync_path(mount)
    fd = os.open(mount / "f", os.O_WRONLY)
    try:
        os.pwrite(fd, b"a" * 600, 0)  # pending, not the armed one (the 2nd write is)
        fs.request({"op": "arm", "writes": 2, "torn": True, "seed": 5})
        os.pwrite(fd, b"b" * 2048, 0)  # spans sectors but is the 1st counted write
        with pytest.raises(OSError) as caught:
            os.pwrite(fd, b"c" * 4096, 4096)
        assert caught.value.errno == errno.EIO
    finally:
        with pytest.raises(OSError):
            os.close(fd)
    torn = fs.request({"op": "ping"})["cut"]["torn"]
    fs.unmount()
    assert torn["offset"] == 4096 and torn["length"] == 4096
    kept = torn["kept"]
    assert (backing / "f").read_bytes() == bytes(4096) + b"c" * kept + bytes(4096 - kept)
