"""A private pcscd with the vpcd reader driver, for the card HIL suite.

Started so it cannot collide with a system pcscd:

* pcsc-lite 1.9 puts its socket and pid file in the fixed ``/run/pcscd`` (the daemon does
  not read ``PCSCLITE_CSOCK_NAME``; only the client library does). So the daemon runs in
  its own mount namespace (``unshare --mount``; ``--user --map-root-user`` when not root)
  where a private directory is bind-mounted over ``/run/pcscd``. Its socket is then
  ``<dir>/pcscd.comm`` outside the namespace, and this process points libpcsclite at it
  with ``PCSCLITE_CSOCK_NAME``. libpcsclite reads that variable once per process, so it
  is set before the first PC/SC call and a process talks to one pcscd only.
* ``--config`` gives it a reader.conf.d holding only the vpcd reader, on free TCP ports
  (``DEVICENAME /dev/null:<base port>``); the card for slot N connects to base port + N.
* ``--auto-exit``: an orphaned daemon (a killed test run) quits after 60 s without clients;
  the harness keeps one PC/SC context open while it runs so that never hits a live run.

Without ``unshare`` rights it falls back to a plain pcscd only when no system pcscd is
running. Missing packages raise :class:`HarnessUnavailable` saying what to install.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
SYSTEM_SOCKET = Path("/run/pcscd/pcscd.comm")
APT_PACKAGES = ("pcscd", "vsmartcard-vpcd")
SLOTS = 2  # vsmartcard 0.8's vpcd shows two readers: "Virtual PCD 00 00" and "... 00 01"


class HarnessUnavailable(RuntimeError):
    """The private pcscd cannot run here; the message says why and what to do."""


def _ports_free(base: int, count: int) -> bool:
    for port in range(base, base + count):
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))  # noqa: S104 - vpcd binds every interface
            except OSError:
                return False
    return True


def _system_pcscd_running() -> bool:
    if not SYSTEM_SOCKET.exists():
        return False
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(SYSTEM_SOCKET))
        except OSError:
            return False
    return True


class PrivatePcscd:
    """One pcscd serving vpcd readers on private ports. ``start()``, then ``stop()``."""

    def __init__(self) -> None:
        self.base_port = 0
        self.workdir = Path(tempfile.mkdtemp(prefix="kiosk-pcscd-"))
        self.rundir = self.workdir / "run"
        self.confdir = self.workdir / "reader.conf.d"
        self.log_path = self.workdir / "pcscd.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._keepalive: int | None = None
        self._scard = None
        self.mode = ""
        self._previous_env: str | None = None

    def reader_name(self, slot: int) -> str:
        return f"Virtual PCD 00 {slot:02X}"

    def port(self, slot: int) -> int:
        return self.base_port + slot

    def _commands(self) -> list[tuple[str, list[str]]]:
        inner = ('mkdir -p /run/pcscd && mount --bind "$1" /run/pcscd && '
                 'exec pcscd --foreground --auto-exit --error --config "$2"')
        args = ["sh", "-c", inner, "sh", str(self.rundir), str(self.confdir)]
        base = ["unshare", "--mount", "--propagation", "private"]
        out = []
        if os.geteuid() == 0:
            out.append(("namespace", base + args))
        out.append(("user namespace", ["unshare", "--user", "--map-root-user", "--mount",
                                       "--propagation", "private", *args]))
        return out

    def start(self, timeout: float = 15.0) -> None:
        missing = [what for what, ok in (("pcscd", shutil.which("pcscd")),
                                         ("vsmartcard-vpcd", VPCD_DRIVER.exists())) if not ok]
        if missing:
            raise HarnessUnavailable(
                f"{' and '.join(missing)} not installed: run `make test`, which installs "
                f"the apt packages {' '.join(APT_PACKAGES)}")
        for _ in range(50):
            base = random.randrange(20000, 30000, 16)
            if _ports_free(base, SLOTS):
                self.base_port = base
                break
        else:
            raise HarnessUnavailable("no two free TCP ports for vpcd in 20000-30000")
        self.rundir.mkdir()
        self.confdir.mkdir()
        (self.confdir / "vpcd").write_text(
            'FRIENDLYNAME "Virtual PCD"\n'
            f"DEVICENAME   /dev/null:{self.base_port:#x}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    {self.base_port:#x}\n")
        socket_path = self.rundir / "pcscd.comm"
        tried = []
        for mode, command in self._commands():
            if self._spawn(mode, command, socket_path, timeout):
                break
            tried.append(f"{mode}: {self._log_tail() or 'no socket'}")
        else:
            if _system_pcscd_running():
                raise HarnessUnavailable(
                    "cannot start a private pcscd: unshare failed (" + "; ".join(tried) +
                    ") and a system pcscd is running on /run/pcscd, which a second one "
                    "would collide with")
            socket_path = SYSTEM_SOCKET
            if not self._spawn("plain", ["pcscd", "--foreground", "--auto-exit", "--error",
                                         "--config", str(self.confdir)], socket_path, timeout):
                raise HarnessUnavailable("pcscd did not start: " + self._log_tail())
        previous = os.environ.get("PCSCLITE_CSOCK_NAME")
        if previous is not None and previous != str(socket_path):
            self._stop_process()
            raise HarnessUnavailable(f"PCSCLITE_CSOCK_NAME is already {previous!r} in this "
                                     "process; libpcsclite reads it once per process")
        self._previous_env = previous
        os.environ["PCSCLITE_CSOCK_NAME"] = str(socket_path)
        self._wait_for_readers(timeout)

    def _spawn(self, mode: str, command: list[str], socket_path: Path, timeout: float) -> bool:
        log = self.log_path.open("wb")
        try:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            log.write(str(exc).encode())
            log.close()
            return False
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                return False
            if socket_path.exists():
                self.mode = mode
                return True
            time.sleep(0.05)
        self._stop_process()
        return False

    def _wait_for_readers(self, timeout: float) -> None:
        from smartcard import scard

        self._scard = scard
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            if self._keepalive is None:
                hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
                if hr == scard.SCARD_S_SUCCESS:
                    self._keepalive = ctx
            if self._keepalive is not None:
                hr, seen = scard.SCardListReaders(self._keepalive, [])
                if hr == scard.SCARD_S_SUCCESS and self.reader_name(0) in seen:
                    return
            time.sleep(0.1)
        self.stop()
        raise HarnessUnavailable(f"pcscd ({self.mode}) started but no vpcd reader appeared "
                                 f"within {timeout:g} s; readers seen: {seen or 'none'}; "
                                 f"log: {self._log_tail()}")

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-3:])
        return ""

    def _stop_process(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def stop(self) -> None:
        if self._keepalive is not None and self._scard is not None:
            self._scard.SCardReleaseContext(self._keepalive)
            self._keepalive = None
        self._stop_process()
        shutil.rmtree(self.workdir, ignore_errors=True)
        # libpcsclite in this process keeps the socket it read; child processes must not.
        if self._previous_env is None:
            os.environ.pop("PCSCLITE_CSOCK_NAME", None)
        else:
            os.environ["PCSCLITE_CSOCK_NAME"] = self._previous_env
