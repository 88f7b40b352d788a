"""Smart-card readers: the base API, the pcsc backend (later) and a simulated staff card."""

from kiosk.hardware.card.base import CardInfo, CardReader

__all__ = ["CardInfo", "CardReader"]
