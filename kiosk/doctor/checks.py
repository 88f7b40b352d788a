"""The doctor's checks on this machine: configuration, devices, disk, clock, keys and UPS,
and :func:`plan`, which puts every check in order. The intake's are in
:mod:`kiosk.doctor.intake`, the journal's in :mod:`kiosk.doctor.journal`.

Each reuses the code the kiosk itself runs (config validation, the devices' self-tests,
the acceptance rules, the key loaders, the journal's checks, the status queries), so the
doctor and the kiosk cannot disagree about what is wrong.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from kiosk.clock import ClockState, clock_state
from kiosk.config import SYSTEM_CONFIG, Config, config_path_from_env, load_config, real_hardware
from kiosk.core.intake_api import HEALTH_ENDPOINT
from kiosk.doctor.findings import Check, Finding, fail, ok, skip, warn
from kiosk.errors import (
    ConfigError,
    ConfigUnreadable,
    KeyFileExposed,
    KeyFileMissing,
    KioskError,
    SealingError,
    UnknownKey,
    UnknownSection,
)
from kiosk.hardware.registry import HARDWARE_KINDS

DEVICE_BUDGET_S = 10.0  # a self-test opens the device and asks it once; a mute one retries
LOCAL_BUDGET_S = 5.0  # checks that only read files
NAMES = ("config", *(f"device.{k}" for k in HARDWARE_KINDS), "disk", "clock", "key.device",
         "key.central", "key.intake", "key.staff", "intake", "registration", "ups", "journal",
         "backlog", "rejected", "unfinished")
_GPIO_LOCK = threading.Lock()  # the kiosk's pins and a GPIO UPS HAT: one at a time
GiB, MiB = 2**30, 2**20


def plan(config_path: str | None, *, clock_probe: Callable[[], ClockState] | None = None
         ) -> list[Check]:
    """The checks for the kiosk configured at ``config_path`` (``--config``)."""
    from kiosk.doctor.intake import intake_checks
    from kiosk.doctor.journal import JOURNAL_BUDGET_S, check_journal, check_outbox

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        finding = _config_failure(exc, config_path)
        rest = [skip(name, "not run: the configuration does not load (see config)")
                for name in NAMES[1:]]
        return [Check(NAMES, lambda: [finding, *rest], LOCAL_BUDGET_S)]
    timeout = float(config["doctor"]["timeout_s"])
    probe = clock_probe or (lambda: clock_state(timeout_s=min(3.0, timeout)))
    checks = [Check(("config",), lambda: [check_config(config)], LOCAL_BUDGET_S)]
    url = config["upload"]["url"]
    nut = config["power"]
    checks += [Check((f"device.{kind}",), _bind(check_device, config, kind), DEVICE_BUDGET_S,
                     "stop kiosk-ui, then `kiosk hw selftest` shows where it hangs")
               for kind in HARDWARE_KINDS]
    checks += [
        Check(("disk",), lambda: [check_disk(config)], LOCAL_BUDGET_S,
              f"`df -h {config.data_dir}` (a hung network or USB file system?)"),
        Check(("clock",), lambda: [check_clock(probe())], LOCAL_BUDGET_S,
              "`timedatectl status`; is systemd-timedated answering?"),
        Check(("key.device", "key.central", "key.intake", "key.staff"),
              lambda: check_keys(config),
              LOCAL_BUDGET_S, "`ls -l` the key files (a hung file system?)"),
        Check(("intake", "registration"), lambda: intake_checks(config, timeout),
              2 * timeout + 2, f"the link or DNS hangs: `curl -v {url}{HEALTH_ENDPOINT}`, "
              "`getent hosts` the intake's name"),
        Check(("ups",), lambda: [check_ups(config, timeout)], 2 * timeout + 2,
              f"`upsc {nut['ups']}@{nut['host']}:{nut['port']}`" if nut["type"] == "nut"
              else "`kiosk hw selftest`"),
        Check(("journal",), lambda: [check_journal(config)], JOURNAL_BUDGET_S + 3,
              "`kiosk journal check` (is the disk failing? `dmesg`)"),
        Check(("backlog", "rejected", "unfinished"), lambda: check_outbox(config),
              LOCAL_BUDGET_S,
              "`kiosk queue list` (is the journal locked or the disk failing?)"),
    ]
    return checks


def _bind(function: Callable[[Config, str], Finding], config: Config, kind: str
          ) -> Callable[[], list[Finding]]:
    return lambda: [function(config, kind)]


def _config_files(config_path: str | None) -> str:
    system = Path(os.environ.get("KIOSK_SYSTEM_CONFIG", SYSTEM_CONFIG))
    try:
        present = system.exists()
    except PermissionError:  # /etc/kiosk, 0750 root:kiosk: its file is the one named
        present = True
    files = [p for p in (system if present else None,
                         config_path_from_env(config_path)) if p is not None]
    return " / ".join(map(str, files)) or "the config file"


def _config_failure(exc: ConfigError, config_path: str | None) -> Finding:
    where = str(exc.source) if exc.source is not None else _config_files(config_path)
    if isinstance(exc, ConfigUnreadable):  # the message says: run with sudo
        return fail("config", str(exc), "sudo kiosk doctor")
    if isinstance(exc, UnknownKey):
        fix = f"remove or rename {exc.key} in {where} (known keys: {', '.join(exc.known)})"
    elif isinstance(exc, UnknownSection):
        fix = f"remove or rename the section {exc.key} in {where} ({exc.allowed})"
    elif exc.key in ("--config", "$KIOSK_CONFIG"):  # names no file there is: not "edit"
        fix = (f"point {exc.key} at the kiosk's config file (a kiosk needs neither: it reads "
               "/etc/kiosk/kiosk.toml)")
    elif exc.value == "(file)" and Path(exc.key).is_dir():
        fix = (f"{exc.key} is a directory: point $KIOSK_CONFIG or --config at the config "
               "file itself")
    elif exc.value == "(file)":  # the file as a whole: not TOML, not readable (of_file)
        at = re.search(r"\(at line \d+, column \d+\)", exc.allowed)
        fix = f"edit {exc.key}" + (f" {at.group(0)[1:-1]}" if at else "")
    else:
        fix = f"edit {where}: {exc.key} must be {exc.allowed}"
    return fail("config", str(exc), f"{fix}; then `kiosk config check`")


def check_config(config: Config) -> Finding:
    """``kiosk config check``'s checks (sealing, upload, devices) on the loaded config."""
    from kiosk.config import check_all

    try:
        check_all(config, central_key=False)  # key.central's, with its own fix
    except ConfigError as exc:
        return _config_failure(exc, None if not config.sources else str(config.sources[-1]))
    sources = ", ".join(map(str, config.sources)) or "packaged defaults only"
    return ok("config", f"valid ({sources})")


