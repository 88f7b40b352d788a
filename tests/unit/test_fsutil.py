"""Directories the kiosk makes are durable: each new level's parent is fsync'd."""

from __future__ import annotations

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
