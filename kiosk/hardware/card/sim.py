"""A simulated reader with a PIV-like staff card in it."""

from __future__ import annotations

import logging
from typing import ClassVar

from kiosk.errors import DeviceNotFound
from kiosk.hardware.base import Options
from kiosk.hardware.card.base import CardEvent, CardInfo, CardReader
from kiosk.hardware.card.errors import CardRemoved
from kiosk.hardware.card.pivcard import CARD_OPTIONS, PivCard
from kiosk.options import Boolean, String, parses

log = logging.getLogger(__name__)
traffic = logging.getLogger("kiosk.wire.card")  # headers and status words only, never PINs

SIM_READER_NAME = "Simulated reader 00 00"


class SimCardReader(CardReader):
    """A reader whose staff card answers the PIV subset a staff login uses.

    The card is a :class:`~kiosk.hardware.card.pivcard.PivCard`; its module docstring has
    the APDU table (SELECT A0 00 00 03 08, VERIFY with 63 Cx / 69 83, GET DATA 5F C1 02
    and 5F C1 05 (chained: 61 XX, GET RESPONSE), GENERAL AUTHENTICATE with the slot-9A key
    of the development staff CA, and ``FF CA 00 00 00`` for the UID when ``uid`` (hex)
    makes it a contactless card). ``staff_login`` given no trust checks this reader's card
    (and only this reader's) against the development CA.

    ``insert_card()`` and ``remove_card()`` move the card and fire ``when_card_inserted`` /
    ``when_card_removed`` on the calling thread; removing it resets the selected
    application and the PIN verification (a power cycle) but not the retry counter, which
    lives on the card. Fault mode: ``remove_on_ins = 0x20`` pulls the card out when a
    VERIFY arrives (:class:`~kiosk.hardware.card.errors.CardRemoved`). Example::

        with SimCardReader(pin="246810", staff_id="STAFF-0042") as reader:
            reader.transmit(piv.select_apdu())                 # (b"a...", 0x90, 0x00)
            reader.transmit(piv.verify_apdu("000000"))         # (b"", 0x63, 0xC2)
    """

    #: The slot's name, as PC/SC names a reader (``kiosk hw card watch`` says it).
    reader_name: ClassVar[str] = SIM_READER_NAME

    OPTIONS: ClassVar[Options] = {
        "pin": CARD_OPTIONS["pin"],
        "staff_id": CARD_OPTIONS["staff_id"],
        "present": Boolean(True, description="a card is in the reader"),
        "pin_retries": CARD_OPTIONS["pin_retries"],
        "uid": String("", test=parses(bytes.fromhex), allowed="hex digits, e.g. 04A1B2C3",
                      description="the card's UID (\"\": none)"),
    }

    def __init__(self, *, pin: str = OPTIONS["pin"].default,
                 staff_id: str = OPTIONS["staff_id"].default,
                 present: bool = OPTIONS["present"].default,
                 pin_retries: int = OPTIONS["pin_retries"].default,
                 uid: str = OPTIONS["uid"].default) -> None:
        super().__init__()
        self._check_options(locals())
        uid_bytes = bytes.fromhex(uid) if uid else None
        self.card = PivCard(pin=pin, staff_id=staff_id, pin_retries=pin_retries,
                            uid=uid_bytes)
        self._present = present
        #: Fault mode: the card is pulled out when an APDU with this INS arrives.
        self.remove_on_ins: int | None = None

    def _open(self) -> None:
        # As PC/SC's monitor does (its first status change from "unaware"): a card already
        # in the slot is the reader's first event.
        if self._present:
            self._emit(CardEvent("card_inserted", SIM_READER_NAME, self.card.atr))

    # -- the card in the slot -------------------------------------------------------------
    def insert_card(self) -> None:
        """Put the card into the reader."""
        if not self._present:
            self._present = True
            self._emit(CardEvent("card_inserted", SIM_READER_NAME, self.card.atr))

    def remove_card(self) -> None:
        """Take the card out; its session state is lost, its retry counter kept."""
        self.card.power_cycle()
        if self._present:
            self._present = False
            self._emit(CardEvent("card_removed", SIM_READER_NAME))

    @property
    def pin_retries_left(self) -> int:
        return self.card.retries_left

    @property
    def is_card_present(self) -> bool:
        self._check_open()
        return self._present

    def card_info(self) -> CardInfo:
        self._check_open()
        if not self._present:
            raise DeviceNotFound("no card in the reader")
        return CardInfo(atr=self.card.atr, uid=self.card.uid)

    # -- APDUs ----------------------------------------------------------------------------
    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        with self._exclusive("APDU exchange"):
            if not self._present:
                raise DeviceNotFound("no card in the reader")
            if self.remove_on_ins is not None and apdu[1:2] == bytes([self.remove_on_ins]):
                self.remove_card()
                raise CardRemoved(SIM_READER_NAME, f"APDU {apdu[:2].hex(' ').upper()}")
            response = self.card.answer(bytes(apdu))
            data, sw1, sw2 = response[:-2], response[-2], response[-1]
            traffic.debug("> %s  < %d bytes %02X %02X", apdu[:4].hex(" "), len(data), sw1, sw2)
            return data, sw1, sw2

    def _selftest(self) -> tuple[bool, str]:
        state = "card present" if self._present else "no card"
        return True, f"simulated reader, {state}"
