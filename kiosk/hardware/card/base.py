"""The smart-card reader the staff login sees."""

from __future__ import annotations

import time
from dataclasses import dataclass

from kiosk.hardware.base import Device

__all__ = ["CardInfo", "CardReader"]


@dataclass(frozen=True)
class CardInfo:
    """A card in the reader: its Answer-To-Reset and, for contactless cards, its UID."""

    atr: bytes
    uid: bytes | None = None


class CardReader(Device):
    """A PC/SC-style reader holding a staff card; exchanges APDUs with it.

    ``transmit`` takes one command APDU and returns ``(data, sw1, sw2)``, like pyscard's
    ``connection.transmit``. The staff-login protocol (SELECT the PIV application, VERIFY
    the PIN, GET DATA the CHUID) lives in :mod:`kiosk.hardware.card.piv`, so the same bytes
    go to the simulated card and to a real one. The pcsc backend (later) needs ``pcscd``
    running and a CCID reader on USB; it imports ``smartcard`` inside ``_open`` only.

    ``transmit`` raises :class:`~kiosk.errors.DeviceNotFound` when no card is in the reader
    and :class:`~kiosk.errors.DeviceBusy` while another exchange is running. Example::

        with create_device("card", {"type": "sim"}) as reader:
            if reader.wait_for_card(timeout=30) is not None:
                data, sw1, sw2 = reader.transmit(piv.select_apdu())
    """

    #: How often ``wait_for_card`` polls the reader, in seconds.
    poll_interval: float = 0.05

    @property
    def is_card_present(self) -> bool:
        """True while a card sits in the reader."""
        raise NotImplementedError

    def card_info(self) -> CardInfo:
        """ATR (and UID) of the card in the reader; DeviceNotFound without one."""
        raise NotImplementedError

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        """Send one command APDU; return the response data and the status word."""
        raise NotImplementedError

    def wait_for_card(self, timeout: float | None = None) -> CardInfo | None:
        """Block until a card is inserted; its CardInfo, or None after ``timeout`` seconds."""
        self._check_open()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_card_present:
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(self.poll_interval)
        return self.card_info()
