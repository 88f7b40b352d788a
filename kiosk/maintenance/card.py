"""``kiosk hw card watch``: print reader and card events as they happen (maintainer tool)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from kiosk.core.exits import EXIT_FAIL, EXIT_OK
from kiosk.errors import ConfigError, DeviceError, InvalidInput
from kiosk.hardware.card.base import CardEvent, CardReader
from kiosk.hardware.card.staff import read_staff_id
from kiosk.hardware.registry import create_device

if TYPE_CHECKING:
    from kiosk.config import Config

__all__ = ["describe_event", "watch_command"]


def describe_event(reader: CardReader, event: CardEvent) -> str:
    """One line for an event; on insertion also the UID (contactless) or the staff id (PIV).

    Reads only public data: the UID and the CHUID need no PIN.
    """
    stamp = time.strftime("%H:%M:%S")
    line = f"{stamp} {event.kind} reader={event.reader!r}"
    if event.kind != "card_inserted":
        return line
    line += f" atr={(event.atr or b'').hex()}"
    try:
        info = reader.card_info()
        if info.uid is not None:
            return line + f" uid={info.uid.hex()}"
        # repr: the id comes from the card, and a card may carry terminal escapes
        return line + f" staff_id={read_staff_id(reader)!r}"
    except InvalidInput:  # NotAStaffCard: a card, but not ours
        return line + " (not a staff card)"
    except DeviceError as exc:  # pulled out again already, or mute
        return line + f" (could not read: {exc})"


def watch_command(config: Config, seconds: float | None = None) -> int:
    """Print one line per reader/card event until Ctrl-C or ``seconds`` have passed.

    Intended command line: ``kiosk hw card watch [--seconds N]``. Exit 0 after the time or
    an interrupt; 1 with the reason on stderr when the reader cannot be opened (no reader,
    no pcscd, bad config). Never raises for device problems.
    """
    try:
        reader = create_device("card", config.backend_options("card"))
    except (ConfigError, DeviceError) as exc:
        print(f"card watch: {exc}", file=sys.stderr)
        return EXIT_FAIL
    if not isinstance(reader, CardReader):
        print("card watch: hardware.card is not a card reader", file=sys.stderr)
        return EXIT_FAIL
    try:
        reader.open()
    except DeviceError as exc:
        print(f"card watch: {exc}", file=sys.stderr)
        return EXIT_FAIL
    try:
        name = getattr(reader, "reader_name", "") or type(reader).__name__
        until = "Ctrl-C" if seconds is None else f"{seconds:g} s or Ctrl-C"
        print(f"watching {name!r} until {until}", flush=True)
        for event in reader.events(timeout=seconds):
            print(describe_event(reader, event), flush=True)
    except KeyboardInterrupt:
        pass
    except DeviceError as exc:
        print(f"card watch: {exc}", file=sys.stderr)
        return EXIT_FAIL
    finally:
        reader.close()
    return EXIT_OK
