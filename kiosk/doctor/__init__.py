"""``kiosk doctor [--json]``: every check a maintainer needs over SSH, each "ok" or the reason
with its fix.

What it checks (one finding each, in this order; :data:`CHECKS`): the configuration, each
device's self-test, the disk and its reserve, the clock, the key files and their modes, the
intake (reachable, its TLS certificate) and this kiosk's registration there, the UPS,
the journal's integrity, the oldest unsent record and records the intake refused.

Every finding is ``ok``, ``warn`` (worth knowing, nothing is broken: counted as ok),
``fail`` or ``skip`` (not run because a check it needs failed). Exit status: 0 when
nothing failed (warnings allowed), 1 when any check failed or was skipped; 2 only for a
usage error (argparse). ``--json`` prints a list of ``{"check", "ok", "detail", "fix",
"status"}`` in the same order, whatever happened (``ok`` is true for ``ok`` and ``warn``).

Time: the checks run side by side, each in its own thread under its own budget
(:class:`Check`), so a dead link, a mute sensor or a silent upsd costs the time of its
budget once, not once per check; a check past its budget is reported as not answering in
that time (its thread is abandoned, the process exits anyway). Nothing here prints
personal data or key material: ids, paths, key ids, counts and reasons only.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

STATUSES = ("ok", "warn", "fail", "skip")
EXIT_OK, EXIT_FAIL = 0, 1


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
    table = Table(box=box.SIMPLE, show_header=True, pad_edge=False)
    table.add_column("check", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("detail / fix", overflow="fold")
    for finding in findings:
        text = Text(finding.detail)
        if finding.fix:
            text.append("\nfix: ", style="bold")
            text.append(finding.fix)
        word = finding.status.upper() if finding.status in ("warn", "fail") else finding.status
        table.add_row(finding.check, Text(word, style=styles[finding.status]), text)
    console.print(table)
    console.print(summary(findings), markup=False)


def diagnose(config_path: str | None) -> list[Finding]:
    """Every finding for the kiosk configured at ``config_path`` (or the usual places)."""
    from kiosk.doctor.checks import plan

    return run_checks(plan(config_path))


def doctor_command(config_path: str | None, *, as_json: bool, out: TextIO | None = None
                   ) -> int:
    """``kiosk doctor [--json]``: print the findings; 0 when none failed, else 1."""
    import os
    import warnings

    from kiosk.logs import setup_logging

    # Library warnings and log lines would only repeat what a finding says (a pinned
    # certificate is verified by its fingerprint, not by a CA: urllib3 warns about that).
    warnings.simplefilter("ignore")
    level = os.environ.get("KIOSK_LOG_LEVEL", "CRITICAL").upper()
    setup_logging(level if level in ("DEBUG", "INFO", "WARNING", "ERROR") else "CRITICAL")
    findings = diagnose(config_path)
    stream = out or sys.stdout
    if as_json:
        print(json.dumps([f.as_json() for f in findings], indent=2), file=stream)
    else:
        render(findings, stream)
    stream.flush()
    return exit_code(findings)
