"""What the contract suites share: the parameter for a backend on real hardware, and making
and closing the rig the fixture yields."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import pytest

R = TypeVar("R")


def real_param(name: str, *, named: bool, reason: str) -> Any:
    """The fixture parameter ``name`` for real hardware: marked ``hil``, and skipped with
    ``reason`` (which says what variable to set) unless ``named`` (the variable is set)."""
    marks: list[Any] = [pytest.mark.hil]
    if not named:
        marks.append(pytest.mark.skip(reason=reason))
    return pytest.param(name, marks=marks)


def rig_for(name: str, makers: Mapping[str, Callable[[], R]]) -> Iterator[R]:
    """Make the rig for backend ``name`` with its maker, yield it, close it afterwards:
    ``yield from rig_for(request.param, {"sim": SimRig, ...})`` in a fixture."""
    made = makers[name]()
    try:
        yield made
    finally:
        made.close()  # type: ignore[attr-defined]
