"""Directories the kiosk makes are durable: each new level's parent is fsync'd."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kiosk import fsutil


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


def test_write_atomic_without_overwrite_keeps_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "receipt"
    target.write_bytes(b"first")
    with pytest.raises(FileExistsError):
        fsutil.write_atomic(target, b"second", 0o644, overwrite=False)
    assert target.read_bytes() == b"first"
    fsutil.write_atomic(target, b"second", 0o644, overwrite=True)
    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["receipt"]


# sys.dont_write_bytecode: under the size limit the interpreter's own cache writes are cut
# short too, and it would leave a truncated .pyc in the checkout for every later process.
FULL_DISK = """
import resource, signal, sys
sys.dont_write_bytecode = True
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # a full disk, for this process
from kiosk.fsutil import write_atomic
try:
    write_atomic(Path(sys.argv[1]), b"n" * 65536, 0o644, overwrite=True)
except OSError as exc:
    print(exc.errno)
"""


def test_write_atomic_on_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(
        tmp_path: Path) -> None:
    import errno
    import subprocess
    import sys

    directory = tmp_path / "stick"
    directory.mkdir()
    target = directory / "photo.jpg"
    target.write_bytes(b"the old photo")
    # The bytecode cache goes to a directory of the test's own, so a truncated .pyc would
    # show there rather than break the checkout for every later process.
    cache = tmp_path / "pycache"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PYTHONPATH": str(Path(__file__).parents[2]), "PYTHONPYCACHEPREFIX": str(cache)}
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(target)], capture_output=True,
                          text=True, timeout=60, check=False, env=env)
    assert done.returncode == 0, done.stderr  # refused with an OSError, not a crash
    assert done.stdout.strip() == str(errno.EFBIG)
    assert target.read_bytes() == b"the old photo"
    assert sorted(p.name for p in directory.iterdir()) == ["photo.jpg"]
    # (the interpreter's start-up, before the limit, caches its standard library there)
    assert list(cache.rglob("fsutil*.pyc")) == []
