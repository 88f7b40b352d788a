"""Which screen shows each step of the session, and what each screen says.

This module owns the list of screens (:data:`SCREEN_NAMES`), the step-to-screen map
(:data:`SCREEN_FOR_STEP`, with a test that every :class:`~kiosk.enrollment.steps.Step` has a
screen), the screens during which a citizen's data may be shown (:data:`SESSION_SCREENS`:
the idle timer, cancel and the wipe), the one instruction spoken on each screen
(:data:`PROMPTS`) and the names of the fingers (:data:`FINGER_NAMES`). Kivy-free;
:class:`~kiosk.screens.flow.Flow`, the app and the screens read it.
"""

from __future__ import annotations

from kiosk.enrollment.steps import Step
from kiosk.screens.messages import N_

__all__ = ["FINGER_NAMES", "PROMPTS", "SCREEN_FOR_STEP", "SCREEN_NAMES", "SESSION_SCREENS"]

#: The screens, in the order of the flow; each is ``kiosk/screens/<name>.py`` + ``<name>.kv``.
SCREEN_NAMES: tuple[str, ...] = ("welcome", "consent", "identity", "demographics", "portrait",
                                 "fingerprints", "signature", "review", "done", "closed")
#: The screen that shows each step of the session.
SCREEN_FOR_STEP: dict[Step, str] = {
    Step.LANGUAGE: "welcome",
    Step.CONSENT: "consent",
    Step.IDENTITY: "identity",
    Step.DEMOGRAPHICS: "demographics",
    Step.PORTRAIT: "portrait",
    Step.FINGERPRINTS: "fingerprints",
    Step.SIGNATURE: "signature",
    Step.REVIEW: "review",
    Step.SEALED: "done",
    Step.ABORTED: "welcome",
}
#: Screens during which a citizen's data may be on screen (idle timer, cancel, wipe).
SESSION_SCREENS = frozenset({"consent", "identity", "demographics", "portrait",
                             "fingerprints", "signature", "review"})
#: The one instruction spoken (and shown) on each screen; never a personal value.
PROMPTS: dict[str, str] = {
    "welcome": N_("Choose your language to begin"),
    "consent": N_("Read how your data is used, then choose I agree or No."),
    "identity": N_("Type your NIK and your family card number."),
    "demographics": N_("Check and complete your details as on your family card."),
    "portrait": N_("Look at the camera. Tap Take photo when you are ready."),
    "fingerprints": N_("Place the finger shown on the sensor."),
    "signature": N_("Sign in the box with your finger."),
    "review": N_("Check everything. Tap Confirm when it is right."),
    "done": N_("Your recording is complete. Keep your receipt number."),
    "closed": N_("This kiosk is not taking recordings right now"),
}
#: Each finger code as the screens name it (the hand diagram, the prompt).
FINGER_NAMES: dict[str, str] = {
    "R1": N_("Right thumb"), "R2": N_("Right index finger"), "R3": N_("Right middle finger"),
    "R4": N_("Right ring finger"), "R5": N_("Right little finger"),
    "L1": N_("Left thumb"), "L2": N_("Left index finger"), "L3": N_("Left middle finger"),
    "L4": N_("Left ring finger"), "L5": N_("Left little finger"),
}
