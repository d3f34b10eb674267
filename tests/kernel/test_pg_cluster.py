"""The private PostgreSQL clusters kernel.testing starts: fast ones for tests, durable ones for benchmarks."""

from __future__ import annotations

import psycopg
import pytest

from kernel.testing import PostgresCluster


def settings(cluster: PostgresCluster) -> tuple[str, str, str]:
    """(fsync, synchronous_commit, full_page_writes) as the running server reports them."""
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        return tuple(conn.execute(f"SHOW {name}").fetchone()[0] for name in ("fsync", "synchronous_commit", "full_page_writes"))  # type: ignore[return-value]


@pytest.mark.postgresql_only
def test_a_durable_cluster_waits_for_the_disk_and_a_test_cluster_does_not(postgresql_cluster: PostgresCluster) -> None:
    """Benchmarks measure PostgreSQL's writes as durably as SQLite's ``synchronous = FULL``:
    ``durable=True`` leaves the server's flushes on; the tests' cluster turns them off."""
    assert settings(postgresql_cluster) == ("off", "off", "off")
    with PostgresCluster(durable=True) as durable:
        assert settings(durable) == ("on", "on", "on")
