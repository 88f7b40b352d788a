"""Nothing personal on disk or in the logs: no NIK, no name, no image of any citizen.

The needles are what the demo really captured (its sealed records, opened with the central
key: :mod:`tests.plaintext`), in the forms they would take on disk had sealing been
skipped. The check is shown to fail: a NIK, a name, each kind of image, planted in the data
directory, the journal's WAL, a temp file or the log, turns it red.
"""

from __future__ import annotations

import itertools
import json
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from kiosk.enrollment.synthetic import citizens
from tests.conftest import KIOSK, kiosk_env, write_config
from tests.plaintext import (
    IMAGE_KINDS,
    KINDS,
    Captured,
    Needle,
    find_plaintext,
    needles_for,
    open_sealed_records,
    read_tree,
)

COUNT, SEED = 15, 11


@dataclass(frozen=True)
class DemoRun:
    data_dir: Path
    files: dict[str, bytes]  # the data directory as the demo left it
    stderr: bytes
    captured: Captured
    needles: list[Needle]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One `kiosk demo` run for the module; the planted tests work on copies of its files."""
    base = tmp_path_factory.mktemp("no-plaintext")
    config = write_config(base)
    env = kiosk_env(config) | {"KIOSK_LOG_LEVEL": "DEBUG",
                               "KIOSK_SYSTEM_CONFIG": str(base / "no-etc.toml")}
    result = subprocess.run([*KIOSK, "demo", "--citizens", str(COUNT), "--seed", str(SEED)],
                            env=env, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    data_dir = base / "data"
    files = read_tree(data_dir)  # before anything else reads the journal
    captured = open_sealed_records(config)
    printed = [line.split()[1] for line in result.stdout.decode().splitlines()]
    assert sorted(captured.steps) == sorted(printed), "every printed record is opened"
    return DemoRun(data_dir, files, result.stderr, captured, needles_for(captured))


def test_needles_are_what_the_demo_captured(demo_run: DemoRun) -> None:
    people = list(itertools.islice(citizens(SEED), COUNT))
    sealed = {json.loads(steps["identity"]["identity.json"])["nik"]
              for steps in demo_run.captured.steps.values()}
    assert sealed == {"".join(c for c in p.nik if c.isdigit()) for p in people}
    assert {n.kind for n in demo_run.needles} == set(KINDS)
    for record_id, steps in demo_run.captured.steps.items():
        assert demo_run.captured.part(record_id, "portrait", ".jpg")[:3] == b"\xff\xd8\xff"
        assert demo_run.captured.part(record_id, "signature", ".png")[:4] == b"\x89PNG"
        for kind in KINDS:
            assert any(record_id in n.label for n in demo_run.needles if n.kind == kind), (
                record_id, kind)
        assert len(steps["fingerprints"]) > 1


def test_data_dir_and_logs_hold_no_personal_data(demo_run: DemoRun) -> None:
    assert "journal.db" in demo_run.files
    findings = find_plaintext(demo_run.files | {"log": demo_run.stderr}, demo_run.needles)
    assert not findings, "\n".join(map(str, findings[:20]))


# -- the check can fail ----------------------------------------------------------------------
def _plants(run: DemoRun) -> dict[str, bytes]:
    """One leak per needle kind, as a careless kiosk would write it, for the first record:
    the session's own JSON parts and image files, and a slice from inside each image (no
    magic number: found only by the windows)."""
    record_id = next(iter(run.captured.steps))
    steps = run.captured.steps[record_id]
    identity = json.loads(steps["identity"]["identity.json"])
    person = json.loads(steps["demographics"]["demographics.json"])
    fingerprint = run.captured.part(record_id, "fingerprints", ".png")
    images = {"portrait": run.captured.part(record_id, "portrait", ".jpg"),
              "fingerprint": fingerprint,
              "signature": run.captured.part(record_id, "signature", ".png")}
    plants = {
        "nik": steps["identity"]["identity.json"],
        "kk": f"No. KK {identity['kk']}".encode("utf-16-le"),
        "name": json.dumps({"name": person["full_name"]}).encode(),
        "address": person["address"].upper().encode(),
        "birth_date": steps["demographics"]["demographics.json"],
    }
    for kind, data in images.items():
        plants[kind] = data
        plants[f"{kind}-slice"] = data[len(data) // 3:len(data) // 3 + 1100]
    return plants


def _expected_kind(plant: str) -> str:
    return plant.removesuffix("-slice")


def _assert_each_plant_found(findings: list, where: dict[str, str]) -> None:
    for plant, path in where.items():
        kinds = {f.kind for f in findings if f.where == path}
        assert _expected_kind(plant) in kinds, f"planted {plant} in {path} not found"
        if plant in IMAGE_KINDS:
            assert "image" in kinds, f"planted {plant} in {path}: magic number not found"


@pytest.mark.parametrize("place", ["data-file", "temp-file"])
def test_plaintext_check_finds_a_leak_planted_in_a_file(demo_run: DemoRun, tmp_path: Path,
                                                        place: str) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(demo_run.data_dir, data_dir)
    where = {}
    for plant, data in _plants(demo_run).items():
        name = (f"{plant}.bin" if place == "data-file"
                else f"journal.db.{plant}.tmp")  # as a half-done atomic write leaves one
        (data_dir / name).write_bytes(b"\0" * 100 + data + b"\0" * 100)
        where[plant] = name
    findings = find_plaintext(read_tree(data_dir), demo_run.needles)
    _assert_each_plant_found(findings, where)
    assert not [f for f in findings if f.where not in where.values()]


def test_plaintext_check_finds_a_leak_planted_in_the_journal_wal(demo_run: DemoRun,
                                                                 tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(demo_run.data_dir, data_dir)
    plants = _plants(demo_run)
    conn = sqlite3.connect(data_dir / "journal.db", isolation_level=None)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # the rows stay in the WAL
        conn.execute("CREATE TABLE leak (what TEXT, data BLOB)")
        conn.executemany("INSERT INTO leak VALUES (?, ?)", plants.items())
        files = read_tree(data_dir)  # while open: closing would checkpoint the WAL away
    finally:
        conn.close()
    assert "journal.db-wal" in files
    findings = find_plaintext(files, demo_run.needles)
    _assert_each_plant_found(findings, dict.fromkeys(plants, "journal.db-wal"))


def test_plaintext_check_finds_a_leak_planted_in_the_log(demo_run: DemoRun) -> None:
    for plant, data in _plants(demo_run).items():
        log = demo_run.stderr + b"DEBUG kiosk.enrollment.session: " + data + b"\n"
        findings = find_plaintext({"log": log}, demo_run.needles)
        assert _expected_kind(plant) in {f.kind for f in findings}, f"planted {plant}"
