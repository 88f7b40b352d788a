"""Directories the kiosk makes are durable (each new level's parent fsync'd); whole files
are written atomically, durably or (status files) not."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from kiosk import fsutil
from tests.durability import record_fsyncs, run_on_a_full_disk


def test_make_dirs_fsyncs_the_parent_of_every_new_level(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[Path] = []
    monkeypatch.setattr(fsutil, "fsync_dir", synced.append)
    fsutil.make_dirs(tmp_path / "a" / "b" / "c", mode=0o700)
    assert (tmp_path / "a" / "b" / "c").is_dir()
    assert synced == [tmp_path, tmp_path / "a", tmp_path / "a" / "b"]
    assert (tmp_path / "a" / "b" / "c").stat().st_mode & 0o777 == 0o700


def test_make_dirs_on_an_existing_directory_does_nothing(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[Path] = []
    monkeypatch.setattr(fsutil, "fsync_dir", synced.append)
    fsutil.make_dirs(tmp_path)
    assert synced == []


def test_write_atomic_writes_the_mode_asked_for_and_fsyncs_the_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[Path] = []
    monkeypatch.setattr(fsutil, "fsync_dir", synced.append)
    target = tmp_path / "key"
    fsutil.write_atomic(target, b"secret", 0o600, overwrite=False)
    assert target.read_bytes() == b"secret"
    assert target.stat().st_mode & 0o777 == 0o600
    assert synced == [tmp_path]
    assert [p.name for p in tmp_path.iterdir()] == ["key"]  # no temporary file left


def test_write_atomic_without_a_mode_never_chmods(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``mode=None`` (a file on a USB stick): the umask's modes, and no chmod, which FAT
    refuses (fusefat: ENOSYS; the kernel's vfat: EPERM for a mode its mount does not give)."""
    def refused(fd: int, mode: int) -> None:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(os, "fchmod", refused)
    with pytest.raises(OSError):
        fsutil.write_atomic(tmp_path / "strict", b"x", 0o644, overwrite=True)
    old = os.umask(0o027)
    try:
        fsutil.write_atomic(tmp_path / "on-a-stick.receipts", b"{}", None, overwrite=True)
    finally:
        os.umask(old)
    assert (tmp_path / "on-a-stick.receipts").read_bytes() == b"{}"
    assert (tmp_path / "on-a-stick.receipts").stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["on-a-stick.receipts"]


def test_write_atomic_without_overwrite_keeps_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "receipt"
    target.write_bytes(b"first")
    with pytest.raises(FileExistsError):
        fsutil.write_atomic(target, b"second", 0o644, overwrite=False)
    assert target.read_bytes() == b"first"
    fsutil.write_atomic(target, b"second", 0o644, overwrite=True)
    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["receipt"]


def test_write_atomic_fsyncs_the_file_before_its_rename_then_the_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced = record_fsyncs(monkeypatch)
    fsutil.write_atomic(tmp_path / "key", b"secret", 0o600, overwrite=False)
    assert len(synced) == 2
    assert synced[0].startswith(f"{tmp_path}/.key.tmp-")  # still under its temporary name
    assert synced[1] == str(tmp_path)


@pytest.mark.parametrize("overwrite", [True, False])
def test_write_atomic_not_durable_fsyncs_nothing_and_leaves_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overwrite: bool) -> None:
    synced = record_fsyncs(monkeypatch)
    target = tmp_path / "status.json"
    fsutil.write_atomic(target, b"{}", 0o600, overwrite=overwrite, durable=False)
    fsutil.write_atomic(target, b"{ }", 0o600, overwrite=True, durable=False)
    assert synced == []
    assert target.read_bytes() == b"{ }"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_commit_file_fsyncs_the_file_then_renames_it_then_fsyncs_the_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    temporary = tmp_path / ".export.db.tmp"
    temporary.write_bytes(b"written by a library")
    target = tmp_path / "export.db"
    target.write_bytes(b"old")
    synced = record_fsyncs(monkeypatch)
    fsutil.commit_file(temporary, target, overwrite=True)
    assert synced == [str(temporary), str(tmp_path)]
    assert target.read_bytes() == b"written by a library"
    assert [p.name for p in tmp_path.iterdir()] == ["export.db"]


