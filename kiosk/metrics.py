"""``kiosk metrics``: the kiosk's state for a fleet monitor, in Prometheus' text format.

A district watches tens of kiosks on links that come and go; node_exporter's textfile
collector on each kiosk picks up ``DIR/kiosk.prom``, written here atomically (a temporary
file renamed over the old one: the collector never reads half a file) by
``kiosk-metrics.timer`` every minute. Every number comes from the same document as
``kiosk status --json`` (:func:`kiosk.status.collect_status`), so the two never disagree.

The metrics carry no personal data: counts, ages, bytes, percentages and device names.
Device health needs ``--hardware``: it opens each device for its self-test, which the timer
must not do while the touchscreen holds the camera and the sensor. Whether the kiosk accepts
enrollments depends on them too, so without ``--hardware`` ``kiosk_accepting`` is only there
when something else refuses (0); ``kiosk_accepting_before_devices`` is always there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest, write_to_textfile

from kiosk import __version__
from kiosk.clock import FUTURE_TOLERANCE_S

TEXTFILE_NAME = "kiosk.prom"


def _timestamp(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def registry_from_status(status: dict[str, Any], *, now: float | None = None
                         ) -> CollectorRegistry:
    """The metrics of one ``kiosk status --json`` document."""
    now = datetime.now(UTC).timestamp() if now is None else now
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, value: float | None, **labels: str) -> None:
        if value is None:
            return  # unknown: absent, not a made-up 0
        metric = Gauge(name, doc, list(labels), registry=registry)
        (metric.labels(**labels) if labels else metric).set(float(value))

    gauge("kiosk_info", "This kiosk (always 1), and the version it runs.", 1,
          kiosk_id=status["kiosk_id"], version=__version__)
    accepting = status["accepting"]
    gauge("kiosk_accepting", "1 when the kiosk accepts enrollments (as kiosk status says); "
          "absent when unknown: without --hardware, unless something else already refuses.",
          None if accepting is None else int(accepting))
    gauge("kiosk_accepting_before_devices", "1 when power, disk, journal and keys allow "
          "enrollments; the devices' self-tests are not counted (kiosk_accepting does).",
          int(bool(status["accepting_before_devices"])))
    records = Gauge("kiosk_records", "Records in the journal by state.", ["state"],
                    registry=registry)
    for state, count in status["records"].items():
        records.labels(state=state).set(count)
    upload = status["upload"]
    gauge("kiosk_upload_pending", "Records waiting for the intake (sealed or uploading).",
          upload["pending"])
    oldest = _timestamp(upload.get("oldest_pending_created_at"))
    ahead = None if oldest is None else oldest - now
    future = ahead is not None and ahead > FUTURE_TOLERANCE_S
    # Stamped in the future: its age is unknown (absent, never a 0 that silences the
    # alert); how far ahead is its own gauge, to alert on.
    gauge("kiosk_upload_oldest_pending_age_seconds",
          "Age of the oldest record not yet acknowledged (by the kiosk's clock); absent "
          "when it is stamped in the future (kiosk_upload_oldest_pending_ahead_seconds).",
          None if oldest is None or future else max(0.0, now - oldest))
    gauge("kiosk_upload_oldest_pending_ahead_seconds",
          "How far ahead of the kiosk's clock the oldest record not yet acknowledged is "
          "stamped (its age unknown: the clock was ahead then, or is behind now); absent "
          "when it is not.", ahead if future else None)
    gauge("kiosk_upload_last_acknowledged_timestamp_seconds",
          "When the intake last acknowledged a record (Unix time).",
          _timestamp(upload.get("last_acknowledged_at")))
    flight = upload.get("in_flight") or {}
    gauge("kiosk_upload_in_flight_sent_bytes", "Bytes of the record in flight sent so far.",
          flight.get("bytes_sent"))
    gauge("kiosk_upload_in_flight_kept_bytes",
          "Bytes of the record in flight the intake holds.", flight.get("bytes_kept"))
    gauge("kiosk_upload_in_flight_total_bytes", "Size of the record in flight.",
          flight.get("bytes_total"))
    gauge("kiosk_upload_rate_bytes_per_second", "Upload rate over the last minute.",
          flight.get("rate_bps"))
    power = status["power"]
    gauge("kiosk_power_on_battery", "1 on battery, 0 on mains.",
          None if power["source"] not in ("mains", "battery") else
          int(power["source"] == "battery"))
    gauge("kiosk_power_battery_percent", "UPS battery charge.", power["battery_percent"])
    gauge("kiosk_power_runtime_seconds", "UPS runtime left.", power["runtime_s"])
    gauge("kiosk_power_low_battery", "1 when the UPS reports a low battery.",
          None if power["low_battery"] is None else int(bool(power["low_battery"])))
    gauge("kiosk_power_readable", "0 when the UPS could not be read (upsd down, a cable "
          "out): the other kiosk_power_* values are then absent, not made up.",
          int(not power.get("error")))
    gauge("kiosk_clock_trusted", "1 when the clock is synchronised.",
          int(bool(status["clock"]["trusted"])))
    disk = status["disk"]
    gauge("kiosk_disk_free_bytes", "Free bytes on the data directory's file system.",
          disk["free_bytes"])
    gauge("kiosk_disk_reserve_bytes", "Bytes kept free: enrollment stops below this.",
          disk["reserve_bytes"])
    gauge("kiosk_journal_quarantined", "Quarantined journal files (a damaged journal).",
          len(status["journal"]["quarantined"]))
    gauge("kiosk_journal_readable", "0 when the journal cannot be read (damaged): the "
          "record and upload counts are then absent, not zeros.",
          int(not status["journal"].get("error")))
    if status["hardware"]:
        devices = Gauge("kiosk_device_ok", "1 when the device passed its self-test.",
                        ["device"], registry=registry)
        for name, result in status["hardware"].items():
            devices.labels(device=name).set(int(bool(result["ok"])))
    return registry


def render(status: dict[str, Any], *, now: float | None = None) -> bytes:
    """The text exposition of :func:`registry_from_status`."""
    return generate_latest(registry_from_status(status, now=now))


def write_textfile(status: dict[str, Any], directory: Path) -> Path:
    """``directory/kiosk.prom``, replaced atomically; the path written."""
    path = directory / TEXTFILE_NAME
    write_to_textfile(str(path), registry_from_status(status))
    return path
