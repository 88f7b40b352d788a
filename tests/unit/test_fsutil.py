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
