"""Fingerprint scanners: the base API, the ZFM UART backend (later) and the simulator."""

from kiosk.hardware.base import FingerprintImage
from kiosk.hardware.fingerprint.base import FingerprintScanner

__all__ = ["FingerprintImage", "FingerprintScanner"]
