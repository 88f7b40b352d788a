"""Layered, typed, validated TOML configuration.

Layers, later ones winning key by key:

1. the defaults in :data:`~kiosk.config_schema.SCHEMA` (the packaged defaults: a simulated
   kiosk);
2. the system file ``/etc/kiosk/kiosk.toml`` if it exists;
3. the file named by ``--config`` or, failing that, ``$KIOSK_CONFIG``.

Every key is declared once, as a :class:`~kiosk.options.Option` with its type, default,
what is allowed and a description (the Mopidy way): the sections in
:mod:`kiosk.config_schema`, and each device backend's own options in ``OPTIONS`` on its
class (kvmd's ``get_plugin_options()``), found through the device registry
(:mod:`kiosk.devices`). One checker, :func:`kiosk.options.check`, validates them all. Any
mistake is a :class:`~kiosk.errors.ConfigError` naming the key, the bad value and what is
allowed; ``kiosk config check`` turns it into exit status 2.
``docs/config.md`` is generated from these declarations (``python -m kiosk.config_doc``).
"""

from __future__ import annotations

import contextlib
import copy
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiosk.config_schema import SCHEMA
from kiosk.devices import (
    HARDWARE_KINDS,
    KINDS,
    backend_names,
    create_device,
    get_backend_class,
    section_of,
)
from kiosk.enrollment.session_options import KEEP_ALIVE_EVERY_S
from kiosk.errors import ConfigError, ConfigUnreadable, UnknownKey, UnknownSection
from kiosk.netutil import is_loopback_url
from kiosk.options import MASK, Option, check

SYSTEM_CONFIG = Path("/etc/kiosk/kiosk.toml")

_BACKEND_SECTIONS = {section_of(kind): kind for kind in KINDS}


