"""``kiosk-intake``: the reference central receiver (the other end of the protocol).

Provisioning, in three commands (see README):

1. ``kiosk-intake keys init --data DIR``: the central office's key pairs:
   ``DIR/keys/central.key`` (decrypts records; stays here) with ``DIR/keys/central.pub``
   (goes to every kiosk), and ``DIR/keys/intake.key`` (signs receipts; stays here) with
   ``DIR/keys/intake.pub`` (goes to every kiosk, ``[upload] intake_key``);
2. on the kiosk, ``kiosk keys show`` prints its device public key;
3. ``kiosk-intake register --data DIR --kiosk ID --key HEX``: trust that kiosk's signatures
   (for that kiosk id only; ``kiosk-intake revoke --data DIR --kiosk ID`` withdraws it).
   Another key for a kiosk registered already is refused without ``--replace`` (a mistyped
   ``--kiosk`` would cut a working kiosk off), and a revoked kiosk is trusted again only with
   ``--unrevoke`` (its key) or ``--replace`` (a new key); the registration replaced stays in
   the file's ``history``.

Then ``kiosk-intake serve --data DIR`` receives uploads (``docs/upload.md``) and
``kiosk-intake stats --data DIR`` counts them. With ``--db postgresql://...`` (both
commands) the metadata live in PostgreSQL and several ``serve`` processes share ``DIR``.
``kiosk-intake import --data DIR PATH...`` takes in the sealed records a kiosk without a
link carried here on a USB stick (bundles made by ``kiosk queue export``; a PATH is a bundle
or a directory of them): each packet is checked and stored exactly as an upload is, and a
receipts file goes back on the stick beside each bundle (or into ``--out``) for ``kiosk
queue import`` (:mod:`intake.imports`, ``docs/usb.md``). Without ``--db`` it needs ``DIR`` to
itself (stop ``serve`` first); with ``--db`` it runs beside the servers.
``keys init`` never replaces a key: run again, it only adds what is missing (an intake key
pair for a directory made before receipts existed), and refuses when everything is already
there.

Exit status (:mod:`kiosk.core.exits`): 0 done; 1 failed (the reason on stderr; ``import``:
a record was refused or a bundle could not be read); 2 a usage mistake (an option that
cannot be used; ``import``: a PATH that is not there, or no bundle in any); 130 interrupted
(Ctrl-C; ``import``: what was stored stays stored, import again to finish).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from kiosk.core.exits import (
    EXIT_CONFIG,
    EXIT_FAIL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    exit_reader_gone,
)
from kiosk.core.ids import KIOSK_ID_RULE, PUBLIC_KEY_HEX, is_kiosk_id
from kiosk.errors import SealingError
from kiosk.fsutil import make_dirs, write_atomic
from kiosk.receipts import ensure_intake_keypair
from kiosk.sealing import generate_central_keypair
from kiosk.sealing_keys import restore_central_public_key

_KEYS_INCOMPLETE = ("the intake's keys are NOT all made (none was replaced): free space or "
                    "remount read-write, then run keys init again to add what is missing")


def _keys_init(args: argparse.Namespace) -> int:
    from intake.tls import CERT_FILE, KEY_FILE, ensure_tls_pair, fingerprint

    keys = Path(args.data) / "keys"
    central_existed = (keys / "central.key").exists()
    central_complete = central_existed and (keys / "central.pub").exists()
    intake_existed = (keys / "intake.key").exists()
    tls_existed = (keys / CERT_FILE).exists() and (keys / KEY_FILE).exists()
    if central_complete and intake_existed and tls_existed:
        print(f"kiosk-intake: refusing to overwrite the keys in {keys}: records sealed to "
              "central.key, receipts signed by intake.key and kiosks pinning tls.crt "
              "depend on them; move them away first if you really mean it", file=sys.stderr)
        return EXIT_FAIL
    try:
        if not central_existed:
            private, public = generate_central_keypair(keys)
            print(f"central private key: {private} (keep it here, mode 0600)")
            print(f"central public key:  {public} (copy to each kiosk, sealing.central_key)")
        elif not (keys / "central.pub").exists():  # a keys init cut short (a full disk)
            public = restore_central_public_key(keys / "central.key")
            print(f"central key pair:    {keys / 'central.key'} (kept as it is; its public "
                  f"key {public} made again)")
        else:
            print(f"central key pair:    {keys / 'central.key'} (kept as it is)")
        intake_key, _created = ensure_intake_keypair(keys)
    except SealingError as exc:  # an intake key it could not write says so, with its path
        then = f"; {_KEYS_INCOMPLETE}" if isinstance(exc.__cause__, OSError) else ""
        print(f"kiosk-intake: {exc}{then}", file=sys.stderr)
        return EXIT_FAIL
    except OSError as exc:  # a full or read-only disk
        print(f"kiosk-intake: cannot write {_where(exc, keys)}; {_KEYS_INCOMPLETE}",
              file=sys.stderr)
        return EXIT_FAIL
    print(f"intake private key:  {keys / 'intake.key'} (signs receipts; keep it here, "
          "mode 0600)")
    print(f"intake public key:   {keys / 'intake.pub'} (copy to each kiosk, "
          f"upload.intake_key; key id {intake_key.key_id})")
    try:
        cert, _made = ensure_tls_pair(keys, args.tls_name or None)
    except OSError as exc:  # a full or read-only disk
        print(f"kiosk-intake: cannot make the TLS certificate: cannot write "
              f"{_where(exc, keys)}; {_KEYS_INCOMPLETE}", file=sys.stderr)
        return EXIT_FAIL
    except ValueError as exc:
        print(f"kiosk-intake: cannot make the TLS certificate: {exc}", file=sys.stderr)
        return EXIT_FAIL
    print(f"TLS certificate:     {cert} (serve --cert {cert} --key {keys / KEY_FILE}); "
          f"each kiosk pins upload.tls_fingerprint = \"{fingerprint(cert.read_bytes())}\"")
    return EXIT_OK


def _register(args: argparse.Namespace) -> int:
    if not is_kiosk_id(args.kiosk):
        print(f"kiosk-intake: kiosk id {args.kiosk!r} is not valid ({KIOSK_ID_RULE})",
              file=sys.stderr)
        return EXIT_CONFIG
    key = args.key.strip().lower()
    if not PUBLIC_KEY_HEX.fullmatch(key):
        print("kiosk-intake: --key must be the 64 hex digits `kiosk keys show` prints",
              file=sys.stderr)
        return EXIT_CONFIG
    refused = _not_an_intake(args.data, "register")
    if refused is not None:
        return refused
    return _write_registration(args, key)


def _not_an_intake(data: str, command: str) -> int | None:
    """The exit status after saying why ``data`` (``--data``) is not an intake's data
    directory (no ``keys/central.key``), or None when it is one.

    A mistyped --data: a registration there reaches no intake, a revocation finds nothing
    to revoke, stats count zeros that read as "nothing received", and ``serve`` would
    suggest making a new central key there. ``stats`` reads no key: a ``keys/`` it may not
    read (the intake user's, 0700) is an intake's; the others write and need that user."""
    keys = Path(data) / "keys"
    try:
        initialised = (keys / "central.key").is_file()
    except PermissionError:  # keys/ is the intake user's (0700): run as that user
        if command == "stats":
            return None
        print(f"kiosk-intake: cannot read {keys}: run `kiosk-intake {command}` as the user "
              "`kiosk-intake serve` runs as (or with sudo)", file=sys.stderr)
        return EXIT_FAIL
    if not initialised:
        print(f"kiosk-intake: {data} is not an intake's data directory ({keys / 'central.key'}"
              " is missing); give --data the directory `kiosk-intake serve` uses",
              file=sys.stderr)
        return EXIT_CONFIG
    return None


HISTORY_KEPT = 10  # earlier registrations kept in a registration file (it stays < 4 KiB)


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_registration(args: argparse.Namespace, key: str) -> int:
    """Register ``key`` for ``args.kiosk``: new, the same again (nothing to do), or, only
    when asked, a revoked kiosk trusted again (``--unrevoke``) or another key in place of the
    registered one (``--replace``). The registration replaced goes into the file's
    ``history`` (the record of who was trusted when)."""
    from intake.devices import Device, load_registration
    from kiosk.sealing import key_id

    kiosk = args.kiosk
    path = Path(args.data) / "devices" / f"{kiosk}.json"
    new_id = key_id(bytes.fromhex(key))
    device: Device | None = None
    broken = None
    if path.exists():
        try:
            device = load_registration(path)
        except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
            broken = str(exc)[:200]
    entry: dict[str, object] = {"kiosk_id": kiosk, "public_key": key, "registered_at": _now()}
    if broken is not None:  # there, but not loadable: refused by serve
        if not args.replace:
            print(f"kiosk-intake: the registration of kiosk {kiosk} ({path}) does not load "
                  f"({broken}); it stays as it is: give --replace to write a new one",
                  file=sys.stderr)
            return EXIT_FAIL
        done, failed = (f"registered kiosk {kiosk} (its registration file was replaced)",
                        f"kiosk {kiosk} is NOT registered")
    elif device is None:
        done, failed = f"registered kiosk {kiosk}", f"kiosk {kiosk} is NOT registered"
    else:
        old = _registration_entry(path)
        same = device.public_key.hex() == key
        if device.revoked and same and not args.unrevoke:
            print(f"kiosk-intake: kiosk {kiosk} was revoked ({device.revoked_at}) and stays "
                  "revoked: give --unrevoke to trust this key again (a stolen kiosk holds "
                  "it), or --replace with the new key of a re-installed kiosk",
                  file=sys.stderr)
            return EXIT_FAIL
        if not same and not args.replace:
            said = (f"was revoked ({device.revoked_at}) under key {device.key_id}"
                    if device.revoked else f"is already registered with another key "
                    f"({device.key_id})")
            print(f"kiosk-intake: kiosk {kiosk} {said}; this is key {new_id}: nothing "
                  "changed: check --kiosk, or give --replace if the kiosk was re-installed "
                  "with a new device key", file=sys.stderr)
            return EXIT_FAIL
        if same and not device.revoked:
            print(f"kiosk {kiosk} is already registered with this key ({new_id})")
            return EXIT_OK
        if same:
            done = f"trusted kiosk {kiosk} again (revoked {device.revoked_at}; key {new_id})"
            failed = f"kiosk {kiosk} stays revoked"
        else:
            done = (f"replaced the key of kiosk {kiosk}: {device.key_id}"
                    f"{' (revoked)' if device.revoked else ''} -> {new_id}")
            failed = f"kiosk {kiosk} keeps its key {device.key_id}" + (
                " and stays revoked" if device.revoked else "")
        earlier = old.pop("history", [])
        history = [*(earlier if isinstance(earlier, list) else []),
                   {**{k: v for k, v in old.items() if k != "kiosk_id"}, "until": _now()}]
        entry["history"] = history[-HISTORY_KEPT:]
    # Durable before we say so: a registration lost to a power cut would refuse every
    # packet of that kiosk until someone noticed.
    try:
        make_dirs(path.parent)
        write_atomic(path, (json.dumps(entry) + "\n").encode(), 0o644, overwrite=True)
    except OSError as exc:  # a full or read-only disk
        print(f"kiosk-intake: cannot write {_where(exc, path)}; {failed}", file=sys.stderr)
        return EXIT_FAIL
    print(done)
    return EXIT_OK


def _where(exc: OSError, path: Path) -> str:
    """``PATH: why`` for an OSError met writing ``path`` (ENOSPC from a write names no
    file; EROFS names the directory or the temporary file it could not make)."""
    return f"{exc.filename or path}: {exc.strerror or exc}"


def _registration_entry(path: Path) -> dict[str, object]:
    """A registration file's JSON object (one :func:`intake.devices.registration` loaded)."""
    entry = json.loads(path.read_bytes())
    return entry if isinstance(entry, dict) else {}


def _revoke(args: argparse.Namespace) -> int:
    from intake.devices import registration

    refused = _not_an_intake(args.data, "revoke")
    if refused is not None:
        return refused
    path = Path(args.data) / "devices" / f"{args.kiosk}.json"
    device = registration(Path(args.data), args.kiosk) if is_kiosk_id(args.kiosk) else None
    if device is None:
        print(f"kiosk-intake: no registration for kiosk {args.kiosk!r} in {path.parent}",
              file=sys.stderr)
        return EXIT_FAIL
    if device.revoked:
        print(f"kiosk {args.kiosk} was already revoked ({device.revoked_at})")
        return EXIT_OK
    # what the registration recorded (when, the earlier ones) stays
    entry = {**_registration_entry(path), "kiosk_id": args.kiosk,
             "public_key": device.public_key.hex(), "revoked": True, "revoked_at": _now()}
    try:
        write_atomic(path, (json.dumps(entry) + "\n").encode(), 0o644, overwrite=True)
    except OSError as exc:  # a full or read-only disk
        print(f"kiosk-intake: cannot write {_where(exc, path)}; kiosk {args.kiosk} is NOT "
              "revoked: it is still trusted", file=sys.stderr)
        return EXIT_FAIL
    print(f"revoked kiosk {args.kiosk}: its uploads are refused from the next request")
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from intake.server import serve
    from kiosk.logs import setup_logging

    token = None
    if args.token_file:
        try:
            token = Path(args.token_file).read_text().strip()
        except OSError as exc:
            print(f"kiosk-intake: cannot read --token-file {args.token_file}: {exc.strerror}",
                  file=sys.stderr)
            return EXIT_CONFIG
        if not token or any(c.isspace() for c in token):
            print(f"kiosk-intake: --token-file {args.token_file} must hold one token "
                  "(no spaces)", file=sys.stderr)
            return EXIT_CONFIG
    if not 0 < args.max_packet_mib <= 256:
        print("kiosk-intake: --max-packet-mib must be more than 0 and at most 256",
              file=sys.stderr)
        return EXIT_CONFIG
    if not 1 <= args.max_unfinished <= 10_000:
        print("kiosk-intake: --max-unfinished must be 1-10000", file=sys.stderr)
        return EXIT_CONFIG
    if args.workers is not None and not 1 <= args.workers <= 256:
        print("kiosk-intake: --workers must be 1-256", file=sys.stderr)
        return EXIT_CONFIG
    tls = None
    if bool(args.cert) != bool(args.key):
        print("kiosk-intake: --cert and --key go together", file=sys.stderr)
        return EXIT_CONFIG
    if args.cert:
        import ssl

        from intake.tls import server_context

        try:
            tls = server_context(Path(args.cert), Path(args.key))
        except (OSError, ssl.SSLError) as exc:
            print(f"kiosk-intake: cannot use --cert {args.cert} --key {args.key}: {exc}",
                  file=sys.stderr)
            return EXIT_CONFIG
    db = _db_url(args)
    if db is False:
        return EXIT_CONFIG
    refused = _not_an_intake(args.data, "serve")  # before its lock file is made there
    if refused is not None:
        return refused
    setup_logging(args.log_level)
    return serve(Path(args.data), args.host, args.port, token,
                 int(args.max_packet_mib * 1024 * 1024), tls, args.max_unfinished,
                 args.workers, db or None)


def _db_url(args: argparse.Namespace) -> str | bool | None:
    """``--db``: None (SQLite in DIR), a PostgreSQL URL, or False after saying why not."""
    if args.db is None:
        return None
    from intake.pg import is_postgres_url

    if not is_postgres_url(args.db):
        print("kiosk-intake: --db takes a postgresql:// URL (without it the metadata stay "
              "in SQLite in DIR)", file=sys.stderr)
        return False
    return str(args.db)


def _stats(args: argparse.Namespace) -> int:
    import sqlite3

    from intake.metadata import read_stats

    db = _db_url(args)
    if db is False:
        return EXIT_CONFIG
    if isinstance(db, str):
        import psycopg

        from intake import pg

        try:
            stats = pg.read_stats(db)
        except psycopg.Error as exc:
            print(f"kiosk-intake: cannot read {pg.shown(db)}: {str(exc).strip()}",
                  file=sys.stderr)
            return EXIT_FAIL
    else:
        if not Path(args.data).is_dir():  # a typo, not "nothing received": no counts
            print(f"kiosk-intake stats: {args.data} is not a directory: give --data the "
                  "directory `kiosk-intake serve` uses", file=sys.stderr)
            return EXIT_CONFIG
        refused = _not_an_intake(args.data, "stats")  # a parent directory, a typo: no zeros
        if refused is not None:
            return refused
        try:
            stats = read_stats(Path(args.data))
        except sqlite3.Error as exc:
            print(f"kiosk-intake: cannot read {Path(args.data) / 'intake.db'}: {exc}",
                  file=sys.stderr)
            return EXIT_FAIL
    if args.json:
        print(json.dumps(stats, sort_keys=True))
        return EXIT_OK
    print(f"received    {stats['received']}")
    print(f"duplicates  {stats['duplicates']}")
    print(f"rejected    {stats['rejected']}")
    if stats["kiosks"]:
        width = max(len("kiosk"), *(len(k) for k in stats["kiosks"]))
        print(f"\n{'kiosk':<{width}}  received")
        for kiosk, count in stats["kiosks"].items():
            print(f"{kiosk:<{width}}  {count}")
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    from intake.backend import DataDirBusy
    from intake.imports import run
    from intake.refusals import safe_text
    from kiosk.bundle import BUNDLE_SUFFIX, find_files
    from kiosk.errors import KeyFileMissing
    from kiosk.logs import setup_logging

    def fail(text: str) -> None:
        print(f"kiosk-intake import: {text}", file=sys.stderr)

    db = _db_url(args)
    if db is False:
        return EXIT_CONFIG
    data = Path(args.data)
    out = Path(args.out) if args.out else None
    if out is not None and not out.is_dir():
        fail(f"--out {out} is not a directory")
        return EXIT_CONFIG
    try:
        bundles = find_files([Path(p) for p in args.paths], BUNDLE_SUFFIX)
    except FileNotFoundError as exc:
        fail(str(exc))
        return EXIT_CONFIG
    if not bundles:
        fail(f"no bundle (*{BUNDLE_SUFFIX}) in {' '.join(args.paths)}; give the bundles "
             "`kiosk queue export` wrote, or the directory that holds them")
        return EXIT_CONFIG
    if not data.is_dir():
        fail(f"{data} is not a directory; give --data the directory `kiosk-intake serve` "
             f"uses (made by `kiosk-intake keys init --data {data}`)")
        return EXIT_CONFIG
    setup_logging("ERROR")  # every record's outcome is on stdout; a refusal is not an error
    try:
        ok = run(data, bundles, out, db or None, warn=fail)
    except DataDirBusy as exc:
        if exc.shared:
            fail(f"a kiosk-intake serve without --db is running on {data}; stop it for the "
                 "import and import without --db")
        else:
            fail(f"kiosk-intake serve (or another import) is running on {data}; stop it for "
                 "the import, or serve and import with --db so both can share it")
        return EXIT_FAIL
    except KeyFileMissing as exc:
        # never "run keys init" here: in a mistyped --data it would make a new central key
        fail(f"{data} is not an intake's data directory ({exc.problem}); "
             "give --data the directory `kiosk-intake serve` uses")
        return EXIT_CONFIG
    except OSError as exc:  # a full or failing disk under DIR
        fail(f"{exc.strerror or safe_text(exc, 300)} ({safe_text(exc.filename or data, 200)});"
             " what was stored stays stored: import again to finish")
        return EXIT_FAIL
    except Exception as exc:  # SealingError, sqlite3's and psycopg's errors
        fail(f"{safe_text(exc, 500)}; what was stored stays stored: import again to finish")
        return EXIT_FAIL
    return EXIT_OK if ok else EXIT_FAIL


def _port(text: str) -> int:
    """``--port``: a TCP port number, 0 (any free one) to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a port number from 0 to 65535")
    return port


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kiosk-intake", description="central intake")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    keys = sub.add_parser("keys", help="the central office's key pairs")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    init = keys_sub.add_parser(
        "init", help="create the central and intake key pairs in DIR/keys (adds missing ones)")
    init.add_argument("--data", required=True, metavar="DIR")
    init.add_argument("--tls-name", action="append", metavar="NAME",
                      help="a DNS name or IP address kiosks use for the intake (repeat); "
                           "default this machine's name, localhost and loopback")
    reg = sub.add_parser(
        "register", help="trust a kiosk's device key",
        description="Trust a kiosk's device key (`kiosk keys show` on the kiosk) for that "
                    "kiosk id. The same key again: nothing to do. Another key for a kiosk "
                    "registered already, or a revoked kiosk, is refused (exit 1) unless "
                    "--replace or --unrevoke says so.")
    reg.add_argument("--data", required=True, metavar="DIR")
    reg.add_argument("--kiosk", required=True, metavar="ID")
    reg.add_argument("--key", required=True, metavar="HEX")
    reg.add_argument("--replace", action="store_true",
                     help="the kiosk was re-installed: put this new key in place of the "
                          "registered one (a revoked kiosk is trusted again with it)")
    reg.add_argument("--unrevoke", action="store_true",
                     help="trust a revoked kiosk's key again (only if it is in safe hands: "
                          "a stolen kiosk holds that key)")
    rev = sub.add_parser("revoke", help="stop trusting a kiosk (a stolen or retired one)")
    rev.add_argument("--data", required=True, metavar="DIR")
    rev.add_argument("--kiosk", required=True, metavar="ID")
    srv = sub.add_parser("serve", help="receive uploads (docs/upload.md) until SIGTERM")
    srv.add_argument("--data", required=True, metavar="DIR")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=_port, default=8700,
                     help="a TCP port, 0-65535 (default %(default)s; 0 picks a free one)")
    srv.add_argument("--token-file", metavar="PATH",
                     help="require 'Authorization: Bearer <token in PATH>' on every request")
    srv.add_argument("--cert", metavar="PEM", help="serve HTTPS with this certificate "
                     "(DIR/keys/tls.crt from keys init, or one from your CA)")
    srv.add_argument("--key", metavar="PEM", help="the certificate's private key")
    srv.add_argument("--max-packet-mib", type=float, default=16.0, metavar="MIB",
                     help="largest packet accepted (default 16; a record is about 0.6)")
    srv.add_argument("--max-unfinished", type=int, default=32, metavar="N",
                     help="unfinished uploads a registered kiosk may hold at once (default "
                          "32; a kiosk sends one at a time; with --db, counted across every "
                          "process); beyond, 429 too_many_uploads")
    srv.add_argument("--workers", type=int, default=None, metavar="N",
                     help="completed uploads this process works on at once (default: the "
                          "CPUs it may use); beyond, a wait of 10 s, then 503 busy")
    db_help = ("keep the metadata (uploads, offsets, records, refusals, counters) in this "
               "PostgreSQL database, e.g. postgresql://intake@db.example/intake (password "
               "in ~/.pgpass, not here); several serve processes may then share DIR. "
               "Default: SQLite in DIR, one process")
    srv.add_argument("--db", metavar="URL", help=db_help)
    srv.add_argument("--log-level", default="INFO",
                     choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    st = sub.add_parser("stats", help="counts of received, duplicate and rejected packets")
    st.add_argument("--data", required=True, metavar="DIR")
    st.add_argument("--db", metavar="URL", help="the PostgreSQL database serve --db uses")
    st.add_argument("--json", action="store_true", help="one JSON object")
    imp = sub.add_parser(
        "import", help="take in sealed records carried by USB stick (kiosk queue export)",
        description="Take in the sealed records of USB bundles (*.ektp, made by `kiosk queue "
                    "export` on a kiosk without a link) exactly as uploads: the same checks, "
                    "the same receipts. Each bundle's receipts file (*.receipts) is written "
                    "beside it, for `kiosk queue import` on the kiosk. Exit status 0 when "
                    "every record has its receipt, 1 when one was refused or a bundle could "
                    "not be read, 2 for a usage mistake.")
    imp.add_argument("--data", required=True, metavar="DIR",
                     help="the intake's data directory (the one serve uses); without --db "
                          "no serve may run on it meanwhile")
    imp.add_argument("--db", metavar="URL",
                     help="the PostgreSQL database serve --db uses (the import then runs "
                          "beside the servers)")
    imp.add_argument("--out", metavar="DIR2",
                     help="write the receipts files here (default: beside each bundle, on "
                          "the stick)")
    imp.add_argument("paths", nargs="+", metavar="PATH",
                     help="a bundle (.ektp), or a directory whose *.ektp files are imported")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:  # any command, as `kiosk`'s: one line, no traceback
        print(f"kiosk-intake {args.command}: interrupted (Ctrl-C){_STOPPED[args.command]}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `... | head -1`: no traceback
        return exit_reader_gone()


# What an interrupted command leaves (each file it writes is whole or absent, never half).
_STOPPED: collections.defaultdict[str, str] = collections.defaultdict(str, {
    "import": "; what was stored stays stored: import again to finish",
    "keys": "; run keys init again to add what is missing",
})


def _run(args: argparse.Namespace) -> int:
    if args.command == "keys":
        return _keys_init(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "stats":
        return _stats(args)
    if args.command == "import":
        return _import(args)
    if args.command == "revoke":
        return _revoke(args)
    return _register(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
