"""A simulated reader with a PIV-like staff card in it."""

from __future__ import annotations

import logging
import threading
from typing import ClassVar

from kiosk.errors import ConfigError, DeviceNotFound
from kiosk.hardware.base import OptionTypes
from kiosk.hardware.card import piv
from kiosk.hardware.card.base import CardInfo, CardReader

log = logging.getLogger(__name__)
traffic = logging.getLogger("kiosk.hardware.card.traffic")  # headers only, never PINs

_HISTORICAL = b"eKTP-STAFF"  # ATR historical bytes of the simulated card


class SimCardReader(CardReader):
    """A reader whose staff card answers the PIV subset a staff login uses.

    APDU table (short APDUs, CLA 00):

    ========================================  =============================================
    SELECT ``00 A4 04 00 Lc <AID>``            AID a prefix of A0 00 00 03 08 00 00 10 00
                                               01 00 (at least the RID): application
                                               property template + 90 00; else 6A 82
    VERIFY ``00 20 00 80 08 <PIN, FF-padded>``  90 00 and retries reset; wrong PIN: 63 Cx
                                               with x retries left; none left: 69 83
    VERIFY ``00 20 00 80`` (no data)           90 00 if verified, else 63 Cx
    VERIFY ``00 20 FF 80``                     forget the verification, 90 00
    GET DATA ``00 CB 3F FF 05 5C 03 5F C1 02``  the CHUID with the staff id + 90 00
    before SELECT: VERIFY / GET DATA           69 85
    other INS / CLA / bad length               6D 00 / 6E 00 / 67 00
    ========================================  =============================================

    ``insert_card()`` and ``remove_card()`` move the card; removing it resets the selected
    application and the PIN verification (a power cycle) but not the retry counter, which
    lives on the card. Example::

        with SimCardReader(pin="246810", staff_id="STAFF-0042") as reader:
            reader.transmit(piv.select_apdu())                 # (b"a...", 0x90, 0x00)
            reader.transmit(piv.verify_apdu("000000"))         # (b"", 0x63, 0xC2)
    """

    OPTIONS: ClassVar[OptionTypes] = {
        "pin": str,
        "staff_id": str,
        "present": bool,
        "pin_retries": int,
    }

    def __init__(self, *, pin: str = "123456", staff_id: str = "STAFF-0001",
                 present: bool = True, pin_retries: int = 3) -> None:
        super().__init__()
        try:
            self._pin = piv.pad_pin(pin)
        except ValueError:
            raise ConfigError("hardware.card.pin", "********", "6 to 8 digits") from None
        try:
            self._chuid = piv.build_chuid(staff_id)
        except ValueError:
            raise ConfigError("hardware.card.staff_id", staff_id,
                              "1-16 printable ASCII characters") from None
        if not 1 <= pin_retries <= 15:  # the count travels in one nibble of SW2 (63 Cx)
            raise ConfigError("hardware.card.pin_retries", pin_retries, "1 to 15")
        self._max_retries = pin_retries
        self._retries = pin_retries
        self._present = present
        self._selected = False
        self._verified = False
        self._card_lock = threading.Lock()

    # -- the card in the slot -------------------------------------------------------------
    def insert_card(self) -> None:
        """Put the card into the reader."""
        self._present = True

    def remove_card(self) -> None:
        """Take the card out; its session state is lost, its retry counter kept."""
        with self._card_lock:
            self._present = False
            self._selected = False
            self._verified = False

    @property
    def pin_retries_left(self) -> int:
        return self._retries

    @property
    def is_card_present(self) -> bool:
        self._check_open()
        return self._present

    def card_info(self) -> CardInfo:
        self._check_open()
        if not self._present:
            raise DeviceNotFound("no card in the reader")
        return CardInfo(atr=piv.atr(_HISTORICAL), uid=None)

    # -- APDUs ----------------------------------------------------------------------------
    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        with self._exclusive("APDU exchange"), self._card_lock:
            if not self._present:
                raise DeviceNotFound("no card in the reader")
            data, (sw1, sw2) = self._answer(bytes(apdu))
            traffic.debug("> %s  < %d bytes %02X %02X", apdu[:4].hex(" "), len(data), sw1, sw2)
            return data, sw1, sw2

    def _answer(self, apdu: bytes) -> tuple[bytes, tuple[int, int]]:
        if len(apdu) < 4:
            return b"", piv.SW_WRONG_LENGTH
        cla, ins, p1, p2 = apdu[:4]
        body = _command_data(apdu)
        if body is None:
            return b"", piv.SW_WRONG_LENGTH
        if cla != 0x00:
            return b"", piv.SW_CLA_NOT_SUPPORTED
        if ins == 0xA4:
            return self._select(p1, p2, body)
        if ins == 0x20:
            return self._verify(p1, p2, body)
        if ins == 0xCB:
            return self._get_data(p1, p2, body)
        return b"", piv.SW_INS_NOT_SUPPORTED

    def _select(self, p1: int, p2: int, aid: bytes) -> tuple[bytes, tuple[int, int]]:
        if (p1, p2) != (0x04, 0x00):
            return b"", piv.SW_INCORRECT_P1P2
        if len(aid) < len(piv.PIV_RID) or not piv.PIV_AID.startswith(aid):
            self._selected = False
            return b"", piv.SW_NOT_FOUND
        self._selected = True
        self._verified = False
        # Application property template: the full AID, and the authority (the RID).
        template = piv.tlv(0x4F, piv.PIV_AID[5:]) + piv.tlv(0x79, piv.tlv(0x4F, piv.PIV_RID))
        return piv.tlv(0x61, template), piv.SW_OK

    def _verify(self, p1: int, p2: int, pin: bytes) -> tuple[bytes, tuple[int, int]]:
        if not self._selected:
            return b"", piv.SW_CONDITIONS_NOT_SATISFIED
        if p2 != 0x80:  # only the card-holder PIN exists on this card
            return b"", piv.SW_REFERENCE_NOT_FOUND
        if p1 == 0xFF and not pin:
            self._verified = False
            return b"", piv.SW_OK
        if p1 != 0x00:
            return b"", piv.SW_INCORRECT_P1P2
        if self._retries == 0:
            return b"", piv.SW_PIN_BLOCKED
        if not pin:
            return b"", (piv.SW_OK if self._verified else (0x63, 0xC0 | self._retries))
        if len(pin) != piv.PIN_LENGTH:
            return b"", piv.SW_INCORRECT_DATA
        if pin == self._pin:
            self._retries = self._max_retries
            self._verified = True
            return b"", piv.SW_OK
        self._retries -= 1
        self._verified = False
        log.info("simulated staff card: wrong PIN, %d retries left", self._retries)
        return b"", (0x63, 0xC0 | self._retries)

    def _get_data(self, p1: int, p2: int, body: bytes) -> tuple[bytes, tuple[int, int]]:
        if not self._selected:
            return b"", piv.SW_CONDITIONS_NOT_SATISFIED
        if (p1, p2) != (0x3F, 0xFF):
            return b"", piv.SW_INCORRECT_P1P2
        try:
            tag = piv.parse_tlv(body).get(0x5C)
        except ValueError:
            return b"", piv.SW_INCORRECT_DATA
        if tag is None:
            return b"", piv.SW_INCORRECT_DATA
        if tag != piv.CHUID_TAG:
            return b"", piv.SW_NOT_FOUND
        return self._chuid, piv.SW_OK

    def _selftest(self) -> tuple[bool, str]:
        state = "card present" if self._present else "no card"
        return True, f"simulated reader, {state}"


def _command_data(apdu: bytes) -> bytes | None:
    """The data field of a short APDU (cases 1-4); None if the lengths do not add up."""
    if len(apdu) <= 5:  # case 1 (header only) or case 2 (header + Le)
        return b""
    lc = apdu[4]
    rest = len(apdu) - 5 - lc
    if lc == 0 or rest not in (0, 1):  # case 3, or case 4 with one Le byte
        return None
    return apdu[5:5 + lc]
