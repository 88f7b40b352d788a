"""Smart-card readers: the base API, the pcsc backend, a simulated and a virtual staff card.

``base`` (the API), ``pcsc`` (pyscard; imported only when configured), ``sim`` (in memory),
``pivcard`` (the card's answers, shared by sim and vcard), ``vcard`` (a card served to a
real pcscd through vpcd), ``piv`` (APDU bytes), ``staff`` (the login), ``trust`` (the
staff-card CAs the login checks cards against, and their CRLs), ``devca`` (the development
CA, the simulated cards' keys, CRLs for the tests), ``errors``.
``kiosk hw card watch`` lives beside the drivers, in :mod:`kiosk.maintenance.card`.
"""

from kiosk.hardware.card.base import CardEvent, CardInfo, CardReader

__all__ = ["CardEvent", "CardInfo", "CardReader"]
