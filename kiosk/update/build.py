"""Installing a kiosk version into a new release directory, beside the current one.

A release is a venv. Making one from nothing means installing Kivy, OpenCV, numpy and the
rest: minutes, and impossible on a kiosk without a link. So the new venv is *seeded*: the
current release's site-packages are hard-linked into it (the same disk, so no space and
about a second), minus the kiosk's own files, and then the new kiosk wheel is installed
with pip's ordinary dependency resolution. Whatever the new version needs that the seed
already has costs nothing; a new or newer dependency comes from ``--find-links DIR`` (a
wheelhouse on a USB stick) or, unless ``--offline``, the package index.

Hard links are safe here because pip never writes into an installed file: it unlinks and
writes a new one, and Python replaces ``.pyc`` files by rename. A release that the new
version's pip changed therefore never changes the old release's copy.

A git source is cloned, checked out at its ref and built into a wheel first (``pip
wheel``, in pip's isolated build environment: offline, the wheelhouse must hold the build
requirements, ``setuptools>=77`` and ``wheel``).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.update.proc import Outcome, Runner
from kiosk.update.releases import Release, Releases, UpdateFailed

DIST = "ektp_kiosk"  # the kiosk's distribution name, as wheel file names spell it
_VERSION = re.compile(r"[0-9][0-9A-Za-z.+!-]*")  # a version as numpy prints it
_WHEEL = re.compile(r"(?P<dist>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl")


@dataclass(frozen=True)
class Source:
    """What to install: a wheel file, or ``git+URL[@REF]``."""

    text: str
    wheel: Path | None = None
    git_url: str | None = None
    git_ref: str = "HEAD"

    @classmethod
    def parse(cls, text: str) -> Source:
        if text.startswith("git+"):
            url, ref = text[4:], "HEAD"
            head, sep, tail = url.rpartition("@")
            if sep and "/" not in tail and head and not head.endswith(":"):
                url, ref = head, tail
            return cls(text, git_url=url, git_ref=ref)
        path = Path(text).expanduser()
        if not path.name.endswith(".whl"):
            raise UpdateFailed(f"{text!r} is neither a wheel file (ektp_kiosk-VERSION-....whl)"
                               " nor a git source (git+URL@REF, e.g. "
                               "git+file:///srv/kiosk.git@v0.2.0)")
        if not path.is_file():
            raise UpdateFailed(f"no such wheel file: {path}")
        return cls(text, wheel=path.resolve())


def wheel_version(wheel: Path) -> str:
    """The version in a kiosk wheel's file name; UpdateFailed for any other wheel."""
    match = _WHEEL.fullmatch(wheel.name)
    if not match or match["dist"].lower().replace(".", "_") != DIST:
        raise UpdateFailed(f"{wheel.name} is not a kiosk wheel (expected "
                           f"{DIST}-VERSION-py3-none-any.whl)")
    return match["version"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def site_packages(prefix: Path) -> Path:
    found = sorted(prefix.glob("lib/python3*/site-packages"))
    if not found:
        raise UpdateFailed(f"{prefix} is not a Python environment (no lib/python3*/"
                           "site-packages)")
    return found[-1]


def _own_entries(site: Path) -> set[str]:
    """Top-level names in ``site`` that belong to the installed kiosk (its packages, its
    dist-info, an editable install's finder), which the seed must leave out."""
    own: set[str] = set()
    for info in site.glob("*.dist-info"):
        if info.name.split("-")[0].lower() != DIST:
            continue
        own.add(info.name)
        try:
            lines = (info / "RECORD").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            first = line.split(",")[0].split("/")[0]
            if first and first != "..":
                own.add(first)
    own.update(p.name for p in site.glob(f"__editable__*{DIST}*"))
    return own


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link (copy where links fail: another file system) ``src`` into ``dst``."""
    for root, dirs, files in os.walk(src):
        rel = Path(root).relative_to(src)
        target = dst / rel
        target.mkdir(exist_ok=True)
        for name in files:
            source, dest = Path(root) / name, target / name
            if source.is_symlink():
                os.symlink(os.readlink(source), dest)
                continue
            try:
                os.link(source, dest)
            except OSError:
                shutil.copy2(source, dest)
        for name in list(dirs):
            if (Path(root) / name).is_symlink():
                os.symlink(os.readlink(Path(root) / name), target / name)
                dirs.remove(name)


def _copy_scripts(seed: Path, new: Path, skip: set[str]) -> None:
    """The seed's console scripts (gpiozero's ``pinout``, ...) with their ``#!`` line
    pointing at the new release's Python."""
    old_python = f"#!{seed}/bin/python"
    for script in (seed / "bin").iterdir():
        dest = new / "bin" / script.name
        if script.name in skip or dest.exists() or not script.is_file() or script.is_symlink():
            continue
        try:
            head, _, body = script.read_bytes().partition(b"\n")
        except OSError:
            continue
        if not head.decode("utf-8", "replace").startswith(old_python):
            continue
        new_head = head.decode().replace(f"{seed}/bin/python", f"{new}/bin/python", 1)
        dest.write_bytes(new_head.encode() + b"\n" + body)
        dest.chmod(script.stat().st_mode & 0o7777)


