"""Config name -> device backend, the kvmd way.

A :class:`Registry` maps each device kind to its backend names and each name to
``"module:Class"``, and each kind to its config section. Nothing is imported until a backend
is asked for, so a real backend's vendor library (picamera2, smartcard, serial, lgpio) is
needed only when config selects that backend.

This module holds the machinery and the hardware's own table (:data:`BACKENDS`, the kinds
configured under ``[hardware.<kind>]``). A layer above keeps its own table and builds its
own :class:`Registry` with the same code: the UPS backends are in
:mod:`kiosk.power.registry`, and :mod:`kiosk.devices` joins both for the config and the
runtime. So no table here names a module of a higher layer (a string import lint-imports
cannot see; ``tests/unit/test_layers_by_name.py`` looks for one).

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
from dataclasses import dataclass
from typing import Any

from kiosk.errors import ConfigError, DeviceNotFound
from kiosk.hardware.base import Device
from kiosk.options import check

__all__ = ["BACKENDS", "HARDWARE", "HARDWARE_KINDS", "Registry", "backend_names",
           "check_options", "config_key", "create_device", "get_backend_class"]

log = logging.getLogger(__name__)


def _allowed(names: list[str]) -> str:
    return "one of " + ", ".join(repr(n) for n in names)


@dataclass(frozen=True)
class Registry:
    """Device kinds, their backends and their config sections.

    ``backends``: kind -> backend name -> ``"module:Class"``; ``sections``: kind -> the
    config section its keys live in (``hardware.camera``, ``power``). ``a | b`` is one
    registry of the kinds of both.
    """

    backends: Mapping[str, Mapping[str, str]]
    sections: Mapping[str, str]

    def __post_init__(self) -> None:
        if set(self.backends) != set(self.sections):
            raise ValueError(f"kinds {sorted(self.backends)} but sections for "
                             f"{sorted(self.sections)}")

    def __or__(self, other: Registry) -> Registry:
        if common := set(self.backends) & set(other.backends):
            raise ValueError(f"device kinds in both registries: {sorted(common)}")
        return Registry({**self.backends, **other.backends},
                        {**self.sections, **other.sections})

    @property
    def kinds(self) -> tuple[str, ...]:
        """The device kinds, in table order."""
        return tuple(self.backends)

    def config_key(self, kind: str, option: str) -> str:
        """The config key of a backend option: ``hardware.camera.type``, ``power.type``."""
        return f"{self.sections[kind]}.{option}"

    def backend_names(self, kind: str) -> list[str]:
        """The backend names config may give for ``kind``, sorted."""
        try:
            return sorted(self.backends[kind])
        except KeyError:
            raise ConfigError("hardware", kind,
                              "a device kind: " + _allowed(sorted(self.backends))) from None

    def get_backend_class(self, kind: str, name: str) -> type[Device]:
        """The class behind ``kind``/``name``; ConfigError if config names no such backend."""
        names = self.backend_names(kind)
        key = self.config_key(kind, "type")
        if name not in names:
            raise ConfigError(key, name, _allowed(names))
        module_name, _, class_name = self.backends[kind][name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            # A real backend whose vendor library is not installed: a device problem, and
            # the message says what to install.
            raise DeviceNotFound(f"{key} = {name!r} needs {exc.name or exc}"
                                 f", which is not installed") from exc
        cls = getattr(module, class_name)
        if not (isinstance(cls, type) and issubclass(cls, Device)):  # a broken table entry
            raise TypeError(f"{self.backends[kind][name]} is not a Device class")
        return cls

    def check_options(self, kind: str, options: Mapping[str, Any]
                      ) -> tuple[type[Device], dict[str, Any]]:
        """Validate ``options`` (``type`` plus backend options) without creating the device.

        Returns the backend class and the keyword arguments for it.
        """
        if "type" not in options:
            names = self.backend_names(kind)
            raise ConfigError(self.config_key(kind, "type"), None, _allowed(names))
        cls = self.get_backend_class(kind, options["type"])
        kwargs: dict[str, Any] = {}
        for option, value in options.items():
            if option == "type":
                continue
            key = self.config_key(kind, option)
            if option not in cls.OPTIONS:
                known = ", ".join(sorted(cls.OPTIONS)) or "none"
                raise ConfigError(key, value, f"no such option for {options['type']!r}; "
                                              f"known options: {known}")
            # The type here; the backend's constructor checks the value (check_values).
            check(key, cls.OPTIONS[option], value, values=False)
            kwargs[option] = value
        return cls, kwargs

    def create_device(self, kind: str, options: Mapping[str, Any]) -> Device:
        """Create (not open) the device config asks for; ConfigError on any bad option.

        A value of the right type but out of range (a negative pin number) is rejected by
        the backend's constructor, also with a ConfigError naming the key.
        """
        cls, kwargs = self.check_options(kind, options)
        log.debug("creating %s backend %s", kind, cls.__name__)
        return cls(**kwargs)


#: The hardware's backends: kind -> config name -> ``"module:Class"``, all in this package.
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
}
#: The device kinds configured under ``[hardware.<kind>]`` (the UPS is ``[power]``).
HARDWARE_KINDS: tuple[str, ...] = tuple(BACKENDS)
HARDWARE = Registry(BACKENDS, {kind: f"hardware.{kind}" for kind in BACKENDS})

# The hardware kinds' lookups (the drivers' own tools and tests); every kind, the UPS
# included, through kiosk.devices.
config_key = HARDWARE.config_key
backend_names = HARDWARE.backend_names
get_backend_class = HARDWARE.get_backend_class
check_options = HARDWARE.check_options
create_device = HARDWARE.create_device
