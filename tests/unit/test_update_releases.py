"""The pieces of ``kiosk update`` that need no venv: sources, the layout, links, the lock.
(The whole update, with real releases: tests/integration/test_update.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from kiosk.update.build import Installer, Source, site_packages, wheel_version
from kiosk.update.flow import _nothing_new
from kiosk.update.proc import Outcome, Runner
from kiosk.update.releases import (
    RELEASE_FILE,
    STATE_FILE,
    Releases,
    UpdateBusy,
    UpdateFailed,
)
from tests.durability import record_fsyncs


def _release(root: Path, name: str, *, complete: bool = True) -> Path:
    path = root / "releases" / name
    (path / "bin").mkdir(parents=True)
    if complete:
        (path / RELEASE_FILE).write_text(json.dumps({"version": name.split("-")[0]}))
    return path


@pytest.mark.parametrize(("text", "url", "ref"), [
    ("git+file:///srv/kiosk.git@v0.2.0", "file:///srv/kiosk.git", "v0.2.0"),
    ("git+https://example.invalid/kiosk.git", "https://example.invalid/kiosk.git", "HEAD"),
    ("git+ssh://git@example.invalid/kiosk.git@main", "ssh://git@example.invalid/kiosk.git",
     "main"),
    ("git+ssh://git@example.invalid/kiosk.git", "ssh://git@example.invalid/kiosk.git", "HEAD"),
])
def test_update_source_parses_git_url_and_ref(text: str, url: str, ref: str) -> None:
    source = Source.parse(text)
    assert (source.git_url, source.git_ref, source.wheel) == (url, ref, None)


def test_update_source_refuses_what_is_not_a_wheel_or_git(tmp_path: Path) -> None:
    with pytest.raises(UpdateFailed, match="neither a wheel file"):
        Source.parse(str(tmp_path / "kiosk.tar.gz"))
    with pytest.raises(UpdateFailed, match="no such wheel file"):
        Source.parse(str(tmp_path / "ektp_kiosk-0.2.0-py3-none-any.whl"))
    assert wheel_version(Path("ektp_kiosk-0.2.0-py3-none-any.whl")) == "0.2.0"
    with pytest.raises(UpdateFailed, match="not a kiosk wheel"):
        wheel_version(Path("numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.whl"))


def test_update_links_are_relative_and_name_complete_releases_only(tmp_path: Path) -> None:
    releases = Releases(tmp_path)
    a = releases.get(_release(tmp_path, "0.1.0-aaaa").name)
    _release(tmp_path, "0.2.0-bbbb", complete=False)
    assert a is not None and releases.get("0.2.0-bbbb") is None
    releases.point("current", a)
    assert os.readlink(tmp_path / "current") == "releases/0.1.0-aaaa"
    assert releases.current() == a and releases.previous() is None
    assert [r.name for r in releases.all()] == ["0.1.0-aaaa"]
    assert [p.name for p in releases.incomplete()] == ["0.2.0-bbbb"]
    assert not list(tmp_path.glob(".current*"))  # no temporary link left behind


def test_update_prune_keeps_current_previous_and_removes_the_rest(tmp_path: Path) -> None:
    releases = Releases(tmp_path)
    for name in ("0.1.0-aaaa", "0.2.0-bbbb", "0.3.0-cccc"):
        _release(tmp_path, name)
    _release(tmp_path, "0.4.0-dddd", complete=False)
    releases.point("current", releases.get("0.3.0-cccc"))
    releases.point("previous", releases.get("0.2.0-bbbb"))
    assert sorted(releases.prune(set())) == ["0.1.0-aaaa", "0.4.0-dddd"]
    assert sorted(p.name for p in (tmp_path / "releases").iterdir()) == [
        "0.2.0-bbbb", "0.3.0-cccc"]


def test_update_lock_refuses_a_second_update_naming_the_first(tmp_path: Path) -> None:
    releases = Releases(tmp_path)
    busy = rf"another kiosk update is running \(pid {os.getpid()}, since"
    with releases.lock(), pytest.raises(UpdateBusy, match=busy), Releases(tmp_path).lock():
        pass
    with releases.lock():  # released with the block
        pass


def test_update_adopts_a_current_release_the_installer_made(tmp_path: Path) -> None:
    """No kiosk-release.json (made by scripts/install-pi.sh): recorded, not pruned."""
    path = _release(tmp_path, "first", complete=False)
    (path / "bin" / "kiosk").write_text("#!/bin/sh\n")
    (path / "lib/python3.11/site-packages/ektp_kiosk-0.1.0.dist-info").mkdir(parents=True)
    (tmp_path / "current").symlink_to("releases/first")
    releases = Releases(tmp_path)
    assert releases.current() is None
    adopted = releases.adopt_current()
    assert adopted is not None and adopted.version == "0.1.0"
    assert releases.current() == releases.get("first") and releases.adopt_current() is None
    assert releases.prune(set()) == []


def test_update_state_is_written_durably_then_removed(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A power cut right after the switch must find the state whole, never an empty file."""
    releases = Releases(tmp_path)
    synced = record_fsyncs(monkeypatch)
    releases.write_state({"from": "0.1.0-aaaa", "to": "0.2.0-bbbb"})
    assert releases.state() == {"from": "0.1.0-aaaa", "to": "0.2.0-bbbb"}
    assert len(synced) == 2
    assert synced[0].startswith(f"{tmp_path}/.{STATE_FILE}.tmp-")  # before its rename
    assert synced[1] == str(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]
    releases.write_state(None)
    assert releases.state() is None and list(tmp_path.iterdir()) == []
    assert synced[2:] == [str(tmp_path)]


