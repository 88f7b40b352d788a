"""The order of ``kiosk update`` (kiosk/update/flow.py) with its commands stood in for:
what holds between the switch and the verdict (signals, a dead stdout), a refused rollback,
a releases disk that fills up, a git ref that does not exist. (The whole update, with real
releases and services: tests/integration/test_update.py.)"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from kiosk.update import build, flow
from kiosk.update.build import Installer, Source
from kiosk.update.proc import Outcome, Runner
from kiosk.update.releases import LOG_FILE, RELEASE_FILE, STATE_FILE, Releases, UpdateFailed

OLD, NEW = "0.1.0-aaaa", "0.2.0-bbbb"


class _Killed(Exception):
    """Raised by the test's own handler for a signal that reached the update unheld."""


@pytest.fixture
def signals_raise() -> Iterator[None]:
    """SIGHUP, SIGINT and SIGTERM raise _Killed (not death, not a KeyboardInterrupt that
    would stop pytest) unless the update holds them."""
    def killed(signum: int, _frame: object) -> None:
        raise _Killed(signal.Signals(signum).name)

    kinds = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)
    before = {s: signal.signal(s, killed) for s in kinds}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


class _Runner:
    """Runner's stand-in: each command succeeds (``fail``: but those it names), after
    ``hook`` (argv) ran; records (argv, own_session) and the log's notes."""

    calls: ClassVar[list[tuple[tuple[str, ...], bool]]] = []
    notes: ClassVar[list[str]] = []
    hook: ClassVar[Callable[[tuple[str, ...]], None]] = staticmethod(lambda argv: None)
    fail: ClassVar[Callable[[tuple[str, ...]], bool]] = staticmethod(lambda argv: False)

    def __init__(self, log_path: Path | None, env: object = None,
                 cwd: Path | None = None) -> None:
        self.own_session = False

    def run(self, argv, *, timeout: float = 1800, cwd: Path | None = None) -> Outcome:
        args = tuple(str(a) for a in argv)
        _Runner.calls.append((args, self.own_session))
        _Runner.hook(args)
        code = 1 if _Runner.fail(args) else 0
        return Outcome(args, code, "all ok\n" if code == 0 else "FAIL it\n", 0.0)

    def note(self, text: str) -> None:
        _Runner.notes.append(text)

    def close(self) -> None:
        pass


class _Out:
    """A stdout whose reader goes away (``| head -4``) once ``dies_after`` shows up."""

    def __init__(self, dies_after: str | None = None) -> None:
        self.text, self.dies_after, self.dead = "", dies_after, False

    def write(self, text: str) -> int:
        if self.dead:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")
        self.text += text
        if self.dies_after is not None and self.dies_after in text:
            self.dead = True
        return len(text)

    def flush(self) -> None:
        if self.dead:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def _rollback_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *,
                   hook: Callable[[tuple[str, ...]], None] = lambda argv: None,
                   fail: Callable[[tuple[str, ...]], bool] = lambda argv: False,
                   out: object | None = None, err: object | None = None
                   ) -> tuple[flow.Updater, Releases]:
    """current NEW, previous OLD; ``kiosk update --rollback`` goes to OLD."""
    opt = tmp_path / "opt"
    for name in (OLD, NEW):
        path = opt / "releases" / name
        (path / "bin").mkdir(parents=True)
        (path / RELEASE_FILE).write_text(json.dumps({"version": name.split("-")[0]}))
    releases = Releases(opt)
    releases.point("previous", releases.get(OLD))
    releases.point("current", releases.get(NEW))
    _Runner.calls, _Runner.notes = [], []
    _Runner.hook, _Runner.fail = staticmethod(hook), staticmethod(fail)
    monkeypatch.setattr(flow, "Runner", _Runner)
    monkeypatch.setattr(flow.os, "geteuid", lambda: 1000)
    settings = flow.Settings(root=opt, restart_command=["restart"], status_command=["status"],
                             health_checks=[["config", "check"]], check_timeout_s=5,
                             settle_s=0, data_dir=tmp_path / "data")
    updater = flow.Updater(settings, out=out or _Out())  # type: ignore[arg-type]
    updater.err = err or _Out()  # type: ignore[assignment]
    return updater, releases


def _current(releases: Releases) -> str:
    current = releases.current()
    assert current is not None
    return current.name


@pytest.mark.parametrize(("signum", "status", "said"), [
    (signal.SIGHUP, 129, "SIGHUP (the terminal hung up)"),
    (signal.SIGINT, 130, "Ctrl-C"),
    (signal.SIGTERM, 143, "SIGTERM")])
