"""``kiosk update``: install, check, switch, restart, check again, and go back by itself.

The order, and why:

1. Install the new version into ``releases/<name>`` (``build.py``); ``current`` is not
   touched, the kiosk keeps working.
2. Run the health checks from the new release *before* the switch. A release that fails
   them never becomes ``current``, so an update killed at any later moment leaves
   ``current`` on a release that is complete and has passed its checks.
3. Switch ``current`` (atomic rename), restart the services, wait ``settle_s``, run the
   checks again from the new release with its services running, and ask whether the
   services still run (``status_command``).
4. Any failure in 3: switch back, restart, check the old release again, and exit 1 with
   the failed check and the tail of its output. Success: ``previous`` is the old release,
   every other release is removed (never the one this command runs from).

A check judges the release, not the kiosk: one that fails with the new release is run
with the old one too, and if it fails there as well (an intake out of reach for
``kiosk doctor``, a device held by the running touchscreen) it is reported and not held
against the new release.

The data directory (journal, keys) is never opened here: releases are code only. Run as
root (``sudo kiosk update``, which the Pi's ``/usr/local/bin/kiosk`` leaves root: it writes
the releases root and restarts the services), the health checks, which do open it, run as
the data directory's owner in it (``runuser``, :meth:`Updater.check_user`), so that they
leave no root-owned file there; ``restart_command`` and ``status_command`` stay root's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import pwd
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from kiosk.config import Config
from kiosk.core.exits import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED
from kiosk.update.build import Installer, Source
from kiosk.update.proc import Outcome, Runner
from kiosk.update.releases import LOG_FILE, Release, Releases, UpdateFailed


@dataclass
class Settings:
    """The ``[update]`` section, with the command line's overrides applied."""

    root: Path
    restart_command: list[str]
    status_command: list[str]
    health_checks: list[list[str]]
    check_timeout_s: float
    settle_s: float
    pip_options: list[str] = field(default_factory=list)
    config_file: Path | None = None  # handed to the release's checks as KIOSK_CONFIG
    # kiosk.data_dir: run as root, the health checks run as its owner, in it (check_user)
    data_dir: Path | None = None

    @classmethod
    def from_config(cls, config: Config, *, root: str | None = None,
                    find_links: Sequence[str] = (), offline: bool = False,
                    config_file: Path | None = None) -> Settings:
        section = config["update"]
        pip: list[str] = []
        if offline or section["offline"]:
            pip.append("--no-index")
        for directory in [*section["find_links"], *find_links]:
            pip += ["--find-links", str(Path(directory).resolve())]
        return cls(root=Path(root or section["root"]).resolve(),
                   restart_command=list(section["restart_command"]),
                   status_command=list(section["status_command"]),
                   health_checks=[list(c) for c in section["health_checks"]],
                   check_timeout_s=float(section["check_timeout_s"]),
                   settle_s=float(section["settle_s"]), pip_options=pip,
                   config_file=config_file.resolve() if config_file else None,
                   data_dir=config.data_dir.resolve())


