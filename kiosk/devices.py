"""Every device config can name, the UPS included: one lookup over the drivers' tables.

Each driver layer keeps its own backend table (:mod:`kiosk.hardware.registry` the hardware's,
:mod:`kiosk.power.registry` the UPS's) and the hardware registry's code looks them up; this
module, above both, joins them. The config, the runtime, ``kiosk status`` and the
maintainer commands create devices through it. Example::

    with create_device("power", config.backend_options("power")) as ups:
        status = ups.read()
"""

from __future__ import annotations

from kiosk.hardware.registry import HARDWARE, HARDWARE_KINDS
from kiosk.power.registry import POWER

__all__ = ["BACKENDS", "DEVICES", "HARDWARE_KINDS", "KINDS", "backend_names", "check_options",
           "config_key", "create_device", "get_backend_class", "section_of"]

DEVICES = HARDWARE | POWER
#: kind -> backend name -> ``"module:Class"``: the hardware kinds, then ``power``.
BACKENDS = DEVICES.backends
#: Every device kind: the hardware's (:data:`HARDWARE_KINDS`) and ``power``.
KINDS: tuple[str, ...] = DEVICES.kinds

config_key = DEVICES.config_key
backend_names = DEVICES.backend_names
get_backend_class = DEVICES.get_backend_class
check_options = DEVICES.check_options
create_device = DEVICES.create_device


def section_of(kind: str) -> str:
    """The config section of a device kind: ``hardware.camera``, ``power``."""
    return DEVICES.sections[kind]
