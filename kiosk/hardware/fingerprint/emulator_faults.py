"""The fingerprint emulator's faults: what goes wrong, how often, and the ``--fault`` syntax.

Faults (OctoPrint's virtual-printer idea), given at start or injected at run time. Counts are
"the next N times"; -1 means always:

=====================  ===============================================================
``no_finger``          GenImg answers 0x02 (no finger) this many times before each image
``bad_checksum``       the next N acknowledge packets carry a wrong checksum
``bad_checksum_image`` the next N image uploads have one data packet with a wrong checksum
``garbage``            the next N replies are preceded by random bytes
``stall``              the next N image uploads stop halfway (the rest is never sent)
``drop``               the next N image uploads drop the line halfway (pty gone for drop_s)
``drop_every``         every Nth image drops the line halfway through its first upload
``disconnect``         the next image upload drops the line halfway for good
``mute``               nothing is ever answered
=====================  ===============================================================

Example::

    faults = Faults(no_finger=3)
    parse_fault("drop-every=10", faults)       # the CLI's --fault drop-every=10
    FingerprintEmulator(faults=faults)         # or at run time: emu.inject(stall=1)
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["Drop", "Faults", "Stall", "parse_fault"]


@dataclass
class Faults:
    """What goes wrong, and how often (see the module docstring)."""

    no_finger: int = 0
    bad_checksum: int = 0
    bad_checksum_image: int = 0
    garbage: int = 0
    stall: int = 0
    drop: int = 0
    drop_every: int = 0
    disconnect: bool = False
    mute: bool = False
    drop_s: float = 0.3

    def take(self, name: str) -> bool:
        """Use one occurrence of fault ``name``: True if it fires now."""
        count = getattr(self, name)
        if count == -1:
            return True
        if count > 0:
            setattr(self, name, count - 1)
            return True
        return False


def parse_fault(spec: str, faults: Faults) -> None:
    """Apply one ``--fault`` spec (``name[=once|always|N]``, dashes or underscores)."""
    name, _, value = spec.partition("=")
    name = name.strip().replace("-", "_")
    known = {f.name for f in fields(Faults)}
    if name not in known:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(known))}")
    if name in ("disconnect", "mute"):
        setattr(faults, name, value in ("", "1", "true", "yes", "once"))
        return
    if name == "drop_s":
        faults.drop_s = float(value)
        return
    count = {"": 1, "once": 1, "always": -1}.get(value)
    if count is None:
        count = int(value)
    setattr(faults, name, count)


class Drop:
    """Queue marker: the line drops here (``forever`` for a disconnect)."""

    def __init__(self, forever: bool) -> None:
        self.forever = forever


class Stall:
    """Queue marker: the upload stops here."""
