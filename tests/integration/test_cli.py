"""What every `kiosk` verb shares, as a maintainer meets it over SSH (in subprocesses): no
traceback, one line naming what is wrong, an exit status README lists."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from kiosk.cli import _os_error_line, _permission_line
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


def test_permission_denied_says_what_to_do_by_where_the_file_is(tmp_path: Path) -> None:
    """In the data directory: its user, or another kiosk.data_dir. Elsewhere under `kiosk
    update` (the releases root, root's on a kiosk): that it needs sudo, not the kiosk user
    that runs it already."""
    data = tmp_path / "data"
    inside = PermissionError(13, "Permission denied", str(data / "journal.db"))
    assert _permission_line(inside, data, "status") == (
        f"permission denied: {data / 'journal.db'} (run as the kiosk user, or set "
        "kiosk.data_dir to a writable directory)")
    lock = PermissionError(13, "Permission denied", "/opt/kiosk/update.lock")
    line = _permission_line(lock, data, "update")
    assert line.startswith("permission denied: /opt/kiosk/update.lock: ")
    assert "needs root: sudo kiosk update" in line and "kiosk user" not in line
    out = PermissionError(13, "Permission denied", "/root/shot.jpg")
    assert _permission_line(out, data, "hw") == (
        "permission denied: /root/shot.jpg (this user may not use it)")
    assert _permission_line(PermissionError("no"), data, "update") == "permission denied: no"


def test_kiosk_update_without_root_says_it_needs_sudo(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    """As a user (the kiosk user: /usr/local/bin/kiosk before it let update keep root) on a
    releases root of root's: permission denied on its lock. Simulated: the tests may run as
    root, whom permissions do not stop."""
    from kiosk.cli import main
    from kiosk.update import flow
    from kiosk.update.releases import Releases

    config = write_config(tmp_path)
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("KIOSK_CONFIG", str(config))
    monkeypatch.setattr(flow.os, "geteuid", lambda: 1000)
    root = tmp_path / "opt"

    def refused(self: Releases) -> None:
        raise PermissionError(13, "Permission denied", str(self.root / "update.lock"))

    monkeypatch.setattr(Releases, "lock", refused)
    assert main(["update", "--rollback", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"kiosk: permission denied: {root / 'update.lock'}: ")
    assert "sudo kiosk update" in err and "run as the kiosk user" not in err
    assert len(err.splitlines()) == 1


UNREADABLE = "cannot read the configuration {}: permission denied; run with sudo"


def test_a_config_behind_a_directory_this_user_may_not_enter_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """/etc/kiosk is 0750 root:kiosk: a plain user's `kiosk status` got a traceback from
    Path.exists(). Simulated (the tests may run as root): exists() on the system config, and
    opening a --config file, raise PermissionError as they do for such a user."""
    import pathlib

    from kiosk.cli import main
    from kiosk.core.exits import EXIT_CONFIG

    system = tmp_path / "etc-kiosk" / "kiosk.toml"
    user = write_config(tmp_path)
    monkeypatch.setenv("KIOSK_SYSTEM_CONFIG", str(system))
    real_exists, real_open = pathlib.Path.exists, pathlib.Path.open

    def exists(self: Path, *args: object, **kwargs: object) -> bool:
        if self == system:
            raise PermissionError(13, "Permission denied", str(self))
        return real_exists(self, *args, **kwargs)

    def open_(self: Path, *args: object, **kwargs: object) -> object:
        if self == user:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "exists", exists)
    assert main(["status"]) == EXIT_CONFIG
    assert capsys.readouterr().err == (
        f"kiosk: configuration error: {UNREADABLE.format(system)}\n")
    assert main(["doctor", "--json"]) == 1
    config_finding = json.loads(capsys.readouterr().out)[0]
    assert (config_finding["check"], config_finding["detail"], config_finding["fix"]) == (
        "config", UNREADABLE.format(system), "sudo kiosk doctor")
    monkeypatch.setattr(pathlib.Path, "exists", real_exists)
    monkeypatch.setattr(pathlib.Path, "open", open_)
    assert main(["config", "check", "--config", str(user)]) == EXIT_CONFIG
    assert capsys.readouterr().err == f"kiosk: configuration error: {UNREADABLE.format(user)}\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file of mode 0 all the same; the "
                                              "simulated test above covers it")
def test_a_config_in_a_directory_of_mode_0_is_one_line_not_a_traceback(tmp_path: Path
                                                                       ) -> None:
    closed = tmp_path / "etc-kiosk"
    closed.mkdir()
    system = closed / "kiosk.toml"
    system.write_text("")
    closed.chmod(0)
    try:
        env = {**kiosk_env(write_config(tmp_path)), "KIOSK_SYSTEM_CONFIG": str(system)}
        result = subprocess.run([*KIOSK, "status"], capture_output=True, text=True,
                                timeout=60, env=env)
    finally:
        closed.chmod(0o755)
    assert result.stderr == f"kiosk: configuration error: {UNREADABLE.format(system)}\n"
    assert result.returncode == 2


def test_queue_retry_with_ids_and_all_says_not_both(kiosk_config: Path) -> None:
    result = subprocess.run([*KIOSK, "queue", "retry", "--all", "test-01-0000002-abcdef"],
                            env=kiosk_env(kiosk_config), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "name the record ids, or --all, not both" in result.stderr
