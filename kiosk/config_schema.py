"""What every configuration key is: its type, default, what is allowed and what it is for.

:data:`SCHEMA` maps each section to its :class:`~kiosk.options.Option` declarations. Keys
that belong to a device are declared beside it and taken from there: a hardware backend's
own options (the sensor's port, upsd's address) on its class, the ``[power]`` section in
:mod:`kiosk.power.options`, the ``[fingerprints]`` thresholds in
:mod:`kiosk.enrollment.fingerprint_options`. :mod:`kiosk.config` loads and checks files
against this; ``docs/config.md`` is generated from it (``python -m kiosk.config_doc``).
"""

from __future__ import annotations

import re
from typing import Any

from kiosk.core.ids import KIOSK_ID_RULE, is_kiosk_id
from kiosk.core.vocabulary import LANGUAGES
from kiosk.enrollment.fingerprint_options import OPTIONS as FINGERPRINTS
from kiosk.enrollment.session_options import SESSION_TIMEOUT_S
from kiosk.hardware.fingerprint.zfm import ZfmFingerprint
from kiosk.options import Boolean, Integer, List, Number, Option, String, strings
from kiosk.power.options import OPTIONS as POWER

_REGENCY = re.compile(r"[0-9]{2}\.[0-9]{2}")


_UNITS = ("kiosk-ui.service", "kiosk-upload.service", "kiosk-power.service")


def _has_host(url: str) -> bool:
    """``url`` parses and names a host ("http://[" does not: urlsplit raises ValueError)."""
    from urllib.parse import urlsplit

    try:
        return bool(urlsplit(url).hostname)
    except ValueError:
        return False


def _intake_url(url: str) -> bool:
    """An http(s) URL naming a host, without ``user:password@``: credentials there would be
    shown by ``config show``, ``status`` and the logs (the intake takes ``upload.token``)."""
    from urllib.parse import urlsplit

    if not url.startswith(("http://", "https://")) or not _has_host(url):
        return False
    return "@" not in urlsplit(url).netloc


def _backend(kind: str, default: str, table: str = "kiosk/hardware/registry.py") -> Option:
    """A device section's ``type``: checked against its backend table (``table``), not here."""
    return String(default, description=f"the {kind} backend (names: {table})")


def _panel_mm(value: list[Any]) -> bool:
    return len(value) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                   and 40 <= x <= 1000 for x in value)


def _commands(value: list[Any]) -> bool:
    return bool(value) and all(isinstance(c, list) and strings(c) for c in value)