def test_a_signal_after_the_switch_waits_for_the_switch_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signals_raise: None,
        signum: int, status: int, said: str) -> None:
    """The SSH link drops (SIGHUP), Ctrl-C, or SIGTERM while the services restart on the new
    release, whose services then do not run: it still switches back, checks the old one,
    and only then exits with the signal's status, saying where the kiosk is."""
    sent: list[int] = []

    def hook(argv: tuple[str, ...]) -> None:
        if argv == ("restart",) and not sent:
            sent.append(signum)
            os.kill(os.getpid(), signum)

    root = tmp_path / "opt"
    err = _Out()
    updater, releases = _rollback_site(
        tmp_path, monkeypatch, hook=hook, err=err,
        fail=lambda argv: argv == ("status",) and _current(releases) == OLD)
    assert updater.rollback() == status
    assert _current(releases) == NEW and releases.previous().name == OLD  # type: ignore[union-attr]
    assert not (root / STATE_FILE).exists()
    ran = [argv[0] if argv[0] in ("restart", "status") else Path(argv[0]).parents[1].name
           for argv, _ in _Runner.calls]
    assert ran == [OLD, "restart", OLD, "status", "restart", NEW, "status"]
    # after the switch, out of reach of the terminal's signals
    assert [own for _, own in _Runner.calls] == [False] + [True] * 6
    lines = err.text.splitlines()
    assert lines[0].startswith(f"kiosk: rollback to {OLD} failed: `the services' status`")
    assert lines[-1] == (f"kiosk update: {said} came after the switch and was held until the "
                         f"verdict; the kiosk is on {NEW}")
    assert f"{signal.Signals(signum).name} received after the switch: held until the " \
        "verdict" in _Runner.notes


def test_ctrl_c_again_after_the_switch_says_once_that_the_checks_finish(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signals_raise: None) -> None:
    """Three Ctrl-C during the restart: one line on stderr saying why nothing stops; the
    update ends on the new release (its checks pass), exit 130 saying so."""
    def hook(argv: tuple[str, ...]) -> None:
        if argv == ("restart",):
            for _ in range(3):
                os.kill(os.getpid(), signal.SIGINT)

    with (tmp_path / "err").open("w") as err:
        updater, releases = _rollback_site(tmp_path, monkeypatch, hook=hook, err=err)
        assert updater.rollback() == 130
    text = (tmp_path / "err").read_text()
    notice = (f"kiosk update: finishing the checks of {OLD} after the switch; if they fail "
              f"it switches back to {NEW} by itself. Wait for its verdict (Ctrl-C cannot "
              "stop it now)")
    assert text.count("finishing the checks") == 1 and notice in text.splitlines()
    assert text.splitlines()[-1] == ("kiosk update: Ctrl-C came after the switch and was held "
                                     f"until the verdict; the kiosk is on {OLD}")
    assert _current(releases) == OLD and releases.previous().name == NEW  # type: ignore[union-attr]


