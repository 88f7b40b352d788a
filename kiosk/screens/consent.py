"""Consent: what is collected, why, who can read it; agree or decline."""

from __future__ import annotations

from kiosk.screens.base import KioskScreen
from kiosk.screens.messages import N_

CONSENT_TEXT = (
    N_("What we record: your NIK and family card number, your details, a photo, your ten "
       "fingerprints and your signature."),
    N_("Why: to make your e-KTP, as the law on population administration requires."),
    N_("Who can read it: only Dukcapil. Each part is sealed on this kiosk for Dukcapil; "
       "the kiosk itself cannot read it back."),
    N_("If you choose No, nothing is kept."),
)


class ConsentScreen(KioskScreen):
    pass
