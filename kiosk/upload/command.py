"""``kiosk upload [--once]``: the command around the :class:`~kiosk.upload.uploader.Uploader`:
the intake key and the ``[upload]`` section checked, one uploader per kiosk
(``<data_dir>/upload.lock``), SIGTERM/SIGINT finishing the request under way (a second
one stops at once), exit codes 0 done, 1 records pending, 2 configuration; ``--once``
stopped by a signal: 130 (SIGINT) or 143 (SIGTERM), as every command but the daemons.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from kiosk.config import Config
from kiosk.core.exits import (
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    EXIT_PENDING,
    EXIT_TERMINATED,
    Terminated,
)
from kiosk.errors import SealingError, StorageFull
from kiosk.fsutil import make_dirs
from kiosk.receipts import load_intake_public_key
from kiosk.service import Notifier
from kiosk.upload.progress import ProgressFile
from kiosk.upload.uploader import Uploader, UploadSettings

log = logging.getLogger(__name__)

LOCK_FILE = "upload.lock"


@contextlib.contextmanager
def _only_uploader(path: Path) -> Iterator[bool]:
    """Hold ``<data_dir>/upload.lock`` while running; False if another uploader holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            yield False
            return
        yield True
    finally:
        os.close(fd)


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[list[int]]:
    """SIGTERM/SIGINT set ``stop``: the request under way finishes, then the work ends. A
    second one stops at once (KeyboardInterrupt, or Terminated for SIGTERM: the command
    line's 130 or 143): a request to a silent intake waits up to ``timeout_s``. Yields the
    signals received, in order."""
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        received.append(signum)
        if len(received) > 1:
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        log.info("%s: stopping after the current request (again: at once)",
                 signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield received
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _not_set_up(config: Config) -> str | None:
    """Why this data directory is not a kiosk's the uploader may send from, or None. The
    uploader makes nothing of its own: a device key or a journal made by it (for a
    mistyped ``kiosk.data_dir``, say) would sign for a kiosk the intake does not know and
    hide where the real records are."""
    key = config.device_key_path
    if key.exists() or (config.data_dir.exists() and not config.data_dir.is_dir()):
        return None  # (a file in the directory's place: the journal's open names it)
    where = (f"the data directory {config.data_dir} does not exist"
             if not config.data_dir.exists() else f"{key} is missing")
    return (f"{where}: no device key to sign the uploads with. Check kiosk.data_dir in the "
            "configuration (kiosk config show); a new kiosk gets its key from the installer "
            "or `kiosk keys init`, then registers it at the intake")


def upload_command(config: Config, *, once: bool, out: TextIO) -> int:
    """``kiosk upload [--once]``: 0 done, 1 records pending, 2 configuration."""
    # not recover_unfinished: the UI may be mid-session
    from kiosk.runtime import clock_is_synchronized, open_journal

    key_path = config.intake_key_path
    if key_path is None:
        print("kiosk upload: upload.intake_key is not set: name the intake's public key file "
              "(DIR/keys/intake.pub, made by `kiosk-intake keys init`); without it no receipt "
              "can be verified, so nothing is uploaded", file=sys.stderr)
        return EXIT_CONFIG
    try:
        intake_key = load_intake_public_key(key_path)
    except (SealingError, OSError) as exc:
        print(f"kiosk upload: upload.intake_key: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from kiosk.config import check_upload
    from kiosk.errors import ConfigError

    try:
        check_upload(config)
    except ConfigError as exc:
        print(f"kiosk upload: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    settings = UploadSettings.from_config(config, intake_key)
    refusal = _not_set_up(config)
    if refusal:
        print(f"kiosk upload: {refusal}", file=sys.stderr)
        return EXIT_CONFIG
    make_dirs(config.data_dir)
    stop = threading.Event()
    with _only_uploader(config.data_dir / LOCK_FILE) as alone:
        if not alone:
            print(f"kiosk upload: another `kiosk upload` is running for {config.data_dir}",
                  file=sys.stderr)
            return EXIT_PENDING
        with _stop_on_signals(stop) as signals, open_journal(
                config, owner=False) as journal, Uploader(
                journal, settings, out=out, stop=stop,
                progress=ProgressFile(config.data_dir),
                clock_trusted=clock_is_synchronized, notifier=Notifier()) as uploader:
            try:
                if not once:
                    return uploader.run_forever()  # a daemon: stopped is a clean end, 0
                code = uploader.run_once()
                if signals:  # its summary line said what is still pending
                    return (EXIT_TERMINATED if signals[0] == signal.SIGTERM
                            else EXIT_INTERRUPTED)
                return code
            except StorageFull as exc:
                print(f"kiosk upload: disk full, cannot journal the uploads: {exc}",
                      file=sys.stderr)
                return EXIT_PENDING
