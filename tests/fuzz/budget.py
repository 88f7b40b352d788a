"""How many examples each fuzz test runs: its default, or ``$KIOSK_FUZZ_EXAMPLES``."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_ENV = "KIOSK_FUZZ_EXAMPLES"


def examples(default: int) -> int:
    """``default``, unless ``KIOSK_FUZZ_EXAMPLES`` asks for a (heavier) number."""
    raw = os.environ.get(_ENV, "").strip()
    if not raw:
        return default
    try:
        wanted = int(raw)
    except ValueError:
        raise ValueError(f"{_ENV}={raw!r} is not a number of examples") from None
    return max(1, wanted)


def fuzz(default: int, **extra: object) -> settings:
    """``@settings`` for a fuzz test: ``default`` examples (or the env's), no deadline (the
    crypto and the driver timeouts make single examples slow on a loaded machine), and the
    fixture/size health checks off (module-scoped keys; large generated inputs are the point).
    """
    return settings(
        max_examples=examples(default),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.data_too_large, HealthCheck.large_base_example],
        **extra,
    )
