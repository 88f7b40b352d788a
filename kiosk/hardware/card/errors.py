"""Errors of the card reader and the staff login, under :mod:`kiosk.errors`' tree.

``CardRemoved`` is a :class:`~kiosk.errors.DeviceNotFound` (permanent: the card must be
put back). The login failures are :class:`~kiosk.errors.InvalidInput` (a ``ValueError``)
with an Indonesian and an English message for the screen; ``WrongPin.retries_left`` says
how many tries are left before the card blocks. ``CardNotTrusted`` is a card that did not
prove it is a genuine staff card (its certificate, or its signature of the kiosk's
challenge), ``CardRevoked`` a genuine card whose certificate the office has revoked (on its
CRL); ``StaffLoginNotSetUp`` a kiosk that trusts no staff-card CA.
"""

from __future__ import annotations

from kiosk.errors import DeviceNotFound, InvalidInput

__all__ = ["CardNotTrusted", "CardRemoved", "CardRevoked", "NotAStaffCard", "PinBlocked",
           "StaffLoginFailed", "StaffLoginNotSetUp", "WrongPin"]


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


class CardNotTrusted(StaffLoginFailed):
    """The card did not prove it is a staff card of this office: no PIV Authentication
    certificate, one not issued by a trusted staff-card CA (or, with a trusted clock,
    outside its validity), one for another staff id than the CHUID's, or no valid signature
    of the kiosk's challenge. ``detail`` says which, for the log (never the PIN or the
    challenge); the screen only says the card could not be checked."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__("card",
                         "Kartu ini tidak dapat diperiksa. Hubungi admin.",
                         "This card could not be checked. Ask an administrator.")


class CardRevoked(CardNotTrusted):
    """A card that proved itself (the PIN, a certificate of a trusted CA naming its staff id,
    the challenge signed with its key) whose certificate is on the office's CRL: a lost or
    withdrawn card, in the hands of someone who knows its PIN. Its own class so the audit
    (``staff_login_refused``, ``why=CardRevoked``) tells it from a card that is merely
    unknown; ``serial`` is the certificate's serial number, for the log. The screen says
    what it says for any card not trusted."""

    def __init__(self, detail: str, *, serial: int) -> None:
        self.serial = serial
        super().__init__(detail)


class StaffLoginNotSetUp(StaffLoginFailed):
    """The kiosk trusts no staff-card CA (a real card reader and no ``[staff] ca``): no
    card can be checked, so no officer can log in. Nothing is sent to the card.

    ``crl``: a CA is set up but ``[staff] crl`` names a file the kiosk cannot use (missing,
    damaged, signed by another CA): login is stopped rather than a revoked card let in, and
    the screen says that, not that nothing is installed."""

    def __init__(self, *, crl: bool = False) -> None:
        self.crl = crl
        if crl:
            super().__init__("card",
                             "Login petugas dihentikan di kiosk ini: daftar kartu petugas "
                             "yang dicabut tidak dapat dibaca. Hubungi admin.",
                             "Officer login is stopped on this kiosk: its list of revoked "
                             "staff cards cannot be read. Ask an administrator.")
            return
        super().__init__("card",
                         "Login petugas belum disiapkan di kiosk ini: sertifikat CA kartu "
                         "petugas belum dipasang. Hubungi admin.",
                         "Officer login is not set up on this kiosk: the staff-card CA "
                         "certificate is not installed. Ask an administrator.")