# -- devices ----------------------------------------------------------------------------------
_DEVICE_FIX = {
    "fingerprint": "check the sensor's cable and power and hardware.fingerprint.port "
                   "({port}, {baudrate} baud); the serial console must be off "
                   "(raspi-config); stop kiosk-ui if it holds the port; then `kiosk hw "
                   "selftest`",
    "camera": "check the camera's cable and hardware.camera (type {type}); only one program "
              "can hold it: stop kiosk-ui first; then `kiosk hw camera snapshot --out s.jpg`",
    "card": "check that pcscd runs (`systemctl status pcscd`) and the reader is plugged in; "
            "then `kiosk hw card watch --seconds 5`",
    "gpio": "check the pins in [hardware.gpio] and that the kiosk user is in the gpio group; "
            "then `kiosk hw gpio test`",
}


def check_device(config: Config, kind: str) -> Finding:
    """One device's own self-test (``kiosk hw selftest``)."""
    from kiosk.status import device_selftest

    section = config[f"hardware.{kind}"]
    if kind == "gpio":
        with _GPIO_LOCK:
            result = device_selftest(config, kind)
    else:
        result = device_selftest(config, kind)
    name = f"device.{kind}"
    detail = f"{section['type']}: {result['detail']}"
    if result["ok"]:
        return ok(name, detail)
    if result["held"]:
        # The normal state of a running kiosk: its touchscreen holds the devices. Not a
        # fault, and not tested either: say so, and how to test it.
        from kiosk.status import START_THE_KIOSK, STOP_THE_KIOSK

        return warn(name, f"{detail}, so not tested", f"to test it: {STOP_THE_KIOSK}, "
                    f"`kiosk doctor`, then {START_THE_KIOSK}")
    return fail(name, detail, _DEVICE_FIX[kind].format(**{"port": "", "baudrate": ""} | section))


