"""Layered, typed, validated TOML configuration.

Layers, later ones winning key by key:

1. the defaults in :data:`SCHEMA` below (the packaged defaults: a simulated kiosk);
2. the system file ``/etc/kiosk/kiosk.toml`` if it exists;
3. the file named by ``--config`` or, failing that, ``$KIOSK_CONFIG``.

Every key is declared here with its type and default, beside the code that reads it (the
Mopidy way). Hardware sections also accept the options their backend declares
(``OPTIONS`` on the backend class), checked through the hardware registry. Any mistake is a
:class:`~kiosk.errors.ConfigError` naming the key, the bad value and what is allowed;
``kiosk config check`` turns it into exit status 2.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.core.ids import KIOSK_ID_RULE, is_kiosk_id
from kiosk.errors import ConfigError
from kiosk.netutil import is_loopback_url

SYSTEM_CONFIG = Path("/etc/kiosk/kiosk.toml")
MASK = "********"

# Config keys whose values are hardware backend options rather than schema keys.
HARDWARE_KINDS = ("fingerprint", "camera", "card", "gpio")


@dataclass(frozen=True)
class Field:
    """One config key: its Python type, default and optional extra check."""

    type: type | tuple[type, ...]
    default: Any
    allowed: str = ""  # human description of allowed values, for error messages
    check: Callable[[Any], bool] | None = None
    secret: bool = False


def _one_of(*names: str) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v in names), "one of " + ", ".join(repr(n) for n in names)


def _between(lo: float, hi: float) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: lo <= v <= hi), f"a number from {lo:g} to {hi:g}"


def _field(kind: type | tuple[type, ...], default: Any, rule: tuple | None = None,
           *, secret: bool = False) -> Field:
    check, allowed = rule if rule else (None, "")
    return Field(kind, default, allowed, check, secret)


_LANG = _one_of("id", "en")
_REGENCY = re.compile(r"[0-9]{2}\.[0-9]{2}")


_UNITS = ("kiosk-ui.service", "kiosk-upload.service", "kiosk-power.service")
_ARGV = ((lambda v: bool(v) and all(isinstance(x, str) and x for x in v)),
         "a non-empty list of non-empty strings")


def _has_host(url: str) -> bool:
    """``url`` parses and names a host ("http://[" does not: urlsplit raises ValueError)."""
    from urllib.parse import urlsplit

    try:
        return bool(urlsplit(url).hostname)
    except ValueError:
        return False


# section -> key -> Field. Hardware "type" keys are checked against the registry, not here.
SCHEMA: dict[str, dict[str, Field]] = {
    "kiosk": {
        "id": _field(str, "poso-01", (is_kiosk_id, KIOSK_ID_RULE)),
        "data_dir": _field(str, "/var/lib/kiosk"),
        "default_language": _field(str, "id", _LANG),
        # The kiosk's regency as a Kemendagri code (72.02 = Kabupaten Poso): the
        # touchscreen offers its kecamatan and kelurahan/desa in the pickers.
        "regency": _field(str, "72.02", ((lambda v: bool(_REGENCY.fullmatch(v))),
                                         "a Kemendagri regency code like \"72.02\"")),
        "session_timeout_s": _field(int, 300, _between(30, 3600)),
        # After a power cut: keep unfinished staff-assisted sessions to resume (true) or
        # discard them like self-service ones (false).
        "resume_assisted": _field(bool, True),
        "disk_reserve_bytes": _field(int, 256 * 1024 * 1024, _between(0, 2**40)),
        "log_level": _field(str, "INFO", _one_of("DEBUG", "INFO", "WARNING", "ERROR")),
    },
    "hardware.fingerprint": {
        "type": _field(str, "sim"),
        "port": _field(str, "/dev/ttyAMA0"),
        "baudrate": _field(int, 57600, _one_of(9600, 19200, 38400, 57600, 115200)),
    },
    # Fingerprint quality (kiosk/enrollment/fingerprint_quality.py): a finger passes with a
    # score (0-100) of at least min_quality and every measure within its limit. MOSIP's
    # registration client refuses fingers under 40 (NFIQ 2; its server classifier: 80).
    "fingerprints": {
        "min_quality": _field(int, 40, _between(0, 100)),
        "min_area": _field((int, float), 0.30, _between(0, 1)),
        "min_contrast": _field((int, float), 14.0, _between(0, 255)),
        "min_clarity": _field((int, float), 0.30, _between(0, 1)),
        "max_smudge": _field((int, float), 0.10, _between(0, 1)),
        # How a record keeps the prints, both lossless and bit-exact: "png" (4-bit PNG,
        # about 19.8 KB a finger, 12 ms to encode here) or "webp" (lossless WebP, about
        # 17.7 KB, but 100 ms here, 0.3-0.4 s on a Pi 4). On a kiosk the WebP encode hides
        # behind the sensor's own image upload (about 6.4 s a finger at 57600 baud); on the
        # simulated sensor, which answers at once, it would be most of a citizen's time.
        "storage": _field(str, "png", _one_of("png", "webp")),
    },
    "hardware.camera": {"type": _field(str, "sim")},
    "hardware.card": {"type": _field(str, "sim")},
    "hardware.gpio": {"type": _field(str, "mock")},
    "power": {
        "type": _field(str, "sim"),
        "host": _field(str, "127.0.0.1"),
        "port": _field(int, 3493, _between(1, 65535)),
        "ups": _field(str, "ups"),
        "shutdown_command": _field(list, ["systemctl", "poweroff"], (
            (lambda v: bool(v) and all(isinstance(x, str) and x for x in v)),
            "a non-empty list of non-empty strings")),
        # On battery, stop taking new enrollments below these (one enrollment + margin).
        "min_battery_percent": _field((int, float), 30, _between(0, 100)),
        "min_runtime_s": _field((int, float), 600, _between(0, 86400)),
        # On battery, shut down cleanly below these (or on the UPS's LB / FSD).
        "shutdown_battery_percent": _field((int, float), 10, _between(0, 100)),
        "shutdown_runtime_s": _field((int, float), 120, _between(0, 86400)),
        # `kiosk power watch`: how often to read the UPS; how long the mains must be gone
        # before it counts (a flicker is ignored).
        "poll_interval_s": _field((int, float), 0.5, _between(0.1, 60)),
        "debounce_s": _field((int, float), 1.0, _between(0, 600)),
        # After a shutdown decided on battery, have the UPS cut its output and restore it
        # when the mains returns, so the kiosk boots by itself (kiosk/power/poweroff.py,
        # systemd/system-shutdown/kiosk-ups-poweroff; docs/power.md).
        "ups_poweroff": _field(bool, True),
        # The power race: when the mains returns during the shutdown, some UPSes keep their
        # output on and the kiosk would stay halted. > 0: the shutdown hook reboots if the
        # power is still on this many seconds after telling the UPS (longer than the UPS's
        # own off delay; systemd-shutdown waits at most 90 s for its hooks). 0: off.
        "ups_poweroff_wait_s": _field(int, 0, _between(0, 50)),
    },
    "upload": {
        "url": _field(str, "http://127.0.0.1:8700/", (
            (lambda v: v.startswith(("http://", "https://")) and _has_host(v)),
            "an http:// or https:// URL")),
        "token": _field(str, "", secret=True),
        # TLS: the intake's certificate is verified against this CA file (PEM), or, when
        # tls_fingerprint is set, must be exactly that certificate (SHA-256 of its DER, hex,
        # colons allowed: `kiosk-intake keys init` prints it); neither: the system's CAs.
        "ca_file": _field(str, ""),
        "tls_fingerprint": _field(str, "", (
            (lambda v: v == "" or bool(re.fullmatch(r"[0-9a-fA-F]{64}", v.replace(":", "")))),
            "the SHA-256 of the intake's certificate: 64 hex digits (colons allowed)")),
        # Plain http:// to anything but this machine sends the records' metadata in clear;
        # refused unless this is true.
        "allow_insecure": _field(bool, False),
        # The intake's receipt-signing public key (DIR/keys/intake.pub of `kiosk-intake keys
        # init`). "" = not configured: `kiosk upload` refuses to run rather than acknowledge
        # a record on an unverified receipt.
        "intake_key": _field(str, ""),
        # `kiosk upload` (the daemon): seconds between passes over the outbox; while the
        # link is down the pause doubles, up to max_backoff_s.
        "interval_s": _field((int, float), 30, _between(0.1, 86400)),
        "max_backoff_s": _field((int, float), 600, _between(0.1, 86400)),
        # `kiosk upload --once`: passes over records still pending after the first.
        "retries": _field(int, 3, _between(0, 100)),
        # Per HTTP request (connect, and each wait for an answer).
        "timeout_s": _field((int, float), 30, _between(1, 3600)),
        # Most bytes in one tus PATCH; 0 (the default): the rest of the record in one. The
        # intake keeps every byte that arrives, so a dropped link costs nothing to resend;
        # set a size only for a proxy in the way that limits request bodies.
        "chunk_size": _field(int, 0, (
            (lambda v: v == 0 or 1024 <= v <= 64 * 1024 * 1024),
            "0 (the whole rest of the record) or a number from 1024 to 67108864")),
        # Days after the intake's receipt before a record's payload is deleted (the receipt
        # and manifest stay); counted only while the clock is synchronised. 0: at once.
        "retention_days": _field((int, float), 30, _between(0, 3650)),
    },
    "sealing": {
        # "dev": a development key pair kept in <data_dir>/dev-central, allowed only with
        # simulated hardware. A real kiosk names the central office's public key file.
        "central_key": _field(str, "dev"),
        "device_key": _field(str, "{data_dir}/device.key"),
    },
    "doctor": {
        # `kiosk doctor`: seconds for each network question (the intake, upsd); the whole
        # run answers within a few of these, however dead the link.
        "timeout_s": _field((int, float), 5, _between(0.5, 60)),
        # An unsent record older than this is a failure (the link, the uploader, the
        # intake): a day by default.
        "max_unsent_age_s": _field((int, float), 86400, _between(60, 90 * 86400)),
    },
    "ui": {
        "fullscreen": _field(bool, False),
        "width": _field(int, 1280, _between(320, 7680)),
        "height": _field(int, 800, _between(240, 4320)),
        # The panel's visible area in millimetres, [width, height]: every size on screen is
        # set in mm of this panel (touch targets >= 10 mm, text >= 4.8 mm high). The default
        # is the official Raspberry Pi 7-inch display (800x480 on about 155 x 86 mm).
        "panel_mm": _field(list, [155.0, 86.0], (
            (lambda v: len(v) == 2 and all(isinstance(x, (int, float))
                                           and not isinstance(x, bool) and 40 <= x <= 1000
                                           for x in v)),
            "[width, height] in millimetres, each from 40 to 1000")),
        # Privacy between citizens: after idle_timeout_s without a touch a warning counts
        # down idle_warning_s (>= 20 s, WCAG 2.2.1) for one tap to continue; then the
        # session is wiped and the kiosk returns to welcome.
        "idle_timeout_s": _field((int, float), 60, _between(10, 3600)),
        "idle_warning_s": _field((int, float), 30, _between(20, 600)),
        # The receipt screen goes back to welcome by itself after this long.
        "receipt_s": _field((int, float), 45, _between(10, 600)),
        # Spoken prompts (espeak-ng): "auto" speaks when the machine has a sound card.
        "speech": _field((bool, str), "auto", (
            (lambda v: isinstance(v, bool) or v == "auto"), "true, false or \"auto\"")),
        # Camera preview frames per second asked of the preview loop.
        "preview_fps": _field((int, float), 20, _between(1, 60)),
        # Portrait and fingerprint tries before the screen asks the citizen to call an
        # officer (MOSIP: 3 retries per modality).
        "capture_tries": _field(int, 3, _between(1, 10)),
    },
    # `kiosk update` (kiosk/update/): releases under root (releases/<name>, the `current`
    # link the units' ExecStart goes through); what restarts the services and asks whether
    # they run; the health checks, each a `kiosk` command run from the new release.
    "update": {
        "root": _field(str, "/opt/kiosk"),
        "restart_command": _field(list, ["systemctl", "restart", *_UNITS], _ARGV),
        "status_command": _field(list, ["systemctl", "is-active", "--quiet", *_UNITS], (
            (lambda v: all(isinstance(x, str) and x for x in v)),
            "a list of non-empty strings ([] to skip)")),
        "health_checks": _field(list, [["doctor"], ["hw", "selftest"]], (
            (lambda v: bool(v) and all(isinstance(c, list) and c and all(
                isinstance(x, str) and x for x in c) for c in v)),
            "a non-empty list of kiosk commands, each a list of strings, "
            "e.g. [[\"doctor\"], [\"hw\", \"selftest\"]]")),
        "check_timeout_s": _field((int, float), 300, _between(1, 3600)),
        # After the restart, before the checks: a service that dies right after saying
        # READY is caught by the status command.
        "settle_s": _field((int, float), 5, _between(0, 600)),
        # Wheelhouses (a USB stick) pip looks in; offline: never the package index.
        "find_links": _field(list, [], (
            (lambda v: all(isinstance(x, str) and x for x in v)), "a list of directories")),
        "offline": _field(bool, False),
    },
}

# Keys are allowed in a hardware section when the backend declares them (OPTIONS).
_BACKEND_SECTIONS = {f"hardware.{kind}": kind for kind in HARDWARE_KINDS} | {"power": "power"}


class Config:
    """The merged, validated configuration. Read with ``config["kiosk"]["id"]``."""

    def __init__(self, data: dict[str, dict[str, Any]], sources: list[Path]) -> None:
        self._data = data
        self.sources = sources

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self._data[section]

    def as_dict(self, *, mask_secrets: bool = True) -> dict[str, dict[str, Any]]:
        """A deep copy, with secret values replaced by ``********`` unless asked not to."""
        out = copy.deepcopy(self._data)
        if mask_secrets:
            for section, fields in SCHEMA.items():
                for key, field in fields.items():
                    if field.secret and out[section].get(key):
                        out[section][key] = MASK
        return out

    # -- conveniences used all over ---------------------------------------------------------
    @property
    def kiosk_id(self) -> str:
        return str(self._data["kiosk"]["id"])

    @property
    def data_dir(self) -> Path:
        return Path(self._data["kiosk"]["data_dir"])

    @property
    def journal_path(self) -> Path:
        return self.data_dir / "journal.db"

    @property
    def device_key_path(self) -> Path:
        return Path(self._data["sealing"]["device_key"])

    @property
    def uses_dev_central_key(self) -> bool:
        return self._data["sealing"]["central_key"] == "dev"

    @property
    def central_key_path(self) -> Path:
        if self.uses_dev_central_key:
            return self.data_dir / "dev-central" / "central.pub"
        return Path(self._data["sealing"]["central_key"])

    @property
    def intake_key_path(self) -> Path | None:
        """The intake's receipt-signing public key (``upload.intake_key``); None if unset."""
        value = self._data["upload"]["intake_key"]
        return Path(value) if value else None

    def backend_options(self, kind: str) -> dict[str, Any]:
        """The options for a hardware kind's backend: ``type`` plus what it declares."""
        from kiosk.hardware.registry import get_backend_class

        section = "power" if kind == "power" else f"hardware.{kind}"
        values = self._data[section]
        cls = get_backend_class(kind, values["type"])
        declared = getattr(cls, "OPTIONS", {})
        return {"type": values["type"]} | {k: v for k, v in values.items() if k in declared}