# section -> key -> Option. Device "type" keys are checked against the backend tables, not here;
# the keys a backend shares with its section (the sensor's port, upsd's address) are that
# backend's declarations.
SCHEMA: dict[str, dict[str, Option]] = {
    "kiosk": {
        "id": String("poso-01", test=is_kiosk_id, allowed=KIOSK_ID_RULE,
                     description="the kiosk's id: in every record id, and what the intake "
                                 "registers it under"),
        "data_dir": String("/var/lib/kiosk", description="the journal, keys and state files"),
        "default_language": String(LANGUAGES[0], choices=LANGUAGES,
                                   description="the language the welcome screen starts in"),
        "regency": String("72.02", test=lambda v: bool(_REGENCY.fullmatch(v)),
                          allowed="a Kemendagri regency code like \"72.02\"",
                          description="the kiosk's regency as a Kemendagri code (72.02 = "
                                      "Kabupaten Poso): its villages are kept in memory; the "
                                      "touchscreen's kecamatan and kelurahan/desa pickers "
                                      "offer the family card's regency (the No. KK's code), "
                                      "this one until the KK is typed or when the region "
                                      "data does not know the KK's"),
        "session_timeout_s": SESSION_TIMEOUT_S,
        "resume_assisted": Boolean(True, description=(
            "after a power cut: keep unfinished staff-assisted sessions to resume (true) or "
            "discard them like self-service ones (false)")),
        "disk_reserve_bytes": Integer(256 * 1024 * 1024, 0, 2**40, description=(
            "below this much free space the kiosk stops accepting new enrollments")),
        "log_level": String("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                            description="logging level ($KIOSK_LOG_LEVEL wins)"),
    },
    "hardware.fingerprint": {
        "type": _backend("fingerprint", "sim"),
        "port": ZfmFingerprint.OPTIONS["port"],
        "baudrate": ZfmFingerprint.OPTIONS["baudrate"],
    },
    # Fingerprint quality: declared beside the check (kiosk/enrollment/fingerprint_options.py).
    "fingerprints": FINGERPRINTS,
    "hardware.camera": {"type": _backend("camera", "sim")},
    "hardware.card": {"type": _backend("card", "sim")},
    "hardware.gpio": {"type": _backend("gpio", "mock")},
    "power": {
        "type": _backend("power", "sim", "kiosk/power/registry.py"),
        **POWER,
    },
    "upload": {
        "url": String("http://127.0.0.1:8700/",
                      test=_intake_url,
                      allowed="an http:// or https:// URL, without user:password@ (a token "
                              "goes in upload.token)",
                      description="the intake's tus endpoint"),
        "token": String("", secret=True, description="a bearer token for the intake"),
        # TLS: the intake's certificate is verified against this CA file (PEM), or, when
        # tls_fingerprint is set, must be exactly that certificate (SHA-256 of its DER, hex,
        # colons allowed: `kiosk-intake keys init` prints it); neither: the system's CAs.
        "ca_file": String("", description=(
            "https: the CA file (PEM) the intake's certificate is verified against; "
            "\"\": the system's CAs")),
        "tls_fingerprint": String("", test=lambda v: v == "" or bool(
            re.fullmatch(r"[0-9a-fA-F]{64}", v.replace(":", ""))),
            allowed="the SHA-256 of the intake's certificate: 64 hex digits (colons allowed)",
            description="https: the intake's pinned certificate (`kiosk-intake keys init` "
                        "prints it)"),
        # Plain http:// to anything but this machine sends the records' metadata in clear;
        # refused unless this is true.
        "allow_insecure": Boolean(False, description=(
            "allow plain http:// to another machine (metadata in clear)")),
        # The intake's receipt-signing public key (DIR/keys/intake.pub of `kiosk-intake keys
        # init`). "" = not configured: `kiosk upload` refuses to run rather than acknowledge
        # a record on an unverified receipt.
        "intake_key": String("", description=(
            "the intake's receipt-signing public key (intake.pub); \"\": `kiosk upload` "
            "refuses to run")),
        # `kiosk upload` (the daemon): seconds between passes over the outbox; while the
        # link is down the pause doubles, up to max_backoff_s.
        "interval_s": Number(30, 0.1, 86400, description=(
            "`kiosk upload`: seconds between passes over the outbox")),
        "max_backoff_s": Number(600, 0.1, 86400, description=(
            "while the link is down the pause doubles, up to this")),
        # `kiosk upload --once`: passes over records still pending after the first.
        "retries": Integer(3, 0, 100, description=(
            "`kiosk upload --once`: passes over records still pending after the first")),
        # Per HTTP request (connect, and each wait for an answer).
        "timeout_s": Number(30, 1, 3600, description=(
            "per HTTP request (connect, and each wait for an answer)")),
        # Most bytes in one tus PATCH; 0 (the default): the rest of the record in one. The
        # intake keeps every byte that arrives, so a dropped link costs nothing to resend;
        # set a size only for a proxy in the way that limits request bodies.
        "chunk_size": Option(
            int, 0, "most bytes in one tus PATCH; 0: the rest of the record in one",
            "0 (the whole rest of the record) or a number from 1024 to 67108864",
            lambda v: v == 0 or 1024 <= v <= 64 * 1024 * 1024),
        # Days after the intake's receipt before a record's payload is deleted (the receipt
        # and manifest stay); counted only while the clock is synchronised. 0: at once.
        "retention_days": Number(30, 0, 3650, description=(
            "days after the intake's receipt before a record's payload is deleted")),
        # A record on a USB stick whose receipt has not come back (by the stick, or over the
        # link once the office imported it) after this many days: the stick may be lost, so
        # the uploader sends the record over the link too (the intake counts it once).
        "stick_resend_days": Number(7, 0, 3650, description=(
            "days a record on a USB stick waits for its receipt before the uploader sends "
            "it over the link too (0: never)")),
    },
    # The officer's USB button on the touchscreen (kiosk.upload.usb.sync_stick): the stick
    # is looked for here, where the installer's udev rule mounts it for the kiosk user
    # (scripts/pi/etc/udev/rules.d/90-kiosk-usb.rules).
    "usb": {
        "mount_point": String("/media/kiosk-usb", description=(
            "where a USB stick is mounted for the officer's stick button on the "
            "touchscreen")),
    },
    "sealing": {
        # "dev": a development key pair kept in <data_dir>/dev-central, allowed only with
        # simulated hardware. A real kiosk names the central office's public key file.
        "central_key": String("dev", description=(
            "the central office's public key file; \"dev\": a development pair in "
            "<data_dir>/dev-central, simulated hardware only")),
        "device_key": String("{data_dir}/device.key", description=(
            "the kiosk's signing key (made on first use)")),
    },
    "staff": {
        # The office's staff-card CA certificate(s), PEM: an officer's card must hold a PIV
        # Authentication certificate issued by one of them and prove it has the key
        # (kiosk/hardware/card/staff.py). "": none; then only the simulated card reader's
        # card logs in (against the development CA), and with a real reader no officer can.
        "ca": String("", test=lambda v: "\x00" not in v, allowed="a file path", description=(
            "the staff-card CA certificate(s) (PEM) officers' cards are checked against; "
            "\"\": none (with `[hardware.card] type = \"sim\"` the development CA; with a "
            "real reader no officer can log in)")),
        # The office's CRL(s) of those CAs (PEM, or one DER CRL): a card whose certificate
        # is on one is refused, however old the CRL. Set but unreadable, or holding a CRL no
        # trusted CA signed: no officer can log in (the kiosk must not forget revocations).
        "crl": String("", test=lambda v: "\x00" not in v, allowed="a file path", description=(
            "the staff-card CA's certificate revocation list(s) (PEM or DER): a revoked "
            "officer's card is refused; \"\": none (no card is refused as revoked). Set "
            "but unusable: no officer can log in")),
    },
    "doctor": {
        # `kiosk doctor`: seconds for each network question (the intake, upsd); the whole
        # run answers within a few of these, however dead the link.
        "timeout_s": Number(5, 0.5, 60, description=(
            "`kiosk doctor`: seconds for each network question (the intake, upsd)")),
        # An unsent record older than this is a failure (the link, the uploader, the
        # intake): a day by default.
        "max_unsent_age_s": Number(86400, 60, 90 * 86400, description=(
            "an unsent record older than this is a failure")),
    },
    "ui": {
        "fullscreen": Boolean(False, description="the kiosk window fills the screen"),
        "width": Integer(1280, 320, 7680, description="window width in pixels"),
        "height": Integer(800, 240, 4320, description="window height in pixels"),
        # The panel's visible area in millimetres, [width, height]: every size on screen is
        # set in mm of this panel (touch targets >= 10 mm, text >= 4.8 mm high). The default
        # is the official Raspberry Pi 7-inch display (800x480 on about 155 x 86 mm).
        "panel_mm": List([155.0, 86.0], _panel_mm,
                         allowed="[width, height] in millimetres, each from 40 to 1000",
                         description="the panel's visible size: every size on screen is set "
                                     "in mm of it (the official Raspberry Pi 7-inch display)"),
        # Privacy between citizens: after idle_timeout_s without a touch a warning counts
        # down idle_warning_s (>= 20 s, WCAG 2.2.1) for one tap to continue; then the
        # session is wiped and the kiosk returns to welcome.
        "idle_timeout_s": Number(60, 10, 3600, description=(
            "seconds without a touch before the idle warning")),
        "idle_warning_s": Number(30, 20, 600, description=(
            "the warning's countdown (>= 20 s, WCAG 2.2.1); then the session is wiped")),
        # The receipt screen goes back to welcome by itself after this long without a touch
        # (each touch gives it back, up to flow_privacy.RECEIPT_MAX_S in all).
        "receipt_s": Number(45, 10, 600, description=(
            "the receipt screen goes back to welcome after this long without a touch "
            "(each touch gives it back, up to 3 minutes in all)")),
        # Spoken prompts (espeak-ng): "auto" speaks when the machine has a sound card.
        "speech": Option((bool, str), "auto", "spoken prompts (espeak-ng); \"auto\": when "
                         "the machine has a sound card", "true, false or \"auto\"",
                         lambda v: isinstance(v, bool) or v == "auto"),
        # Camera preview frames per second asked of the preview loop.
        "preview_fps": Number(20, 1, 60, description="camera preview frames per second"),
        # Portrait and fingerprint tries before the screen asks the citizen to call an
        # officer (MOSIP: 3 retries per modality).
        "capture_tries": Integer(3, 1, 10, description=(
            "portrait and fingerprint tries before \"please call an officer\"")),
    },
    # `kiosk update` (kiosk/update/): releases under root (releases/<name>, the `current`
    # link the units' ExecStart goes through); what restarts the services and asks whether
    # they run; the health checks, each a `kiosk` command run from the new release.
    "update": {
        "root": String("/opt/kiosk", description=(
            "releases/<name> and the `current` link the units go through")),
        "restart_command": List(["systemctl", "restart", *_UNITS], strings,
                                allowed="a non-empty list of non-empty strings",
                                description="what restarts the services"),
        "status_command": List(["systemctl", "is-active", "--quiet", *_UNITS],
                               lambda v: strings(v, empty=True),
                               allowed="a list of non-empty strings ([] to skip)",
                               description="what asks whether they run"),
        "health_checks": List([["doctor"], ["hw", "selftest"]], _commands, allowed=(
            "a non-empty list of kiosk commands, each a list of strings, "
            "e.g. [[\"doctor\"], [\"hw\", \"selftest\"]]"),
            description="`kiosk` commands run from the new release"),
        "check_timeout_s": Number(300, 1, 3600, description="seconds for each health check"),
        # After the restart, before the checks: a service that dies right after saying
        # READY is caught by the status command.
        "settle_s": Number(5, 0, 600, description=(
            "after the restart, before the checks (a service that dies right after READY)")),
        # Wheelhouses (a USB stick) pip looks in; offline: never the package index.
        "find_links": List([], lambda v: strings(v, empty=True),
                           allowed="a list of directories",
                           description="wheelhouses (a USB stick) pip looks in"),
        "offline": Boolean(False, description="never the package index"),
    },
}

# Keys are allowed in a hardware section when the backend declares them (OPTIONS).