def test_a_release_is_marked_complete_after_everything_is_synced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _release(tmp_path, "0.2.0-bbbb", complete=False)
    complete_at_sync: list[bool] = []
    monkeypatch.setattr(os, "sync", lambda: complete_at_sync.append(
        (path / RELEASE_FILE).exists()))
    synced = record_fsyncs(monkeypatch)
    Releases(tmp_path).mark_complete(path, {"version": "0.2.0"})
    assert complete_at_sync == [False]
    assert [s.startswith(f"{path}/.{RELEASE_FILE}.tmp-") for s in synced] == [True, False]
    assert synced[1] == str(path)
    release = Releases(tmp_path).get("0.2.0-bbbb")
    assert release is not None and release.version == "0.2.0"
    assert sorted(p.name for p in path.iterdir()) == ["bin", RELEASE_FILE]


DOCTOR_CLOCK = """\
 config               ok     /etc/kiosk/kiosk.toml
 clock                FAIL   not synchronised (kernel): new records are marked
                             clock_trusted = false
                             fix: `sudo timedatectl set-ntp true`
 key.device           ok     /var/lib/kiosk/device.key: mode 600

1 failed of 16 checks: exit 1
"""
SELFTEST_CAMERA = """\
ok   fingerprint  simulated scanner
FAIL camera       ValueError: could not broadcast input array
ok   card         simulated reader
"""


def _outcome(output: str, code: int = 1) -> Outcome:
    return Outcome(argv=("kiosk", "doctor"), returncode=code, output=output, seconds=0.1)


def test_a_failed_checks_message_leads_with_what_failed_and_its_fix() -> None:
    tail = _outcome(DOCTOR_CLOCK).tail().splitlines()
    assert tail[0].split()[:2] == ["clock", "FAIL"]
    assert "fix: `sudo timedatectl set-ntp true`" in tail[2]
    assert not any("key.device" in line for line in tail)
    assert tail[-1].strip() == "1 failed of 16 checks: exit 1"
    assert _outcome(SELFTEST_CAMERA).tail().splitlines()[0].strip().startswith("FAIL camera")
    plain = _outcome("Traceback (most recent call last):\nAttributeError: boom\n").tail()
    assert plain.splitlines()[-1].strip() == "AttributeError: boom"


def test_a_check_failing_before_the_update_too_is_compared_by_what_failed() -> None:
    clock = _outcome(DOCTOR_CLOCK)
    assert clock.failed_names() == {"clock"}
    assert _outcome(SELFTEST_CAMERA).failed_names() == {"camera"}
    both = _outcome(DOCTOR_CLOCK.replace(
        " key.device           ok  ", " journal              FAIL"))
    assert both.failed_names() == {"clock", "journal"}
    assert _nothing_new(clock, clock)
    assert _nothing_new(clock, both)        # fewer failures than before: fine
    assert not _nothing_new(both, clock)    # the journal fails only with the new release
    crash = _outcome("Traceback (most recent call last):\nAttributeError: boom\n")
    assert not _nothing_new(crash, clock)   # a crash is not "the same failure"
    assert _nothing_new(crash, crash)
    assert not _nothing_new(crash, _outcome("no such command", code=2))


