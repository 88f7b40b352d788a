"""``kiosk update`` end to end: real kiosk wheels built from this repository (a good one, and
two with a real defect each), real venvs, offline pip, a real service restarted through a
systemd stand-in (tests/update_supervisor.py runs ``kiosk power watch`` from
``ROOT/current`` and waits for its READY=1), and a real journal whose bytes must not change.

Each test starts and ends with release A current and its service running (the tests of one
file run in order on one worker: ``--dist loadfile``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, write_config

SUPERVISOR = REPO / "tests" / "update_supervisor.py"
CHECKS = '[["hw", "selftest"], ["config", "check"]]'  # `kiosk doctor` joins at the merge


def _source(tmp: Path, version: str, *, edit: tuple[str, str, str] | None = None) -> Path:
    """A copy of the repository's package sources at ``version``, with ``edit`` (file,
    old, new) applied: the injected defect."""
    src = tmp / f"src-{version}"
    for name in ("pyproject.toml", "README.md"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    for package in ("kiosk", "intake"):
        shutil.copytree(REPO / package, src / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pyproject = src / "pyproject.toml"
    text, count = re.subn(r'(?m)^version = "[^"]+"', f'version = "{version}"',
                          pyproject.read_text())
    assert count == 1
    pyproject.write_text(text)
    if edit is not None:
        path, old, new = src / edit[0], edit[1], edit[2]
        code = path.read_text()
        assert code.count(old) == 1, f"the defect's anchor moved in {edit[0]}"
        path.write_text(code.replace(old, new))
    return src


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False,
                          **kwargs)  # type: ignore[call-overload]


@dataclass
class Wheels:
    good: Path       # A: this repository as it is
    bad_camera: Path  # B: the sim camera's preview noise has width and height swapped
    bad_service: Path  # C: `kiosk power watch` calls publish_state with its arguments swapped
    good_next: Path  # D: this repository again, a later version
    wheelhouse: Path  # setuptools and wheel: what building from git needs offline
    build_python: Path
    tmp: Path


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Wheels:
    """Build the kiosk wheels once per module: a build venv with setuptools and wheel from
    a wheelhouse (made the way a maintainer fills a USB stick), then setuptools' PEP 517
    backend in it (pip's isolated build costs 10 s a wheel here; this, 2 s)."""
    tmp = tmp_path_factory.mktemp("wheels")
    house = tmp / "wheelhouse"
    done = _run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(house),
                 "setuptools>=77", "wheel"])
    assert done.returncode == 0, done.stderr
    build = tmp / "build-env"
    assert _run([sys.executable, "-m", "venv", "--without-pip", str(build)]).returncode == 0
    done = _run([sys.executable, "-m", "pip", "--python", str(build / "bin" / "python"),
                 "install", "--quiet", "--no-index", "--find-links", str(house),
                 "setuptools", "wheel"])
    assert done.returncode == 0, done.stderr
    python = build / "bin" / "python"
    dist = tmp / "dist"
    dist.mkdir()

    def wheel(src: Path) -> Path:
        done = _run([str(python), "-c", "import sys; from setuptools import build_meta as b;"
                     f" print(b.build_wheel({str(dist)!r}))"], cwd=src)
        assert done.returncode == 0, done.stderr[-2000:]
        return dist / done.stdout.strip().splitlines()[-1]

    return Wheels(
        good=wheel(_source(tmp, "0.1.0")),
        bad_camera=wheel(_source(tmp, "0.1.1", edit=(
            "kiosk/hardware/camera/sim.py", "size=moved.shape", "size=(width, height, 3)"))),
        bad_service=wheel(_source(tmp, "0.1.2", edit=(
            "kiosk/power/watcher.py", "publish_state(state_path, policy, status)",
            "publish_state(policy, state_path, status)"))),
        good_next=wheel(_source(tmp, "0.1.3")),
        wheelhouse=house, build_python=python, tmp=tmp)


