"""A private NUT server for tests: the real upsd with the dummy-ups driver.

Everything lives in one temporary directory (``NUT_CONFPATH`` for ups.conf, upsd.conf,
upsd.users, nut.conf and the ``ups.dev`` data file; ``NUT_STATEPATH`` for the driver
socket), upsd listens on a free port on 127.0.0.1, and both daemons run in the foreground
as children of the test process. So it neither needs nor touches the system's NUT
services (``/etc/nut``, port 3493) that Debian's nut-server package installs.

dummy-ups runs ``.dev`` files in "dummy-once" mode: it re-reads the file when its mtime
changes, checked every ``pollinterval`` (1 s here), and compares whole seconds. So
:meth:`NutServer.set` rewrites the file in place and then stamps it with a fresh,
strictly increasing whole-second mtime: two changes within one second are both seen.
A change reaches upsd about 1 s after ``set`` (measured 0.3-1.0 s).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

#: Where Debian (and most distributions) put the NUT daemons; /usr/sbin/upsd on Debian is
#: a wrapper that refuses to start unless /etc/nut/nut.conf says so, hence /lib/nut first.
_DIRS = ("/lib/nut", "/usr/lib/nut", "/usr/libexec/nut", "/usr/sbin", "/sbin", "/usr/bin")
INSTALL_HINT = ("NUT is not installed: `make test` installs it (Debian packages nut-server "
                "nut-client); or run `apt-get install nut-server nut-client`")

DEFAULT_VARS = {
    "ups.status": "OL",
    "battery.charge": "100",
    "battery.runtime": "3600",
    "battery.voltage": "13.6",
    "ups.mfr": "Kiosk test",
    "ups.model": "dummy",
}


class NutMissing(RuntimeError):
    """The NUT daemons are not installed."""


def find_program(name: str) -> str:
    """The path of a NUT daemon (``upsd``, ``dummy-ups``); NutMissing if absent."""
    for directory in _DIRS:
        path = Path(directory) / name
        if path.is_file() and os.access(path, os.X_OK) and not _is_debian_wrapper(path):
            return str(path)
    raise NutMissing(f"{name} not found in {', '.join(_DIRS)}. {INSTALL_HINT}")


def _is_debian_wrapper(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NutServer:
    """dummy-ups + upsd on 127.0.0.1:<free port>, UPS name ``ups``. Example::

        with NutServer() as nut:
            nut.set(**{"ups.status": "OB"})
            ...  # read from nut.host, nut.port, nut.ups
    """

    ups = "ups"
    host = "127.0.0.1"

    def __init__(self, variables: Mapping[str, str] | None = None, *,
                 start_timeout: float = 10.0) -> None:
        self.upsd_bin = find_program("upsd")
        self.driver_bin = find_program("dummy-ups")
        # Short path: the driver's Unix socket path must fit in 108 bytes.
        self.dir = Path(tempfile.mkdtemp(prefix="kiosk-nut-"))
        self.state = self.dir / "state"
        self.state.mkdir(mode=0o700)
        self.dev = self.dir / "ups.dev"
        self.port = free_port()
        self.start_timeout = start_timeout
        self.variables = dict(DEFAULT_VARS if variables is None else variables)
        self._mtime = int(time.time())
        self._resets = 0
        self.driver: subprocess.Popen[bytes] | None = None
        self.upsd: subprocess.Popen[bytes] | None = None
        self._write_config()

    # -- configuration ---------------------------------------------------------------------
    def _write_config(self) -> None:
        files = {
            "nut.conf": "MODE=standalone\n",
            "ups.conf": (f"[{self.ups}]\n"
                         "  driver = dummy-ups\n"
                         f"  port = {self.dev}\n"
                         "  mode = dummy-once\n"
                         "  pollinterval = 1\n"
                         '  desc = "kiosk test UPS"\n'),
            "upsd.conf": f"LISTEN {self.host} {self.port}\n",
            "upsd.users": "",
        }
        for name, text in files.items():
            path = self.dir / name
            path.write_text(text)
            path.chmod(0o600)
        self._write_dev()

    def _write_dev(self) -> None:
        # In place (same inode: the driver may keep it open), then a new whole-second
        # mtime, strictly later than the last and than "now" (the truncate's own stamp).
        self.dev.write_text("".join(f"{k}: {v}\n" for k, v in self.variables.items()))
        self._mtime = max(self._mtime + 1, int(time.time()) + 1)
        os.utime(self.dev, (self._mtime, self._mtime))

    def set(self, **variables: str | None) -> None:
        """Change UPS variables (``**{"ups.status": "OB LB"}``); a value None removes one."""
        for name, value in variables.items():
            if value is None:
                self.variables.pop(name, None)
            else:
                self.variables[name] = value
        self._write_dev()

    def reset(self, timeout: float = 5.0) -> None:
        """Back to the start values, and wait until upsd serves them."""
        self._resets += 1
        marker = f"reset-{self._resets}"
        self.variables = dict(DEFAULT_VARS, **{"ups.id": marker})
        self._write_dev()
        self.wait_for("ups.id", marker, timeout)

    @property
    def power_config(self) -> str:
        """The kiosk's ``[power]`` section that reads this UPS; more of its keys may follow."""
        return (f'[power]\ntype = "nut"\nhost = "{self.host}"\nport = {self.port}\n'
                f'ups = "{self.ups}"\n')

    def set_status(self, status: str, **variables: str) -> None:
        """``set_status("OB LB", **{"battery.charge": "9"})``."""
        self.set(**{"ups.status": status}, **variables)

    # -- processes ---------------------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["NUT_CONFPATH"] = str(self.dir)
        env["NUT_STATEPATH"] = str(self.state)
        return env

    def _spawn(self, argv: list[str], log_name: str) -> subprocess.Popen[bytes]:
        if os.geteuid() == 0:
            argv += ["-u", "root"]  # else the daemons drop to user "nut" and lose the files
        with open(self.dir / log_name, "wb") as out:
            return subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def start(self) -> NutServer:
        """Start the driver, then upsd; return once upsd serves the UPS's data."""
        try:
            self.start_driver()
            self.start_upsd()
        except BaseException:
            self.stop()
            raise
        return self

    def start_driver(self) -> None:
        self.driver = self._spawn([self.driver_bin, "-a", self.ups, "-F"], "driver.log")
        self._wait(lambda: any(self.state.iterdir()), "dummy-ups to create its socket",
                   self.driver)

    def start_upsd(self) -> None:
        self.upsd = self._spawn([self.upsd_bin, "-F"], "upsd.log")
        self._wait(self._serving, f"upsd to serve {self.ups} on port {self.port}", self.upsd)

    def _serving(self) -> bool:
        """True once upsd answers with real data (not WAIT) for the UPS."""
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as s:
                s.sendall(f"GET VAR {self.ups} ups.status\n".encode())
                answer = s.recv(512).decode(errors="replace")
        except OSError:
            return False
        return answer.startswith(f"VAR {self.ups} ups.status") and '"WAIT"' not in answer

    def _wait(self, ready: Callable[[], bool], what: str, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if proc.poll() is not None:
                raise RuntimeError(f"{what}: the process exited with {proc.returncode}\n"
                                   + self.logs())
            time.sleep(0.05)
        raise TimeoutError(f"timed out after {self.start_timeout:g} s waiting for {what}\n"
                           + self.logs())

    def wait_for(self, variable: str, value: str, timeout: float = 5.0) -> float:
        """Wait (independently of the code under test) until upsd reports ``value``."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as s:
                    s.sendall(f"GET VAR {self.ups} {variable}\n".encode())
                    if s.recv(512).decode().strip() == f'VAR {self.ups} {variable} "{value}"':
                        return time.monotonic() - start
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"upsd did not report {variable} = {value!r} within {timeout} s")

    def stop_upsd(self) -> None:
        self.upsd = _stop(self.upsd)

    def stop_driver(self) -> None:
        self.driver = _stop(self.driver)

    def stop(self) -> None:
        self.stop_upsd()
        self.stop_driver()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def logs(self) -> str:
        out = []
        for name in ("driver.log", "upsd.log"):
            path = self.dir / name
            if path.exists():
                out.append(f"--- {name} ---\n{path.read_text(errors='replace')[-2000:]}")
        return "\n".join(out)

    def __enter__(self) -> NutServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def nut_or_fail(variables: Mapping[str, str] | None = None) -> NutServer:
    """A NutServer (not started), or the test fails naming what is missing: NUT's upsd and
    dummy-ups are installed by `make setup`, so their absence is a failure, not a skip."""
    try:
        return NutServer(variables)
    except NutMissing as exc:
        pytest.fail(str(exc), pytrace=False)


#: How fast a status change on the UPS must show up in a backend's read(): dummy-ups reads
#: its file once a second (``pollinterval = 1``).
REFLECT_S = 3.0


def wait_read(ups: Any, want: Mapping[str, object], timeout: float = REFLECT_S
              ) -> tuple[Any, float]:
    """Read ``ups`` until every field in ``want`` has its value; the reading and how long it
    took. Fails the test when ``timeout`` seconds pass first."""
    start = time.monotonic()
    status = ups.read()
    while any(getattr(status, k) != v for k, v in want.items()):
        if time.monotonic() - start > timeout:
            pytest.fail(f"read() still {status} {timeout} s after the UPS changed; "
                        f"wanted {dict(want)}")
        time.sleep(0.05)
        status = ups.read()
    return status, time.monotonic() - start


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return None
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    return None