# -- disk, clock ------------------------------------------------------------------------------
def check_disk(config: Config) -> Finding:
    """Free space where the journal lives against ``kiosk.disk_reserve_bytes``."""
    from kiosk.runtime import data_dir_refusal, disk_refusal, write_probe

    reserve = int(config["kiosk"]["disk_reserve_bytes"])
    where = config.data_dir if config.data_dir.exists() else config.data_dir.parent
    unusable = data_dir_refusal(config)
    if unusable is None and config.data_dir.is_dir():
        unusable = write_probe(config)
    if unusable is not None:
        if config.data_dir.exists() and not config.data_dir.is_dir():
            fix = (f"set kiosk.data_dir to the kiosk's data directory, or move the file "
                   f"{config.data_dir} aside")
        elif "is not writable" in unusable:
            fix = (f"run the kiosk's commands as the kiosk user (`sudo -u kiosk ...`), or "
                   f"give it the directory: `sudo chown -R kiosk: {config.data_dir}` "
                   f"(`ls -ld {config.data_dir}` shows its owner and mode)")
        else:
            fix = (f"`findmnt -T {where}` shows how it is mounted; a card the kernel made "
                   "read-only after errors (`dmesg`) needs fsck and a reboot")
        return fail("disk", f"{unusable}; new enrollments are refused", fix)
    fix = (f"free space on {where}'s file system (acknowledged records are purged "
           "upload.retention_days after their receipt: is kiosk-upload running?), or lower "
           "kiosk.disk_reserve_bytes")
    refusal = disk_refusal(config)
    if refusal is not None:
        return fail("disk", f"{refusal}; new enrollments are refused", fix)
    free = shutil.disk_usage(where).free
    detail = f"{free / GiB:.1f} GiB free on {where}, {reserve / MiB:.0f} MiB kept in reserve"
    if not config.data_dir.exists():
        return warn("disk", f"{detail}; data directory {config.data_dir} does not exist yet",
                    "nothing to do on a new kiosk (the first start makes it); else check "
                    "kiosk.data_dir")
    if free < 2 * reserve:
        return warn("disk", detail + ": less than twice the reserve left", fix)
    return ok("disk", detail)


def check_clock(state: ClockState) -> Finding:
    """Synchronised (NTP) or not; an unsynchronised clock marks records untrusted and
    stops the purge of acknowledged records."""
    if state.synchronized:
        return ok("clock", f"synchronised ({state.source})")
    detail = (f"not synchronised ({state.source}): new records are marked clock_trusted = "
              "false and acknowledged records are not purged")
    if state.ntp_enabled is False:
        return fail("clock", detail + "; no NTP client is enabled",
                    "`sudo timedatectl set-ntp true` (systemd-timesyncd), then "
                    "`timedatectl timesync-status`")
    return fail("clock", detail,
                "the first sync needs the link: check it, then `timedatectl "
                "timesync-status` (NTP servers in /etc/systemd/timesyncd.conf); enable NTP "
                "with `sudo timedatectl set-ntp true` if it is off")


# -- keys ---------------------------------------------------------------------------------
def check_keys(config: Config) -> Iterator[Finding]:
    """The device key (present, 0600, a seed), the central public key, the intake key, the
    staff-card CA."""
    yield check_device_key(config)
    yield check_central_key(config)
    yield check_intake_key(config)
    yield check_staff_ca(config)


def check_device_key(config: Config) -> Finding:
    from kiosk.sealing_keys import DeviceKey

    path = config.device_key_path
    try:
        key = DeviceKey.load(path)
    except KeyFileExposed as exc:
        return fail("key.device", exc.problem,
                    f"`chmod 600 {path}` (and `chown` it to the kiosk user)")
    except KeyFileMissing as exc:
        from kiosk.runtime import lost_device_key

        lost = lost_device_key(config)
        if lost is not None:  # records sealed with it: lost, not a new kiosk's
            what, _, _ = lost.partition(". Restore")
            return fail("key.device", what + "; enrollments are refused",
                        f"restore {path} from the kiosk's backup (mode 600, owned by the "
                        "kiosk user); if it is lost for good, `kiosk keys init --replace` "
                        "makes a new one: register it with `kiosk-intake register --replace`")
        return fail("key.device", str(exc),
                    "restore it from the kiosk's backup; on a new kiosk `kiosk keys init` "
                    "makes one and prints the `kiosk-intake register` line for the intake")
    except SealingError as exc:
        return fail("key.device", str(exc), f"restore {path} from backup, or move it away "
                    "and re-register the kiosk with the new key (`kiosk keys init`)")
    except OSError as exc:
        return fail("key.device", f"cannot read {path}: {exc.strerror or exc}",
                    "run the doctor as the kiosk user (or root)")
    return ok("key.device", f"{path}: mode 600, key id {key.key_id}")


