"""Staff login with a PIV staff card: SELECT, VERIFY the PIN, read the CHUID.

Works on any :class:`~kiosk.hardware.card.base.CardReader` (sim or pcsc), because it speaks
only APDUs through ``reader.transmit``. Example::

    with create_device("card", config.backend_options("card")) as reader:
        try:
            who = staff_login(reader, pin_from_keypad)
        except WrongPin as exc:
            show(exc.message("id"))          # "PIN salah. Sisa percobaan: 2."
        except PinBlocked as exc:
            show(exc.message("id"))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kiosk.errors import DeviceProtocolError, InvalidInput
from kiosk.hardware.card import piv
from kiosk.hardware.card.base import CardReader
from kiosk.hardware.card.errors import NotAStaffCard, PinBlocked, WrongPin

log = logging.getLogger(__name__)

__all__ = ["StaffIdentity", "pin_retries_left", "read_staff_id", "read_uid", "staff_login"]


@dataclass(frozen=True)
class StaffIdentity:
    """Who logged in: the staff id from the card's CHUID, and the card's ATR."""

    staff_id: str
    atr: bytes


def _select(reader: CardReader) -> None:
    _data, sw1, sw2 = reader.transmit(piv.select_apdu())
    if (sw1, sw2) != piv.SW_OK:
        raise NotAStaffCard(f"no PIV application: SELECT answered {sw1:02X} {sw2:02X}")


def read_staff_id(reader: CardReader, *, select: bool = True) -> str:
    """The staff id in the CHUID (GET DATA 5F C1 02); NotAStaffCard if there is none."""
    if select:
        _select(reader)
    data, sw1, sw2 = reader.transmit(piv.get_data_apdu(piv.CHUID_TAG))
    if (sw1, sw2) != piv.SW_OK:
        raise NotAStaffCard(f"no CHUID: GET DATA answered {sw1:02X} {sw2:02X}")
    try:
        return piv.staff_id_from_chuid(data)
    except ValueError as exc:
        raise NotAStaffCard(str(exc)) from None


def pin_retries_left(reader: CardReader) -> int:
    """PIN tries left on the staff card (VERIFY without data), without using one."""
    _select(reader)
    _data, sw1, sw2 = reader.transmit(piv.verify_apdu())
    left = piv.retries_left(sw1, sw2)
    if (sw1, sw2) == piv.SW_OK:  # already verified in this card session
        raise DeviceProtocolError("the card reports the PIN verified; retry count unknown")
    if left is None:
        raise DeviceProtocolError(f"VERIFY status query answered {sw1:02X} {sw2:02X}")
    return left


def staff_login(reader: CardReader, pin: str) -> StaffIdentity:
    """Verify ``pin`` on the staff card in ``reader`` and return who it belongs to.

    Raises :class:`InvalidInput` for a PIN that is not 6-8 digits (no try is used),
    :class:`WrongPin` (``retries_left``), :class:`PinBlocked`, :class:`NotAStaffCard`, and
    the reader's device errors (``CardRemoved`` when the card is pulled mid-login).
    """
    try:
        piv.pad_pin(pin)
    except ValueError:
        raise InvalidInput("pin", "PIN harus 6 sampai 8 angka.",
                           "The PIN must be 6 to 8 digits.") from None
    atr = reader.card_info().atr
    _select(reader)
    _data, sw1, sw2 = reader.transmit(piv.verify_apdu(pin))
    if (sw1, sw2) != piv.SW_OK:
        if (sw1, sw2) == piv.SW_PIN_BLOCKED:
            log.warning("staff login: PIN blocked")
            raise PinBlocked()
        left = piv.retries_left(sw1, sw2)
        if left is None:
            raise DeviceProtocolError(f"VERIFY answered {sw1:02X} {sw2:02X}")
        log.info("staff login: wrong PIN, %d tries left", left)
        if left == 0:
            raise PinBlocked()
        raise WrongPin(left)
    staff_id = read_staff_id(reader, select=False)
    log.info("staff login: PIN verified")
    return StaffIdentity(staff_id=staff_id, atr=atr)


def read_uid(reader: CardReader) -> bytes | None:
    """The contactless card's UID via the PC/SC GET DATA pseudo-APDU (FF CA 00 00 00).

    None when the reader or card does not answer it with 90 00 (a contact card).
    """
    data, sw1, sw2 = reader.transmit(bytes.fromhex("FFCA000000"))
    return data if (sw1, sw2) == piv.SW_OK and data else None
