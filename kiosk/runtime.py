"""What a running kiosk needs around the session: keys, journal, devices, and the answer to
"may we enroll now?". Shared by ``kiosk run``, ``kiosk demo`` and ``kiosk status``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.clock import clock_is_synchronized
from kiosk.config import Config, check_sealing, real_hardware
from kiosk.devices import create_device
from kiosk.errors import (
    ConfigError,
    DeviceError,
    JournalCorrupt,
    JournalError,
    KioskError,
    NotAccepting,
    RefusalCategory,
    SealingError,
)
from kiosk.fsutil import make_dirs
from kiosk.journal import Journal, quarantined_files
from kiosk.power import PowerStatus
from kiosk.power.policy import Thresholds, refusal_reason
from kiosk.power.watcher import STATE_FILE, read_published_state
from kiosk.record_store import JournalRecordStore
from kiosk.recovery import Recovery, recover_unfinished
from kiosk.sealing import DeviceKey, Sealer, generate_central_keypair, load_central_public_key
from kiosk.sealing_keys import restore_central_public_key

if TYPE_CHECKING:
    from kiosk.hardware.card.trust import StaffTrust

log = logging.getLogger(__name__)

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str:
    """The kernel's id of this boot; a random one if the kernel does not say."""
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return str(uuid.uuid4())


def ensure_dev_central_key(config: Config) -> None:
    """With ``sealing.central_key = "dev"``, make the development key pair on first use.

    The pair is two files, ``central.key`` written first: a kill or a power cut in the
    first start, between the two, leaves the private half without ``central.pub``. Making a
    pair again then refused to overwrite the private key and the kiosk never came up (its
    closed screen said "sealing keys unusable", a retry every 10 s). Nothing can have been
    sealed to that key, its public half never having been there: the public half is made
    from it and written, and the kiosk starts."""
    if not config.uses_dev_central_key or config.central_key_path.exists():
        return
    public_path = config.central_key_path
    private_path = public_path.with_name("central.key")
    if private_path.exists():
        restore_central_public_key(private_path)
        log.warning("development central public key %s made again from %s (its first "
                    "start was cut short)", public_path, private_path)
        return
    generate_central_keypair(public_path.parent)
    log.warning("development central key pair created in %s (simulation only)",
                public_path.parent)


def load_staff_trust(config: Config) -> StaffTrust | None:
    """The staff-card CAs this kiosk trusts (:func:`read_staff_trust`), or None."""
    return read_staff_trust(config)[0]


def read_staff_trust(config: Config) -> tuple[StaffTrust | None, bool]:
    """The staff-card CAs this kiosk trusts, for :func:`~kiosk.hardware.card.staff.staff_login`.

    ``[staff] ca`` names a PEM file with the office's CA certificate(s). Without it, the
    development CA when ``[hardware.card] type = "sim"`` (a warning is logged, as for the
    development central key), else None: no officer can log in. A file that cannot be
    read or holds no CA certificate is logged as an error and gives None too: officer login
    is refused, citizens are still enrolled. ``kiosk doctor`` (``key.staff``) says which.

    ``[staff] crl`` names the office's CRL(s) of those CAs: the cards they list are refused.
    Set but unreadable, or holding a CRL no trusted CA signed, it gives None as well (an
    error logged): the kiosk fails closed rather than forget a revocation, since a lost card
    with its PIN is the fraud the CRL is there to stop. An out-of-date CRL is used (its
    cards stay revoked) with a warning.

    The second value is True when a CA is set up and the CRL is what stops the login (the
    PIN pad says so, :class:`~kiosk.hardware.card.errors.StaffLoginNotSetUp`).
    """
    from datetime import UTC, datetime

    from kiosk.hardware.card.trust import StaffTrust

    path = config["staff"]["ca"]
    trust: StaffTrust | None = None
    if path:
        try:
            trust = StaffTrust.from_file(path)
        except (OSError, ValueError) as exc:
            log.error("staff.ca %s unusable, officer login refused: %s", path, exc)
            return None, False
        log.info("staff login trusts %s", trust.describe())
    else:
        real = real_hardware(config)
        if config["hardware.card"]["type"] == "sim" and not real:
            log.warning("development staff CA trusted (simulation only)")
            trust = StaffTrust.development()
        elif real:  # as the development central key: never beside real hardware
            log.warning("no staff-card CA ([staff] ca is not set; the development CA is for "
                        "simulated hardware only, and %s is real): officer login refused",
                        ", ".join(real))
        else:
            log.warning("no staff-card CA ([staff] ca is not set): officer login refused")
    crl = config["staff"]["crl"]
    if trust is None or not crl:
        return trust, False
    try:
        trust = trust.with_crl_file(crl)
    except (OSError, ValueError) as exc:
        log.error("staff.crl %s unusable, officer login refused (the revoked cards it may "
                  "list must not log in): %s", crl, exc)
        return None, True
    log.info("staff login refuses the cards revoked by %s", trust.describe_crls())
    for entry in trust.out_of_date(datetime.now(UTC)):
        log.warning("staff.crl %s is out of date since %s: the cards it lists stay refused, "
                    "cards revoked since are not known (install the office's new CRL)", crl,
                    f"{entry.crl.next_update_utc:%Y-%m-%d}")
    return trust, False


