"""``kiosk status``, ``kiosk queue list/show/retry/export/import``, ``kiosk journal
check/export`` and ``kiosk metrics``: what the kiosk holds and does, for a maintainer
(read-only, but for ``queue retry``, ``export`` and ``import``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from kiosk.commands.output import show
from kiosk.config import Config
from kiosk.core.exits import EXIT_CONFIG, EXIT_FAIL, EXIT_OK


def cmd_status(config: Config, args: argparse.Namespace) -> int:
    from kiosk.status import collect_status, render_status

    status = collect_status(config)
    show(status, args.json, render_status, sort_keys=True)
    # The status is out (a maintainer needs it most then); the journal's damage fails it.
    return EXIT_FAIL if _journal_failed(status, "kiosk status") else EXIT_OK


def _journal_failed(status: dict[str, Any], verb: str) -> bool:
    """Say on stderr why the journal could not be read, if it could not."""
    error = status["journal"]["error"]
    if error:
        print(f"{verb}: {error} (kiosk doctor says what to do)", file=sys.stderr)
    return bool(error)


def cmd_queue(config: Config, args: argparse.Namespace) -> int:
    from kiosk.status import queue_entries, render_queue

    if args.queue_command == "retry":
        return _queue_retry(config, args)
    if args.queue_command == "show":
        return _queue_show(config, args)
    if args.queue_command in ("export", "import"):
        return _queue_usb(config, args)
    from kiosk.errors import JournalError

    try:
        entries = queue_entries(config)
    except JournalError as exc:  # never "queue empty" for a journal that cannot be read
        if args.json:  # still JSON for the script's parser, and a list (DESIGN's contract):
            print("[]")  # no entry read; the exit status tells it from an empty queue
        print(f"kiosk queue list: {exc} (kiosk doctor says what to do)", file=sys.stderr)
        return EXIT_FAIL
    return show(entries, args.json, render_queue)


def _queue_show(config: Config, args: argparse.Namespace) -> int:
    """``kiosk queue show ID``: 0 with the record's history, 1 when there is no such record
    or the journal cannot be read (its damage named, as ``kiosk status`` names it)."""
    from kiosk.errors import JournalError
    from kiosk.status import record_history, render_history

    try:
        history = record_history(config, args.id)
    except JournalError as exc:
        print(f"kiosk queue show: {exc} (kiosk doctor says what to do)", file=sys.stderr)
        return EXIT_FAIL
    if history is None:
        print(f"kiosk queue show: no record {args.id!r} in the journal (kiosk queue list "
              "names them)", file=sys.stderr)
        return EXIT_FAIL
    return show(history, args.json, render_history)


def _queue_retry(config: Config, args: argparse.Namespace) -> int:
    """``kiosk queue retry ID... | --all``: rejected -> sealed; 0, or 1 naming what was not
    requeued (unknown id, not rejected), or 2 for a usage mistake. ``--all`` lists the
    rejected records, then requeues them one by one: one that is no longer rejected when
    it is reached (another maintainer's ``retry`` requeued it meanwhile; only a requeue
    moves a record out of ``rejected``) is said as already requeued, not a failure. A write
    that fails (a full or read-only disk) is said once and stops it: 1."""
    from kiosk.errors import IllegalStateChange, JournalError, UnknownRecord
    from kiosk.runtime import open_journal

    if bool(args.ids) == bool(args.all):
        print("kiosk queue retry: name the record ids, or --all" + (", not both" if args.all
                                                                     else ""), file=sys.stderr)
        return EXIT_CONFIG
    problems = requeued = 0
    try:  # a maintainer's command never makes a data directory or a journal
        journal = open_journal(config, owner=False, create=False)
    except JournalError as exc:
        print(f"kiosk queue retry: {exc}", file=sys.stderr)
        return EXIT_FAIL
    with journal:
        ids = [r.id for r in journal.records("rejected")] if args.all else args.ids
        if not ids:
            print("no rejected records")
        for record_id in ids:
            try:
                journal.requeue(record_id, "kiosk queue retry")
            except IllegalStateChange as exc:
                if args.all:
                    print(f"already requeued {record_id}")
                    continue
                print(f"kiosk queue retry: {exc}", file=sys.stderr)
                problems += 1
                continue
            except UnknownRecord as exc:
                print(f"kiosk queue retry: {exc}", file=sys.stderr)
                problems += 1
                continue
            except JournalError as exc:  # a write that failed (a full or read-only disk):
                # each next record's would fail the same way; one line, and stop
                print(f"kiosk queue retry: {exc} (stopped: {requeued} requeued, the rest "
                      "left as they were)", file=sys.stderr)
                return EXIT_FAIL
            requeued += 1
            print(f"requeued {record_id}")
    return EXIT_FAIL if problems else EXIT_OK


def _queue_usb(config: Config, args: argparse.Namespace) -> int:
    """``kiosk queue export --to DIR [--again]`` and ``kiosk queue import PATH...``: sealed
    records to a USB stick, receipts back (:mod:`kiosk.upload.usb`, docs/usb.md)."""
    import logging

    from kiosk.errors import SealingError
    from kiosk.runtime import open_journal
    from kiosk.upload import usb

    if os.environ.get("KIOSK_LOG_LEVEL", "").upper() != "DEBUG":
        # one "exported"/"acknowledged" line per record on stdout says it; the journal's
        # own line per state change would bury the summary (the audit trail keeps them)
        logging.getLogger("kiosk.journal.states").setLevel(logging.WARNING)

    if args.queue_command == "export":
        return _queue_export(config, args)
    from kiosk.receipts import load_intake_public_key

    verb = "kiosk queue import"
    if config.intake_key_path is None:
        print(f"{verb}: upload.intake_key is not set: name the intake's public key file "
              "(DIR/keys/intake.pub); without it no receipt can be verified", file=sys.stderr)
        return EXIT_CONFIG
    try:
        intake_key = load_intake_public_key(config.intake_key_path)
    except (SealingError, OSError) as exc:
        print(f"{verb}: upload.intake_key: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    # a maintainer's command never makes a data directory or a journal
    with open_journal(config, owner=False, create=False) as journal:
        return usb.import_receipts(journal, config.kiosk_id, intake_key, args.paths,
                                   out=sys.stdout)


def _queue_export(config: Config, args: argparse.Namespace) -> int:
    """``kiosk queue export`` (and ``--from``, the salvage): SIGTERM stops it as Ctrl-C
    does (``stop_on_sigterm``, as ``kiosk demo``), so the hidden file being written is
    removed on the way out (:func:`kiosk.upload.usb.export_records`), and one line says
    what was done: 143 (SIGTERM) or 130 (Ctrl-C)."""
    from kiosk.core.exits import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, stop_on_sigterm
    from kiosk.runtime import open_journal
    from kiosk.upload import usb

    stop_on_sigterm()
    try:
        if args.from_journal is not None:
            return usb.salvage_command(args.from_journal, config.kiosk_id, args.to,
                                       out=sys.stdout, data_dir=config.data_dir,
                                       local=args.local)
        with open_journal(config, owner=False, create=False) as journal:
            return usb.export_command(journal, config.kiosk_id, args.to, again=args.again,
                                      out=sys.stdout, data_dir=config.data_dir,
                                      local=args.local)
    except KeyboardInterrupt as exc:  # Terminated too
        terminated = isinstance(exc, Terminated)
        done = ("each bundle named on the stick is whole" if args.from_journal is not None
                else "each record printed as exported is in a whole bundle on the stick")
        print(f"kiosk queue export: {'stopped by SIGTERM' if terminated else 'interrupted'}"
              f"{'' if terminated else ' (Ctrl-C)'}: {done}; the bundle being written was "
              "removed and its records stay on the kiosk, nothing was lost; run the export "
              "again", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


def cmd_metrics(config: Config, args: argparse.Namespace) -> int:
    """``kiosk metrics [--textfile DIR] [--hardware]``: 0, or 1 naming a directory it
    cannot write."""
    from kiosk.metrics import render, write_textfile
    from kiosk.status import collect_status

    status = collect_status(config, hardware=args.hardware)
    # A damaged journal is written too (kiosk_journal_readable 0, no counts): the last
    # file's numbers must not stay on the dashboard as if current. Exit 1 all the same.
    status_ok = EXIT_FAIL if _journal_failed(status, "kiosk metrics") else EXIT_OK
    if args.textfile is None:
        sys.stdout.write(render(status).decode())
        return status_ok
    if not args.textfile.is_dir():
        print(f"kiosk metrics: {args.textfile} is not a directory (node_exporter's "
              "--collector.textfile.directory)", file=sys.stderr)
        return EXIT_FAIL
    try:
        write_textfile(status, args.textfile)
    except OSError as exc:
        print(f"kiosk metrics: cannot write {args.textfile}: {exc.strerror or exc}",
              file=sys.stderr)
        return EXIT_FAIL
    return status_ok


def cmd_journal(config: Config, args: argparse.Namespace) -> int:
    """``kiosk journal check``: the deep check the start-up one leaves out (it skips the
    payload pages); read-only, safe while the kiosk runs. Run it from a timer, or when an
    upload reports a damaged payload."""
    from kiosk.journal import Journal
    from kiosk.runtime import require_data_directory

    require_data_directory(config)
    if args.journal_command == "export":
        return _journal_export(config, args)
    with Journal.open_readonly(config.data_dir / "journal.db") as journal:
        problems = journal.verify()
        counts = journal.counts()
    for problem in problems:
        print(f"kiosk journal check: {problem}", file=sys.stderr)
    if problems:
        return EXIT_FAIL
    print(f"journal ok: {sum(counts.values())} records, every page and payload read")
    return EXIT_OK


def _journal_export(config: Config, args: argparse.Namespace) -> int:
    """``kiosk journal export --out FILE.db``: 0 with the rows written, 1 when there is no
    journal or FILE.db exists (never overwritten)."""
    from kiosk.journal import Journal

    out: Path = args.out
    if out.exists():
        print(f"kiosk journal export: {out} exists; choose another name (it is never "
              "overwritten)", file=sys.stderr)
        return EXIT_FAIL
    if not out.parent.is_dir():
        print(f"kiosk journal export: no directory {out.parent}", file=sys.stderr)
        return EXIT_FAIL
    with Journal.open_readonly(config.data_dir / "journal.db") as journal:
        counts = journal.export_metadata(out, kiosk_id=config.kiosk_id)
    print(f"wrote {out}: {counts['records']} records, {counts['steps']} steps, "
          f"{counts['audit']} audit events (no payloads, no personal data). Open it with "
          f"`sqlite-utils tables {out} --counts` or the sqlite3 shell.")
    return EXIT_OK