def check_central_key(config: Config) -> Finding:
    from kiosk.sealing import key_id, load_central_public_key

    path = config.central_key_path
    if config.uses_dev_central_key:
        return warn("key.central", "sealing.central_key = \"dev\": records are sealed to a "
                    "development key (simulated hardware only), not to the central office",
                    "for a deployed kiosk set sealing.central_key to the central office's "
                    "central.pub")
    fix = (f"copy central.pub from the central office (`kiosk-intake keys init` made it in "
           f"DIR/keys/) to {path}, or correct sealing.central_key")
    try:
        public = load_central_public_key(path)
    except KeyFileMissing as exc:  # the doctor says what to do, not the loader
        return fail("key.central", exc.problem, fix)
    except SealingError as exc:
        return fail("key.central", str(exc), fix)
    except OSError as exc:
        return fail("key.central", f"cannot read {path}: {exc.strerror or exc}",
                    f"make {path} readable by the kiosk user")
    return ok("key.central", f"{path}: key id {key_id(public)}")


def check_intake_key(config: Config) -> Finding:
    from kiosk.receipts import load_intake_public_key
    from kiosk.sealing import key_id

    path = config.intake_key_path
    fix = ("copy intake.pub from the intake (DIR/keys/intake.pub, made by `kiosk-intake keys "
           "init`) to the kiosk and name it in [upload] intake_key")
    if path is None:
        return fail("key.intake", "upload.intake_key is not set: no receipt can be verified, "
                    "so `kiosk upload` sends nothing", fix)
    try:
        public = load_intake_public_key(path)
    except (SealingError, OSError) as exc:
        return fail("key.intake", f"{path}: {exc}", fix)
    return ok("key.intake", f"{path}: key id {key_id(public)}")


def check_staff_ca(config: Config, now: datetime | None = None) -> Finding:
    """``[staff] ca``: the staff-card CA certificates officers' cards are checked against,
    and ``[staff] crl``, the office's CRLs of them (the rule of
    :func:`kiosk.runtime.load_staff_trust`). Not set with a real card reader: a warning
    (citizens are enrolled, no officer can log in). A CRL file set but unusable fails (the
    kiosk then refuses every officer); one past its next update is a warning (it still
    revokes what it lists)."""
    from kiosk.hardware.card.trust import StaffTrust

    path = config["staff"]["ca"]
    crl = config["staff"]["crl"]
    card = config["hardware.card"]["type"]
    now = now or datetime.now(UTC)
    fix = ("copy the office's staff-card CA certificate (PEM) to the kiosk and set "
           "[staff] ca to its path")
    if not path:
        real = real_hardware(config)
        if card == "sim" and real:
            return warn("key.staff", "staff.ca is not set, and the development staff CA is "
                        f"trusted on simulated hardware only ({', '.join(real)} is real): no "
                        "officer can log in", fix)
        if card != "sim":
            return warn("key.staff", f"staff.ca is not set: with hardware.card.type = "
                        f"{card!r} no staff card can be checked, so no officer can log in",
                        fix)
        trust = StaffTrust.development()
        detail = "development staff CA trusted (simulated card reader only)"
    else:
        try:
            trust = StaffTrust.from_file(path)
        except OSError as exc:
            return fail("key.staff", f"cannot read {path}: {exc.strerror or exc}; no officer "
                        "can log in", fix + " (readable by the kiosk user)")
        except ValueError as exc:
            return fail("key.staff", f"{path}: {exc}; no officer can log in", fix)
        detail = f"{path}: {trust.describe()}"
    if crl:
        crl_fix = ("copy the office's latest CRL (openssl ca -gencrl, docs/staff-cards.md) to "
                   f"{crl}, or set [staff] crl to where it is")
        refused = ("; no officer can log in (the kiosk refuses every card rather than "
                   "forget a revocation)")
        try:
            trust = trust.with_crl_file(crl)
        except OSError as exc:
            return fail("key.staff", f"{detail}; cannot read the CRL {crl}: "
                        f"{exc.strerror or exc}{refused}", crl_fix + " (readable by the kiosk "
                        "user)")
        except ValueError as exc:
            return fail("key.staff", f"{detail}; the CRL {crl}: {exc}{refused}", crl_fix)
        detail += f"; {crl}: {trust.describe_crls()}"
    elif path:
        detail += "; no CRL ([staff] crl): no card is refused as revoked"
    renew = f"install the office's renewed staff-card CA certificate in {path}"
    expired = trust.expired(now)
    if expired and len(expired) == len(trust.cas):  # no card can be believed any more
        return fail("key.staff", f"{detail}; none is valid now: every officer's card is "
                    "refused while the clock is synchronised", renew)
    warnings: list[tuple[str, str]] = []
    if expired:
        warnings.append((f"{len(expired)} not valid now: cards it issued are refused while "
                         "the clock is synchronised", renew))
    stale = trust.out_of_date(now)
    if stale:
        since = min(entry.crl.next_update_utc or now for entry in stale)
        warnings.append((f"the office's CRL is out of date since {since:%Y-%m-%d}; revoked "
                         "cards stay refused, newly revoked ones are not known",
                         f"issue a new CRL at the office (openssl ca -gencrl, "
                         f"docs/staff-cards.md) and install it as {crl}"))
    if warnings:
        return warn("key.staff", "; ".join([detail, *(text for text, _ in warnings)]),
                    "; ".join(fix for _, fix in warnings))
    return ok("key.staff", detail)