class StaffTrustFiles:
    """:func:`read_staff_trust`, read again whenever ``[staff] ca`` or ``[staff] crl``
    changes on disk (another inode, size or modification time; a file appearing or going),
    so a CRL the office installs for a lost card takes effect at the next login, without a
    restart of the touchscreen. Safe to call from any thread."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._seen: tuple[tuple[int, int, int] | None, ...] | None = None
        self._value: tuple[StaffTrust | None, bool] = (None, False)

    def _signature(self) -> tuple[tuple[int, int, int] | None, ...]:
        marks: list[tuple[int, int, int] | None] = []
        for path in (self.config["staff"]["ca"], self.config["staff"]["crl"]):
            try:
                st = os.stat(path) if path else None
            except OSError:
                st = None
            marks.append(None if st is None else (st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(marks)

    def current(self) -> tuple[StaffTrust | None, bool]:
        """(the trust, whether the CRL stops the login), as the files are now."""
        with self._lock:
            seen = self._signature()
            if seen != self._seen:
                if self._seen is not None:
                    log.info("staff.ca or staff.crl changed on disk: read again")
                self._value = read_staff_trust(self.config)
                self._seen = seen
            return self._value




def lost_device_key(config: Config, records: int | None = None) -> str | None:
    """Why the missing device key must not be replaced by a new one, or None (there is a
    key, or no record was ever sealed here: a new kiosk's first start makes it). The
    journal's ``records`` (counted here when not given; a journal that does not read is
    reported where it is read) were sealed and signed with the lost key; the intake knows
    that key only, and would refuse every upload signed with a new one."""
    path = config.device_key_path
    if path.exists() or path.is_symlink():  # one that does not load: DeviceKey.load says
        return None
    if records is None:
        records = 0
        if config.journal_path.is_file():
            try:
                with Journal.open_readonly(config.journal_path) as journal:
                    records = sum(journal.counts().values())
            except (JournalError, OSError):
                return None
    if not records:
        return None
    return (f"the device key {path} is missing, but the journal holds {records} record(s) "
            "sealed and signed with it: a new key would be one the intake does not know "
            "(every upload refused). Restore device.key from the kiosk's backup (mode 600, "
            "owned by the kiosk user); if it is lost for good, `kiosk keys init --replace` "
            "makes a new one, then register it: `kiosk-intake register --replace`")


def make_sealer(config: Config) -> Sealer:
    try:
        check_sealing(config)
    except ConfigError as exc:
        raise SealingError(str(exc)) from exc
    ensure_dev_central_key(config)
    central = load_central_public_key(config.central_key_path)
    device_key = DeviceKey.load_or_create(config.device_key_path)
    return Sealer(central, device_key, config.kiosk_id)


def open_journal(config: Config, *, owner: bool = True, create: bool = True) -> Journal:
    """The journal for writing. ``owner``: this process enrolls (``kiosk run``, ``kiosk
    demo``) and may quarantine a corrupt journal; the uploader and the power watcher open
    with ``owner=False``, report a corrupt file and stop (JournalCorrupt). ``create=False``
    (a maintainer's command: ``kiosk queue retry``): :class:`JournalError` where there is
    no data directory or no journal, never a new one (a mistyped ``kiosk.data_dir`` is
    not a new kiosk)."""
    if not create:
        require_data_directory(config)
        if not config.journal_path.exists():
            raise JournalError(f"no journal at {config.journal_path}: no record was ever "
                               "made here (is kiosk.data_dir the kiosk's data directory?)")
    make_dirs(config.data_dir)
    return Journal.open(config.journal_path, kiosk_id=config.kiosk_id, boot_id=boot_id(),
                        clock_trusted=clock_is_synchronized, owner=owner)


def read_power(config: Config) -> PowerStatus:
    device = create_device("power", config.backend_options("power"))
    with device:
        return device.read()


def _size(count: int) -> str:
    """``count`` bytes as a maintainer reads them: "15.9 MiB", "79.8 GiB"."""
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.1f} MiB"


#: Held (``flock``) by the one process that enrolls on a kiosk, ``kiosk run`` or ``kiosk
#: demo`` (:func:`hold_enrolment`), for as long as its runtime is open.
ENROLL_LOCK = "enroll.lock"
#: What the journal writes in the data directory besides new files (journal.py's lock).
_JOURNAL_FILES = ("journal.db", "journal.db.lock", "journal.db-wal", "journal.db-shm",
                  ENROLL_LOCK)


def hold_enrolment(data_dir: Path) -> int:
    """Take ``<data_dir>/enroll.lock`` for this process (the descriptor; closing it lets
    go), and write the process id in it for the message below. Raises NotAccepting when
    another process holds it: only one process may enroll on a kiosk, because each start
    discards (or keeps for resuming) the unfinished sessions it finds, and a second
    ``kiosk demo`` run over SSH beside the touchscreen would take the citizen at the screen
    for one a crash left."""
    path = Path(data_dir) / ENROLL_LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    if os.geteuid() == 0:  # root's file would lock the kiosk user's touchscreen out
        with contextlib.suppress(OSError):
            owner = os.stat(data_dir)
            if owner.st_uid != 0:
                os.fchown(fd, owner.st_uid, owner.st_gid)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise
        try:
            holder = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            holder = ""
        who = f" (process {holder})" if holder.isdigit() else ""
        raise NotAccepting(
            f"another process is enrolling on this kiosk{who}: the touchscreen (kiosk run) "
            "or kiosk demo; only one may, as each start discards the unfinished sessions it "
            "finds. Stop it first (the touchscreen: sudo systemctl stop kiosk-ui)",
            RefusalCategory.STARTUP) from exc
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass  # only the message's process id
    return fd


def data_dir_refusal(config: Config) -> str | None:
    """Why the data directory cannot take a record whatever its free space (a file in its
    place, a file system mounted read-only: an SD card the kernel remounted after errors;
    a directory or journal file this user may not write), or None.

    Writability is asked of the kernel for this process (``access(2)`` with the effective
    ids), not probed by writing: the touchscreen asks every second, and a file made and
    removed each time would wear the SD card. It answers for the user who asks: the kiosk
    user for ``kiosk run`` and ``kiosk demo`` (the writers), root for ``sudo kiosk status``
    (who can write it; the read-only file system is the statvfs flag). ``kiosk doctor``
    also writes an unnamed temporary file there (:func:`write_probe`)."""
    data_dir = config.data_dir
    if data_dir.exists() and not data_dir.is_dir():
        return f"data directory {data_dir} is not a directory"
    try:
        flags = os.statvfs(data_dir if data_dir.exists() else data_dir.parent).f_flag
    except OSError:
        return None  # disk_refusal says it is unusable
    if flags & os.ST_RDONLY:
        return f"data directory {data_dir} is on a read-only file system"
    if not data_dir.exists():
        return None  # the first start makes it
    if not _writable(data_dir, os.W_OK | os.X_OK):
        return f"data directory {data_dir} is not writable by {_user()}"
    for name in _JOURNAL_FILES:
        path = data_dir / name
        if path.exists() and not _writable(path, os.W_OK):
            return f"data directory {data_dir} is not writable by {_user()}: {path} is not"
    return None


def _writable(path: Path, mode: int) -> bool:
    if os.access in os.supports_effective_ids:
        return os.access(path, mode, effective_ids=True)
    return os.access(path, mode)  # pragma: no cover -- Linux has faccessat(AT_EACCESS)


def _user() -> str:
    """This process's user, as a maintainer reads it: ``kiosk (uid 999)``."""
    uid = os.geteuid()
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def write_probe(config: Config) -> str | None:
    """Why an unnamed temporary file cannot be written in the (existing) data directory
    (``O_TMPFILE``: nothing is left behind, even by a kill), or None. The doctor's: it
    catches what ``access(2)`` does not (an immutable directory, a bind mount made
    read-only)."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=config.data_dir):
            pass
    except OSError as exc:
        return (f"data directory {config.data_dir} is not writable by {_user()}: "
                f"{exc.strerror or exc}")
    return None


def disk_refusal(config: Config) -> str | None:
    """Why the data directory's disk refuses new enrollments (:func:`data_dir_refusal`, no
    free space, or below ``kiosk.disk_reserve_bytes``), or None when it has room."""
    refusal = _disk_refusal(config)
    return None if refusal is None else refusal[1]


def _disk_refusal(config: Config) -> tuple[RefusalCategory, str] | None:
    """:func:`disk_refusal` with its kind: the storage cannot be written, or it is full."""
    unusable = data_dir_refusal(config)
    if unusable is not None:
        return RefusalCategory.STORAGE_UNUSABLE, unusable
    try:
        free = shutil.disk_usage(config.data_dir if config.data_dir.exists()
                                 else config.data_dir.parent).free
    except OSError as exc:
        return (RefusalCategory.STORAGE_UNUSABLE,
                f"data directory {config.data_dir} unusable: {exc.strerror}")
    reserve = config["kiosk"]["disk_reserve_bytes"]
    if free == 0:  # refused even with no reserve configured
        return (RefusalCategory.STORAGE_FULL,
                f"disk full: no free space in {config.data_dir}; free some, then start again")
    if free < reserve:
        return (RefusalCategory.STORAGE_FULL,
                f"disk reserve reached: {_size(free)} free, {_size(reserve)} kept in reserve "
                "(kiosk.disk_reserve_bytes); send the queue (kiosk upload) or free space")
    return None


@dataclass(frozen=True)
class Acceptance:
    """May a new enrollment start? ``on_battery`` drives the screen's power-cut banner.
    ``category``: the kind of refusal (a :class:`RefusalCategory`, "" when accepting), for
    the closed screen to say in the citizen's language; ``reason`` stays the English text
    the commands print."""

    accepting: bool
    reason: str | None
    on_battery: bool = False
    category: RefusalCategory | str = ""


def check_acceptance(config: Config, power: PowerStatus | None = None, *,
                     ask_ups: bool = True) -> Acceptance:
    """Whether a new enrollment may start, and if not, the reason a person can act on.

    Power comes from the watcher's published verdict (``kiosk power watch``, debounced)
    when it is fresh, else ``power``, else from one reading of the UPS (``ask_ups``:
    False when the caller's reading just failed).

    A UPS that cannot be read (upsd down, a cable out) does not stop enrollments: every
    step is journaled as it is taken, so a power cut costs at most the session in
    progress, and refusing would turn a monitoring fault into an office without
    enrollments. ``kiosk status`` and ``kiosk doctor`` say the power is unknown.
    """
    section = config["power"]
    published = read_published_state(config.data_dir / STATE_FILE,
                                     max_age_s=max(5.0, 4 * section["poll_interval_s"]))
    if published is None and power is None and ask_ups:
        try:
            power = read_power(config)
        except (KioskError, OSError) as exc:
            log.warning("power state unknown: %s", exc)
    if published is not None:
        on_battery = bool(published.get("on_battery"))
        power_refusal = "" if published.get("accepting", True) else str(
            published.get("reason") or "power watcher: not accepting")
        power_category = (RefusalCategory.POWER_SHUTDOWN if published.get("shutting_down")
                          else RefusalCategory.BATTERY_LOW)
    else:
        on_battery = power is not None and power.source == "battery"
        power_refusal = refusal_reason(power, Thresholds.from_config(section)) if (
            on_battery and power is not None) else ""
        power_category = RefusalCategory.BATTERY_LOW

    def refuse(category: RefusalCategory, reason: str) -> Acceptance:
        return Acceptance(False, reason, on_battery, category)

    quarantined = quarantined_files(config.journal_path)
    if quarantined:
        return refuse(RefusalCategory.JOURNAL,
                      f"journal was found corrupt and kept as {quarantined[0]}; a maintainer "
                      f"must inspect it and move it out of {config.data_dir} before "
                      "enrollment resumes")
    disk = _disk_refusal(config)
    if disk is not None:
        return refuse(*disk)
    if power_refusal:
        return refuse(power_category, power_refusal)
    return Acceptance(True, None, on_battery)


class Runtime:
    """The kiosk's runtime: sealing keys, the journal with its record store, and the opened
    devices: everything an enrollment needs, opened together and closed together.

    >>> with Runtime.open(config) as kiosk:          # doctest: +SKIP
    ...     session = kiosk.new_session()
    """

    def __init__(self, config: Config, journal: Journal, store: JournalRecordStore,
                 devices: dict[str, Any], stack: ExitStack,
                 recovery: Recovery | None = None,
                 faults: dict[str, str] | None = None) -> None:
        self.config = config
        self.journal = journal
        self.store = store
        self.devices = devices
        self._stack = stack
        #: What start-up recovery did with the sessions a crash or power cut left.
        self.recovery = recovery if recovery is not None else Recovery()
        #: The devices of ``kinds`` that did not open (``devices_required=False``), in
        #: ``kinds`` order: kind -> "camera device not ready: ..."; see :meth:`retry_devices`.
        self.device_faults: dict[str, str] = dict(faults or {})
        self._lock = threading.Lock()  # a device opened late vs. close()
        self._closed = False
        self._warned: set[str] = set()  # open_optional's kinds already logged as missing
        self._staff_trust_files = StaffTrustFiles(config)
        #: The descriptor holding ``<data_dir>/enroll.lock`` (:func:`hold_enrolment`),
        #: closed with the runtime; None for a runtime not made by :meth:`open`.
        self.enroll_lock: int | None = None

    @classmethod
    def open(cls, config: Config, *, kinds: tuple[str, ...] = ("fingerprint", "camera"),
             require_accepting: bool = True, devices_required: bool = True) -> Runtime:
        """Open keys, journal and devices; raise NotAccepting when enrollment must not start.

        The touchscreen passes ``require_accepting=False``: it opens once and stays up,
        asking :func:`check_acceptance` before each citizen (a kiosk on battery still runs,
        it just takes no new recordings). It also passes ``devices_required=False``: a
        device of ``kinds`` that does not open is kept in :attr:`device_faults` (and
        :attr:`device_refusal` says why no enrollment may begin) instead of taking the
        journal and the keys down with it, so an officer can still copy the sealed records
        to a stick; :meth:`retry_devices` tries again. Without the keys or the journal
        nothing opens (NotAccepting, as for ``kiosk demo``).
        """
        if require_accepting:
            acceptance = check_acceptance(config)
            if not acceptance.accepting:
                raise NotAccepting(acceptance.reason or "not accepting", acceptance.category)
        with ExitStack() as stack:
            # First of all: what follows may quarantine a damaged journal, migrate it, or
            # discard the sessions it finds, none of which is for a second process to do
            # under the one enrolling.
            make_dirs(config.data_dir)
            enroll_lock = hold_enrolment(config.data_dir)
            stack.callback(os.close, enroll_lock)
            lost = lost_device_key(config)  # never a new identity for an old journal
            if lost is not None:
                raise NotAccepting(f"sealing keys unusable: {lost}", RefusalCategory.STARTUP)
            try:
                sealer = make_sealer(config)
            except SealingError as exc:
                raise NotAccepting(f"sealing keys unusable: {exc}",
                                   RefusalCategory.STARTUP) from exc
            try:
                journal = open_journal(config)
            except JournalCorrupt as exc:
                raise NotAccepting(str(exc), RefusalCategory.JOURNAL) from exc
            stack.callback(journal.close)
            recovery = recover_unfinished(journal,
                                          resume_assisted=config["kiosk"]["resume_assisted"])
            devices: dict[str, Any] = {}
            faults: dict[str, str] = {}
            for kind in kinds:
                device = None
                try:
                    device = create_device(kind, config.backend_options(kind))
                    device.open()
                except DeviceError as exc:
                    if devices_required and device is None:
                        raise  # a driver's library missing: the command says so as is
                    reason = f"{kind} device not ready: {exc}"
                    if devices_required:
                        raise NotAccepting(reason, RefusalCategory.DEVICE) from exc
                    faults[kind] = reason
                    log.error("%s; the kiosk opens without it and tries again", reason)
                    continue
                stack.callback(device.close)
                devices[kind] = device
            store = JournalRecordStore(journal, sealer, kiosk_id=config.kiosk_id)
            runtime = cls(config, journal, store, devices, stack.pop_all(), recovery, faults)
            runtime.enroll_lock = enroll_lock
            return runtime
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def device_refusal(self) -> str | None:
        """Why no enrollment may begin for the devices (each that did not open, or was
        lost since: :meth:`device_lost`), or None when they all work. A
        :attr:`~kiosk.errors.RefusalCategory.DEVICE` refusal."""
        faults = list(self.device_faults.values())
        return "; ".join(faults) if faults else None

    def device_lost(self, kind: str, reason: str) -> None:
        """An open device stopped working (a capture found the sensor's line gone, the
        camera's frames stopped): a fault like one that did not open, so no new enrollment
        begins, until :meth:`retry_devices` finds it answering. The device stays in
        :attr:`devices`, the same object (a session in progress keeps using it)."""
        if kind not in self.devices:
            return
        fault = f"{kind} device lost: {reason}"
        if self.device_faults.get(kind) != fault:
            log.error("%s", fault)
        self.device_faults[kind] = fault

    @staticmethod
    def _reopen(device: Any) -> None:
        """A lost device closed and opened again, the same object: DeviceError while it
        does not answer (a lost ZFM sensor's selftest alone waits for its reconnect; a
        camera whose frames stopped starts again only from open)."""
        device.close()
        device.open()
        ok, detail = device.selftest()
        if not ok:
            raise DeviceError(detail)

    def retry_devices(self) -> list[str]:
        """Try again to open each device of :attr:`device_faults` (a worker's call: a
        sensor may take seconds to answer); the kinds that opened now, in order. One still
        not ready keeps its fault, with the new reason (logged only when it changes). A
        device lost since it opened (:meth:`device_lost`) is closed and opened again, the
        same object: not while a session uses it (the caller's care)."""
        opened: list[str] = []
        for kind, before in list(self.device_faults.items()):
            lost = self.devices.get(kind)
            if lost is not None:
                try:
                    self._reopen(lost)
                except DeviceError as exc:
                    reason = f"{kind} device lost: {exc}"
                    if reason != before:
                        log.error("%s", reason)
                    self.device_faults[kind] = reason
                    continue
                del self.device_faults[kind]
                log.info("%s device answers again", kind)
                opened.append(kind)
                continue
            try:
                device = create_device(kind, self.config.backend_options(kind))
                device.open()
            except DeviceError as exc:
                reason = f"{kind} device not ready: {exc}"
                if reason != before:
                    log.error("%s", reason)
                self.device_faults[kind] = reason
                continue
            if not self._keep(kind, device):
                break
            del self.device_faults[kind]
            log.info("%s device opened", kind)
            opened.append(kind)
        return opened

    def _keep(self, kind: str, device: Any) -> bool:
        """Keep a device opened after start-up with the others; False (and the device
        closed) when the runtime was closed meanwhile."""
        with self._lock:
            if self._closed:
                device.close()
                return False
            self._stack.callback(device.close)
            self.devices[kind] = device
            return True

    @property
    def staff_trust(self) -> StaffTrust | None:
        """The staff-card CAs this kiosk trusts (:func:`load_staff_trust`), read again when
        their files change (:class:`StaffTrustFiles`)."""
        return self._staff_trust_files.current()[0]

    @property
    def staff_crl_unusable(self) -> bool:
        """Whether ``[staff] crl`` is what keeps officers out (a CA is set up)."""
        return self._staff_trust_files.current()[1]

    def open_optional(self, kind: str) -> Any | None:
        """Open a device the kiosk can take citizens without (the staff card reader), and
        keep it with the others; None, with a warning logged, when it cannot be opened
        (no reader, pcscd down): the officer's login is then unavailable, nothing else.
        ``kiosk hw selftest`` and ``kiosk doctor`` name the fault. Asked again (a reader
        plugged in later), it logs the warning once, and that the device opened."""
        if kind in self.devices:
            return self.devices[kind]
        try:
            device = create_device(kind, self.config.backend_options(kind))
            device.open()
        except (DeviceError, OSError, ImportError) as exc:
            if kind not in self._warned:
                self._warned.add(kind)
                log.warning("%s device not ready, going on without it: %s", kind, exc)
            else:
                log.debug("%s device still not ready: %s", kind, exc)
            return None
        if not self._keep(kind, device):
            return None
        if kind in self._warned:
            log.info("%s device opened", kind)
        return device

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._stack.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def require_data_directory(config: Config) -> None:
    """:class:`JournalError` when a file stands in the data directory's place, or there is
    no data directory (a mistyped ``kiosk.data_dir``; the installer makes it, and so does
    a new kiosk's first ``kiosk run``): no journal can be read there, which is not "no
    journal yet"."""
    if config.data_dir.exists() and not config.data_dir.is_dir():
        raise JournalError(f"data directory {config.data_dir} is not a directory: there is "
                           "no journal to read; set kiosk.data_dir to the kiosk's data "
                           "directory, or move the file aside")
    if not config.data_dir.exists():
        raise JournalError(f"data directory {config.data_dir} does not exist: there is no "
                           "journal to read; set kiosk.data_dir to the kiosk's data "
                           "directory (a new kiosk's is made by the installer, or by its "
                           "first `kiosk run`)")


@contextmanager
def readonly_journal(config: Config) -> Iterator[Journal | None]:
    """The journal opened read-only for reporting, or None when none exists yet.
    :class:`JournalError` when it cannot be read, a file in the data directory's place
    included (else a mistyped ``kiosk.data_dir`` reads as a new kiosk's empty journal)."""
    require_data_directory(config)
    if not config.journal_path.exists():
        yield None
        return
    journal = Journal.open_readonly(config.journal_path)
    try:
        yield journal
    finally:
        journal.close()
