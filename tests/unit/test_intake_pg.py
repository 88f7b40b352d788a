"""intake/pg.py against a real PostgreSQL (the session's private cluster): the per-upload
advisory lock and the metadata's once-only rows."""

from __future__ import annotations

import time

import psycopg
import pytest

from intake.pg import AdvisoryLocks, PostgresMetadata, ensure_schema, open_pool

pytestmark = pytest.mark.timeout(60)


def test_an_upload_lock_excludes_others_until_released_or_its_session_ends(
        pg_url: str) -> None:
    pool = open_pool(pg_url, 4, "test-locks")
    other_pool = open_pool(pg_url, 4, "test-locks-2")  # as if another process
    try:
        mine, theirs = AdvisoryLocks(pool), AdvisoryLocks(other_pool)
        token = mine.acquire("upload-1", ttl_seconds=60, wait_timeout=0)
        assert token is not None
        assert theirs.acquire("upload-1", ttl_seconds=60, wait_timeout=0) is None
        started = time.monotonic()
        assert theirs.acquire("upload-1", ttl_seconds=60, wait_timeout=0.3) is None
        assert 0.25 < time.monotonic() - started < 5  # waited, then gave up
        other = theirs.acquire("upload-2", ttl_seconds=60, wait_timeout=0)
        assert other is not None  # another upload is not held up
        theirs.release("upload-2", other)
        mine.release("upload-1", token)
        mine.release("upload-1", token)  # idempotent
        again = theirs.acquire("upload-1", ttl_seconds=60, wait_timeout=0)
        assert again is not None
        # the holder's session ends (its process died): the lock goes with it
        held_conn, _key = theirs._held[again]
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (held_conn.info.backend_pid,))
        deadline = time.monotonic() + 5
        while (token := mine.acquire("upload-1", ttl_seconds=60, wait_timeout=0)) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        mine.release("upload-1", token)
        theirs.release("upload-1", again)  # its connection is gone: no error
    finally:
        pool.close()
        other_pool.close()


def test_each_upload_is_counted_once_and_each_record_stored_once(pg_url: str) -> None:
    pool = open_pool(pg_url, 4, "test-meta")
    try:
        ensure_schema(pool)
        ensure_schema(pool)  # a second process starting: nothing changes
        meta = PostgresMetadata(pool)
        at = "2024-03-01T02:00:00Z"
        assert meta.stored("u1", "k-01", "k-01-0000001-a1b2c3", "0" * 64, 10, at) == "received"
        assert meta.stored("u1", "k-01", "k-01-0000001-a1b2c3", "0" * 64, 10, at) == "replayed"
        assert meta.stored("u2", "k-01", "k-01-0000001-a1b2c3", "0" * 64, 10, at) == (
            "duplicate")
        assert meta.processed("u2") and not meta.processed("u3")
        assert meta.reject("u3", "k-01", "k-01-0000002-a1b2c3", "bad", "bad_signature", at)
        assert not meta.reject("u3", "k-01", "k-01-0000002-a1b2c3", "bad", "bad_signature",
                               at)
        assert meta.rejection("k-01", "k-01-0000002-a1b2c3") == ("bad", "bad_signature")
        # the record arrives right after all: its refusal is cleared
        assert meta.stored("u4", "k-01", "k-01-0000002-a1b2c3", "1" * 64, 10, at) == "received"
        assert meta.rejection("k-01", "k-01-0000002-a1b2c3") is None
        assert meta.stats() == {"received": 2, "duplicates": 1, "rejected": 1,
                                "kiosks": {"k-01": 2}, "records_refused": 0}
    finally:
        pool.close()