def test_a_stdout_gone_after_the_switch_does_not_stop_the_update(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``kiosk update --rollback | head -2``: the reader is gone right after the switch;
    the update restarts, checks and ends on the release asked for (exit 0), its lines
    in the log."""
    out = _Out(dies_after="switched: current ->")
    updater, releases = _rollback_site(tmp_path, monkeypatch, out=out)
    assert updater.rollback() == 0
    assert _current(releases) == OLD and updater.terminal_gone
    assert [argv[0] for argv, _ in _Runner.calls][-2:] == [
        str(tmp_path / "opt" / "releases" / OLD / "bin" / "kiosk"), "status"]
    assert "done, now on" not in out.text
    assert any(f"kiosk update --rollback: done, now on {OLD}" in n for n in _Runner.notes)


def test_a_stdout_gone_before_the_switch_stops_the_update_as_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _Out(dies_after="kiosk update --rollback: from")
    updater, releases = _rollback_site(tmp_path, monkeypatch, out=out)
    with pytest.raises(BrokenPipeError):
        updater.rollback()
    assert _current(releases) == NEW


def test_a_refused_rollback_leaves_the_last_updates_log(tmp_path: Path) -> None:
    """The failed update's message sends the maintainer to last-update.log; a --rollback
    with nothing to go back to must not empty it."""
    opt = tmp_path / "opt"
    path = opt / "releases" / OLD
    (path / "bin").mkdir(parents=True)
    (path / RELEASE_FILE).write_text(json.dumps({"version": "0.1.0"}))
    releases = Releases(opt)
    releases.point("current", releases.get(OLD))
    (opt / LOG_FILE).write_text("$ pip install ...\nwhat the failed update ran\n")
    settings = flow.Settings(root=opt, restart_command=["true"], status_command=[],
                             health_checks=[], check_timeout_s=5, settle_s=0)
    updater = flow.Updater(settings, out=_Out())  # type: ignore[arg-type]
    with pytest.raises(UpdateFailed, match=r"^no previous release to go back to "):
        updater.rollback()
    assert (opt / LOG_FILE).read_text() == "$ pip install ...\nwhat the failed update ran\n"


# -- a releases disk that fills up --------------------------------------------------------
def _venv_release(opt: Path, name: str) -> Path:
    path = opt / "releases" / name
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    site = build.site_packages(path)
    (site / "somedep").mkdir()
    (site / "somedep" / "__init__.py").write_text("x = 1\n")
    (site / "somedep.pth").write_text("")
    (path / "bin" / "kiosk").write_text("#!/bin/sh\n")
    (path / RELEASE_FILE).write_text(json.dumps({"version": "0.1.0"}))
    return path


def test_a_releases_disk_that_fills_up_while_building_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's files are copied (another file system) onto a releases disk that fills
    up: the message names the releases directory and the release the kiosk stays on,
    not a file of the running environment; the half release is removed."""
    opt = tmp_path / "opt"
    _venv_release(opt, OLD)
    releases = Releases(opt)
    releases.point("current", releases.get(OLD))
    wheel = tmp_path / "ektp_kiosk-0.2.0-py3-none-any.whl"
    wheel.write_bytes(b"not opened before the copy fails")
    seed_file = str(opt / "releases" / OLD / "some-file")

    def cross_device(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(src), str(dst))

    def full(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), seed_file)

    monkeypatch.setattr(build.os, "link", cross_device)
    monkeypatch.setattr(build.shutil, "copy2", full)
    settings = flow.Settings(root=opt, restart_command=["true"], status_command=[],
                             health_checks=[], check_timeout_s=5, settle_s=0)
    updater = flow.Updater(settings, out=_Out())  # type: ignore[arg-type]
    with pytest.raises(UpdateFailed) as failed:
        updater.update(str(wheel))
    message = str(failed.value)
    assert message.startswith(f"the new release ran out of space on the releases disk, in "
                              f"{opt / 'releases'} (")
    assert message.endswith(f"Nothing was switched: still on {OLD}. Free space on that disk "
                            "and run the update again")
    assert "\n" not in message and seed_file not in message
    assert sorted(p.name for p in (opt / "releases").iterdir()) == [OLD]
    assert _current(releases) == OLD


def test_a_command_that_ran_out_of_space_is_the_disk_full() -> None:
    done = Outcome(("pip", "install", "x.whl"), 1,
                   "ERROR: Could not install packages due to an OSError: [Errno 28] No space "
                   "left on device\n", 1.0)
    with pytest.raises(OSError) as raised:
        build._raise_if_out_of_space(done)
    assert raised.value.errno == errno.ENOSPC
    build._raise_if_out_of_space(Outcome(("pip",), 1, "ERROR: no matching distribution\n", 1))


# -- a git ref that does not exist --------------------------------------------------------
@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "kiosk.git"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-C", str(repo)]
    repo.mkdir()
    for argv in (["init", "--quiet"], ["commit", "--quiet", "--allow-empty", "-m", "one"],
                 ["tag", "v0.2.0"], ["checkout", "--quiet", "-b", "next"],
                 ["commit", "--quiet", "--allow-empty", "-m", "two"],
                 ["checkout", "--quiet", "-"]):
        subprocess.run([*git, *argv], check=True, capture_output=True)
    return repo


def test_a_git_ref_that_does_not_exist_is_named(tmp_path: Path, git_repo: Path) -> None:
    """A mistyped tag: not git's "--detach does not take a path argument", nor the build's
    temporary directory, which is gone by the time the message is read."""
    installer = Installer(Releases(tmp_path / "opt"), Runner(None), [], lambda text: None)
    build_dir = tmp_path / ".build-x"
    build_dir.mkdir()
    with pytest.raises(UpdateFailed) as failed:
        installer._build_git(Source.parse(f"git+file://{git_repo}@v0.2.1"), build_dir)
    assert str(failed.value) == (
        f"no tag, branch or commit 'v0.2.1' in file://{git_repo}: check the spelling (git "
        f"ls-remote --tags --heads file://{git_repo} lists them); nothing was installed or "
        "switched")


def test_a_git_ref_names_a_tag_or_any_branch_of_the_source(tmp_path: Path, git_repo: Path
                                                           ) -> None:
    installer = Installer(Releases(tmp_path / "opt"), Runner(None), [], lambda text: None)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", f"file://{git_repo}",
                    str(clone)], check=True)

    def commit(ref: str) -> str:
        return subprocess.run(["git", "-C", str(git_repo), "rev-parse", ref], check=True,
                              capture_output=True, text=True).stdout.strip()

    for ref in ("v0.2.0", "next", "HEAD", commit("next")[:10]):
        source = Source.parse(f"git+file://{git_repo}@{ref}")
        assert installer._resolve(source, clone) == commit(ref)
    shutil.rmtree(clone)
