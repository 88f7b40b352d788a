"""The exit statuses of ``kiosk`` and ``kiosk-intake``: one home for a contract that
README documents ("Exit codes", ``kiosk doctor``, ``kiosk upload``, ``kiosk update``) and
that scripts, systemd units and a maintainer's habits rely on. Every command returns one of
these names, never a bare number; ``tests/unit/core/test_exits.py`` holds each to README.

* 0 :data:`EXIT_OK`: done (``kiosk doctor``: nothing failed, warnings allowed);
* 1 :data:`EXIT_FAIL`: failed, the reason on stderr (``kiosk doctor``: a check failed or
  was skipped; ``kiosk update``: not on the release asked for);
* 1 :data:`EXIT_PENDING`: ``kiosk upload --once``: records still pending (or refused by
  the intake) after its retry budget;
* 2 :data:`EXIT_CONFIG`: a configuration or usage error;
* 3 :data:`EXIT_NOT_ACCEPTING`: the kiosk is not accepting enrollments (power, disk,
  journal, keys);
* 130 :data:`EXIT_INTERRUPTED`: stopped by Ctrl-C, the shell's 128 + SIGINT (2);
* 143 :data:`EXIT_TERMINATED`: ``kiosk demo`` or ``kiosk queue export`` stopped by
  SIGTERM (``kill``, ``systemctl stop``), 128 + SIGTERM (15), after it finished cleanly
  (:func:`stop_on_sigterm`).

``EXIT_FAIL`` and ``EXIT_PENDING`` are the same number with two meanings: a command that
failed, and an uploader that did its work but left records in the outbox.
"""

from __future__ import annotations

import os
import sys

__all__ = ["EXIT_CONFIG", "EXIT_FAIL", "EXIT_INTERRUPTED", "EXIT_NOT_ACCEPTING", "EXIT_OK",
           "EXIT_PENDING", "EXIT_TERMINATED", "Terminated", "exit_reader_gone",
           "stop_on_sigterm"]

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_PENDING = 1
EXIT_CONFIG = 2
EXIT_NOT_ACCEPTING = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread is (:func:`stop_on_sigterm`): a
    KeyboardInterrupt, so that whatever cleans up after Ctrl-C (a session's abort, the
    journal's close) cleans up after it too."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def stop_on_sigterm() -> None:
    """Make SIGTERM stop this process like Ctrl-C (:class:`Terminated`), instead of the
    default death that runs no cleanup: ``kiosk demo`` then discards the citizen in progress
    and closes the journal before it exits :data:`EXIT_TERMINATED`."""
    import signal

    signal.signal(signal.SIGTERM, _raise_terminated)


def exit_reader_gone() -> int:
    """The status after a ``BrokenPipeError`` on stdout: its reader went away (``kiosk queue
    list --json | head -1``), so what it did not read is not wanted. Points stdout at
    /dev/null, so that the interpreter's flush at exit does not fail again with a traceback;
    :data:`EXIT_FAIL`."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_FAIL
