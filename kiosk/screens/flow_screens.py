"""Which screen shows each step of the session, and what each screen says.

This module owns the list of screens (:data:`SCREEN_NAMES`), the step-to-screen map
(:data:`SCREEN_FOR_STEP`, with a test that every :class:`~kiosk.enrollment.steps.Step` has a
screen), the screens during which a citizen's data may be shown (:data:`SESSION_SCREENS`:
the idle timer, cancel and the wipe), the one instruction spoken on each screen
(:data:`PROMPTS`) and the names of the fingers (:data:`FINGER_NAMES`). Kivy-free;
:class:`~kiosk.screens.flow.Flow`, the app and the screens read it.
"""

from __future__ import annotations

from kiosk.core.vocabulary import FINGERS
from kiosk.enrollment.steps import TERMINAL, Step
from kiosk.screens.messages import N_

__all__ = ["FINGER_NAMES", "PHOTO_PROMPT", "PROMPTS", "SCREEN_FOR_STEP", "SCREEN_NAMES",
           "SESSION_SCREENS"]

#: The screen that shows each step of the session: a journaled step and the review have a
#: screen of their own name; the language is chosen on the welcome screen, which an
#: aborted session goes back to, and the receipt is shown on ``done``.
SCREEN_FOR_STEP: dict[Step, str] = {step: step.value for step in Step} | {
    Step.LANGUAGE: "welcome",
    Step.SEALED: "done",
    Step.ABORTED: "welcome",
}
#: The screens, in the order of the flow; each is ``kiosk/screens/<name>.py`` + ``<name>.kv``.
#: ``closed`` shows no step: the kiosk is not taking recordings; nor does ``staff``, the
#: officer's home between people (:mod:`kiosk.screens.flow_staff`).
SCREEN_NAMES: tuple[str, ...] = (*dict.fromkeys(SCREEN_FOR_STEP.values()), "closed", "staff")
#: Screens during which a citizen's data may be on screen (idle timer, cancel, wipe): those
#: of an unfinished session once the language is chosen.
SESSION_SCREENS = frozenset(
    SCREEN_FOR_STEP[step] for step in Step if step not in TERMINAL) - {
    SCREEN_FOR_STEP[Step.LANGUAGE]}
#: The instruction spoken (and shown) on each screen; never a personal value. A screen with
#: more than one state says the instruction of the state it is in (``Flow.prompt_said``):
#: the photo taken (:data:`PHOTO_PROMPT`), each finger by name.
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
    "staff": N_("Officer: choose what to do"),
}
#: What the portrait screen says once the photo is taken, to keep or retake it (its
#: instruction then; :data:`PROMPTS` has the live preview's).
PHOTO_PROMPT = N_("Is this photo good?")
#: Each finger code as the screens name it (the hand diagram, the prompt), in
#: :data:`~kiosk.core.vocabulary.FINGERS` order: R1..R5 right thumb..little, then L1..L5.
FINGER_NAMES: dict[str, str] = dict(zip(FINGERS, (
    N_("Right thumb"), N_("Right index finger"), N_("Right middle finger"),
    N_("Right ring finger"), N_("Right little finger"),
    N_("Left thumb"), N_("Left index finger"), N_("Left middle finger"),
    N_("Left ring finger"), N_("Left little finger"),
), strict=True))
