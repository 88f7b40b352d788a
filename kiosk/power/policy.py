"""The UPS policy: what the kiosk does when the mains goes, comes back, or the battery runs out.

:class:`PowerPolicy` is pure: it is fed UPS readings with a timestamp and answers with
events; it owns no device, file or clock, so every rule is tested with a fake clock.
:func:`kiosk.power.watcher.watch` (``kiosk power watch``) reads the UPS, feeds the policy
and carries its events out.

The rules, with thresholds from ``[power]``:

* Mains lost for ``debounce_s`` (a flicker is ignored): ``mains_lost`` is journaled, the
  WAL checkpointed, the screen shows a banner. The session in progress may finish.
* On battery, new enrollments stop (``accepting`` false) once the charge is below
  ``min_battery_percent`` or the projected runtime below ``min_runtime_s`` (one enrollment
  plus the shutdown margin), or the UPS says low battery. They resume if the mains returns.
* Critical (the UPS says FSD, or on battery: LB, charge below
  ``shutdown_battery_percent``, runtime below ``shutdown_runtime_s``): the journal is
  checkpointed, the reason journaled, then ``shutdown_command`` runs, once.
* Low battery while on mains (charging after a cut) never shuts down, so flapping mains or
  a restart on a drained battery cannot cause a shutdown loop.
* A shutdown decided on battery first writes the kill-power flag
  (:mod:`kiosk.power.poweroff`): at the end of the shutdown the UPS cuts its output, and
  restores it with the mains, so the kiosk boots by itself. The flag goes at every start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kiosk.power import PowerStatus
from kiosk.power.options import OPTIONS as _POWER  # type, default, range, what each is for


@dataclass(frozen=True)
class PowerEvent:
    """Something the watcher must act on. ``kind``: mains_lost, mains_restored,
    stop_accepting, resume_accepting, shutdown."""

    kind: str
    reason: str = ""


@dataclass(frozen=True)
class Thresholds:
    """The policy's limits from config ``[power]``; the defaults are the config's."""

    debounce_s: float = float(_POWER["debounce_s"].default)
    min_battery_percent: float = float(_POWER["min_battery_percent"].default)
    min_runtime_s: float = float(_POWER["min_runtime_s"].default)
    shutdown_battery_percent: float = float(_POWER["shutdown_battery_percent"].default)
    shutdown_runtime_s: float = float(_POWER["shutdown_runtime_s"].default)

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> Thresholds:
        return cls(**{k: float(section[k]) for k in cls.__dataclass_fields__ if k in section})


@dataclass
class PowerPolicy:
    """Readings in, events out. ``accepting`` and ``on_battery`` are the current verdicts."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    on_battery: bool = False
    accepting: bool = True
    reason: str = ""
    shutting_down: bool = False
    _battery_since: float | None = None

    def observe(self, status: PowerStatus, now: float) -> list[PowerEvent]:
        t = self.thresholds
        events: list[PowerEvent] = []
        if status.source == "battery":
            if self._battery_since is None:
                self._battery_since = now
            if not self.on_battery and now - self._battery_since >= t.debounce_s:
                self.on_battery = True
                events.append(PowerEvent("mains_lost", _describe(status)))
        elif status.source == "mains":
            self._battery_since = None
            if self.on_battery:
                self.on_battery = False
                events.append(PowerEvent("mains_restored", _describe(status)))
        # "unknown" changes nothing: the last verdict stands until the UPS answers again.

        if not self.shutting_down:
            critical = self._critical(status)
            if critical:
                self.shutting_down = True
                events.append(PowerEvent("shutdown", critical))

        if status.source == "unknown" and not self.shutting_down:
            return events  # no new facts: the acceptance verdict stands
        refusal = self._refusal(status) if self.on_battery else ""
        if self.shutting_down:
            refusal = "shutting down: " + next(
                (e.reason for e in events if e.kind == "shutdown"), self.reason or "power")
        if refusal and self.accepting:
            self.accepting, self.reason = False, refusal
            events.append(PowerEvent("stop_accepting", refusal))
        elif not refusal and not self.accepting:
            self.accepting, self.reason = True, ""
            events.append(PowerEvent("resume_accepting"))
        elif refusal:
            self.reason = refusal
        return events

    def _critical(self, status: PowerStatus) -> str:
        t = self.thresholds
        if status.forced_shutdown:
            return "the UPS ordered a forced shutdown (FSD)"
        if status.source != "battery":
            return ""
        return _battery_short(status, t, "shutdown_battery_percent", "shutdown_runtime_s")

    def _refusal(self, status: PowerStatus) -> str:
        return refusal_reason(status, self.thresholds)


def refusal_reason(status: PowerStatus, t: Thresholds) -> str:
    """Why no new enrollment may start on battery with this reading ("" if it may)."""
    return _battery_short(status, t, "min_battery_percent", "min_runtime_s")


def _battery_short(status: PowerStatus, t: Thresholds, percent_key: str, runtime_key: str
                   ) -> str:
    """Why this reading on battery is under the limits ``t`` holds as ``percent_key`` and
    ``runtime_key`` (their ``[power]`` option names), "" if it is not: the UPS's own
    low-battery flag, then the charge, then the runtime left."""
    percent, runtime = getattr(t, percent_key), getattr(t, runtime_key)
    if status.low_battery:
        return "on battery and the UPS reports low battery"
    if status.battery_percent is not None and status.battery_percent < percent:
        return (f"on battery at {status.battery_percent:.0f}%, below "
                f"power.{percent_key}={percent:g}")
    if status.runtime_s is not None and status.runtime_s < runtime:
        return (f"on battery with {status.runtime_s:.0f} s left, below "
                f"power.{runtime_key}={runtime:g}")
    return ""


def _describe(status: PowerStatus) -> str:
    parts = [status.source]
    if status.battery_percent is not None:
        parts.append(f"battery {status.battery_percent:.0f}%")
    if status.runtime_s is not None:
        parts.append(f"runtime {status.runtime_s:.0f} s")
    return ", ".join(parts)
