"""The session's time limits, declared once beside the session that keeps them.

:data:`SESSION_TIMEOUT_S` is the ``[kiosk] session_timeout_s`` option (the config declares the
key with it; :class:`~kiosk.enrollment.session.EnrollmentSession` and the touchscreen's flow
take their default from it). :data:`CAPTURE_TIMEOUT_S` is not configured: how long one
finger's capture may take before the session gives up on it, the scanners' own default
(:mod:`kiosk.hardware.fingerprint.base`). Importing only those two, so loading the config
does not load the session.
"""

from __future__ import annotations

from kiosk.hardware.fingerprint.base import CAPTURE_TIMEOUT_S
from kiosk.options import Integer, Option

__all__ = ["CAPTURE_TIMEOUT_S", "KEEP_ALIVE_EVERY_S", "SESSION_TIMEOUT_S"]

SESSION_TIMEOUT_S: Option = Integer(300, 30, 3600, description=(
    "seconds without a call after which a session expires: its record is discarded and "
    "the screens wiped; at least ui.idle_timeout_s + ui.idle_warning_s + 5, so that the "
    "touchscreen's idle warning always comes first"))
#: The touchscreen tells the session a citizen is still there at most this often (a touch
#: after a quiet spell). So the session must outlive the screen's idle warning by this much:
#: ``session_timeout_s >= idle_timeout_s + idle_warning_s + KEEP_ALIVE_EVERY_S``.
KEEP_ALIVE_EVERY_S = 5.0
