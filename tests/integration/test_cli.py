"""What every `kiosk` verb shares, as a maintainer meets it over SSH (in subprocesses): no
traceback, one line naming what is wrong, an exit status README lists."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kiosk.cli import _os_error_line
from tests.conftest import KIOSK, kiosk_env, write_config


@pytest.mark.parametrize("args", [("queue", "list", "--json"), ("status", "--json"),
                                  ("config", "show"), ("doctor", "--json")])
def test_output_to_a_reader_that_went_away_is_no_traceback(kiosk_config: Path,
                                                           args: tuple[str, ...]) -> None:
    """`kiosk ... | head -1`: head exits after its line; the kiosk stops quietly."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write
    try:
        result = subprocess.run([*KIOSK, *args], env=kiosk_env(kiosk_config),
                                stdout=write_end, stderr=subprocess.PIPE, text=True,
                                timeout=120)
    finally:
        os.close(write_end)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, \
        result.stderr[-2000:]
    assert result.returncode == 1


@pytest.mark.parametrize("args", [("queue", "retry", "--all"), ("upload", "--once"),
                                  ("demo", "--citizens", "1")])
def test_a_data_dir_that_is_a_file_is_named_not_a_traceback(tmp_path: Path,
                                                            args: tuple[str, ...]) -> None:
    (tmp_path / "data").write_text("not a directory\n")
    intake_pub = tmp_path / "intake.pub"
    intake_pub.write_text("ektp-intake-public-key v1\n" + "ab" * 32 + "\n")
    config = write_config(tmp_path, f'[upload]\nintake_key = "{intake_pub}"\n')
    result = subprocess.run([*KIOSK, *args], env=kiosk_env(config), capture_output=True,
                            text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode in (1, 3), result.returncode
    assert str(tmp_path / "data") in result.stderr.splitlines()[-1]
    assert result.stdout == ""


@pytest.mark.parametrize("args", [
    ("hw", "fingerprint", "capture", "--out", "f.png", "--timeout", "-1"),
    ("hw", "fingerprint", "capture", "--out", "f.png", "--timeout", "nan"),
    ("hw", "card", "watch", "--seconds", "nan"),
    ("hw", "card", "watch", "--seconds", "0"),
])
def test_a_wait_that_is_no_positive_number_of_seconds_is_a_usage_error(
        kiosk_config: Path, args: tuple[str, ...]) -> None:
    """`nan` waited for ever, `-1` reported 'no finger within -1 s'."""
    result = subprocess.run([*KIOSK, *args], env=kiosk_env(kiosk_config),
                            cwd=kiosk_config.parent, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "a number of seconds > 0" in result.stderr


@pytest.mark.parametrize("args", [
    ("--citizens", "\u0663"),  # ARABIC-INDIC DIGIT THREE: int() reads it as 3
    ("--citizens", "1_0"),
    ("--citizens", "-1"),
    ("--citizens", "two"),
    ("--citizens", "1", "--seed", "\u0661"),
])
def test_a_count_or_seed_not_in_digits_0_to_9_is_a_usage_error(
        kiosk_config: Path, args: tuple[str, ...]) -> None:
    """No record is made and nothing is printed on stdout for a count nobody meant."""
    result = subprocess.run([*KIOSK, "demo", *args], env=kiosk_env(kiosk_config),
                            cwd=kiosk_config.parent, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "in digits 0-9" in result.stderr and result.stdout == ""


def test_an_os_error_names_its_file_and_blames_the_data_dir_only_for_its_own(
        tmp_path: Path) -> None:
    """The catch-all for an OSError a verb did not handle: a file in the data directory
    names the setting to fix; any other file (a serial port, an --out path) only itself."""
    data = tmp_path / "data"
    inside = OSError(30, "Read-only file system", str(data / "journal.db"))
    assert _os_error_line(inside, data) == (
        f"cannot use {data / 'journal.db'}: Read-only file system (kiosk.data_dir {data} "
        "must be a directory the kiosk can write)")
    elsewhere = OSError(2, "No such file or directory", "/dev/ttyAMA9")
    assert _os_error_line(elsewhere, data) == (
        "cannot use /dev/ttyAMA9: No such file or directory")
    assert _os_error_line(OSError("link down"), data) == "link down"