class Config:
    """The merged, validated configuration. Read with ``config["kiosk"]["id"]``."""

    def __init__(self, data: dict[str, dict[str, Any]], sources: list[Path],
                 origins: Mapping[str, Path] | None = None) -> None:
        self._data = data
        self.sources = sources
        #: "section.key" (and "[section]") -> the file that set it last; defaults are absent.
        self.origins: dict[str, Path] = dict(origins or {})

    def locate(self, exc: ConfigError) -> ConfigError:
        """``exc`` naming the file that set its key, when a file did (see ConfigError)."""
        source = self.origins.get(exc.key)
        if source is None and "." in exc.key:  # hardware.fingerprint.type -> the section
            source = self.origins.get(f"[{exc.key.rsplit('.', 1)[0]}]")
        return exc.located(source) if source is not None else exc

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self._data[section]

    def as_dict(self, *, mask_secrets: bool = True) -> dict[str, dict[str, Any]]:
        """A deep copy, with secret values replaced by ``********`` unless asked not to."""
        out = copy.deepcopy(self._data)
        if mask_secrets:
            for section, values in out.items():
                for key, option in self.declared(section).items():
                    if option.secret and values.get(key):
                        values[key] = MASK
        return out

    def declared(self, section: str) -> dict[str, Option]:
        """Every option ``section`` may hold: the schema's, and for a hardware or power
        section those its configured backend declares (a ZFM's password, a card's PIN)."""
        options = dict(SCHEMA.get(section, {}))
        kind = _BACKEND_SECTIONS.get(section)
        if kind is not None:
            options |= self._backend_declared(kind)
        return options

    def _backend_declared(self, kind: str) -> Mapping[str, Option]:
        """The options the configured backend of ``kind`` declares (its ``OPTIONS``)."""
        cls = get_backend_class(kind, self._data[section_of(kind)]["type"])
        return getattr(cls, "OPTIONS", {})

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
        values = self._data[section_of(kind)]
        declared = self._backend_declared(kind)
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
        raise ConfigError("--config", str(path), "an existing TOML file",
                          message=f"--config: {path} does not exist; expected an existing "
                                  "TOML file") from None
    except PermissionError:  # /etc/kiosk is 0750 root:kiosk: not for a plain user
        raise ConfigUnreadable(str(path)) from None
    except OSError as exc:  # a directory, a path through a file, not readable by this user
        raise ConfigError.of_file(str(path), f"cannot be read as a TOML file "
                                             f"({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError.of_file(str(path), f"is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:  # tomllib.load decodes the whole file first
        raise ConfigError.of_file(str(path), f"is not UTF-8 text: {exc}") from None
    except RecursionError:  # arrays or inline tables nested thousands deep
        raise ConfigError.of_file(str(path), "is TOML nested too deeply") from None
    layer = _flatten(doc, path)
    # Relative paths in a file are relative to that file, so a checkout's dev config works
    # from any working directory.
    for section, key in (("kiosk", "data_dir"), ("sealing", "central_key"),
                         ("sealing", "device_key"), ("upload", "intake_key"),
                         ("upload", "ca_file"), ("staff", "ca"), ("staff", "crl"),
                         ("update", "root")):
        value = layer.get(section, {}).get(key)
        if isinstance(value, str) and "\x00" in value:  # "\u0000" in TOML: no OS takes it
            raise ConfigError(f"{section}.{key}", value, "a file path (no NUL character)")
        if isinstance(value, str) and value not in ("", "dev") and not value.startswith(
                ("/", "{")):
            layer[section][key] = str((path.parent / value).resolve())
    return layer


def validate(data: dict[str, dict[str, Any]]) -> None:
    """Check every key of a merged config; raise ConfigError on the first mistake."""
    for section, values in data.items():
        if section not in SCHEMA:
            raise UnknownSection(section, list(SCHEMA))
        fields = SCHEMA[section]
        kind = _BACKEND_SECTIONS.get(section)
        declared: Mapping[str, Option] = {}
        if kind is not None:
            name = values.get("type")
            if not isinstance(name, str) or name not in backend_names(kind):
                raise ConfigError(f"{section}.type", name,
                                  "one of " + ", ".join(map(repr, backend_names(kind))))
            declared = get_backend_class(kind, name).OPTIONS
        for key, value in values.items():
            full = f"{section}.{key}"
            if key in fields:
                check(full, fields[key], value)
            elif key in declared:
                # Only the type here: the backend's range is checked when the device is
                # created (create_device, `kiosk config check`), as a device's problem.
                check(full, declared[key], value, values=False)
            else:
                known = sorted(set(fields) | set(declared))
                raise UnknownKey(full, value, known)
    _check_timeouts(data)
    _check_power_thresholds(data)


def _check_timeouts(data: dict[str, dict[str, Any]]) -> None:
    """The session must outlive the touchscreen's idle warning: one that expires first
    wipes a citizen who only paused to read, with no warning and no chance to continue
    (WCAG 2.2.1), and the next touch finds the welcome."""
    session = data["kiosk"]["session_timeout_s"]
    idle, warning = data["ui"]["idle_timeout_s"], data["ui"]["idle_warning_s"]
    least = idle + warning + KEEP_ALIVE_EVERY_S
    if session < least:
        raise ConfigError("kiosk.session_timeout_s", session, (
            f"at least ui.idle_timeout_s + ui.idle_warning_s + {KEEP_ALIVE_EVERY_S:g} = "
            f"{least:g} s: a session that expires before the touchscreen's idle warning "
            "ends wipes a citizen who only paused, without the warning"))


def _check_power_thresholds(data: dict[str, dict[str, Any]]) -> None:
    """On battery the kiosk stops taking new enrollments before it shuts down: a refusal
    threshold at or under the shutdown one would let a citizen start an enrollment the
    shutdown then cuts short (and the refusal would never be seen). A shutdown threshold of
    0 leaves that measure to the UPS's own low-battery signal."""
    power = data["power"]
    for start, stop, unit in (("min_battery_percent", "shutdown_battery_percent", " %"),
                              ("min_runtime_s", "shutdown_runtime_s", " s")):
        if power[stop] > 0 and power[start] <= power[stop]:
            raise ConfigError(f"power.{start}", power[start], (
                f"more than power.{stop} = {power[stop]:g}{unit}: below it new enrollments "
                "stop, before the kiosk shuts down"))


def real_hardware(config: Config) -> list[str]:
    """The ``[hardware.*]`` sections configured with a real backend (not ``sim`` or
    ``mock``): where the development keys (the central pair, the staff CA) stop."""
    return [section_of(k) for k in HARDWARE_KINDS
            if config[section_of(k)]["type"] not in ("sim", "mock")]


def check_sealing(config: Config) -> None:
    """Refuse the development central key once real hardware is configured.

    Not part of loading: maintainer tools (``kiosk hw ...``) work with any key; sealing a
    record (``kiosk run``/``demo``) and ``kiosk config check`` apply it.
    """
    if config["sealing"]["central_key"] == "dev":
        real = real_hardware(config)
        if real:
            raise ConfigError("sealing.central_key", "dev",
                              "the path of the central office's public key when real hardware "
                              f"is configured ({', '.join(real)}); 'dev' is for simulation only")


def check_central_key(config: Config) -> None:
    """``sealing.central_key``, unless ``dev``, is a readable central public key: every
    record is sealed to it, so without it no enrollment starts (``kiosk demo`` exits 3)."""
    if config.uses_dev_central_key:
        return
    from kiosk.errors import SealingError
    from kiosk.sealing import load_central_public_key

    try:
        load_central_public_key(config.central_key_path)
    except (OSError, SealingError) as exc:
        raise ConfigError("sealing.central_key", str(config.central_key_path),
                          f"the central office's public key file central.pub ({exc})") from exc


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

    for kind in KINDS:
        # A DeviceError is a device problem (no pins on this machine), not a config mistake.
        with contextlib.suppress(DeviceError):
            create_device(kind, config.backend_options(kind))
    gpio, power = config["hardware.gpio"], config["power"]
    if gpio["type"] != "native" or power["type"] != "gpio":
        return
    kiosk_gpio, ups = get_backend_class("gpio", "native"), get_backend_class("power", "gpio")

    def ups_option(name: str) -> Any:
        return power.get(name, ups.OPTIONS[name].default)

    if ups_option("pin_factory") == "native":
        # The lines [hardware.gpio] claims: its *_pin options, as set or by default.
        kiosk_pins = {gpio.get(name, option.default)
                      for name, option in kiosk_gpio.OPTIONS.items() if name.endswith("_pin")}
        ups_pin = ups_option("power_fail_pin")
        poweroff_pin = ups_option("poweroff_pin")
        if poweroff_pin is not None and poweroff_pin in kiosk_pins:
            raise ConfigError("power.poweroff_pin", poweroff_pin,
                              "a GPIO line that [hardware.gpio] does not also claim: the "
                              "shutdown hook drives it to cut the UPS HAT's output")
        if ups_pin in kiosk_pins:
            raise ConfigError("power.power_fail_pin", ups_pin,
                              "a GPIO line that [hardware.gpio] does not also claim (set "
                              "hardware.gpio.power_fail_pin to a free pin, or wire the UPS "
                              "line to another pin): one line can have only one owner")


def check_all(config: Config, *, central_key: bool = True) -> None:
    """Everything ``kiosk config check`` checks beyond loading: sealing, upload, devices,
    and (``central_key``; ``kiosk doctor`` has a check of its own for it) the central key.
    A mistake names the file that set the key."""
    try:
        check_sealing(config)
        check_upload(config)
        check_devices(config)
        if central_key:
            check_central_key(config)
    except ConfigError as exc:
        raise config.locate(exc) from None


def defaults() -> dict[str, dict[str, Any]]:
    return {s: {k: copy.deepcopy(f.default) for k, f in fields.items()}
            for s, fields in SCHEMA.items()}


#: What a kiosk whose configuration does not load still takes from its files, to draw the
#: closed screen that says so: each value only when it is valid on its own.
SCREEN_KEYS: tuple[tuple[str, str], ...] = (
    ("ui", "fullscreen"), ("ui", "width"), ("ui", "height"), ("ui", "panel_mm"),
    ("kiosk", "default_language"))


def screen_config(path: str | Path | None = None, *,
                  system_path: Path | None = None) -> Config:
    """The packaged defaults, with the :data:`SCREEN_KEYS` the config files (as
    :func:`load_config` finds them) set validly: for ``kiosk run`` when the configuration
    does not load, so that the closed screen fills the panel it is on (the template's
    ``fullscreen = true`` is in the very file that may be broken)."""
    if system_path is None:
        system_path = Path(os.environ.get("KIOSK_SYSTEM_CONFIG", SYSTEM_CONFIG))
    merged = defaults()
    user, _named_by = _user_config(path)
    for layer_path in (system_path, user):
        if layer_path is None:
            continue
        try:
            layer = read_toml(layer_path)
        except ConfigError:
            continue  # missing, unreadable, not TOML: nothing to take from it
        for section, key in SCREEN_KEYS:
            if key not in layer.get(section, {}):
                continue
            value = layer[section][key]
            try:
                check(f"{section}.{key}", SCHEMA[section][key], value)
            except ConfigError:
                continue
            merged[section][key] = value
    return Config(merged, [])


def _user_config(explicit: str | Path | None) -> tuple[Path | None, str]:
    """The user's config file and what named it (``--config`` or ``$KIOSK_CONFIG``)."""
    if explicit:
        return Path(explicit), "--config"
    env = os.environ.get("KIOSK_CONFIG")
    return (Path(env), "$KIOSK_CONFIG") if env else (None, "")


def config_path_from_env(explicit: str | Path | None) -> Path | None:
    """The user's config file: ``--config``, else ``$KIOSK_CONFIG``, else none."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("KIOSK_CONFIG")
    return Path(env) if env else None


def _exists(path: Path) -> bool:
    """``path.exists()``, but a directory on the way this user may not enter (``/etc/kiosk``
    is 0750 root:kiosk) is :class:`ConfigUnreadable`, not a PermissionError's traceback."""
    try:
        return path.exists()
    except PermissionError:
        raise ConfigUnreadable(str(path)) from None


def load_config(path: str | Path | None = None, *, system_path: Path | None = None) -> Config:
    """Merge the layers and validate. ``system_path`` defaults to ``$KIOSK_SYSTEM_CONFIG``
    or ``/etc/kiosk/kiosk.toml`` (tests point it elsewhere)."""
    if system_path is None:
        system_path = Path(os.environ.get("KIOSK_SYSTEM_CONFIG", SYSTEM_CONFIG))
    merged = defaults()
    sources: list[Path] = []
    origins: dict[str, Path] = {}
    user, named_by = _user_config(path)
    layers = [p for p in (system_path, user) if p is not None]
    for layer_path in layers:
        if layer_path is system_path and not _exists(layer_path):
            continue
        try:
            layer = read_toml(layer_path)
        except ConfigError as exc:
            if exc.key != "--config" or layer_path is not user:
                raise
            # The file is missing: say what named it ($KIOSK_CONFIG, in a unit's Environment=)
            raise ConfigError(named_by, exc.value, exc.allowed) from None
        for section, values in layer.items():
            merged.setdefault(section, {}).update(values)
            origins[f"[{section}]"] = layer_path
            origins.update((f"{section}.{key}", layer_path) for key in values)
        sources.append(layer_path)
    config = Config(merged, sources, origins)
    # Options of a backend chosen in an earlier layer stay; validation names any that the
    # finally chosen backend does not know, so a half-changed file is visible.
    try:
        validate(merged)
    except ConfigError as exc:
        raise config.locate(exc) from None
    data_dir = merged["kiosk"]["data_dir"]
    merged["sealing"]["device_key"] = merged["sealing"]["device_key"].replace(
        "{data_dir}", data_dir)
    return config