@dataclass
class Kiosk:
    """An update root, a config, a data directory with a journal, a supervised service."""

    root: Path
    config: Path
    data: Path
    state: Path
    env: dict[str, str]

    def release_kiosk(self, name: str = "current") -> str:
        return str(self.root / name / "bin" / "kiosk")

    def update(self, *args: str, config: Path | None = None
               ) -> subprocess.CompletedProcess[str]:
        """``kiosk update ARGS`` run by the current release's own ``kiosk``: the field
        path, no PYTHONPATH anywhere."""
        return _run([self.release_kiosk(), "update", "--config", str(config or self.config),
                     *args], env=self.env)

    def current(self) -> str:
        return Path(os.readlink(self.root / "current")).name

    def previous(self) -> str | None:
        link = self.root / "previous"
        return Path(os.readlink(link)).name if link.is_symlink() else None

    def releases(self) -> list[str]:
        return sorted(p.name for p in (self.root / "releases").iterdir())

    def service(self) -> dict:
        return json.loads((self.state / "service.json").read_text())

    def service_release(self) -> str:
        """The release the running service's Python comes from (its #! line, via
        ``current``), after checking it runs."""
        doc = self.service()
        assert doc["ready"] and doc["exit"] is None, doc
        os.kill(doc["pid"], 0)
        python = Path(doc["cmdline"][0])
        assert python.parent.parent.parent == self.root / "releases", doc["cmdline"]
        return python.parent.parent.name

    def data_digest(self) -> dict[str, str]:
        """sha256 of every file of the data directory but the power watcher's own state
        file (the service writes it on every poll; the update never does)."""
        return {str(p.relative_to(self.data)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(self.data.rglob("*"))
                if p.is_file() and p.name != "power.json"}


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    env["PIP_CONFIG_FILE"] = os.devnull  # this machine's pip config (its indexes) is not
    return env                           # the Pi's; with --offline nothing else is asked


@pytest.fixture(scope="module")
def kiosk(wheels: Wheels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiosk]:
    tmp = tmp_path_factory.mktemp("kiosk")
    state = tmp / "supervisor"
    py, sup = sys.executable, str(SUPERVISOR)
    config = write_config(tmp, f"""
[update]
root = "opt"
restart_command = ["{py}", "{sup}", "restart", "{state}"]
status_command = ["{py}", "{sup}", "status", "{state}"]
health_checks = {CHECKS}
settle_s = 0.5
offline = true
""")
    env = _clean_env() | {"KIOSK_SYSTEM_CONFIG": str(tmp / "no-etc.toml")}
    # The first release, as the installer would make it: from the running environment
    # (this checkout, through PYTHONPATH, which must not leak into the release), no
    # services yet.
    (tmp / "first").mkdir()
    first = write_config(tmp / "first", f"""
[update]
root = "{tmp / 'opt'}"
restart_command = ["true"]
status_command = []
health_checks = {CHECKS}
settle_s = 0
offline = true
""")
    first_env = env | {"PYTHONPATH": str(REPO)}
    done = _run([sys.executable, "-m", "kiosk.cli", "update", "--config", str(first),
                 str(wheels.good)], env=first_env)
    assert done.returncode == 0, done.stdout + done.stderr
    site = Kiosk(tmp / "opt", config, tmp / "data", state, env)
    probe = _run([str(site.root / "current" / "bin" / "python"), "-I", "-c",
                  "import kiosk; print(kiosk.__file__)"], env=env)
    where = Path(probe.stdout.strip()).resolve()
    assert where.is_relative_to(site.root / "releases" / site.current()), probe
    # A journal with a sealed record, keys: what an update must never touch.
    done = _run([site.release_kiosk(), "demo", "--citizens", "1"],
                env=env | {"KIOSK_CONFIG": str(config)})
    assert done.returncode == 0 and done.stdout.startswith("enrolled "), done.stderr[-2000:]
    supervisor = subprocess.Popen([py, sup, "serve", str(state), str(site.root), "--",
                                   "power", "watch", "--config", str(config)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (state / "service.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert site.service_release() == site.current()
    try:
        yield site
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=30)


def test_update_to_a_release_failing_its_check_changes_nothing(kiosk: Kiosk, wheels: Wheels
                                                               ) -> None:
    """B's camera is broken: its `kiosk hw selftest` fails before the switch; still A,
    the service never restarted, the journal untouched. Run with a stray PYTHONPATH to
    this checkout's (good) code: if it reached B's checks, they would pass."""
    a, digest, generation = kiosk.current(), kiosk.data_digest(), kiosk.service()["generation"]
    env = kiosk.env | {"PYTHONPATH": str(REPO)}
    done = _run([sys.executable, "-m", "kiosk.cli", "update", "--config", str(kiosk.config),
                 str(wheels.bad_camera)], env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "check before the switch: kiosk hw selftest ... FAILED (exit 1)" in done.stdout
    assert ("update to 0.1.1-" in done.stderr and "`kiosk hw selftest` failed with that "
            f"release (exit 1). Nothing was switched: still on {a}") in done.stderr
    assert re.search(r"FAIL camera .*ValueError: .*broadcast", done.stderr), done.stderr
    assert kiosk.current() == a and kiosk.releases() == [a]
    assert kiosk.service()["generation"] == generation and kiosk.service_release() == a
    assert kiosk.data_digest() == digest


def test_update_whose_service_fails_switches_back_by_itself(kiosk: Kiosk, wheels: Wheels
                                                            ) -> None:
    """C passes the checks, but its `kiosk power watch` dies before READY=1: switched,
    restart failed, switched back to A, restarted, A checked; exit 1 saying so."""
    a, digest = kiosk.current(), kiosk.data_digest()
    done = kiosk.update(str(wheels.bad_service))
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "check before the switch: kiosk config check ... ok" in out
    assert re.search(r"switched: current -> 0\.1\.2-\w+ \(was " + re.escape(a), out), out
    assert "restarting the services: " in out and "FAILED (exit 1)" in out
    assert f"switched: current -> {a}" in out
    assert re.search(r"update to 0\.1\.2-\w+ failed: `restarting the services` exit 1 after "
                     "the switch", done.stderr), done.stderr
    assert "failed to start" in done.stderr and "AttributeError" in done.stderr, done.stderr
    assert f"Switched back to {a}: services restarted, its checks pass." in done.stderr
    assert kiosk.current() == a and kiosk.releases() == [a]
    assert kiosk.service_release() == a
    assert kiosk.data_digest() == digest


def test_good_update_switches_and_rollback_goes_back(kiosk: Kiosk, wheels: Wheels,
                                                     tmp_path: Path) -> None:
    """D is good. One more check fails with A as much as with D (it stands for `kiosk
    doctor` finding the intake out of reach): reported, not held against D."""
    a, digest = kiosk.current(), kiosk.data_digest()
    text = kiosk.config.read_text().replace(
        CHECKS, f'[["hw", "selftest"], ["config", "check", "--config", "{tmp_path}/gone.toml"]]')
    assert text != kiosk.config.read_text()
    text = text.replace('root = "opt"', f'root = "{kiosk.root}"').replace(
        'data_dir = "data"', f'data_dir = "{kiosk.data}"')
    (tmp_path / "kiosk.toml").write_text(text)
    done = kiosk.update(str(wheels.good_next), config=tmp_path / "kiosk.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    d = kiosk.current()
    assert re.search(rf"check before the switch: kiosk config check --config \S+ \.\.\. "
                     rf"FAILED \(exit 2\) \(\S+ s\); fails with {re.escape(a)} too \(exit 2\): "
                     rf"not held against {re.escape(d)}", done.stdout), done.stdout
    assert re.search(r"check after the restart: kiosk config check --config \S+ \.\.\. FAILED "
                     r"\(exit 2\) \(\S+ s\); failed before the update too", done.stdout)
    assert d.startswith("0.1.3-") and kiosk.previous() == a
    assert f"kiosk update: done, now on {d} (version 0.1.3); previous {a}" in done.stdout
    assert kiosk.service_release() == d
    listing = kiosk.update("--list").stdout
    assert re.search(rf"^\* {re.escape(d)} +current +installed", listing, re.M), listing
    assert re.search(rf"^  {re.escape(a)} +previous +installed", listing, re.M), listing
    doc = json.loads(kiosk.update("--list", "--json").stdout)
    assert (doc["current"], doc["previous"]) == (d, a)

    done = kiosk.update("--rollback")  # run by D's kiosk, which must survive the switch
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"kiosk update --rollback: from {d} back to {a}" in done.stdout
    assert f"kiosk update --rollback: done, now on {a}" in done.stdout
    assert (kiosk.current(), kiosk.previous()) == (a, d)
    assert kiosk.service_release() == a
    assert kiosk.releases() == sorted([a, d])
    assert kiosk.data_digest() == digest


def _start_update(kiosk: Kiosk, *args: str) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen([kiosk.release_kiosk(), "update", "--config", str(kiosk.config),
                             *args], env=kiosk.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return proc, []


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of each process whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append((int(entry.name), cmdline))
    return found


def _cut_power_during_pip(proc: subprocess.Popen[str], lines: list[str]) -> None:
    """Wait for the update's ``pip install`` into the new release, then SIGKILL the update's
    whole process group, pip included, the way a power cut stops both. Waiting for pip
    itself, not for a time after a line: on an idle machine the install can finish
    within a second or two."""
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "new environment" in line:
            break
    else:
        pytest.fail(f"'new environment' never printed: {''.join(lines)}")
    deadline = time.monotonic() + 60
    while not any(" pip " in cmd and " install " in cmd for _, cmd in _children(proc.pid)):
        assert proc.poll() is None, f"the update ended before pip ran: {''.join(lines)}"
        assert time.monotonic() < deadline, f"pip never ran: {''.join(lines)}"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _kill_after(proc: subprocess.Popen[str], lines: list[str], marker: str) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if marker in line:
            break
    else:
        pytest.fail(f"{marker!r} never printed: {''.join(lines)}")
    proc.kill()
    proc.wait()


def test_killed_update_leaves_a_complete_checked_release(kiosk: Kiosk, wheels: Wheels
                                                         ) -> None:
    """kill -9 while installing: current untouched, the half release reported and removed
    later. kill -9 just after the switch: current is the new, complete, checked release;
    a second update meanwhile is refused by the lock; --rollback then goes back."""
    a, digest = kiosk.current(), kiosk.data_digest()
    d = kiosk.previous()
    proc, lines = _start_update(kiosk, str(wheels.bad_camera))
    _cut_power_during_pip(proc, lines)
    assert kiosk.current() == a
    listing = kiosk.update("--list").stdout
    assert "left over from an install cut short" in listing and "0.1.1-" in listing

    proc, lines = _start_update(kiosk, str(wheels.good_next))  # D: installed, reused
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "check before the switch" in line:
            break
    busy = kiosk.update("--rollback")
    assert busy.returncode == 1 and "another kiosk update is running (pid" in busy.stderr
    _kill_after(proc, lines, "switched: current ->")
    assert kiosk.current() == d and kiosk.previous() == a
    assert (kiosk.root / "releases" / d / "kiosk-release.json").exists()
    check = _run([kiosk.release_kiosk(), "config", "check", "--config", str(kiosk.config)],
                 env=kiosk.env)
    assert check.returncode == 0, check.stderr
    assert "was cut short" in kiosk.update("--list").stdout

    deadline = time.monotonic() + 60  # let the restart the killed update began finish
    while not kiosk.service()["ready"] and time.monotonic() < deadline:
        time.sleep(0.1)
    done = kiosk.update("--rollback")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"note: an earlier update ({a} -> {d}) was cut short" in done.stdout
    assert kiosk.current() == a and kiosk.service_release() == a
    assert kiosk.releases() == sorted([a, d])  # the half-installed 0.1.1 is gone
    assert kiosk.data_digest() == digest


@pytest.mark.slow
def test_update_from_a_git_tag_offline_with_a_wheelhouse(kiosk: Kiosk, wheels: Wheels,
                                                         tmp_path: Path) -> None:
    """git+file://REPO@TAG: cloned, built by pip in its isolated build environment from
    the wheelhouse alone (--offline), installed, switched; then rolled back to A."""
    a, digest = kiosk.current(), kiosk.data_digest()
    repo = _source(tmp_path, "0.1.4")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-C", str(repo)]
    for argv in (["init", "--quiet"], ["add", "."], ["commit", "--quiet", "-m", "0.1.4"],
                 ["tag", "v0.1.4"]):
        assert _run([*git, *argv]).returncode == 0
    commit = _run([*git, "rev-parse", "HEAD"]).stdout.strip()
    (repo / "kiosk" / "__init__.py").write_text("raise SystemExit('not committed')\n")
    done = kiosk.update(f"git+file://{repo}@v0.1.4", "--find-links", str(wheels.wheelhouse))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"building a wheel of commit {commit[:10]} (pip wheel, offline, wheelhouse " \
        in done.stdout
    assert kiosk.current() == f"0.1.4-g{commit[:10]}" and kiosk.previous() == a
    assert kiosk.service_release() == kiosk.current()
    done = kiosk.update("--rollback")
    assert done.returncode == 0, done.stdout + done.stderr
    assert kiosk.current() == a and kiosk.service_release() == a
    assert kiosk.data_digest() == digest
