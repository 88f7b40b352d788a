"""Records by USB stick on the file systems sticks come with: FAT32 and exFAT, each a real
file system in an image file (mkfs.fat, mkfs.exfat), mounted through FUSE (fusefat;
exfat-fuse on a loop device) since the kernel here has no vfat module. They keep no file
modes, refuse hard links (FAT) and, for fusefat, any chmod (ENOSYS; the kernel's vfat
answers EPERM) and the size of the volume: each of those once stopped a step of the path.

Between the kiosk and the office the stick is unmounted and mounted again, so each side
reads what reached the image, and the image's own checker (fsck.fat, fsck.exfat) must find
it clean after every side's writes. Skipped only where the tools or /dev/fuse are missing
(`make setup` installs them: dosfstools, fusefat, exfatprogs, exfat-fuse)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kiosk.config import load_config
from kiosk.journal import Journal
from kiosk.receipts import load_intake_public_key
from kiosk.runtime import open_journal
from kiosk.upload import usb
from tests.conftest import KIOSK, kiosk_env
from tests.upload_helpers import (
    INTAKE,
    KIOSK_ID,
    Site,
    check_acknowledged,
    demo_site_fixtures,
    intake_env,
    stats,
)

template, site, ids = demo_site_fixtures(4, seed=37)

MOUNTED_S = 10.0


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (make setup installs them)")
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        pytest.skip("mounting a stick image through FUSE takes root and /dev/fuse")


class Stick:
    """A stick image: ``plug()`` mounts it at ``where``, ``pull()`` unmounts it, waits for
    its FUSE process to finish writing (``fusermount -u`` returns before) and checks the
    file system with its own checker, read-only."""

    def __init__(self, image: Path, where: Path, kind: str) -> None:
        self.image, self.where, self.kind = image, where, kind
        self.loop: str | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def plug(self) -> Path:
        if self.kind == "fat32":  # in the foreground, so that pull() can wait for it
            argv = ["fusefat", "-f", "-o", "rw+", str(self.image), str(self.where)]
        else:  # exfat-fuse takes a block device only; -d keeps it in the foreground
            self.loop = subprocess.run(["losetup", "-f", "--show", str(self.image)],
                                       check=True, capture_output=True,
                                       text=True).stdout.strip()
            argv = ["mount.exfat-fuse", "-d", self.loop, str(self.where)]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + MOUNTED_S
        while not os.path.ismount(self.where):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{argv[0]} did not mount {self.where} "
                                     f"(exit {self.process.poll()})")
            time.sleep(0.05)
        return self.where

    def unmount(self) -> None:
        if os.path.ismount(self.where):
            subprocess.run(["fusermount", "-u", str(self.where)], check=True,
                           capture_output=True)
        if self.process is not None:
            try:
                self.process.wait(timeout=MOUNTED_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
            finally:
                self.process = None
        if self.loop is not None:
            subprocess.run(["losetup", "-d", self.loop], check=False, capture_output=True)
            self.loop = None

    def pull(self) -> None:
        self.unmount()
        checker = ["fsck.fat", "-n"] if self.kind == "fat32" else ["fsck.exfat", "-n"]
        checked = subprocess.run([*checker, str(self.image)], capture_output=True, text=True)
        assert checked.returncode == 0, f"{self.kind} image damaged: {checked.stdout}"

    def files(self) -> list[str]:
        return sorted(p.name for p in self.where.iterdir())


@contextlib.contextmanager
def stick_image(tmp_path: Path, kind: str, mib: int,
                cluster_kib: int | None = None) -> Iterator[Stick]:
    if kind == "fat32":
        _need("mkfs.fat", "fusefat", "fsck.fat", "fusermount")
        # no volume label: fusefat lists a FAT label as a file
        make = ["mkfs.fat", *(["-F", "32"] if mib >= 33 else [])]
    else:
        _need("mkfs.exfat", "mount.exfat-fuse", "fsck.exfat", "losetup", "fusermount")
        make = ["mkfs.exfat", "-L", "KIOSKUSB",
                *(["-c", f"{cluster_kib}K"] if cluster_kib else [])]
    image = tmp_path / f"{kind}.img"
    with open(image, "wb") as out:
        out.truncate(mib * 2**20)
    subprocess.run([*make, str(image)], check=True, capture_output=True)
    where = tmp_path / "usb"
    where.mkdir()
    stick = Stick(image, where, kind)
    try:
        if kind == "exfat":
            probe = subprocess.run(["losetup", "-f"], capture_output=True, text=True)
            if probe.returncode != 0:
                pytest.skip(f"no loop device for exfat-fuse: {probe.stderr.strip()}")
        stick.plug()
        yield stick
    finally:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            stick.unmount()


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def _states(site: Site) -> dict[str, str]:
    with Journal.open_readonly(site.journal_path) as journal:
        return {r.id: r.state for r in journal.records()}


@pytest.mark.parametrize("kind", ["fat32", "exfat"])
def test_a_stick_goes_to_the_office_and_back(site: Site, ids: list[str], tmp_path: Path,
                                             kind: str) -> None:
    """The commands of docs/usb.md on a FAT32 or exFAT stick: export (no ``--local``: the
    stick is its own file system), the office's import writes its receipts beside the
    bundle, the kiosk's import acknowledges every record and takes the bundle off."""
    env = kiosk_env(site.config)
    with stick_image(tmp_path, kind, 64) as stick:
        export = run([*KIOSK, "queue", "export", "--to", str(stick.where)], env)
        assert export.returncode == 0, export.stderr
        assert export.stdout.splitlines() == [f"exported {i}" for i in ids]
        (bundle,) = stick.files()
        assert bundle.endswith(".ektp")
        stick.pull()  # to the central office
        stick.plug()
        office = run([*INTAKE, "import", "--data", str(site.intake_dir), str(stick.where)],
                     intake_env())
        assert office.returncode == 0, office.stderr
        assert stats(site)["received"] == len(ids)
        receipts = bundle.removesuffix(".ektp") + ".receipts"
        assert stick.files() == [bundle, receipts]
        stick.pull()  # back to the kiosk
        stick.plug()
        back = run([*KIOSK, "queue", "import", str(stick.where)], env)
        assert back.returncode == 0, back.stderr
        assert back.stdout.splitlines() == [f"acknowledged {i}" for i in ids]
        with Journal.open_readonly(site.journal_path) as journal:
            assert sorted(check_acknowledged(site, journal)) == sorted(ids)
        assert stick.files() == [receipts]  # the confirmed bundle left the stick
        stick.pull()