@pytest.mark.parametrize("hard_links", [True, False])
def test_commit_file_without_overwrite_keeps_an_existing_file_and_removes_the_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hard_links: bool) -> None:
    if not hard_links:  # FAT on a USB stick
        def no_link(source: object, target: object) -> None:
            raise PermissionError(errno.EPERM, "Operation not permitted")
        monkeypatch.setattr(os, "link", no_link)
    temporary = tmp_path / ".export.db.tmp"
    temporary.write_bytes(b"first")
    fsutil.commit_file(temporary, tmp_path / "export.db", overwrite=False)
    temporary.write_bytes(b"second")
    with pytest.raises(FileExistsError):
        fsutil.commit_file(temporary, tmp_path / "export.db", overwrite=False)
    assert (tmp_path / "export.db").read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["export.db"]


FULL_DISK = """
from pathlib import Path
from kiosk.fsutil import write_atomic
try:
    write_atomic(Path(sys.argv[1]), b"n" * 65536, 0o644, overwrite=True,
                 durable=sys.argv[2] == "durable")
except OSError as exc:
    print(exc.errno)
"""


@pytest.mark.parametrize("durable", [True, False])
def test_write_atomic_on_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(
        tmp_path: Path, durable: bool) -> None:
    directory = tmp_path / "stick"
    directory.mkdir()
    target = directory / "photo.jpg"
    target.write_bytes(b"the old photo")
    done = run_on_a_full_disk(FULL_DISK, str(target), "durable" if durable else "not",
                              limit=4096, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr  # refused with an OSError, not a crash
    assert done.stdout.strip() == str(errno.EFBIG)
    assert target.read_bytes() == b"the old photo"
    assert sorted(p.name for p in directory.iterdir()) == ["photo.jpg"]


# -- what a process killed mid-write leaves ---------------------------------------------------
KILLED_MID_WRITE = """
import sys, time
from pathlib import Path
from kiosk import fsutil
def stuck(*args, **kwargs):  # the temp file is written; the rename never comes
    print("written", flush=True)
    time.sleep(60)
fsutil.commit_file = stuck
fsutil.write_atomic(Path(sys.argv[1]), b'{"accepting": true}', 0o600, overwrite=True,
                    durable=False)
"""


def _killed_mid_write(target: Path) -> Path:
    """Run a process that writes ``target`` with write_atomic and SIGKILL it between the
    temp file and the rename, as a power cut would; the temp file it left."""
    import signal
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", KILLED_MID_WRITE, str(target)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "written\n"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    (left,) = target.parent.glob(f".{target.name}.tmp-{child.pid}-*")
    return left


def test_sweep_removes_what_a_killed_writer_left_and_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "power.json"
    target.write_text("{}")
    left = _killed_mid_write(target)
    assert left.read_bytes() == b'{"accepting": true}'
    ours = tmp_path / f".power.json.tmp-{os.getpid()}-0badc0de"  # a live writer's
    ours.write_text("half")
    others = [tmp_path / f".upload-progress.json.tmp-{2 ** 22 + 7}-0badc0de",  # another file's
              tmp_path / ".power.json.tmp-12-notatag!",  # not write_atomic's name
              tmp_path / "power.json.tmp-12-0badc0de"]  # not hidden
    for path in others:
        path.write_text("x")

    assert fsutil.sweep_temporaries(target) == [left]
    assert not left.exists()
    assert ours.exists() and target.read_text() == "{}"
    assert all(path.exists() for path in others)
    assert fsutil.sweep_temporaries(target) == []
    assert fsutil.sweep_temporaries(tmp_path / "missing" / "power.json") == []
