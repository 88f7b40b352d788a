"""Errors of the card reader and the staff login, under :mod:`kiosk.errors`' tree.

``CardRemoved`` is a :class:`~kiosk.errors.DeviceNotFound` (permanent: the card must be
put back). The login failures are :class:`~kiosk.errors.InvalidInput` (a ``ValueError``)
with an Indonesian and an English message for the screen; ``WrongPin.retries_left`` says
how many tries are left before the card blocks.
"""

from __future__ import annotations

from kiosk.errors import DeviceNotFound, InvalidInput

__all__ = ["CardRemoved", "NotAStaffCard", "PinBlocked", "StaffLoginFailed", "WrongPin"]


class CardRemoved(DeviceNotFound):
    """The card left the reader (before or in the middle of a command)."""

    def __init__(self, reader: str, during: str = "") -> None:
        self.reader = reader
        when = f" during {during}" if during else ""
        super().__init__(f"the card was removed from {reader!r}{when}; insert it again "
                         f"and retry")


class StaffLoginFailed(InvalidInput):
    """A staff card login did not succeed; ``message(lang)`` is for the screen."""


class WrongPin(StaffLoginFailed):
    """The PIN was wrong; ``retries_left`` tries remain before the card blocks."""

    def __init__(self, retries_left: int) -> None:
        self.retries_left = retries_left
        super().__init__("pin",
                         f"PIN salah. Sisa percobaan: {retries_left}.",
                         f"Wrong PIN. Tries left: {retries_left}.")


class PinBlocked(StaffLoginFailed):
    """No PIN tries are left: the card is blocked until an administrator resets it."""

    retries_left = 0

    def __init__(self) -> None:
        super().__init__("pin",
                         "PIN kartu terblokir. Hubungi admin untuk membukanya.",
                         "The card's PIN is blocked. Ask an administrator to unblock it.")


class NotAStaffCard(StaffLoginFailed):
    """The card has no PIV application or no staff id in its CHUID."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__("card",
                         "Ini bukan kartu petugas.",
                         f"This is not a staff card ({detail}).")
