"""What the flow is given: its settings from config, and the protocols of what it drives.

This module owns :class:`FlowSettings` (built from config by
:meth:`FlowSettings.from_config`; its defaults are the config schema's) and the three
protocols the flow talks through: the :class:`Executor` that runs work off the UI thread and
comes back on it (the app's :class:`~kiosk.screens.bridge.UiBridge`; a synchronous one in
tests), the :class:`View` it switches and redraws, and the :class:`Speaker` that says each
screen's prompt. Kivy-free; every name is importable from :mod:`kiosk.screens.flow` too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kiosk.config import SCHEMA
from kiosk.enrollment.fingerprint_quality import FingerprintThresholds
from kiosk.enrollment.session_options import CAPTURE_TIMEOUT_S

__all__ = ["Executor", "FlowSettings", "Speaker", "View"]


class Executor(Protocol):
    """How the flow runs work off the UI thread and comes back (the app's UiBridge)."""

    def submit(self, work: Callable[[], Any],
               done: Callable[[Any, BaseException | None], None]) -> None: ...
    def post(self, fn: Callable[..., Any], *args: Any) -> None: ...
    def call_later(self, delay: float, fn: Callable[[], None]) -> Any: ...


class View(Protocol):
    """What the flow asks of the UI: switch screens, redraw, show a preview frame."""

    def show(self, screen: str) -> None: ...
    def update(self) -> None: ...
    def preview(self, frame: Any) -> None: ...


class Speaker(Protocol):
    """What the flow asks of speech (:mod:`kiosk.speech`): say a prompt, repeat it, stop."""

    def say_message(self, msgid: str, language: str) -> None: ...
    def repeat(self) -> None: ...
    def stop(self) -> None: ...


def _default(section: str, key: str) -> Any:
    return SCHEMA[section][key].default


@dataclass(frozen=True)
class FlowSettings:
    """What the flow takes from config; the defaults are the config's (``SCHEMA``)."""

    idle_timeout_s: float = float(_default("ui", "idle_timeout_s"))
    idle_warning_s: float = float(_default("ui", "idle_warning_s"))
    receipt_s: float = float(_default("ui", "receipt_s"))
    capture_tries: int = _default("ui", "capture_tries")
    preview_fps: float = float(_default("ui", "preview_fps"))
    session_timeout_s: float = float(_default("kiosk", "session_timeout_s"))
    capture_timeout_s: float = CAPTURE_TIMEOUT_S  # not configured
    province: str = _default("kiosk", "regency").split(".")[0]
    regency: str = _default("kiosk", "regency").split(".")[1]
    fingerprint_limits: FingerprintThresholds | None = None  # config [fingerprints]
    fingerprint_storage: str = _default("fingerprints", "storage")
    resume_assisted: bool = _default("kiosk", "resume_assisted")

    @classmethod
    def from_config(cls, config: Any) -> FlowSettings:
        ui, kiosk = config["ui"], config["kiosk"]
        province, regency = str(kiosk.get("regency", _default("kiosk", "regency"))).split(".")
        return cls(idle_timeout_s=ui["idle_timeout_s"], idle_warning_s=ui["idle_warning_s"],
                   receipt_s=ui["receipt_s"], capture_tries=ui["capture_tries"],
                   preview_fps=ui["preview_fps"], session_timeout_s=kiosk["session_timeout_s"],
                   province=province, regency=regency,
                   fingerprint_limits=FingerprintThresholds.from_config(config["fingerprints"]),
                   fingerprint_storage=config["fingerprints"]["storage"],
                   resume_assisted=kiosk["resume_assisted"])
