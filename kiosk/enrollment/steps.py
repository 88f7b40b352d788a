"""The enrollment session's steps and its one transition table.

This module owns where a session may be (:class:`Step`) and the only moves between steps
(:data:`ALLOWED_TRANSITIONS`, checked by :func:`check_transition`), which steps the review
may send the person back to (:data:`EDITABLE`) and which a resumed session keeps from before
a power cut (:data:`KEEPABLE`). :class:`~kiosk.enrollment.session.EnrollmentSession` moves
through them; the screens map each step to a screen (:mod:`kiosk.screens.flow_screens`).

::

    LANGUAGE -> CONSENT -> IDENTITY -> DEMOGRAPHICS -> PORTRAIT -> FINGERPRINTS
             -> SIGNATURE -> REVIEW -> SEALED
"""

from __future__ import annotations

from enum import Enum

from kiosk.core.vocabulary import STEPS
from kiosk.errors import IllegalTransition

__all__ = [
    "ALLOWED_TRANSITIONS",
    "EDITABLE",
    "FORWARD",
    "JOURNAL_STEPS",
    "KEEPABLE",
    "TERMINAL",
    "Step",
    "check_transition",
]


class Step(Enum):
    """Where the session is: the step whose input it waits for.

    The steps a record journals take their values from :data:`~kiosk.core.vocabulary.STEPS`,
    in its order: a step more or fewer there and this module does not import, and each
    value must be its member's name in lower case, so a reordered ``STEPS`` cannot give a
    member another step's name.
    """

    LANGUAGE = "language"
    CONSENT, IDENTITY, DEMOGRAPHICS, PORTRAIT, FINGERPRINTS, SIGNATURE = STEPS
    REVIEW = "review"
    SEALED = "sealed"
    ABORTED = "aborted"

    def __init__(self, value: str) -> None:
        if value != self.name.lower():
            raise ValueError(f"Step.{self.name} would be {value!r}: STEPS is out of order")


#: The step after each unfinished one, in the order a person goes through them.
FORWARD: dict[Step, Step] = {
    Step.LANGUAGE: Step.CONSENT,
    Step.CONSENT: Step.IDENTITY,
    Step.IDENTITY: Step.DEMOGRAPHICS,
    Step.DEMOGRAPHICS: Step.PORTRAIT,
    Step.PORTRAIT: Step.FINGERPRINTS,
    Step.FINGERPRINTS: Step.SIGNATURE,
    Step.SIGNATURE: Step.REVIEW,
    Step.REVIEW: Step.SEALED,
}
#: Steps the person may go back to from REVIEW to change (MOSIP's "preview with edit").
EDITABLE = (Step.IDENTITY, Step.DEMOGRAPHICS, Step.PORTRAIT, Step.FINGERPRINTS,
            Step.SIGNATURE)
#: The only moves there are: one step forward, or abort from any unfinished step; from
#: REVIEW back to an editable step, and from an edited step straight back to REVIEW (an
#: edited IDENTITY goes through DEMOGRAPHICS, which must agree with the new NIK).
ALLOWED_TRANSITIONS: dict[Step, frozenset[Step]] = {
    step: frozenset({nxt, Step.ABORTED} | ({Step.REVIEW} if step in EDITABLE[1:] else set())
                    | (set(EDITABLE) if step is Step.REVIEW else set()))
    for step, nxt in FORWARD.items()
} | {Step.SEALED: frozenset(), Step.ABORTED: frozenset()}
TERMINAL = frozenset({Step.SEALED, Step.ABORTED})
#: Steps a resumed session keeps from before the cut (skips) when they were journaled.
#: Consent is never re-asked (the record is created with it); identity is always re-entered,
#: because the later steps validate against the NIK, which only the memory held.
KEEPABLE = (Step.DEMOGRAPHICS, Step.PORTRAIT, Step.FINGERPRINTS, Step.SIGNATURE)
#: The steps a record may have journaled (:data:`kiosk.core.vocabulary.STEPS`).
JOURNAL_STEPS = STEPS


def check_transition(old: Step, new: Step) -> None:
    """Raise :class:`~kiosk.errors.IllegalTransition` unless the table allows ``old -> new``."""
    if new not in ALLOWED_TRANSITIONS[old]:
        raise IllegalTransition(f"cannot go from {old.value} to {new.value}")
