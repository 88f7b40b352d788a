"""A FUSE file system that loses what was not fsync'd when the power is "cut" (like LazyFS).

Run as a process of its own (the kiosk under test is another process, so the file system
cannot live in it)::

    python tests/powercut/lazyfs.py BACKING MOUNTPOINT --control SOCKET

and drive it with :class:`LazyMount` from the tests.

Model
-----
``BACKING`` (B) is what is on "disk": after a cut it holds exactly what a real disk would
hold, as ordinary files and directories, so it can be checked without FUSE. Everything is
served from an in-memory model of a page cache over it:

* File data. ``write`` and ``truncate`` change only the in-memory pages of the file (4 KiB
  pages, loaded from disk on first touch); reads see those pages, like a page cache.
  ``fsync``/``fdatasync`` of a file writes its dirty pages and its size to disk. File data
  on disk lives in a store directory ``BACKING.lazyfs-store/<inode>`` next to B; every name
  a file has on disk is a hard link to its store file, so data fsync'd under one name is
  durable under every durable name of that inode, whatever its names are now.
* Names. ``create``, ``mkdir``, ``link``, ``unlink``, ``rmdir`` and ``rename`` change only
  the in-memory directory. A directory's entries become durable when *that directory* is
  fsync'd (``fsyncdir``); the parent's fsync is what makes a new file or directory, an
  unlink or a rename survive. This is the POSIX rule, and the strict one: ext4 in
  ``data=ordered`` also happens to commit a new file's entry with the file's own fsync,
  XFS and btrfs do not promise it. SQLite fsyncs the directory after creating a WAL or
  rollback journal (its ``UNIXFILE_DIRSYNC``), the kiosk's journal fsyncs it after creating
  the database, and its key files are written temp file + fsync + link/rename + fsync of the
  directory, so everything under test is meant to be durable under the strict rule.
* Metadata: ``chmod`` goes to disk at once (it is applied to the store file); times and
  owners are kept in memory only. Neither matters to what is tested.
* Cut (control command ``cut``): at one instant, under the same lock every request takes,
  every later request fails with EIO, and everything not fsync'd is dropped. With
  ``torn``, one pending write (of a file that has a name on disk) is first persisted
  partially: a prefix ending on a 512-byte sector boundary strictly inside the write, the
  way a disk loses power half-way through a multi-sector write. Bytes outside the write
  are never touched (SQLite's "powersafe overwrite" assumption holds).

Control channel: a UNIX socket (``--control``), one JSON request line, one JSON reply line:
``{"op": "ping"}``, ``{"op": "stats"}``,
``{"op": "cut", "torn": true, "seed": 7, "spare": ["-shm"]}`` (cut now, tearing a random
pending write), ``{"op": "arm", "writes": 3, "torn": true, "seed": 7, "spare": ["-shm"]}``
(cut during the 3rd coming multi-sector write, tearing that write: power rarely fails while
nothing is pending, so this is how torn writes are made to land). The process exits when the
mount point is unmounted (``fusermount3 -u``).

Not modelled (the kiosk does not use them): symlinks, special files, xattrs, ``O_DIRECT``,
``sync_file_range``, ``RENAME_NOREPLACE``/``RENAME_EXCHANGE`` flags. POSIX and BSD locks are
left to the kernel (no lock callbacks), which is exact for processes of one machine.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import json
import logging
import os
import random
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("lazyfs")

PAGE = 4096
SECTOR = 512


@dataclass(eq=False)
class Node:
    """An inode: a directory (``entries``) or a regular file (pages over its store file)."""

    ino: int
    mode: int
    uid: int = 0
    gid: int = 0
    times: list[int] = field(default_factory=lambda: [time.time_ns()] * 3)  # atime mtime ctime
    nlink: int = 0
    # directories: entries now, and as of the last fsyncdir (what is on disk)
    entries: dict[str, Node] | None = None
    dur_entries: dict[str, Node] | None = None
    # files
    fd: int = -1  # the store file, opened read-write
    size: int = 0  # size now
    dur_size: int = 0  # size on disk
    visible: int = 0  # store bytes at or past this offset read as zero (pending truncation)
    pages: dict[int, bytearray] = field(default_factory=dict)  # dirty pages
    pending: list[tuple[int, bytes]] = field(default_factory=list)  # writes since last fsync
    dirty: bool = False
    opens: int = 0

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


class LazyState:
    """The model; every public method runs under ``self.lock`` (the FUSE loop is
    single-threaded, the control thread is the only other caller)."""

    def __init__(self, backing: Path) -> None:
        self.backing = backing
        self.store = backing.with_name(backing.name + ".lazyfs-store")
        self.lock = threading.Lock()
        self.frozen = False
        self.armed: dict[str, Any] | None = None
        self.last_cut: dict[str, Any] | None = None
        self.stats = {"writes": 0, "fsyncs": 0, "fsyncdirs": 0, "reads": 0}
        self._next_ino = 1
        self._handles: dict[int, Node] = {}
        self._next_fh = 1
        self._load()

    # -- loading what is on disk ------------------------------------------------------------
    def _load(self) -> None:
        if self.store.exists():
            shutil.rmtree(self.store)  # files of a previous run that never got a durable name
        self.store.mkdir()
        self.root = self._load_dir(self.backing, {})

    def _new_ino(self) -> int:
        ino, self._next_ino = self._next_ino, self._next_ino + 1
        return ino

    def _load_dir(self, path: Path, seen: dict[tuple[int, int], Node]) -> Node:
        info = path.stat()
        node = Node(self._new_ino(), info.st_mode, info.st_uid, info.st_gid, entries={}, nlink=2)
        for child in sorted(path.iterdir()):
            cinfo = child.lstat()
            if stat.S_ISDIR(cinfo.st_mode):
                sub = self._load_dir(child, seen)
                node.nlink += 1
            elif stat.S_ISREG(cinfo.st_mode):
                key = (cinfo.st_dev, cinfo.st_ino)
                sub = seen.get(key)
                if sub is None:
                    sub = Node(self._new_ino(), cinfo.st_mode, cinfo.st_uid, cinfo.st_gid)
                    os.link(child, self._store_path(sub))
                    self._open_store(sub)
                    sub.size = sub.dur_size = sub.visible = cinfo.st_size
                    seen[key] = sub
                sub.nlink += 1
            else:
                raise OSError(errno.EINVAL, f"lazyfs models files and directories only: {child}")
            node.entries[child.name] = sub
        node.dur_entries = dict(node.entries)
        return node

    def _store_path(self, node: Node) -> Path:
        return self.store / str(node.ino)

    def _open_store(self, node: Node) -> None:
        node.fd = os.open(self._store_path(node), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.fchmod(node.fd, stat.S_IMODE(node.mode))

    # -- lookups ---------------------------------------------------------------------------
    def check(self) -> None:
        if self.frozen:
            raise OSError(errno.EIO, "power is cut")

    def lookup(self, path: str) -> Node:
        node = self.root
        for part in [p for p in path.split("/") if p]:
            if node.entries is None:
                raise OSError(errno.ENOTDIR, path)
            found = node.entries.get(part)
            if found is None:
                raise OSError(errno.ENOENT, path)
            node = found
        return node

    def parent_of(self, path: str) -> tuple[Node, str]:
        head, _, name = path.rstrip("/").rpartition("/")
        parent = self.lookup(head or "/")
        if parent.entries is None:
            raise OSError(errno.ENOTDIR, path)
        return parent, name

    def entry_of(self, path: str) -> tuple[Node, str, Node]:
        """The parent, name and node of an existing ``path`` (ENOENT when there is none)."""
        parent, name = self.parent_of(path)
        node = parent.entries.get(name)
        if node is None:
            raise OSError(errno.ENOENT, path)
        return parent, name, node

    def node_for(self, path: str | None, fh: int | None) -> Node:
        if fh:
            node = self._handles.get(fh)
            if node is not None:
                return node
        if path is None:
            raise OSError(errno.EBADF, "no path and no handle")
        return self.lookup(path)

    # -- handles -----------------------------------------------------------------------------
    def open_handle(self, node: Node) -> int:
        fh, self._next_fh = self._next_fh, self._next_fh + 1
        self._handles[fh] = node
        node.opens += 1
        return fh

    def release(self, fh: int) -> None:
        node = self._handles.pop(fh, None)
        if node is not None:
            node.opens -= 1

    # -- namespace ---------------------------------------------------------------------------
    def create(self, path: str, mode: int) -> Node:
        parent, name = self.parent_of(path)
        existing = parent.entries.get(name)
        if existing is not None:
            return existing
        node = Node(self._new_ino(), stat.S_IFREG | stat.S_IMODE(mode), *self._caller())
        self._open_store(node)
        node.nlink = 1
        parent.entries[name] = node
        self._touch(parent)
        return node

    def mkdir(self, path: str, mode: int) -> None:
        parent, name = self.parent_of(path)
        if name in parent.entries:
            raise OSError(errno.EEXIST, path)
        node = Node(self._new_ino(), stat.S_IFDIR | stat.S_IMODE(mode), *self._caller(),
                    entries={}, dur_entries={}, nlink=2)
        parent.entries[name] = node
        parent.nlink += 1
        self._touch(parent)

    def unlink(self, path: str) -> None:
        parent, name, node = self.entry_of(path)
        if node.is_dir:
            raise OSError(errno.EISDIR, path)
        del parent.entries[name]
        node.nlink -= 1
        self._touch(parent)

    def rmdir(self, path: str) -> None:
        parent, name, node = self.entry_of(path)
        if not node.is_dir:
            raise OSError(errno.ENOTDIR, path)
        if node.entries:
            raise OSError(errno.ENOTEMPTY, path)
        del parent.entries[name]
        parent.nlink -= 1
        self._touch(parent)

    def rename(self, old: str, new: str) -> None:
        src_parent, src_name, node = self.entry_of(old)
        dst_parent, dst_name = self.parent_of(new)
        target = dst_parent.entries.get(dst_name)
        if target is node:
            return
        if target is not None:
            if target.is_dir != node.is_dir:
                raise OSError(errno.EISDIR if target.is_dir else errno.ENOTDIR, new)
            if target.is_dir and target.entries:
                raise OSError(errno.ENOTEMPTY, new)
            if target.is_dir:
                dst_parent.nlink -= 1
            else:
                target.nlink -= 1
        del src_parent.entries[src_name]
        dst_parent.entries[dst_name] = node
        if node.is_dir:
            src_parent.nlink -= 1
            dst_parent.nlink += 1
        self._touch(src_parent)
        self._touch(dst_parent)

    def link(self, new: str, existing: str) -> None:
        node = self.lookup(existing)
        if node.is_dir:
            raise OSError(errno.EPERM, existing)
        parent, name = self.parent_of(new)
        if name in parent.entries:
            raise OSError(errno.EEXIST, new)
        parent.entries[name] = node
        node.nlink += 1
        self._touch(parent)

    # -- data ----------------------------------------------------------------------------------
    def _page(self, node: Node, index: int) -> bytearray:
        page = node.pages.get(index)
        if page is None:
            start = index * PAGE
            limit = min(node.visible, node.dur_size)
            page = bytearray(PAGE)
            if start < limit:
                data = os.pread(node.fd, min(PAGE, limit - start), start)
                page[: len(data)] = data
            node.pages[index] = page
        return page

    def read(self, node: Node, size: int, offset: int) -> bytes:
        end = min(offset + size, node.size)
        if offset >= end:
            return b""
        out = bytearray()
        limit = min(node.visible, node.dur_size)
        pos = offset
        while pos < end:
            index, within = divmod(pos, PAGE)
            take = min(PAGE - within, end - pos)
            page = node.pages.get(index)
            if page is not None:
                out += page[within : within + take]
            else:
                chunk = os.pread(node.fd, min(take, limit - pos), pos) if pos < limit else b""
                out += chunk + bytes(take - len(chunk))
            pos += take
        self.stats["reads"] += 1
        return bytes(out)

    def write(self, node: Node, data: bytes, offset: int) -> int:
        pos, view = offset, memoryview(data)
        while view:
            index, within = divmod(pos, PAGE)
            take = min(PAGE - within, len(view))
            self._page(node, index)[within : within + take] = view[:take]
            view, pos = view[take:], pos + take
        node.size = max(node.size, offset + len(data))
        node.pending.append((offset, bytes(data)))
        node.dirty = True
        node.times[1] = node.times[2] = time.time_ns()
        self.stats["writes"] += 1
        self._maybe_fire(node, offset, data)
        return len(data)

    def truncate(self, node: Node, length: int) -> None:
        if node.is_dir:
            raise OSError(errno.EISDIR, "truncate")
        if length < node.size:
            for index in [i for i in node.pages if i * PAGE >= length]:
                del node.pages[index]
            index, within = divmod(length, PAGE)
            if within and index in node.pages:
                node.pages[index][within:] = bytes(PAGE - within)
        # store bytes past the smaller of the old and new size must read as zeros from now on
        node.visible = min(node.visible, length, node.size)
        node.size = length
        node.dirty = True
        node.times[1] = node.times[2] = time.time_ns()

    def fsync(self, node: Node) -> None:
        self.stats["fsyncs"] += 1
        if node.is_dir:
            return
        if not node.dirty:
            return
        if node.visible < node.dur_size:
            os.ftruncate(node.fd, node.visible)
        for index, page in sorted(node.pages.items()):
            start = index * PAGE
            if start < node.size:
                os.pwrite(node.fd, bytes(page[: min(PAGE, node.size - start)]), start)
        os.ftruncate(node.fd, node.size)
        node.pages.clear()
        node.pending.clear()
        node.dur_size = node.visible = node.size
        node.dirty = False

    def fsyncdir(self, node: Node) -> None:
        self.stats["fsyncdirs"] += 1
        if node.entries is None:
            raise OSError(errno.ENOTDIR, "fsyncdir")
        node.dur_entries = dict(node.entries)
        self._materialize(self.root, self.backing)

    def _materialize(self, node: Node, path: Path) -> None:
        """Make the directory tree under ``path`` what the durable entries say."""
        want = node.dur_entries or {}
        for name in os.listdir(path):
            child_path = path / name
            info = child_path.lstat()
            child = want.get(name)
            keep = child is not None and (
                child.is_dir if stat.S_ISDIR(info.st_mode)
                else (not child.is_dir and info.st_ino == os.fstat(child.fd).st_ino))
            if not keep:
                if stat.S_ISDIR(info.st_mode):
                    shutil.rmtree(child_path)
                else:
                    child_path.unlink()
        for name, child in want.items():
            child_path = path / name
            if child.is_dir:
                if not child_path.exists():
                    child_path.mkdir()
                os.chmod(child_path, stat.S_IMODE(child.mode))
                self._materialize(child, child_path)
            elif not child_path.exists():
                os.link(self._store_path(child), child_path)

    def chmod(self, node: Node, mode: int) -> None:
        node.mode = stat.S_IFMT(node.mode) | stat.S_IMODE(mode)
        if not node.is_dir:
            os.fchmod(node.fd, stat.S_IMODE(mode))
        node.times[2] = time.time_ns()

    def getattr(self, node: Node) -> dict[str, Any]:
        size = node.size if not node.is_dir else 4096
        return {
            "st_mode": node.mode, "st_ino": node.ino, "st_nlink": max(node.nlink, 0),
            "st_uid": node.uid, "st_gid": node.gid, "st_size": size,
            "st_blocks": (size + 511) // 512, "st_blksize": PAGE,
            "st_atime": node.times[0], "st_mtime": node.times[1], "st_ctime": node.times[2],
        }

    def _touch(self, directory: Node) -> None:
        directory.times[1] = directory.times[2] = time.time_ns()

    @staticmethod
    def _caller() -> tuple[int, int]:
        try:
            import mfusepy

            uid, gid, _pid = mfusepy.fuse_get_context()
            return uid, gid
        except Exception:  # outside a request
            return os.getuid(), os.getgid()

    # -- power cut -----------------------------------------------------------------------------
    def _durable_files(self) -> set[Node]:
        found: set[Node] = set()

        def walk(node: Node) -> None:
            for child in (node.dur_entries or {}).values():
                if child.is_dir:
                    walk(child)
                else:
                    found.add(child)

        walk(self.root)
        return found

    @staticmethod
    def _tearable(off: int, data: bytes) -> bool:
        return (off + len(data) - 1) // SECTOR > off // SECTOR  # spans a sector boundary

    def _qualifies(self, node: Node, spare: tuple[str, ...]) -> bool:
        if node not in self._durable_files():
            return False
        return not (spare and self._durable_name(node).endswith(spare))

    def arm(self, *, writes: int, torn: bool, seed: int, spare: tuple[str, ...]) -> None:
        """Cut the power during the ``writes``-th coming write (spanning two sectors, to a
        file with a name on disk not ending with ``spare``); with ``torn``, that very write
        is the one that half-reaches the disk. The write itself fails with EIO."""
        self.armed = {"writes": writes, "torn": torn, "seed": seed, "spare": spare}

    def _maybe_fire(self, node: Node, off: int, data: bytes) -> None:
        armed = self.armed
        if armed is None or not self._tearable(off, data) or not self._qualifies(
                node, armed["spare"]):
            return
        armed["writes"] -= 1
        if armed["writes"] > 0:
            return
        self.armed = None
        self.last_cut = self.cut(torn=armed["torn"], seed=armed["seed"], spare=armed["spare"],
                                 victim=(node, off, data))
        raise OSError(errno.EIO, "power cut during this write")

    def cut(self, *, torn: bool, seed: int, spare: tuple[str, ...] = (),
            victim: tuple[Node, int, bytes] | None = None) -> dict[str, Any]:
        """Freeze and drop everything not fsync'd; optionally tear one pending write:
        ``victim``, or a random one (not of a file whose on-disk name ends with ``spare``)."""
        self.frozen = True
        self.armed = None
        rng = random.Random(seed)
        torn_info = None
        if torn:
            candidates = [victim] if victim else [
                (node, off, data) for node in sorted(self._durable_files(), key=lambda n: n.ino)
                if self._qualifies(node, spare)
                for off, data in node.pending if self._tearable(off, data)
            ]
            if candidates:
                node, off, data = rng.choice(candidates)
                boundaries = range((off // SECTOR + 1) * SECTOR, off + len(data), SECTOR)
                end = rng.choice(boundaries)
                os.pwrite(node.fd, data[: end - off], off)
                node.dur_size = max(node.dur_size, end)
                torn_info = {"file": self._durable_name(node), "offset": off,
                             "length": len(data), "kept": end - off}
        dropped = sum(len(n.pending) for n in self._all_files())
        for node in self._all_files():
            with contextlib.suppress(OSError):
                os.close(node.fd)
            node.fd = -1
        shutil.rmtree(self.store, ignore_errors=True)
        return {"torn": torn_info, "dropped_writes": dropped}

    def _all_files(self) -> Iterator[Node]:
        seen: set[Node] = set()

        def walk(node: Node) -> Iterator[Node]:
            for child in list((node.entries or {}).values()) + list(
                    (node.dur_entries or {}).values()):
                if child.is_dir:
                    yield from walk(child)
                elif child not in seen:
                    seen.add(child)
                    yield child

        yield from walk(self.root)
        for node in self._handles.values():
            if node not in seen and not node.is_dir:
                seen.add(node)
                yield node

    def _durable_name(self, target: Node) -> str:
        def walk(node: Node, prefix: str) -> str | None:
            for name, child in (node.dur_entries or {}).items():
                if child is target:
                    return prefix + name
                if child.is_dir:
                    found = walk(child, prefix + name + "/")
                    if found:
                        return found
            return None

        return walk(self.root, "") or "?"


def make_operations(state: LazyState) -> Any:
    """The mfusepy Operations object serving ``state`` (mfusepy imported only here)."""
    import mfusepy

    class Ops(mfusepy.Operations):
        use_ns = True

        def __getattribute__(self, name: str) -> Any:
            # Our own request handlers run under the model's lock and fail once the power
            # is cut; the base class's placeholders stay as they are (mfusepy leaves those
            # callbacks unset, so locks stay with the kernel).
            attr = super().__getattribute__(name)
            if name not in Ops.__dict__ or not callable(attr):
                return attr

            @functools.wraps(attr)
            def locked(*args: Any, **kwargs: Any) -> Any:
                with state.lock:
                    state.check()
                    try:
                        return attr(*args, **kwargs)
                    except OSError as exc:
                        raise mfusepy.FuseOSError(exc.errno or errno.EIO) from exc

            return locked

        def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
            return state.getattr(state.node_for(path, fh))

        def readdir(self, path: str, fh: int) -> list[str]:
            node = state.lookup(path)
            if node.entries is None:
                raise OSError(errno.ENOTDIR, path)
            return [".", "..", *node.entries]

        def opendir(self, path: str) -> int:
            state.lookup(path)
            return 0

        def releasedir(self, path: str, fh: int) -> int:
            return 0

        def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
            state.fsyncdir(state.lookup(path))
            return 0

        def open(self, path: str, flags: int) -> int:
            node = state.lookup(path)
            if flags & os.O_TRUNC and not node.is_dir:
                state.truncate(node, 0)
            return state.open_handle(node)

        def create(self, path: str, mode: int, flags: int = 0) -> int:
            return state.open_handle(state.create(path, mode))

        def release(self, path: str, fh: int) -> int:
            state.release(fh)
            return 0

        def flush(self, path: str, fh: int) -> int:
            return 0

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            return state.read(state.node_for(path, fh), size, offset)

        def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
            return state.write(state.node_for(path, fh), data, offset)

        def truncate(self, path: str, length: int, fh: int | None = None) -> int:
            state.truncate(state.node_for(path, fh), length)
            return 0

        def fsync(self, path: str, datasync: int, fh: int) -> int:
            state.fsync(state.node_for(path, fh))
            return 0

        def mkdir(self, path: str, mode: int) -> int:
            state.mkdir(path, mode)
            return 0

        def unlink(self, path: str) -> int:
            state.unlink(path)
            return 0

        def rmdir(self, path: str) -> int:
            state.rmdir(path)
            return 0

        def rename(self, old: str, new: str) -> int:
            state.rename(old, new)
            return 0

        def link(self, target: str, source: str) -> int:
            state.link(target, source)
            return 0

        def chmod(self, path: str, mode: int) -> int:
            state.chmod(state.lookup(path), mode)
            return 0

        def chown(self, path: str, uid: int, gid: int) -> int:
            node = state.lookup(path)
            node.uid = node.uid if uid == -1 else uid
            node.gid = node.gid if gid == -1 else gid
            return 0

        def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
            node = state.lookup(path)
            now = time.time_ns()
            node.times[0], node.times[1] = times if times else (now, now)
            return 0

        def access(self, path: str, amode: int) -> int:
            state.lookup(path)
            return 0

        def statfs(self, path: str) -> dict[str, int]:
            info = os.statvfs(state.backing)
            return {key: getattr(info, key) for key in (
                "f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree",
                "f_favail", "f_namemax")}

    return Ops()


def serve_control(state: LazyState, sock_path: Path) -> None:
    """Answer control requests on a UNIX socket, one JSON line each (a daemon thread)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        sock_path.unlink()
    server.bind(str(sock_path))
    server.listen(4)

    def loop() -> None:
        while True:
            conn, _ = server.accept()
            with conn, conn.makefile("rwb") as stream:
                request = json.loads(stream.readline() or b"{}")
                with state.lock:
                    op = request.get("op")
                    if op == "ping":
                        reply: dict[str, Any] = {"ok": True, "frozen": state.frozen,
                                                 "cut": state.last_cut}
                    elif op == "arm":
                        state.arm(writes=int(request.get("writes", 1)),
                                  torn=bool(request.get("torn")),
                                  seed=int(request.get("seed", 0)),
                                  spare=tuple(request.get("spare", ())))
                        reply = {"ok": True}
                    elif op == "stats":
                        reply = {"ok": True, **state.stats}
                    elif op == "cut":
                        state.last_cut = state.cut(
                            torn=bool(request.get("torn")), seed=int(request.get("seed", 0)),
                            spare=tuple(request.get("spare", ())))
                        reply = {"ok": True, **state.last_cut}
                    else:
                        reply = {"ok": False, "error": f"unknown op {op!r}"}
                stream.write(json.dumps(reply).encode() + b"\n")
                stream.flush()

    threading.Thread(target=loop, name="lazyfs-control", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backing", type=Path)
    parser.add_argument("mountpoint", type=Path)
    parser.add_argument("--control", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    import mfusepy

    state = LazyState(args.backing.resolve())
    serve_control(state, args.control)
    # Single-threaded loop: requests are served in order, so a cut happens between two
    # requests. No writeback cache (libfuse 3 leaves it off): every write() reaches us.
    mfusepy.FUSE(make_operations(state), str(args.mountpoint), foreground=True, nothreads=True,
                 hard_remove=True, fsname="lazyfs")
    return 0


# -- test-side helper --------------------------------------------------------------------------
def is_mounted(path: Path) -> bool:
    """Whether ``path`` is a mount point, from /proc/self/mountinfo (no request to the FS)."""
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        for line in info:
            point = line.split()[4].replace("\\040", " ").replace("\\011", "\t")
            if point == target:
                return True
    return False


class LazyMount:
    """Start the file system in its own process, send it control requests, unmount it.

    Example::

        with LazyMount(backing, mountpoint, control) as fs:
            ...                                  # the kiosk works in ``mountpoint``
            fs.cut(torn=True, seed=3)            # power lost: unsynced state dropped
        # unmounted; ``backing`` is what survived
    """

    def __init__(self, backing: Path, mountpoint: Path, control: Path) -> None:
        self.backing, self.mountpoint, self.control = backing, mountpoint, control
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = control.with_suffix(".log")

    def __enter__(self) -> LazyMount:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unmount()

    def start(self, timeout: float = 20.0) -> None:
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.control.unlink()
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), str(self.backing),
                 str(self.mountpoint), "--control", str(self.control)],
                stdout=log_file, stderr=log_file)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lazyfs exited with {self.proc.returncode}: "
                                   f"{self.log_path.read_text()[-2000:]}")
            if is_mounted(self.mountpoint) and self.control.exists():
                with contextlib.suppress(OSError):
                    self.request({"op": "ping"}, timeout=2.0)
                    return
            time.sleep(0.02)
        self.unmount()
        raise TimeoutError(f"lazyfs did not mount {self.mountpoint} within {timeout} s")

    def request(self, message: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(self.control))
            conn.sendall(json.dumps(message).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        reply = json.loads(data)
        if not reply.get("ok"):
            raise RuntimeError(f"lazyfs refused {message}: {reply}")
        return reply

    def cut(self, *, torn: bool = False, seed: int = 0, spare: tuple[str, ...] = ()
            ) -> dict[str, Any]:
        """Cut the power now: every later request fails, unsynced state is gone. With
        ``torn``, a prefix of one pending write survives (never of a file whose name ends
        with one of ``spare``). Returns ``{"torn": {file, offset, length, kept} | None,
        "dropped_writes": n}``."""
        return self.request({"op": "cut", "torn": torn, "seed": seed, "spare": list(spare)})

    def cut_during_write(self, *, writes: int = 1, torn: bool = True, seed: int = 0,
                         spare: tuple[str, ...] = (), timeout: float = 15.0
                         ) -> dict[str, Any] | None:
        """Cut the power during the ``writes``-th coming multi-sector write (see
        ``LazyState.arm``); wait up to ``timeout`` s for it. Returns the cut's report, or
        None if no such write came (then the power was cut at the timeout, untorn)."""
        self.request({"op": "arm", "writes": writes, "torn": torn, "seed": seed,
                      "spare": list(spare)})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self.request({"op": "ping"})
            if reply["frozen"]:
                return reply["cut"]
            time.sleep(0.005)
        self.cut(torn=False)
        return None

    def stats(self) -> dict[str, Any]:
        return self.request({"op": "stats"})

    def unmount(self, timeout: float = 20.0) -> None:
        """Unmount (lazily if busy) and wait for the file system process to end."""
        if self.proc is None:
            return
        fusermount = shutil.which("fusermount3") or shutil.which("fusermount") or "fusermount3"
        if is_mounted(self.mountpoint):  # not os.path.ismount: a cut FS fails its stat()
            done = subprocess.run([fusermount, "-u", str(self.mountpoint)],
                                  capture_output=True, timeout=timeout)
            if done.returncode != 0:
                subprocess.run([fusermount, "-u", "-z", str(self.mountpoint)],
                               capture_output=True, timeout=timeout)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)
        self.proc = None


if __name__ == "__main__":
    sys.exit(main())
