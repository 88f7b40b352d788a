"""The releases on disk: which exist, which is current, switching, pruning, the lock.

Layout under the update root (``[update] root``, ``/opt/kiosk`` on a kiosk)::

    releases/<name>/          one Python venv holding one kiosk version; complete only
                              once it holds RELEASE_FILE (written last, after the checks)
    current  -> releases/<name>    what the services run (their ExecStart goes through it)
    previous -> releases/<name>    what ``kiosk update --rollback`` goes back to
    update.lock               held (flock) while an update runs
    update-state.json         present only while an update is between switch and verdict
    last-update.log           every command the last update ran, with its output

Both links are switched the one atomic way POSIX offers: a new symlink under a temporary
name, renamed over the old one, then the directory fsync'd. Nothing here reads or writes
the kiosk's data directory (journal, keys): a release is code only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.errors import KioskError
from kiosk.fsutil import fsync_dir, make_dirs, write_atomic

RELEASE_FILE = "kiosk-release.json"  # in a release's top directory; its presence = complete
STATE_FILE = "update-state.json"
LOG_FILE = "last-update.log"
LOCK_FILE = "update.lock"


def _json(doc: dict[str, Any]) -> bytes:
    """A small JSON file for people to read too (RELEASE_FILE, STATE_FILE)."""
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


class UpdateFailed(KioskError):
    """An update or rollback did not end on the release asked for; the message says where
    the kiosk is now and what failed."""


class UpdateBusy(UpdateFailed):
    """Another ``kiosk update`` holds the lock."""

    temporary = True


@dataclass(frozen=True)
class Release:
    """One complete release directory and what its RELEASE_FILE says about it."""

    name: str
    path: Path
    info: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.info.get("version", "?"))

    @property
    def kiosk(self) -> Path:
        """Its ``kiosk`` command."""
        return self.path / "bin" / "kiosk"

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


class Releases:
    """The update root: ``Releases(Path("/opt/kiosk"))``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.dir = self.root / "releases"

    # -- reading ------------------------------------------------------------------------
    def _link(self, name: str) -> Release | None:
        link = self.root / name
        try:
            target = os.readlink(link)
        except (FileNotFoundError, OSError):
            return None
        return self.get(Path(target).name)

    def current(self) -> Release | None:
        """The release ``current`` points to (None: no link, or it points nowhere valid)."""
        return self._link("current")

    def previous(self) -> Release | None:
        return self._link("previous")

    def get(self, name: str) -> Release | None:
        """The complete release called ``name``, or None."""
        path = self.dir / name
        try:
            info = json.loads((path / RELEASE_FILE).read_text())
        except (OSError, ValueError):
            return None
        return Release(name, path, info if isinstance(info, dict) else {})

    def all(self) -> list[Release]:
        """Complete releases, oldest first (by when they were installed)."""
        found = [r for p in self._entries() if (r := self.get(p.name)) is not None]
        return sorted(found, key=lambda r: (r.info.get("installed_at", 0), r.name))

    def incomplete(self) -> list[Path]:
        """Release directories an interrupted install or removal left behind."""
        return [p for p in self._entries(hidden=True)
                if p.name.startswith(".") or self.get(p.name) is None]

    def _entries(self, *, hidden: bool = False) -> list[Path]:
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.iterdir()
                      if p.is_dir() and not p.is_symlink()
                      and (hidden or not p.name.startswith(".")))

    def running(self) -> str | None:
        """The release this very process runs from, if it runs from one of ours."""
        prefix = Path(sys.prefix).resolve()
        with contextlib.suppress(ValueError):
            parts = prefix.relative_to(self.dir.resolve()).parts
            return parts[0] if parts else None
        return None

    def state(self) -> dict[str, Any] | None:
        """What an update that was interrupted between switch and verdict was doing."""
        try:
            data = json.loads((self.root / STATE_FILE).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    # -- changing -----------------------------------------------------------------------
    def adopt_current(self) -> Release | None:
        """A ``current`` release made by hand or by the installer has no RELEASE_FILE:
        record it (its version from its kiosk's dist-info) so that it counts as complete,
        is kept, and can be switched back to. None when there is nothing to adopt."""
        try:
            name = Path(os.readlink(self.root / "current")).name
        except OSError:
            return None
        path = self.dir / name
        if self.get(name) is not None or not (path / "bin" / "kiosk").is_file():
            return None
        infos = sorted(path.glob("lib/python3*/site-packages/ektp_kiosk-*.dist-info"))
        version = infos[-1].name.removesuffix(".dist-info").split("-")[1] if infos else "?"
        return self.mark_complete(path, {"version": version,
                                         "source": "installed before kiosk update (adopted)"})

    def ensure_dirs(self) -> None:
        make_dirs(self.dir, mode=0o755)

    def new_path(self, name: str) -> Path:
        return self.dir / name

    def mark_complete(self, path: Path, info: dict[str, Any]) -> Release:
        """Write RELEASE_FILE last, after flushing the whole release to disk (a power cut
        after this never leaves a "complete" release with empty files)."""
        info = {**info, "name": path.name, "installed_at": time.time()}
        os.sync()  # pip wrote thousands of files without fsync; one sync covers them all
        write_atomic(path / RELEASE_FILE, _json(info), 0o644, overwrite=True)
        return Release(path.name, path, info)

    def point(self, link: str, release: Release | None) -> None:
        """Make ``root/link`` point at ``release`` atomically (None: remove the link)."""
        path = self.root / link
        if release is None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        else:
            tmp = self.root / f".{link}.{os.getpid()}.tmp"
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            # Relative, so the whole root can be moved or mounted elsewhere.
            os.symlink(os.path.join("releases", release.name), tmp)
            os.replace(tmp, path)
        fsync_dir(self.root)

    def write_state(self, data: dict[str, Any] | None) -> None:
        """Record (durably: a power cut right after the switch must find it whole) what
        an update between switch and verdict is doing; None: it is over."""
        path = self.root / STATE_FILE
        if data is None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            fsync_dir(self.root)
        else:
            write_atomic(path, _json(data), 0o644, overwrite=True)

    def remove(self, path: Path) -> None:
        """Delete a release directory; renamed to a hidden name first, so a removal cut
        short never leaves a half release under a release's name."""
        if not path.name.startswith("."):
            hidden = path.with_name(f".removing-{path.name}-{os.getpid()}")
            os.replace(path, hidden)
            fsync_dir(path.parent)
            path = hidden
        shutil.rmtree(path, ignore_errors=True)

    def prune(self, keep: set[str]) -> list[str]:
        """Remove every release but ``keep``, current, previous and the running one, and
        any leftovers of interrupted installs. Returns the names removed."""
        current, previous = self.current(), self.previous()
        keep = set(keep) | {r.name for r in (current, previous) if r is not None}
        if (running := self.running()) is not None:
            keep.add(running)
        removed = []
        for path in self._entries(hidden=True):
            if path.name in keep:
                continue
            self.remove(path)
            if not path.name.startswith("."):
                removed.append(path.name)
        return removed

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold ``update.lock`` for the block; UpdateBusy at once if another update holds
        it. The kernel drops a flock when its holder dies, so a killed update never
        leaves the kiosk locked."""
        self.ensure_dirs()
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "?"
                raise UpdateBusy(f"another kiosk update is running ({holder}); wait for it "
                                 f"to finish, or see {self.root / LOG_FILE}") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}\n".encode(), 0)
            yield
        finally:
            os.close(fd)
