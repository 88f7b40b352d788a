"""The findings of ``kiosk doctor`` and the runner that gathers them under time budgets.

A :class:`Finding` is ``ok``, ``warn``, ``fail`` or ``skip`` with its detail and fix; a
:class:`Check` is one or more findings' worth of work under its own budget;
:func:`run_checks` runs them side by side; :func:`render` prints the table. The checks
themselves are in :mod:`kiosk.doctor.checks`, the command in :mod:`kiosk.doctor`.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from kiosk.core.exits import EXIT_FAIL, EXIT_OK

STATUSES = ("ok", "warn", "fail", "skip")


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's answer. ``fix``: what to run or change ("" when ok)."""

    check: str
    status: str
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r}; expected one of {STATUSES}")

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "warn")

    def as_json(self) -> dict[str, Any]:
        return {"check": self.check, "ok": self.ok, "detail": self.detail, "fix": self.fix,
                "status": self.status}


def ok(check: str, detail: str) -> Finding:
    return Finding(check, "ok", detail)


def warn(check: str, detail: str, fix: str) -> Finding:
    return Finding(check, "warn", detail, fix)


def fail(check: str, detail: str, fix: str) -> Finding:
    return Finding(check, "fail", detail, fix)


def skip(check: str, detail: str, fix: str = "") -> Finding:
    return Finding(check, "skip", detail, fix)


@dataclass
class Check:
    """A unit of work: ``run()`` yields one finding per name of ``names``, in that order,
    within ``budget_s`` seconds of the start. Runs in its own thread. ``hint``: the fix
    when it does not answer in time (what to run by hand to see where it hangs)."""

    names: tuple[str, ...]
    run: Callable[[], Iterable[Finding]]
    budget_s: float
    hint: str = "run the matching maintainer tool by hand to see where it hangs"
    found: list[Finding] = field(default_factory=list)
    _done: threading.Event = field(default_factory=threading.Event)

    def _work(self) -> None:
        try:
            for finding in self.run():
                self.found.append(finding)
        except Exception as exc:  # a doctor never dies of what it examines
            name = self.names[min(len(self.found), len(self.names) - 1)]
            self.found.append(fail(name, f"the check itself failed: {type(exc).__name__}: "
                                         f"{str(exc)[:200]}",
                                   "report this; KIOSK_LOG_LEVEL=DEBUG kiosk doctor shows more"))
        finally:
            self._done.set()

    def results(self) -> list[Finding]:
        """The findings, completed for the names a late or broken check did not reach."""
        found = list(self.found)
        by_name = {f.check: f for f in found}
        out: list[Finding] = []
        stuck: str | None = None
        for name in self.names:
            if name in by_name:
                out.append(by_name[name])
            elif stuck is None and not self._done.is_set():
                stuck = name
                out.append(fail(name, f"no answer within {self.budget_s:g} s", self.hint))
            else:
                out.append(skip(name, f"not reached: {stuck or 'the check before'} did "
                                      "not finish"))
        return out


def run_checks(checks: list[Check]) -> list[Finding]:
    """Run every check at once; wait for each until its budget is spent; findings in
    order."""
    start = time.monotonic()
    for check in checks:
        threading.Thread(target=check._work, name=f"doctor-{check.names[0]}",
                         daemon=True).start()
    for check in checks:
        check._done.wait(max(0.0, start + check.budget_s - time.monotonic()))
    return [finding for check in checks for finding in check.results()]


def exit_code(findings: Iterable[Finding]) -> int:
    """0 when nothing failed (warnings allowed), 1 otherwise."""
    return EXIT_OK if all(f.ok for f in findings) else EXIT_FAIL


def summary(findings: list[Finding]) -> str:
    counts = {s: sum(f.status == s for f in findings) for s in STATUSES}
    if counts["fail"] + counts["skip"] == 0:
        warned = f", {counts['warn']} warning(s)" if counts["warn"] else ""
        return f"all {len(findings)} checks ok{warned}: exit 0"
    parts = [f"{counts['fail']} failed"]
    if counts["skip"]:
        parts.append(f"{counts['skip']} skipped")
    if counts["warn"]:
        parts.append(f"{counts['warn']} warning(s)")
    return f"{', '.join(parts)} of {len(findings)} checks: exit 1"


def render(findings: list[Finding], out: TextIO | None = None) -> None:
    """A table for a person: status words (not only colours), the fix under each reason."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=out or sys.stdout, highlight=False)
    styles = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}
    table = Table(box=box.SIMPLE, show_header=True, show_edge=False, pad_edge=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail / fix", overflow="fold")
    for finding in findings:
        text = Text(finding.detail)
        if finding.fix:
            text.append("\nfix: ", style="bold")
            text.append(finding.fix)
        word = finding.status.upper() if finding.status in ("warn", "fail") else finding.status
        table.add_row(finding.check, Text(word, style=styles[finding.status]), text)
    with console.capture() as captured:  # rich pads the last column to the width:
        console.print(table)             # a table pasted into a ticket has no trailing blanks
    console.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    console.print(summary(findings), markup=False)