def _system_site(seed: Path) -> bool:
    """Whether the seed sees the system's packages (``python3-picamera2`` from apt)."""
    try:
        for line in (seed / "pyvenv.cfg").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "include-system-site-packages":
                return value.strip().lower() == "true"
    except OSError:
        pass
    return False


def _raise_if_out_of_space(done: Outcome) -> None:
    """A command that failed for want of disk space (pip, venv, git: "No space left on
    device", errno 28) as the OSError it stands for, which the update reports as the
    releases disk full (flow.py), not as a failure of the command."""
    if "No space left on device" in done.output or "[Errno 28]" in done.output:
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} ({' '.join(done.argv[:4])}"
                      " ...)")


class Installer:
    """Makes release directories. ``say`` prints a progress line for the maintainer."""

    def __init__(self, releases: Releases, runner: Runner, pip_options: Sequence[str],
                 say: Callable[[str], None]) -> None:
        self.releases = releases
        self.runner = runner
        self.pip_options = list(pip_options)
        self.say = say

    def install(self, source: Source, seed: Path) -> Release:
        """A complete release of ``source``, seeded from the environment at ``seed`` (an
        existing complete release of the same build is reused)."""
        self.releases.ensure_dirs()
        if source.wheel is not None:
            digest = _sha256(source.wheel)
            version = wheel_version(source.wheel)
            info = {"version": version, "source": str(source.wheel), "sha256": digest}
            return self._install_wheel(source.wheel, f"{version}-{digest[:8]}", info, seed)
        with tempfile.TemporaryDirectory(prefix=".build-", dir=self.releases.dir) as tmp:
            wheel, commit = self._build_git(source, Path(tmp))
            version = wheel_version(wheel)
            info = {"version": version, "source": f"git+{source.git_url}@{source.git_ref}",
                    "commit": commit}
            return self._install_wheel(wheel, f"{version}-g{commit[:10]}", info, seed)

    def _build_git(self, source: Source, tmp: Path) -> tuple[Path, str]:
        if source.git_url is None:
            raise UpdateFailed(f"{source.text} is not a git source")
        self.say(f"  fetching {source.git_url} at {source.git_ref}")
        src = tmp / "src"
        done = self.runner.run(["git", "clone", "--quiet", "--no-checkout", source.git_url,
                                src], timeout=600)
        if not done.ok:
            _raise_if_out_of_space(done)
            raise UpdateFailed(f"cannot fetch {source.text}: `git clone` {done.status}:\n"
                               f"{done.tail()}")
        commit = self._resolve(source, src)
        done = self.runner.run(["git", "-C", src, "checkout", "--quiet", "--detach", commit],
                               timeout=600)
        if not done.ok:
            raise UpdateFailed(f"cannot check out {source.git_ref} of {source.git_url}: "
                               f"`git checkout` {done.status}:\n{done.tail()}")
        self.say(f"  building a wheel of commit {commit[:10]} (pip wheel"
                 f"{self._pip_note()})")
        done = self.runner.run([sys.executable, "-I", "-m", "pip", "wheel", "--no-deps",
                                "--no-input", "--disable-pip-version-check", "--quiet",
                                "-w", tmp / "dist", *self.pip_options, src], timeout=1800)
        wheels = sorted((tmp / "dist").glob("*.whl")) if done.ok else []
        if len(wheels) != 1:
            _raise_if_out_of_space(done)
            hint = (" (offline, the wheelhouse must hold the build requirements: "
                    "setuptools>=77 and wheel)") if "--no-index" in self.pip_options else ""
            raise UpdateFailed(f"building {source.text} failed{hint}; pip wheel {done.status}:"
                               f"\n{done.tail()}")
        return wheels[0], commit

    def _resolve(self, source: Source, src: Path) -> str:
        """The commit ``source.git_ref`` names in the clone at ``src``: a tag, a commit, or a
        branch (the clone's own, or one of ``origin``'s); UpdateFailed when it names none
        (``git checkout`` would take it for a path and say so, confusingly)."""
        ref = source.git_ref
        for name in (ref, f"origin/{ref}"):
            done = self.runner.run(["git", "-C", src, "rev-parse", "--verify", "--quiet",
                                    "--end-of-options", f"{name}^{{commit}}"], timeout=60)
            if done.ok and done.output.strip():
                return done.output.strip().splitlines()[-1]
        raise UpdateFailed(f"no tag, branch or commit {ref!r} in {source.git_url}: check the "
                           f"spelling (git ls-remote --tags --heads {source.git_url} lists "
                           "them); nothing was installed or switched")

    def _pip_note(self) -> str:
        notes = ["offline" if "--no-index" in self.pip_options else ""]
        notes += [f"wheelhouse {d}" for o, d in zip(self.pip_options, self.pip_options[1:],
                                                     strict=False) if o == "--find-links"]
        text = ", ".join(n for n in notes if n)
        return f", {text}" if text else ""

    def _install_wheel(self, wheel: Path, name: str, info: dict[str, Any], seed: Path
                       ) -> Release:
        existing = self.releases.get(name)
        if existing is not None:
            self.say(f"  {name} is already installed in {existing.path}; using it")
            return existing
        path = self.releases.new_path(name)
        if path.exists():  # an install of the same build that was cut short
            self.releases.remove(path)
        seed_name = seed.name if seed.parent == self.releases.dir else str(seed)
        self.say(f"  new environment {path}: the dependencies of {seed_name} (hard links), "
                 f"then pip install {wheel.name}{self._pip_note()}")
        venv = [str(seed / "bin" / "python"), "-m", "venv", "--without-pip"]
        if _system_site(seed):
            venv.append("--system-site-packages")
        self._check(self.runner.run([*venv, path], timeout=300), "making the venv")
        seed_site = site_packages(seed)
        own = _own_entries(seed_site)
        new_site = site_packages(path)
        for entry in seed_site.iterdir():
            if entry.name in own:
                continue
            if entry.is_dir() and not entry.is_symlink():
                _link_tree(entry, new_site / entry.name)
            elif entry.is_symlink():
                os.symlink(os.readlink(entry), new_site / entry.name)
            else:
                try:
                    os.link(entry, new_site / entry.name)
                except OSError:
                    shutil.copy2(entry, new_site / entry.name)
        _copy_scripts(seed, path, {"kiosk", "kiosk-intake"})
        python = path / "bin" / "python"
        if not (new_site / "pip").is_dir():  # a seed made --without-pip
            self._check(self.runner.run([python, "-I", "-m", "ensurepip", "--default-pip"],
                                        timeout=300), "installing pip (ensurepip)")
        pins = self._system_pins(python, path)
        self._check(self.runner.run(
            [python, "-I", "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
             *self.pip_options, *pins, wheel], timeout=1800), "pip install")
        self._check(self.runner.run([python, "-I", "-m", "pip", "check"], timeout=300),
                    "pip check (a dependency missing or of the wrong version)")
        # The release must run its own code: the kiosk it imports is the one in it. (-I:
        # not the working directory's kiosk/, nor a PYTHONPATH, the way its scripts run.)
        probe = self.runner.run([python, "-I", "-c", "import kiosk; print(kiosk.__file__)"])
        self._check(probe, "importing the installed kiosk")
        where = Path(probe.output.strip().splitlines()[-1]).resolve()
        if not where.is_relative_to(path.resolve()):
            raise UpdateFailed(f"the new release imports the kiosk from {where}, not from "
                               f"{path}: something in its site-packages points elsewhere")
        info["seeded_from"] = seed_name
        return self.releases.mark_complete(path, info)

    def _system_pins(self, python: Path, release: Path) -> list[str]:
        """pip's ``-c FILE`` keeping numpy at the system's version when the new release
        imports numpy from the system (python3-numpy on a Pi, which picamera2 and simplejpeg
        from apt are built against: a numpy 2 in the venv, pulled in by a newer OpenCV,
        would break them with "numpy.dtype size changed"), as the Pi installer pins it;
        ``[]`` when the release has a numpy of its own or none."""
        probe = self.runner.run([python, "-I", "-c",
                                 "import numpy; print(numpy.__version__); print(numpy.__file__)"])
        lines = probe.output.strip().splitlines()
        if not probe.ok or len(lines) < 2:
            return []
        version, where = lines[-2].strip(), Path(lines[-1].strip())
        if (not _VERSION.fullmatch(version)
                or where.resolve().is_relative_to(release.resolve())):
            return []
        pins = release / "kiosk-pins.txt"
        pins.write_text(f"numpy=={version}\n", encoding="utf-8")
        self.say(f"  pinned numpy=={version} (the system's, which picamera2 from apt needs)")
        return ["--constraint", str(pins)]

    def _check(self, done: Any, what: str) -> None:
        if not done.ok:
            _raise_if_out_of_space(done)
            raise UpdateFailed(f"installing failed at {what} ({done.status}); nothing was "
                               f"switched. Output:\n{done.tail()}")