def _venv_seeing(tmp_path: Path, name: str, numpy_dir: Path | None) -> Path:
    """A venv whose ``import numpy`` finds the fake numpy in ``numpy_dir`` (through a .pth,
    the way a venv made with --system-site-packages sees python3-numpy)."""
    prefix = tmp_path / "opt" / "releases" / name
    done = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(prefix)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    if numpy_dir is not None:
        (site_packages(prefix) / "system.pth").write_text(f"{numpy_dir}\n")
    return prefix


def _fake_numpy(where: Path, version: str) -> Path:
    (where / "numpy").mkdir(parents=True)
    (where / "numpy" / "__init__.py").write_text(f"__version__ = {version!r}\n")
    return where


def test_update_pins_numpy_the_release_takes_from_the_system(tmp_path: Path) -> None:
    """On a Pi the venv sees python3-numpy (picamera2 is built against it): pip install of
    the new kiosk gets a constraint holding numpy at that version, and says so."""
    system = _fake_numpy(tmp_path / "dist-packages", "1.24.2")
    release = _venv_seeing(tmp_path, "0.2.0-aaaa", system)
    said: list[str] = []
    installer = Installer(Releases(tmp_path / "opt"), Runner(None), [], said.append)
    pins = installer._system_pins(release / "bin" / "python", release)
    assert pins == ["--constraint", str(release / "kiosk-pins.txt")]
    assert (release / "kiosk-pins.txt").read_text() == "numpy==1.24.2\n"
    assert said == ["  pinned numpy==1.24.2 (the system's, which picamera2 from apt needs)"]


@pytest.mark.parametrize("case", ["own numpy", "no numpy", "odd version"])
def test_update_leaves_numpy_free_when_the_release_has_its_own_or_none(
        tmp_path: Path, case: str) -> None:
    if case == "own numpy":  # a development machine: numpy installed in the venv itself
        release = _venv_seeing(tmp_path, "0.2.0-aaaa", None)
        _fake_numpy(site_packages(release), "2.2.0")
    elif case == "no numpy":
        release = _venv_seeing(tmp_path, "0.2.0-aaaa", None)
    else:
        release = _venv_seeing(tmp_path, "0.2.0-aaaa",
                               _fake_numpy(tmp_path / "dist-packages", "1.24\n; rm -rf"))
    said: list[str] = []
    installer = Installer(Releases(tmp_path / "opt"), Runner(None), [], said.append)
    assert installer._system_pins(release / "bin" / "python", release) == []
    assert not (release / "kiosk-pins.txt").exists() and said == []


class _RecordingRunner:
    """Runner's stand-in: every command succeeds; records (argv, cwd)."""

    calls: ClassVar[list[tuple[tuple[str, ...], Path | None]]] = []

    def __init__(self, log_path: Path | None, env: object = None,
                 cwd: Path | None = None) -> None:
        self.cwd = cwd

    def run(self, argv, *, timeout: float = 1800, cwd: Path | None = None) -> Outcome:
        args = tuple(str(a) for a in argv)
        _RecordingRunner.calls.append((args, cwd))
        return Outcome(args, 0, "all ok\n", 0.0)

    def note(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def _rollback_recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, root: bool,
                        data_dir: Path) -> list[tuple[tuple[str, ...], Path | None]]:
    """`kiosk update --rollback` from 0.2.0 to 0.1.0 with every command recorded."""
    from kiosk.update import flow

    opt = tmp_path / "opt"
    releases = Releases(opt)
    for name in ("0.1.0-aaaa", "0.2.0-bbbb"):
        _release(opt, name)
    releases.point("previous", releases.get("0.1.0-aaaa"))
    releases.point("current", releases.get("0.2.0-bbbb"))
    _RecordingRunner.calls = []
    monkeypatch.setattr(flow, "Runner", _RecordingRunner)
    monkeypatch.setattr(flow.os, "geteuid", lambda: 0 if root else 1000)
    settings = flow.Settings(root=opt, restart_command=["systemctl", "restart", "kiosk-ui"],
                             status_command=["systemctl", "is-active", "kiosk-ui"],
                             health_checks=[["doctor"], ["hw", "selftest"]],
                             check_timeout_s=5, settle_s=0, data_dir=data_dir)
    said: list[str] = []
    updater = flow.Updater(settings, out=_Lines(said))
    assert updater.rollback() == 0
    assert "check before the switch: kiosk doctor ... ok" in "\n".join(said)
    return _RecordingRunner.calls