def test_the_officers_stick_button_on_a_fat_stick(site: Site, ids: list[str],
                                                  tmp_path: Path) -> None:
    """``sync_stick`` (the touchscreen's stick button) on FAT32: the records go on it; back
    from the office, one press reads the receipts and clears the stick of the bundle."""
    intake_key = load_intake_public_key(site.intake_dir / "keys" / "intake.pub")
    data_dir = load_config(site.config).data_dir
    opened: Callable[[], Journal] = lambda: open_journal(load_config(site.config),  # noqa: E731
                                                         owner=False)
    with stick_image(tmp_path, "fat32", 64) as stick:
        with opened() as journal:
            report = usb.sync_stick(journal, KIOSK_ID, intake_key, stick.where,
                                    data_dir=data_dir)
        assert report.problem == "", report.why
        assert report.exported.exported == ids and report.left == 0
        stick.pull()
        stick.plug()
        office = run([*INTAKE, "import", "--data", str(site.intake_dir), str(stick.where)],
                     intake_env())
        assert office.returncode == 0, office.stderr
        stick.pull()
        stick.plug()
        with opened() as journal:
            report = usb.sync_stick(journal, KIOSK_ID, intake_key, stick.where,
                                    data_dir=data_dir)
        assert report.problem == "" and report.imported.acknowledged == ids
        assert len(report.cleanup.removed) == 1 and report.cleanup.records == len(ids)
        assert report.cleanup.problems == [] and report.exported.exported == []
        assert [name for name in stick.files() if name.endswith(".ektp")] == []
        stick.pull()
    assert set(_states(site).values()) == {"acknowledged"}


