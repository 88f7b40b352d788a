"""Config name -> device backend, the kvmd way.

``BACKENDS`` maps a device kind to its backend names and each name to ``"module:Class"``.
Nothing is imported until a backend is asked for, so a real backend's vendor library
(picamera2, smartcard, serial, lgpio) is needed only when config selects that backend.

Each backend class declares ``OPTIONS`` (option name -> :class:`~kiosk.options.Option`:
type, default, what is allowed, description); ``create_device`` checks the options against
it and fails fast with a :class:`~kiosk.errors.ConfigError` that names the key
(``hardware.<kind>.<option>``, or ``power.<option>``), the bad value and what is allowed.
Example::

    scanner = create_device("fingerprint", {"type": "sim", "seed": 3})
    with scanner:
        image = scanner.capture()
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from typing import Any

from kiosk.errors import ConfigError, DeviceNotFound
from kiosk.hardware.base import Device
from kiosk.options import check

log = logging.getLogger(__name__)

BACKENDS: dict[str, dict[str, str]] = {
    "fingerprint": {
        "sim": "kiosk.hardware.fingerprint.sim:SimFingerprint",
        "zfm": "kiosk.hardware.fingerprint.zfm:ZfmFingerprint",
    },
    "camera": {
        "sim": "kiosk.hardware.camera.sim:SimCamera",
        "picamera2": "kiosk.hardware.camera.picam:Picamera2Camera",
        "v4l2": "kiosk.hardware.camera.v4l2:V4l2Camera",
    },
    "card": {
        "sim": "kiosk.hardware.card.sim:SimCardReader",
        "pcsc": "kiosk.hardware.card.pcsc:PcscCardReader",
    },
    "gpio": {
        "mock": "kiosk.hardware.gpio:MockKioskGpio",
        "native": "kiosk.hardware.gpio:NativeKioskGpio",
    },
    "power": {
        "sim": "kiosk.power:SimPower",
        "nut": "kiosk.power.nut:NutUps",
        "gpio": "kiosk.power.gpio_ups:GpioUps",
    },
}
#: The device kinds configured under ``[hardware.<kind>]`` (the UPS is ``[power]``).
HARDWARE_KINDS: tuple[str, ...] = tuple(kind for kind in BACKENDS if kind != "power")


def config_key(kind: str, option: str) -> str:
    """The config key of a backend option: ``hardware.camera.type``, ``power.type``."""
    return f"power.{option}" if kind == "power" else f"hardware.{kind}.{option}"


def _allowed(names: list[str]) -> str:
    return "one of " + ", ".join(repr(n) for n in names)


def backend_names(kind: str) -> list[str]:
    """The backend names config may give for ``kind``, sorted."""
    try:
        return sorted(BACKENDS[kind])
    except KeyError:
        raise ConfigError("hardware", kind, "a device kind: " + _allowed(sorted(BACKENDS))
                          ) from None


def get_backend_class(kind: str, name: str) -> type[Device]:
    """The class behind ``kind``/``name``; ConfigError if config names no such backend."""
    names = backend_names(kind)
    if name not in names:
        raise ConfigError(config_key(kind, "type"), name, _allowed(names))
    module_name, _, class_name = BACKENDS[kind][name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        # A real backend whose vendor library is not installed: a device problem, and
        # the message says what to install.
        raise DeviceNotFound(f"{config_key(kind, 'type')} = {name!r} needs {exc.name or exc}"
                             f", which is not installed") from exc
    cls = getattr(module, class_name)
    if not (isinstance(cls, type) and issubclass(cls, Device)):  # a broken BACKENDS entry
        raise TypeError(f"{BACKENDS[kind][name]} is not a Device class")
    return cls


def check_options(kind: str, options: Mapping[str, Any]) -> tuple[type[Device], dict[str, Any]]:
    """Validate ``options`` (``type`` plus backend options) without creating the device.

    Returns the backend class and the keyword arguments for it.
    """
    if "type" not in options:
        raise ConfigError(config_key(kind, "type"), None, _allowed(backend_names(kind)))
    cls = get_backend_class(kind, options["type"])
    kwargs: dict[str, Any] = {}
    for option, value in options.items():
        if option == "type":
            continue
        key = config_key(kind, option)
        if option not in cls.OPTIONS:
            known = ", ".join(sorted(cls.OPTIONS)) or "none"
            raise ConfigError(key, value, f"no such option for {options['type']!r}; "
                                          f"known options: {known}")
        # The type here; the backend's constructor checks the value (check_values).
        check(key, cls.OPTIONS[option], value, values=False)
        kwargs[option] = value
    return cls, kwargs


def create_device(kind: str, options: Mapping[str, Any]) -> Device:
    """Create (not open) the device config asks for; ConfigError on any bad option.

    A value of the right type but out of range (a negative pin number) is rejected by the
    backend's constructor, also with a ConfigError naming the key.
    """
    cls, kwargs = check_options(kind, options)
    log.debug("creating %s backend %s", kind, cls.__name__)
    return cls(**kwargs)