class Updater:
    """One run of ``kiosk update`` (install or rollback), printing as it goes."""

    def __init__(self, settings: Settings, out: TextIO = sys.stdout,
                 err: TextIO = sys.stderr) -> None:
        self.settings = settings
        self.releases = Releases(settings.root)
        self.out = out
        self.err = err
        self.runner: Runner | None = None
        # Between the switch and the verdict (:meth:`_until_verdict`): the signals held, in
        # order; whether a dead stdout is dropped (True) or aborts as anywhere else.
        self.held: list[int] = []
        self.shielded = False
        self.terminal_gone = False
        # How a health check is run: the argv before the release's kiosk, and where.
        self.check_as: tuple[list[str], Path | None] = ([], None)
        # Health checks failing with the old release too: index -> how it failed then.
        self.tolerated: dict[int, Outcome] = {}

    def say(self, text: str) -> None:
        """A progress line: to stdout and to the log. Between the switch and the verdict a
        stdout that cannot be written (``| head``: its reader gone; a terminal hung up) is
        dropped, not the update (:meth:`_until_verdict`)."""
        if self.runner is not None:
            self.runner.note(text)
        if self.terminal_gone:
            return
        try:
            print(text, file=self.out, flush=True)
        except OSError:
            if not self.shielded:
                raise
            self.terminal_gone = True
            _to_devnull(self.out)  # the interpreter's flush at exit must not fail again

    def _tell(self, text: str) -> None:
        """A line for stderr that must never stop the update: dropped if stderr is gone."""
        if self.runner is not None:
            self.runner.note(text)
        try:
            print(text, file=self.err, flush=True)
        except OSError:
            _to_devnull(self.err)

    # -- the two commands -----------------------------------------------------------------
    def update(self, source_text: str) -> int:
        """Install ``source_text`` and switch to it: 0 on it; UpdateFailed (exit 1) if not;
        the status of a signal held until the verdict (:meth:`_until_verdict`)."""
        return self._verdict(lambda: self._update(Source.parse(source_text)))

    def _update(self, source: Source) -> int:
        with self._session():
            current = self.releases.current()
            seed = current.path if current is not None else Path(sys.prefix)
            self.say(f"kiosk update: installing {source.text}; now on "
                     f"{current.name if current else 'no release yet'}")
            installer = Installer(self.releases, self._runner, self.settings.pip_options,
                                  self.say)
            start = time.monotonic()
            try:
                new = installer.install(source, seed)
            except OSError as exc:
                self.releases.prune(set())  # a failed install's directory goes at once
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                raise UpdateFailed(self._disk_full(current)) from None
            except BaseException:
                self.releases.prune(set())  # a failed install's directory goes at once
                raise
            self.say(f"  installed {new.name} (version {new.version}) in "
                     f"{time.monotonic() - start:.1f} s")
            if current is not None and new.name == current.name:
                self.say(f"kiosk update: {new.name} is already the current release; "
                         "nothing to switch")
                return EXIT_OK
            self._activate(new, current, verb="update")
            return EXIT_OK

    def rollback(self) -> int:
        """Switch back to ``previous``, checked like an update: as :meth:`update`."""
        return self._verdict(self._rollback)

    def _rollback(self) -> int:
        with self._session(before_log=self._can_roll_back):
            current, previous = self._can_roll_back()
            self.say(f"kiosk update --rollback: from {current.name} back to {previous.name}")
            self._activate(previous, current, verb="rollback")
            return EXIT_OK

    def _can_roll_back(self) -> tuple[Release, Release]:
        """(current, previous); UpdateFailed when there is nothing to roll back to (asked
        before the log is opened: a refused rollback leaves the last update's log as it
        was, which the failed update's message sent the maintainer to)."""
        current, previous = self.releases.current(), self.releases.previous()
        if previous is None or current is None or previous.name == current.name:
            raise UpdateFailed("no previous release to go back to (kiosk update --list "
                               "shows what is installed); nothing was changed")
        return current, previous

    def _verdict(self, action: Callable[[], int]) -> int:
        """Run ``update`` or ``rollback``; then act on a signal held until its verdict:
        the verdict said (kept, or switched back), one line saying which release the
        kiosk is on, and the signal's status (Ctrl-C 130, SIGTERM 143, SIGHUP 129)."""
        try:
            code = action()
        except UpdateFailed as exc:
            if not self.held:
                raise  # the command line's: `kiosk: ...`, exit 1
            self._tell(f"kiosk: {exc}")
            code = EXIT_FAIL
        if not self.held:
            return code
        signum = self.held[0]
        current = self.releases.current()
        self._tell(f"kiosk update: {_signal_text(signum)} came after the switch and was held "
                   f"until the verdict; the kiosk is on "
                   f"{current.name if current else 'no release'}")
        return {signal.SIGINT: EXIT_INTERRUPTED,
                signal.SIGTERM: EXIT_TERMINATED}.get(signum, 128 + signum)

    # -- the steps ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _session(self, before_log: Callable[[], object] | None = None) -> Iterator[None]:
        """Hold the lock, report (and clear) an update that was cut short, run
        ``before_log`` (a refusal that must not wipe the last update's log), log to
        ``last-update.log``."""
        self.check_as = self.check_user()  # before anything is changed
        # Releases are read by the services' own user (kiosk): not root's umask, if tighter.
        umask = os.umask(0o022)
        with contextlib.ExitStack() as stack:
            stack.callback(os.umask, umask)
            stack.enter_context(self.releases.lock())
            if (adopted := self.releases.adopt_current()) is not None:
                self.say(f"note: {adopted.name} (version {adopted.version}), the current "
                         "release, was not made by kiosk update; recorded as a release")
            interrupted = self.releases.state()
            if interrupted:
                current = self.releases.current()
                self.say(f"note: an earlier {interrupted.get('verb', 'update')} "
                         f"({interrupted.get('from')} -> {interrupted.get('to')}) was cut "
                         f"short; current is {current.name if current else 'unset'} (it "
                         "had passed its checks before the switch)")
                self.releases.write_state(None)
            if before_log is not None:
                before_log()
            self.runner = Runner(self.settings.root / LOG_FILE, self._check_env(),
                                 cwd=self.settings.root)
            try:
                yield
            except UpdateFailed as exc:
                self.runner.note(f"kiosk: {exc}")  # the verdict, in the log too
                raise
            finally:
                self.runner.close()
                self.runner = None

    @contextlib.contextmanager
    def _until_verdict(self, target: Release, back_to: Release | None) -> Iterator[None]:
        """From just before ``current`` is switched until the verdict (kept, or switched
        back), the update finishes on its own: SIGHUP (an SSH link dropped), SIGINT
        (Ctrl-C) and SIGTERM are noted in ``self.held``, not acted on (:meth:`_verdict`
        acts on them); the first says once on stderr why nothing stops; a stdout that
        cannot be written is dropped (:meth:`say`); the commands run in a session of their
        own, out of reach of the terminal's Ctrl-C and hang-up. Not in the main thread
        (no handlers to swap), signals act as anywhere else."""
        kinds = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)
        previous: dict[int, Any] = {}
        back = (f"it switches back to {back_to.name} by itself" if back_to else
                "it removes `current` (there was no release before)")
        notice = (f"\nkiosk update: finishing the checks of {target.name} after the switch; "
                  f"if they fail {back}. Wait for its verdict (Ctrl-C cannot stop it "
                  "now)\n").encode()
        err = self.err

        def note(signum: int, _frame: object) -> None:
            # Only a list and a raw write here: this may run inside a write to the log.
            self.held.append(signum)
            if len(self.held) == 1:  # at the first: a Ctrl-C that seems ignored is pressed again
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    os.write(err.fileno(), notice)

        def restore() -> None:
            for signum in list(previous):
                signal.signal(signum, previous.pop(signum))

        try:
            for signum in kinds:
                previous[signum] = signal.signal(signum, note)
        except ValueError:  # not the main thread
            restore()
        self.shielded, self._runner.own_session = True, True
        try:
            yield
        finally:
            self.shielded, self._runner.own_session = False, False
            restore()
            for signum in self.held:
                self._runner.note(f"{signal.Signals(signum).name} received after the switch: "
                                  "held until the verdict")

    def _disk_full(self, current: Release | None) -> str:
        """The message for a releases disk that filled up while a release was built."""
        try:
            free = f" ({shutil.disk_usage(self.releases.dir).free / 1e6:.0f} MB free now)"
        except OSError:
            free = ""
        return (f"the new release ran out of space on the releases disk, in "
                f"{self.releases.dir}{free}; the half-built release is removed. Nothing was "
                f"switched: still on {current.name if current else 'no release'}. Free space "
                "on that disk and run the update again")

    @property
    def _runner(self) -> Runner:
        if self.runner is None:
            raise RuntimeError("Updater._runner used outside _session()")
        return self.runner

    def check_user(self) -> tuple[list[str], Path | None]:
        """How to run a health check: (the argv before the release's kiosk, the working
        directory; None: the runner's).

        Run as root (``sudo kiosk update``), a check runs as the data directory's owner,
        the services' user, in that directory (``runuser -u kiosk --``): `kiosk doctor`
        opens the journal and `kiosk hw selftest` the devices, and as root they would
        leave root's files there (the journal's -wal and -shm, a key) that lock the
        services out; lgpio makes its named pipe in the working directory. Not root (the
        tests, a developer's own releases root): as this user, as before."""
        data_dir = self.settings.data_dir
        if os.geteuid() != 0 or data_dir is None:
            return [], None
        try:
            owner = data_dir.stat().st_uid
        except FileNotFoundError:  # no kiosk data yet (a machine of the tests'): as before
            self.say(f"note: the data directory {data_dir} does not exist; the health "
                     "checks run as root")
            return [], None
        if owner == 0:  # the services run as root: so do their checks
            return [], data_dir
        try:
            user = pwd.getpwuid(owner).pw_name
        except KeyError:
            raise UpdateFailed(
                f"the data directory {data_dir} belongs to uid {owner}, which has no user "
                "name; kiosk update runs its health checks as the data directory's owner. "
                f"`chown` it to the services' user; nothing was changed") from None
        return ["runuser", "-u", user, "--"], data_dir

    def _run_check(self, release: Release, check: Sequence[str]) -> Outcome:
        """One health check from ``release``, as :meth:`check_user` says; its outcome names
        the check (``argv``: the release's kiosk and the check), not the runuser before it."""
        prefix, cwd = self.check_as
        argv = (str(release.kiosk), *check)
        done = self._runner.run([*prefix, *argv], timeout=self.settings.check_timeout_s,
                                cwd=cwd)
        return dataclasses.replace(done, argv=argv)

    def _check_env(self) -> dict[str, str]:
        if self.settings.config_file is None:
            return {}
        return {"KIOSK_CONFIG": str(self.settings.config_file)}

    def _checks(self, release: Release, when: str, baseline: Release | None = None
                ) -> Outcome | None:
        """Run every health check from ``release``; the first failure, or None.

        A check that fails with ``release`` is run again with ``baseline`` (the release
        the kiosk is on) when one is given: failing there too, it says something about
        the kiosk (an intake out of reach, a device held), not about the new release, and
        is not held against it, now or after the restart (``self.tolerated``)."""
        for index, check in enumerate(self.settings.health_checks):
            done = self._run_check(release, check)
            label = "kiosk " + shlex.join(check)
            line = (f"  check {when}: {label} ... "
                    f"{'ok' if done.ok else 'FAILED (' + done.status + ')'} "
                    f"({done.seconds:.1f} s)")
            if done.ok:
                self.say(line)
                continue
            if index in self.tolerated and _nothing_new(done, self.tolerated[index]):
                self.say(f"{line}; failed before the update too: not held against it")
                continue
            if baseline is not None and index not in self.tolerated:
                before = self._run_check(baseline, check)
                if not before.ok and _nothing_new(done, before):
                    self.tolerated[index] = before
                    self.say(f"{line}; fails with {baseline.name} too ({before.status}): not "
                             f"held against {release.name}:\n{done.tail(5)}")
                    continue
            self.say(line)
            return done
        return None

    def _restart(self) -> Outcome | None:
        done = self._runner.run(self.settings.restart_command,
                                timeout=self.settings.check_timeout_s)
        self.say(f"  restarting the services: {shlex.join(done.argv)} ... "
                 f"{'ok' if done.ok else 'FAILED (' + done.status + ')'} ({done.seconds:.1f} s)")
        return None if done.ok else done

    def _services(self) -> Outcome | None:
        if not self.settings.status_command:
            return None
        done = self._runner.run(self.settings.status_command,
                                timeout=self.settings.check_timeout_s)
        self.say(f"  services running: {shlex.join(done.argv)} ... "
                 f"{'yes' if done.ok else 'NO (' + done.status + ')'}")
        return None if done.ok else done

    def _after_switch(self, release: Release) -> tuple[str, Outcome] | None:
        """Restart, settle, check, ask the services: (what failed, its outcome) or None."""
        if (failed := self._restart()) is not None:
            return "restarting the services", failed
        time.sleep(self.settings.settle_s)
        if (failed := self._checks(release, "after the restart")) is not None:
            return "kiosk " + shlex.join(failed.argv[1:]), failed
        if (failed := self._services()) is not None:
            return "the services' status", failed
        return None

    def _activate(self, target: Release, back_to: Release | None, *, verb: str) -> None:
        """Make ``target`` current, or end on ``back_to`` (raising UpdateFailed)."""
        releases = self.releases
        failed = self._checks(target, "before the switch", baseline=back_to)
        if failed is not None:
            what = "kiosk " + shlex.join(failed.argv[1:])
            where = back_to.name if back_to else "no release"
            gone = ""
            if verb == "update":
                releases.prune(set())  # the failed release goes; current was never touched
                gone = f" {target.name} is removed."
            raise UpdateFailed(
                f"{verb} to {target.name} stopped: `{what}` failed with that release "
                f"({failed.status}). Nothing was switched: still on {where}, services not "
                f"restarted.{gone}\nWhat `{what}` said:\n{failed.tail()}\n"
                f"(everything it ran: {self.settings.root / LOG_FILE})")
        with self._until_verdict(target, back_to):
            self._switch(target, back_to, verb=verb)

    def _switch(self, target: Release, back_to: Release | None, *, verb: str) -> None:
        """Switch to ``target``, restart, check; switch back to ``back_to`` on a failure."""
        releases = self.releases
        old_previous = releases.previous()
        releases.write_state({"from": back_to.name if back_to else None, "to": target.name,
                              "verb": verb, "started": time.time()})
        # `previous` first: an update killed after the switch can be undone by hand.
        if back_to is not None:
            releases.point("previous", back_to)
        releases.point("current", target)
        self.say(f"  switched: current -> {target.name}"
                 + (f" (was {back_to.name})" if back_to else ""))
        problem = self._after_switch(target)
        if problem is None:
            releases.write_state(None)
            removed = releases.prune(set())
            command = "kiosk update" + (" --rollback" if verb == "rollback" else "")
            self.say(f"{command}: done, now on {target.name} (version {target.version}); "
                     + (f"previous {back_to.name} (kiosk update --rollback goes back to it)"
                        if back_to else "no previous release")
                     + (f"; removed {', '.join(removed)}" if removed else ""))
            return
        what, outcome = problem
        self.say(f"  {what} failed: switching back to "
                 f"{back_to.name if back_to else 'no release'}")
        message = (f"{verb} to {target.name} failed: `{what}` {outcome.status} after the "
                   f"switch.\nWhat `{what}` said:\n{outcome.tail()}\n")
        if back_to is None:
            releases.point("current", None)
            releases.write_state(None)
            raise UpdateFailed(message + "There was no release before it: `current` is "
                               "removed, the services cannot start until an update "
                               "succeeds.")
        releases.point("current", back_to)
        releases.point("previous", old_previous)
        self.say(f"  switched: current -> {back_to.name}")
        again = self._after_switch(back_to)
        releases.write_state(None)
        gone = ""
        if verb == "update":
            releases.prune(set())  # the failed release goes
            gone = f" {target.name} is removed."
        if again is None:
            raise UpdateFailed(message + f"Switched back to {back_to.name}: services "
                               f"restarted, its checks pass.{gone} "
                               f"(everything it ran: {self.settings.root / LOG_FILE})")
        raise UpdateFailed(message + f"Switched back to {back_to.name}, but it does not pass "
                           f"either: `{again[0]}` {again[1].status}:\n{again[1].tail()}\n"
                           "The kiosk needs a maintainer: kiosk update --list, "
                           f"{self.settings.root / LOG_FILE}.")

    # -- listing --------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """What ``kiosk update --list`` shows, as data."""
        current, previous = self.releases.current(), self.releases.previous()
        running = self.releases.running()
        rows = []
        for release in self.releases.all():
            roles = [role for role, r in (("current", current), ("previous", previous))
                     if r is not None and r.name == release.name]
            if running == release.name:
                roles.append("running this command")
            rows.append({"name": release.name, "version": release.version, "roles": roles,
                         "source": release.info.get("source"),
                         "commit": release.info.get("commit"),
                         "sha256": release.info.get("sha256"),
                         "installed_at": release.info.get("installed_at")})
        return {"root": str(self.settings.root), "releases": rows,
                "current": current.name if current else None,
                "previous": previous.name if previous else None,
                "interrupted": self.releases.state(),
                "incomplete": [p.name for p in self.releases.incomplete()]}

    def list(self, *, as_json: bool = False) -> int:
        doc = self.describe()
        if as_json:
            print(json.dumps(doc, indent=2), file=self.out)
            return EXIT_OK
        if not doc["releases"]:
            self.say(f"no releases in {self.releases.dir} (kiosk update SOURCE installs one)")
        else:
            self.say(f"releases in {self.releases.dir}:")
        width = max((len(r["name"]) for r in doc["releases"]), default=0)
        for row in doc["releases"]:
            mark = "*" if "current" in row["roles"] else " "
            when = (time.strftime("%Y-%m-%d %H:%M", time.localtime(row["installed_at"]))
                    if row["installed_at"] else "?")
            origin = row["source"] or "?"
            if row["commit"]:
                origin += f" ({row['commit'][:10]})"
            role = next((r for r in row["roles"] if r in ("current", "previous")), "")
            self.say(f"{mark} {row['name']:<{width}}  {role:<8}  installed {when}  "
                     f"from {origin}")
        running = self.releases.running()
        if running is not None and running != doc["current"]:
            self.say(f"(this command runs from {running})")
        if doc["interrupted"]:
            state = doc["interrupted"]
            self.say(f"an update ({state.get('from')} -> {state.get('to')}) was cut short "
                     "between the switch and its verdict (killed, or a power cut): current "
                     "passed the checks before the switch, not those after the restart; "
                     "the next kiosk update or --rollback clears this note")
        if doc["incomplete"]:
            self.say("left over from an install cut short (the next update removes them): "
                     + ", ".join(doc["incomplete"]))
        return EXIT_OK


def _signal_text(signum: int) -> str:
    return {signal.SIGINT: "Ctrl-C", signal.SIGHUP: "SIGHUP (the terminal hung up)"}.get(
        signum, signal.Signals(signum).name)


def _to_devnull(stream: TextIO) -> None:
    """Point a stream whose reader is gone at /dev/null: what it still holds, and the
    interpreter's flush at exit, go nowhere instead of failing again (exit 120)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)


def _nothing_new(now: Outcome, before: Outcome) -> bool:
    """True when a check that failed with the new release failed the same way with the old
    one: by name when both outputs name what failed (``kiosk doctor``, ``kiosk hw
    selftest``: nothing failing now that did not fail before), else by exit status."""
    names_now, names_before = now.failed_names(), before.failed_names()
    if names_now is not None and names_before is not None:
        return names_now <= names_before
    return names_now is None and names_before is None and now.returncode == before.returncode