# -- UPS ----------------------------------------------------------------------------------
#: What an unreadable UPS means for the kiosk (kiosk.runtime.check_acceptance: fail-open).
UPS_UNKNOWN = ("; power unknown: enrollments go on, but a power cut would not be seen "
               "(no banner, no clean shutdown)")


def check_ups(config: Config, timeout_s: float) -> Finding:
    """One reading through the configured power backend, with a short timeout."""
    from kiosk.devices import create_device
    from kiosk.power.base import describe

    section = config["power"]
    options = config.backend_options("power")
    if section["type"] == "nut":
        options["timeout"] = min(float(options.get("timeout", timeout_s)), timeout_s)
    lock = _GPIO_LOCK if section["type"] == "gpio" else threading.Lock()
    try:
        with lock, create_device("power", options) as ups:
            status = ups.read()
    except (KioskError, OSError) as exc:
        return fail("ups", f"{section['type']}: {exc}{UPS_UNKNOWN}", _ups_fix(config, exc))
    detail = f"{section['type']}: {describe(status)}"
    if status.source == "unknown":
        return fail("ups", detail + UPS_UNKNOWN, "the UPS does not say where the power "
                    "comes from: check its cable and driver (`upsc` on the kiosk)")
    if status.low_battery or status.forced_shutdown:
        return fail("ups", detail, "restore mains power now: the kiosk shuts down soon")
    if status.source == "battery":
        from kiosk.power.policy import Thresholds, refusal_reason

        refusal = refusal_reason(status, Thresholds.from_config(section))
        if refusal:  # the closed screen: no new enrollment starts now
            return fail("ups", f"{detail}: new enrollments are refused ({refusal})",
                        "restore mains power (the kiosk takes enrollments again above the "
                        "limits), or let the battery charge")
        return warn("ups", detail + ": on battery", "restore mains power; new enrollments "
                    "stop below power.min_battery_percent / min_runtime_s")
    return ok("ups", detail)


def _ups_fix(config: Config, exc: Exception) -> str:
    """What to do about the UPS, told by the type of ``exc`` (kiosk.power.nut_client's)."""
    from kiosk.power.nut_client import (
        NutDataStale,
        NutDriverDown,
        UnknownUps,
        UpsdRefused,
        UpsdTimeout,
    )

    section = config["power"]
    if section["type"] != "nut":
        return "check the UPS HAT's wiring and I2C (`i2cdetect -y 1`) and [power]"
    where = f"{section['host']}:{section['port']}"
    if isinstance(exc, UpsdRefused):
        return (f"start upsd: `sudo systemctl start nut-server` (it must LISTEN on {where} "
                "in /etc/nut/upsd.conf); then `upsc " + f"{section['ups']}@{where}`")
    if isinstance(exc, NutDriverDown):
        return ("start the UPS driver: `sudo upsdrvctl start` (or `systemctl restart "
                "nut-driver`); check the UPS's USB cable")
    if isinstance(exc, UnknownUps):
        return "set power.ups to the UPS's section name in /etc/nut/ups.conf (`upsc -l`)"
    if isinstance(exc, NutDataStale):
        return "the driver lost the UPS: check its cable, then `sudo upsdrvctl stop; sudo " \
               "upsdrvctl start`"
    if isinstance(exc, UpsdTimeout):
        return (f"nothing answered at {where} in time: check power.host/power.port and any "
                "firewall between the kiosk and upsd")
    return f"check [power] host, port and ups, then `upsc {section['ups']}@{where}`"
