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
from typing import TextIO

from kiosk.doctor.findings import (
    STATUSES,
    Check,
    Finding,
    exit_code,
    fail,
    ok,
    render,
    run_checks,
    skip,
    summary,
    warn,
)

__all__ = ["STATUSES", "Check", "Finding", "diagnose", "doctor_command", "exit_code", "fail",
           "ok", "render", "run_checks", "skip", "summary", "warn"]


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