def _flatten(doc: Mapping[str, Any], origin: Path) -> dict[str, dict[str, Any]]:
    """TOML tables -> {"section" or "hardware.kind": {key: value}}; rejects stray values."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in doc.items():
        if name == "hardware" and isinstance(value, dict):
            for kind, sub in value.items():
                if not isinstance(sub, dict):
                    raise ConfigError(f"hardware.{kind}", sub, f"a table ([hardware.{kind}])")
                out[f"hardware.{kind}"] = dict(sub)
        elif isinstance(value, dict):
            out[name] = dict(value)
        else:
            raise ConfigError(name, value, f"a table; keys go inside a [section] ({origin})")
    return out


def read_toml(path: Path) -> dict[str, dict[str, Any]]:
    """Read one config file; a syntax error becomes a ConfigError naming the file."""
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("--config", str(path), "an existing TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "(file)", f"valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:  # tomllib.load decodes the whole file first
        raise ConfigError(str(path), "(file)", f"UTF-8 text: {exc}") from None
    except RecursionError:  # arrays or inline tables nested thousands deep
        raise ConfigError(str(path), "(file)", "TOML nested less deeply") from None
    layer = _flatten(doc, path)
    # Relative paths in a file are relative to that file, so a checkout's dev config works
    # from any working directory.
    for section, key in (("kiosk", "data_dir"), ("sealing", "central_key"),
                         ("sealing", "device_key"), ("upload", "intake_key"),
                         ("upload", "ca_file"), ("update", "root")):
        value = layer.get(section, {}).get(key)
        if isinstance(value, str) and "\x00" in value:  # "\u0000" in TOML: no OS takes it
            raise ConfigError(f"{section}.{key}", value, "a file path (no NUL character)")
        if isinstance(value, str) and value not in ("", "dev") and not value.startswith(
                ("/", "{")):
            layer[section][key] = str((path.parent / value).resolve())
    return layer


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
             list: "a list"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _check_value(key: str, field: Field, value: Any) -> None:
    kinds = field.type if isinstance(field.type, tuple) else (field.type,)
    # bool is an int in Python; do not let `true` pass for a number or a number for a bool.
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        raise ConfigError(key, value, _type_name(field.type))
    if field.check is not None and not field.check(value):
        raise ConfigError(key, value, field.allowed)


def validate(data: dict[str, dict[str, Any]]) -> None:
    """Check every key of a merged config; raise ConfigError on the first mistake."""
    from kiosk.hardware.registry import backend_names, get_backend_class

    for section, values in data.items():
        if section not in SCHEMA:
            allowed = ", ".join(f"[{s}]" for s in SCHEMA)
            raise ConfigError(f"[{section}]", "(section)", f"a known section: {allowed}")
        fields = SCHEMA[section]
        kind = _BACKEND_SECTIONS.get(section)
        declared: Mapping[str, type] = {}
        if kind is not None:
            name = values.get("type")
            if not isinstance(name, str) or name not in backend_names(kind):
                raise ConfigError(f"{section}.type", name,
                                  "one of " + ", ".join(map(repr, backend_names(kind))))
            declared = getattr(get_backend_class(kind, name), "OPTIONS", {})
        for key, value in values.items():
            full = f"{section}.{key}"
            if key in fields:
                _check_value(full, fields[key], value)
            elif key in declared:
                want = declared[key]
                if not isinstance(value, want) or (isinstance(value, bool) and want is not bool):
                    raise ConfigError(full, value, _type_name(want))
            else:
                known = sorted(set(fields) | set(declared))
                raise ConfigError(full, value, "no such key here; known keys: " + ", ".join(known))


def check_sealing(config: Config) -> None:
    """Refuse the development central key once real hardware is configured.

    Not part of loading: maintainer tools (``kiosk hw ...``) work with any key; sealing a
    record (``kiosk run``/``demo``) and ``kiosk config check`` apply it.
    """
    data = config.as_dict(mask_secrets=False)
    if data["sealing"]["central_key"] == "dev":
        real = [f"hardware.{k}" for k in HARDWARE_KINDS
                if data[f"hardware.{k}"]["type"] not in ("sim", "mock")]
        if real:
            raise ConfigError("sealing.central_key", "dev",
                              "the path of the central office's public key when real hardware "
                              f"is configured ({', '.join(real)}); 'dev' is for simulation only")


def check_upload(config: Config) -> None:
    """``upload.url`` is https://, or http:// to this machine (or ``allow_insecure``);
    ``upload.ca_file`` is readable; ``upload.intake_key``, when set, must be a readable
    intake public key: the uploader acknowledges nothing it cannot verify, so a wrong path
    would leave every record pending."""
    section = config["upload"]
    url = section["url"]
    if url.startswith("http://") and not section["allow_insecure"] and not is_loopback_url(url):
        raise ConfigError("upload.url", url,
                          "an https:// URL (plain http:// to another machine sends the "
                          "records' metadata and the kiosk's credentials in clear; set "
                          "upload.allow_insecure = true only on a network you trust)")
    if section["ca_file"]:
        try:
            with open(section["ca_file"], "rb") as stream:
                if b"-----BEGIN CERTIFICATE-----" not in stream.read(1 << 20):
                    raise OSError("no PEM certificate in it")
        except OSError as exc:
            raise ConfigError("upload.ca_file", section["ca_file"],
                              f"a readable PEM certificate file ({exc})") from exc
    path = config.intake_key_path
    if path is None:
        return
    from kiosk.errors import SealingError
    from kiosk.receipts import load_intake_public_key

    try:
        load_intake_public_key(path)
    except (OSError, SealingError) as exc:
        raise ConfigError("upload.intake_key", str(path),
                          f"the intake's receipt key file intake.pub ({exc})") from exc


def check_devices(config: Config) -> None:
    """What ``kiosk config check`` adds to loading: every backend is constructed (not
    opened: no hardware is touched), so out-of-range values fail here with their key, and
    no GPIO line is claimed twice on real pins."""
    from kiosk.errors import DeviceError
    from kiosk.hardware.registry import create_device

    for kind in (*HARDWARE_KINDS, "power"):
        # A DeviceError is a device problem (no pins on this machine), not a config mistake.
        with contextlib.suppress(DeviceError):
            create_device(kind, config.backend_options(kind))
    gpio, power = config["hardware.gpio"], config["power"]
    if gpio["type"] == "native" and power["type"] == "gpio" and power.get(
            "pin_factory", "native") == "native":
        kiosk_pins = {gpio.get(name, default) for name, default in (
            ("led_pin", 17), ("buzzer_pin", 27), ("help_pin", 22), ("tamper_pin", 23),
            ("power_fail_pin", 24), ("pir_pin", None))}
        ups_pin = power.get("power_fail_pin", 24)
        poweroff_pin = power.get("poweroff_pin")
        if poweroff_pin is not None and poweroff_pin in kiosk_pins:
            raise ConfigError("power.poweroff_pin", poweroff_pin,
                              "a GPIO line that [hardware.gpio] does not also claim: the "
                              "shutdown hook drives it to cut the UPS HAT's output")
        if ups_pin in kiosk_pins:
            raise ConfigError("power.power_fail_pin", ups_pin,
                              "a GPIO line that [hardware.gpio] does not also claim (set "
                              "hardware.gpio.power_fail_pin to a free pin, or wire the UPS "
                              "line to another pin): one line can have only one owner")


def check_all(config: Config) -> None:
    """Everything ``kiosk config check`` checks beyond loading: sealing, upload, devices."""
    check_sealing(config)
    check_upload(config)
    check_devices(config)


def defaults() -> dict[str, dict[str, Any]]:
    return {s: {k: copy.deepcopy(f.default) for k, f in fields.items()}
            for s, fields in SCHEMA.items()}


def config_path_from_env(explicit: str | Path | None) -> Path | None:
    """The user's config file: ``--config``, else ``$KIOSK_CONFIG``, else none."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("KIOSK_CONFIG")
    return Path(env) if env else None


def load_config(path: str | Path | None = None, *, system_path: Path | None = None) -> Config:
    """Merge the layers and validate. ``system_path`` defaults to ``$KIOSK_SYSTEM_CONFIG``
    or ``/etc/kiosk/kiosk.toml`` (tests point it elsewhere)."""
    if system_path is None:
        system_path = Path(os.environ.get("KIOSK_SYSTEM_CONFIG", SYSTEM_CONFIG))
    merged = defaults()
    sources: list[Path] = []
    user = config_path_from_env(path)
    layers = [p for p in (system_path, user) if p is not None]
    for layer_path in layers:
        if layer_path is system_path and not layer_path.exists():
            continue
        for section, values in read_toml(layer_path).items():
            merged.setdefault(section, {}).update(values)
        sources.append(layer_path)
    # Options of a backend chosen in an earlier layer stay; validation names any that the
    # finally chosen backend does not know, so a half-changed file is visible.
    validate(merged)
    data_dir = merged["kiosk"]["data_dir"]
    merged["sealing"]["device_key"] = merged["sealing"]["device_key"].replace(
        "{data_dir}", data_dir)
    return Config(merged, sources)
