"""Running the commands of an update: a clean environment, a log of everything, a tail of
what failed."""

from __future__ import annotations

import ctypes
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

# What a release's Python must not inherit from whoever runs the update: a PYTHONPATH (a
# checkout's, a maintainer's) would make the new release import someone else's code, and
# the check would test the wrong thing.
_KEEP_PYTHON_VARS = {"PYTHONUNBUFFERED", "PYTHONIOENCODING", "PYTHONDONTWRITEBYTECODE"}
#: Seconds a command that ran out of time has between SIGTERM and SIGKILL (runuser waits
#: 2 s for its command after passing SIGTERM on).
STOP_GRACE_S = 5.0


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without PYTHON* (but a few harmless ones), VIRTUAL_ENV and user site."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("PYTHON") and k not in _KEEP_PYTHON_VARS)
           and k not in ("VIRTUAL_ENV", "__PYVENV_LAUNCHER__")}
    env["PYTHONNOUSERSITE"] = "1"
    env["GIT_TERMINAL_PROMPT"] = "0"  # a git URL that wants a password fails, never waits
    env.update(extra or {})
    return env


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the update dies (Linux ``PR_SET_PDEATHSIG``),
    so an update killed mid-way leaves no pip writing into a release behind it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass(frozen=True)
class Outcome:
    """A finished command: exit status (None: timed out), its output, how long it took."""

    argv: tuple[str, ...]
    returncode: int | None
    output: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def status(self) -> str:
        return "timed out" if self.returncode is None else f"exit {self.returncode}"

    def tail(self, lines: int = 15) -> str:
        """What failed, then the last lines: each ``FAIL`` line of ``kiosk doctor`` or
        ``kiosk hw selftest`` with the lines that continue it (more indented: its detail and
        fix), at most ``lines`` of them, then the output's last line (the summary); or, when
        nothing says FAIL, the last ``lines`` lines. Indented, for a message."""
        text = [line.rstrip() for line in self.output.rstrip().splitlines() if line.strip()]
        picked: list[str] = []
        depth: int | None = None
        for line in text:
            indent = len(line) - len(line.lstrip())
            if _FAIL_LINE.match(line):
                picked.append(line)
                depth = indent
            elif depth is not None and indent > depth + 1:
                picked.append(line)
            else:
                depth = None
        if picked:
            kept = picked[:lines] + ["..."] * (len(picked) > lines)
            kept += [line for line in text[-1:] if line not in kept]
        else:
            kept = text[-lines:]
        return "\n".join(f"    {line}" for line in kept) or "    (no output)"

    def failed_names(self) -> frozenset[str] | None:
        """The names of what failed, from ``kiosk doctor``'s (``clock  FAIL ...``) or ``kiosk
        hw selftest``'s (``FAIL camera ...``) lines; None when the output names none (then
        only the exit status can be compared)."""
        names = {m.group(1) or m.group(2) for m in map(_FAIL_LINE.match,
                                                       self.output.splitlines()) if m}
        return frozenset(names) if names else None


def _stop(proc: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> bytes:
    """End a command that ran out of time; what it printed. SIGTERM first, SIGKILL after
    ``grace_s``: a health check run through ``runuser`` runs in a session of its own, which
    runuser ends on SIGTERM (SIGKILL would kill runuser alone and leave the check running,
    holding the camera or the journal)."""
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=grace_s)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.wait()
        out = exc.output or b""
    return out or b""


# `kiosk doctor`: " clock   FAIL   ..."; `kiosk hw selftest`: "FAIL camera  ...".
_FAIL_LINE = re.compile(r"^\s*(?:(\S+)\s+FAIL\s|FAIL\s+(\S+))")


class Runner:
    """Runs commands with :func:`clean_env`, appending each with its output to the log."""

    def __init__(self, log_path: Path | None, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.log_path = log_path
        self.cwd = cwd  # not the maintainer's: a kiosk/ there would shadow a release's
        self.env = clean_env(env)
        # Each command in a session of its own (kiosk update between switch and verdict):
        # out of reach of the terminal's Ctrl-C and hang-up, which the update holds.
        self.own_session = False
        self._log: TextIO | None = None
        if log_path is not None:
            self._log = log_path.open("w", encoding="utf-8")

    def note(self, text: str) -> None:
        if self._log is not None:
            self._log.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")
            self._log.flush()

    def run(self, argv: Sequence[str | Path], *, timeout: float = 1800,
            cwd: Path | None = None) -> Outcome:
        args = tuple(str(a) for a in argv)
        start = time.monotonic()
        code: int | None
        try:
            with subprocess.Popen(args, env=self.env, cwd=cwd or self.cwd,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT,
                                  start_new_session=self.own_session,
                                  preexec_fn=_die_with_parent) as proc:
                try:
                    out, _ = proc.communicate(timeout=timeout)
                    code = proc.returncode
                except subprocess.TimeoutExpired:
                    out, code = _stop(proc), None
                    out += f"\n(no answer after {timeout:g} s; stopped)".encode()
                except BaseException:
                    proc.terminate()  # Ctrl-C: runuser takes its check with it
                    raise
            output = out.decode("utf-8", "replace")
        except OSError as exc:  # no such program, not executable
            code, output = 127, f"cannot run {args[0]}: {exc.strerror or exc}"
        outcome = Outcome(args, code, output, time.monotonic() - start)
        if self._log is not None:
            self._log.write(f"$ {shlex.join(args)}\n{output.rstrip()}\n"
                            f"[{outcome.status}, {outcome.seconds:.1f} s]\n\n")
            self._log.flush()
        return outcome

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
