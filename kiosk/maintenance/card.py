"""``kiosk hw card watch``, ``check`` and ``chuid``: the card reader's events as they happen,
an officer's card tried as the touchscreen's login tries it, and the CHUID a new staff card
carries (maintainer tools; docs/staff-cards.md)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.core.exits import EXIT_FAIL, EXIT_OK
from kiosk.errors import ConfigError, DeviceError, InvalidInput
from kiosk.hardware.card.base import CardEvent, CardReader
from kiosk.hardware.card.staff import read_staff_id
from kiosk.hardware.registry import create_device

if TYPE_CHECKING:
    from kiosk.config import Config

__all__ = ["check_command", "chuid_command", "describe_event", "watch_command"]


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


def chuid_command(staff_id: str, out: Path | None) -> int:
    """``kiosk hw card chuid STAFF_ID [--out FILE]``: the CHUID a kiosk staff card carries
    (the staff id in its GUID, tag 34), as the contents of the data object 5F C1 02 without
    its 53 wrapper: what ``yubico-piv-tool -a write-object --id 0x5fc102 --format binary``
    writes to a card (docs/staff-cards.md). To ``FILE``, or as hex on stdout. Exit 0; 2 for
    a staff id that is not 1-16 printable ASCII characters."""
    from kiosk.core.exits import EXIT_CONFIG
    from kiosk.hardware.card import piv

    try:
        contents = piv.parse_tlv(piv.build_chuid(staff_id))[0x53]
    except ValueError as exc:
        print(f"card chuid: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if out is None:
        print(contents.hex())
    else:
        out.write_bytes(contents)
        print(f"card chuid: {len(contents)} bytes for staff id {staff_id!r} in {out}",
              file=sys.stderr)
    return EXIT_OK


def check_command(config: Config, *, pin: str | None = None, wait_s: float = 30.0) -> int:
    """``kiosk hw card check``: the officer's login as the touchscreen does it, step by step,
    for a card just provisioned (or one an officer says is refused): the card in the reader,
    its staff id, the PIN (asked, never echoed or printed), the certificate and its CA, the
    signed challenge, and whether the office's CRL (``[staff] crl``) revokes it. Exit 0 when
    this kiosk would log the card in; 1 when it refuses it (each line says why; a revoked
    card too); 2 when the kiosk trusts no staff-card CA (``[staff] ca`` not set, or it or
    ``[staff] crl`` unusable: then every card is refused)."""
    import getpass
    from datetime import UTC, datetime

    from kiosk.clock import clock_is_synchronized
    from kiosk.core.exits import EXIT_CONFIG
    from kiosk.errors import KioskError
    from kiosk.hardware.card.errors import CardRevoked, StaffLoginFailed
    from kiosk.hardware.card.staff import staff_login
    from kiosk.hardware.card.trust import serial_hex
    from kiosk.runtime import load_staff_trust

    trust = load_staff_trust(config)
    if trust is None:
        print("card check: this kiosk trusts no staff-card CA, so it refuses every card: "
              "set [staff] ca to the office's CA certificate (PEM); if it is set, it or "
              "[staff] crl is unusable (kiosk doctor, key.staff, says why)", file=sys.stderr)
        return EXIT_CONFIG
    print(f"trusted: {trust.describe()}")
    if trust.crls:
        print(f"revocation list: {trust.describe_crls()}")
        for entry in trust.out_of_date(datetime.now(UTC)):
            print(f"revocation list out of date since {entry.crl.next_update_utc:%Y-%m-%d}: "
                  "the cards it lists are refused, cards revoked since are not known")
    else:
        print("revocation list: none ([staff] crl is not set): no card is refused as revoked")
    try:
        reader = create_device("card", config.backend_options("card"))
        reader.open()
    except (ConfigError, DeviceError) as exc:
        print(f"card check: {exc}", file=sys.stderr)
        return EXIT_FAIL
    try:
        if not isinstance(reader, CardReader):
            print("card check: hardware.card is not a card reader", file=sys.stderr)
            return EXIT_FAIL
        if not reader.is_card_present:
            print(f"insert the card (waiting {wait_s:g} s) ...", flush=True)
            if reader.wait_for_card(timeout=wait_s) is None:
                print("card check: no card was inserted", file=sys.stderr)
                return EXIT_FAIL
        try:
            staff_id = read_staff_id(reader)
        except InvalidInput as exc:
            print(f"card check: not a staff card: {getattr(exc, 'detail', exc)}",
                  file=sys.stderr)
            return EXIT_FAIL
        print(f"staff id (CHUID): {staff_id!r}")
        if pin is None:
            if not sys.stdin.isatty():  # getpass would warn, then read the PIN in the clear
                print("card check: the PIN is asked on a terminal, and there is none: run it "
                      "in an SSH session with one (ssh -t), or give the PIN on standard "
                      "input with --pin-stdin", file=sys.stderr)
                return EXIT_FAIL
            try:
                pin = getpass.getpass("PIN (not shown): ")
            except EOFError:  # Ctrl-D at the prompt
                print("\ncard check: no PIN given", file=sys.stderr)
                return EXIT_FAIL
        now = datetime.now(UTC) if clock_is_synchronized() else None
        if now is None:
            print("clock not synchronised: certificate dates are not checked (as at login)")
        try:
            who = staff_login(reader, pin, trust=trust, now=now)
        except CardRevoked as exc:
            print(f"revocation: REVOKED, {exc.detail}, on {trust.crl_source}")
            print(f"card check: refused: {exc.message_en} (the office revoked this card)",
                  file=sys.stderr)
            return EXIT_FAIL
        except StaffLoginFailed as exc:
            detail = getattr(exc, "detail", "")
            print(f"card check: refused: {exc.message_en}" + (f" ({detail})" if detail
                                                               else ""), file=sys.stderr)
            return EXIT_FAIL
        except KioskError as exc:
            print(f"card check: {exc}", file=sys.stderr)
            return EXIT_FAIL
        serial = serial_hex(who.serial) if who.serial is not None else "?"
        if trust.crls:
            print(f"revocation: certificate serial {serial} is not on {trust.crl_source}")
        else:
            print(f"revocation: not checked (no CRL); certificate serial {serial}")
        print(f"PIN verified; certificate issued by a trusted CA and naming {who.staff_id!r}; "
              "challenge signed: this kiosk logs the card in")
        return EXIT_OK
    finally:
        reader.close()
