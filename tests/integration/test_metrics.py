"""``kiosk metrics`` for a fleet monitor and ``kiosk queue show`` for a maintainer: what they
say matches ``kiosk status --json`` and the journal, and says nothing of a citizen (#12)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kiosk.core.vocabulary import STEPS
from tests.conftest import KIOSK, kiosk_env
from tests.upload_helpers import IntakeServer, Site, demo, make_site, upload


def kiosk(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KIOSK, *args], env=kiosk_env(site.config), capture_output=True,
                          text=True, timeout=120)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(name, labels) -> value of every sample, through prometheus_client's own parser."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture(scope="module")
def uploaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Site, list[str]]:
    """Five records: three acknowledged by the intake, two still waiting."""
    site = make_site(tmp_path_factory.mktemp("metrics"))
    first = demo(site, 3, seed=21)
    with IntakeServer(site.intake_dir) as intake:
        site.configure(intake.url)
        assert upload(site, "--once").returncode == 0
    later = demo(site, 2, seed=22)
    return site, first + later


def test_metrics_parse_and_match_status_json(uploaded: tuple[Site, list[str]],
                                             tmp_path: Path) -> None:
    site, _ids = uploaded
    status = json.loads(kiosk(site, "status", "--json").stdout)
    out = tmp_path / "textfile"
    out.mkdir()
    result = kiosk(site, "metrics", "--textfile", str(out), "--hardware")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(os.listdir(out)) == ["kiosk.prom"]  # no temporary file left beside it
    got = samples((out / "kiosk.prom").read_text())
    for state, count in status["records"].items():
        assert got[("kiosk_records", (("state", state),))] == count
    assert got[("kiosk_records", (("state", "acknowledged"),))] == 3
    assert got[("kiosk_upload_pending", ())] == status["upload"]["pending"] == 2
    assert got[("kiosk_accepting", ())] == int(status["accepting"])
    from kiosk import __version__

    assert got[("kiosk_info", (("kiosk_id", status["kiosk_id"]),
                               ("version", __version__)))] == 1  # a fleet's versions
    assert got[("kiosk_power_battery_percent", ())] == status["power"]["battery_percent"]
    assert got[("kiosk_disk_reserve_bytes", ())] == status["disk"]["reserve_bytes"]
    assert got[("kiosk_clock_trusted", ())] == int(status["clock"]["trusted"])
    for device, result_doc in status["hardware"].items():
        assert got[("kiosk_device_ok", (("device", device),))] == int(result_doc["ok"])
    age = got[("kiosk_upload_oldest_pending_age_seconds", ())]
    assert 0 <= age < 3600  # the two waiting records were made moments ago
    last = got[("kiosk_upload_last_acknowledged_timestamp_seconds", ())]
    assert status["upload"]["last_acknowledged_at"] is not None and last > 1.7e9


def test_metrics_without_hardware_leave_the_devices_alone(
        uploaded: tuple[Site, list[str]]) -> None:
    site, _ = uploaded
    result = kiosk(site, "metrics")
    assert result.returncode == 0, result.stderr[-2000:]
    names = {name for name, _ in samples(result.stdout)}
    assert "kiosk_records" in names and "kiosk_device_ok" not in names


def test_metrics_name_a_directory_they_cannot_use(uploaded: tuple[Site, list[str]],
                                                  tmp_path: Path) -> None:
    site, _ = uploaded
    result = kiosk(site, "metrics", "--textfile", str(tmp_path / "missing"))
    assert result.returncode == 1
    assert "is not a directory" in result.stderr and "Traceback" not in result.stderr


def test_queue_show_tells_a_records_history_and_nothing_of_the_citizen(
        uploaded: tuple[Site, list[str]]) -> None:
    site, ids = uploaded
    result = kiosk(site, "queue", "show", ids[0], "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    history = json.loads(result.stdout)
    assert history["id"] == ids[0] and history["state"] == "acknowledged"
    steps = [e["details"]["step"] for e in history["events"] if e["event"] == "step_saved"]
    assert steps == list(STEPS)
    moves = [(e["details"]["from_state"], e["details"]["to_state"])
             for e in history["events"] if e["event"] == "record_state"]
    assert moves[-2:] == [("sealed", "uploading"), ("uploading", "acknowledged")]
    seqs = [e["seq"] for e in history["events"]]
    assert seqs == sorted(seqs)
    table = kiosk(site, "queue", "show", ids[0])
    assert table.returncode == 0 and "step saved: portrait" in table.stdout
    assert "uploading -> acknowledged" in table.stdout
    # Nothing a citizen gave: only ids, states, step names, sizes and reasons.
    assert set(history) == {"id", "state", "seq", "assisted", "attempts", "last_error",
                            "created_at", "updated_at", "clock_trusted", "has_receipt",
                            "upload_url", "events"}
    detail_keys = {k for e in history["events"] for k in e["details"]}
    assert detail_keys <= {"from_state", "to_state", "reason", "step", "bytes"}, detail_keys


def test_queue_show_of_an_unknown_record_says_so_and_exits_1(
        uploaded: tuple[Site, list[str]]) -> None:
    site, _ = uploaded
    result = kiosk(site, "queue", "show", "test-01-9999999-000000")
    assert result.returncode == 1
    assert "no record 'test-01-9999999-000000'" in result.stderr