class _Lines:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def write(self, text: str) -> None:
        self.lines.append(text)

    def flush(self) -> None:
        pass


def _kiosk_owned_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory owned by someone else than root, who is named "kiosk"."""
    import pwd

    from kiosk.update import flow

    data = tmp_path / "var-lib-kiosk"
    data.mkdir()
    if os.geteuid() == 0:  # CI: make it not root's
        os.chown(data, 12345, 12345)
    owner = data.stat().st_uid
    real = pwd.getpwuid
    monkeypatch.setattr(flow.pwd, "getpwuid",
                        lambda uid: pwd.struct_passwd(("kiosk", "x", uid, uid, "", str(data),
                                                       "/usr/sbin/nologin"))
                        if uid == owner else real(uid))
    return data


def test_update_as_root_runs_each_health_check_as_the_data_directorys_owner_in_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _kiosk_owned_data_dir(tmp_path, monkeypatch)
    calls = _rollback_recording(tmp_path, monkeypatch, root=True, data_dir=data)
    old = str(tmp_path / "opt" / "releases" / "0.1.0-aaaa" / "bin" / "kiosk")
    checks = [(argv, cwd) for argv, cwd in calls if argv[0] != "systemctl"]
    assert checks == [(("runuser", "-u", "kiosk", "--", old, *check), data)
                      for check in (("doctor",), ("hw", "selftest"))] * 2  # before, after
    # The restart and the services' status stay root's, where the runner runs them.
    assert [(argv, cwd) for argv, cwd in calls if argv[0] == "systemctl"] == [
        (("systemctl", "restart", "kiosk-ui"), None),
        (("systemctl", "is-active", "kiosk-ui"), None)]


def test_update_not_as_root_runs_the_health_checks_as_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _kiosk_owned_data_dir(tmp_path, monkeypatch)
    calls = _rollback_recording(tmp_path, monkeypatch, root=False, data_dir=data)
    old = str(tmp_path / "opt" / "releases" / "0.1.0-aaaa" / "bin" / "kiosk")
    assert [(argv, cwd) for argv, cwd in calls if argv[0] != "systemctl"] == [
        ((old, "doctor"), None), ((old, "hw", "selftest"), None)] * 2


def test_update_as_root_without_the_data_directory_runs_the_checks_as_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kiosk.update import flow

    monkeypatch.setattr(flow.os, "geteuid", lambda: 0)
    settings = flow.Settings(root=tmp_path / "opt", restart_command=["true"],
                             status_command=[], health_checks=[["doctor"]],
                             check_timeout_s=5, settle_s=0, data_dir=tmp_path / "gone")
    said: list[str] = []
    updater = flow.Updater(settings, out=_Lines(said))
    assert updater.check_user() == ([], None)
    assert said[0].startswith(f"note: the data directory {tmp_path / 'gone'} does not exist")
    # A data directory of root's (services run as root): checks as root, in it.
    updater.settings.data_dir = Path("/")
    assert updater.check_user() == ([], Path("/"))


def test_a_command_out_of_time_gets_sigterm_first(tmp_path: Path) -> None:
    """runuser ends its command on SIGTERM; SIGKILL would kill runuser alone and leave the
    health check running."""
    runner = Runner(None)
    script = ('trap \'echo got TERM; kill $!; exit 3\' TERM; echo started; '
              'sleep 30 >/dev/null & wait')
    done = runner.run(["sh", "-c", script], timeout=1)
    assert done.returncode is None and done.seconds < 4
    assert done.output.splitlines()[:2] == ["started", "got TERM"]
    assert "(no answer after 1 s; stopped)" in done.output