def _ballast(stick: Stick, leave: int) -> None:
    """Fill the stick with another file until about ``leave`` bytes are free (a stick
    carries other things too), measured by the file system's own count."""
    free = shutil.disk_usage(stick.where).free
    assert free > leave, f"the image is too small: {free} bytes free"
    with open(stick.where / "photos.zip", "wb") as out:
        chunk = b"\xa5" * 2**20
        left = free - leave
        while left > 0:
            left -= out.write(chunk[:left])


def _packet_sizes(site: Site, ids: list[str]) -> list[int]:
    with Journal.open_readonly(site.journal_path) as journal:
        infos = {r.id: r for r in journal.records()}
        return [len(usb.packet_of(journal, infos[i])) for i in ids]


def test_a_nearly_full_exfat_stick_takes_the_oldest_records_that_fit(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    """exFAT says its size: the export counts what fits (the file system's clusters and the
    margin included) and never fills the stick to a failed write."""
    env = kiosk_env(site.config)
    sizes = _packet_sizes(site, ids)
    with stick_image(tmp_path, "exfat", 8) as stick:
        _ballast(stick, usb.STICK_MARGIN_BYTES + sizes[0] + sizes[1] + sizes[2] // 2)
        export = run([*KIOSK, "queue", "export", "--to", str(stick.where)], env)
        assert export.returncode == 1
        assert export.stdout.splitlines() == [f"exported {i}" for i in ids[:2]]
        assert "the stick is full" in export.stderr and ids[2] in export.stderr
        assert "could not write" not in export.stderr
        states = _states(site)
        assert [states[i] for i in ids] == ["exported"] * 2 + ["sealed"] * 2
        assert len([n for n in stick.files() if n.endswith(".ektp")]) == 1
        stick.pull()


def test_a_fat32_stick_that_does_not_say_its_size_fills_to_a_clear_message(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    """fusefat gives a FAT32 volume no size (0 blocks): the export writes until the stick
    refuses, then says so; the bundle that did not fit leaves no file behind and marks
    nothing, and the file system stays whole."""
    env = kiosk_env(site.config)
    sizes = _packet_sizes(site, ids)
    with stick_image(tmp_path, "fat32", 40) as stick:
        assert shutil.disk_usage(stick.where).total == 0  # what makes this case
        # nor its free space: fill it to the image's own count
        stick.pull()
        free = _fat_free_bytes(stick.image)
        stick.plug()
        with open(stick.where / "photos.zip", "wb") as out:
            chunk = b"\xa5" * 2**20
            left = free - sum(sizes) // 2
            while left > 0:
                left -= out.write(chunk[:left])
        export = run([*KIOSK, "queue", "export", "--to", str(stick.where)], env)
        assert export.returncode == 1
        assert export.stdout == ""
        # the write that failed is named (the kernel's vfat: "No space left on device";
        # fusefat answers EPERM) and what it means for the records
        assert "could not write to" in export.stderr
        assert "stay in the outbox" in export.stderr
        assert stick.files() == ["photos.zip"]
        assert set(_states(site).values()) == {"sealed"}
        stick.pull()


def _fat_free_bytes(image: Path) -> int:
    """Free bytes of a FAT image, as its checker counts them (clusters free x size)."""
    checked = subprocess.run(["fsck.fat", "-n", "-v", str(image)], capture_output=True,
                             text=True, check=True).stdout
    per_cluster = next(int(line.split()[0]) for line in checked.splitlines()
                       if line.strip().endswith("bytes per cluster"))
    counted = re.search(r"(\d+)/(\d+) clusters$", checked, re.MULTILINE)
    assert counted is not None, checked
    return (int(counted[2]) - int(counted[1])) * per_cluster


def test_the_office_writes_receipts_on_a_stick_that_keeps_no_modes(tmp_path: Path) -> None:
    """What stopped the office's import on FAT: the receipts file was chmod'ed, which
    fusefat refuses (the kernel's vfat refuses a chmod that differs from its mount's
    modes). ``write_atomic(mode=None)`` leaves the mode to the file system."""
    from kiosk.fsutil import write_atomic

    with stick_image(tmp_path, "fat32", 64) as stick:
        with pytest.raises(OSError):
            write_atomic(stick.where / "strict.receipts", b"{}", 0o644, overwrite=True)
        write_atomic(stick.where / "a.receipts", b"{}", None, overwrite=True)
        write_atomic(stick.where / "a.receipts", b"{ }", None, overwrite=True)
        assert (stick.where / "a.receipts").read_bytes() == b"{ }"
        assert stick.files() == ["a.receipts"]  # no temporary left, the refused one's neither
        stick.pull()


def test_the_support_export_goes_on_an_exfat_stick(site: Site, ids: list[str],
                                                   tmp_path: Path) -> None:
    """``kiosk journal export --out`` on a stick (how a maintainer takes it off a kiosk
    without a link): a SQLite file that reads whole after the stick was pulled. exFAT only:
    fusefat mis-sizes a file written past its end (its own bug, not FAT's), which SQLite
    does."""
    import sqlite3

    env = kiosk_env(site.config)
    with stick_image(tmp_path, "exfat", 64) as stick:
        out = stick.where / "support.db"
        export = run([*KIOSK, "journal", "export", "--out", str(out)], env)
        assert export.returncode == 0, export.stderr
        stick.pull()
        stick.plug()
        db = sqlite3.connect(f"file:{out}?mode=ro", uri=True)
        try:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert sorted(r[0] for r in db.execute("SELECT id FROM records")) == sorted(ids)
        finally:
            db.close()
        assert stick.files() == ["support.db"]
        stick.pull()


def test_a_stick_the_kiosk_filled_has_room_for_the_offices_receipts(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    """exFAT with 128 KiB clusters, as large sticks come: four presses put a bundle each on
    a nearly full stick; the kiosk keeps room for each bundle's receipts file (a cluster at
    least, and about 600 bytes a record), so the office's import writes every one of them
    (a fixed margin left room for two)."""
    sizes = _packet_sizes(site, ids)
    with stick_image(tmp_path, "exfat", 16, cluster_kib=128) as stick:
        assert os.statvfs(stick.where).f_bsize == 128 * 1024
        cluster = 128 * 1024  # each bundle in whole clusters (its tar headers: < 16 KiB)
        bundles_take = sum(-(-(size + 16 * 1024) // cluster) * cluster for size in sizes)
        _ballast(stick, usb.STICK_MARGIN_BYTES + bundles_take + 64 * 1024)
        with Journal.open_readonly(site.journal_path) as journal:
            infos = {r.id: r for r in journal.records()}
        with open_journal(load_config(site.config), owner=False) as journal:
            for record_id in ids:  # a press a day, a record each
                usb.export_records(journal, KIOSK_ID, stick.where, records=[infos[record_id]])
        bundles = [n for n in stick.files() if n.endswith(".ektp")]
        assert bundles  # the oldest went; what did not fit waits for another stick
        stick.pull()
        stick.plug()
        office = run([*INTAKE, "import", "--data", str(site.intake_dir), str(stick.where)],
                     intake_env())
        assert office.returncode == 0, office.stderr
        assert sorted(n for n in stick.files() if n.endswith(".receipts")) == sorted(
            n.removesuffix(".ektp") + ".receipts" for n in bundles)
        stick.pull()
