"""/healthz and /metrics: what a load balancer and Prometheus read, and who may read it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import Gauge

from kernel import Job, hookimpl
from kernel.testing import LiveServer, add_user, make_host
from kernel.testing.postgres import PostgresCluster

TOKEN = "s3cret-metrics-token"


class Figures:
    """A plugin with a metric of its own and a quick periodic job."""

    @hookimpl
    def register_metrics(self, host: Any, registry: Any) -> None:
        """A gauge read from the store when scraped."""
        gauge = Gauge("figures_users", "Principals in the store.", registry=registry)
        gauge.set_function(lambda: len(host.store.principals()))

    @hookimpl
    def register_jobs(self, host: Any) -> list[Job]:
        """A job that runs every half second."""
        return [Job("figures.tick", 0.5, lambda host: None)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, teamcal_backend: str) -> Iterator[LiveServer]:
    host = make_host(tmp_path_factory.mktemp("ops"), kernel=f'metrics_token = "{TOKEN}"',
                     plugins=(("figures", Figures()),))
    add_user(host, "root", "root-pw", admin=True)
    add_user(host, "alice", "alice-pw")
    with LiveServer(host) as live:
        yield live
    host.close()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a scrape (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + wanted + '}') if labels else ''} (\S+)$"
    found = re.search(pattern, text, re.M)
    return float(found.group(1)) if found else 0.0


def scrape(server: LiveServer) -> str:
    with server.client("root", "root-pw") as root:
        r = root.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return r.text


def test_healthz_answers_without_credentials(server: LiveServer) -> None:
    r = httpx.get(server.url + "/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok"}


def test_metrics_count_requests_by_method_and_status(server: LiveServer) -> None:
    before = scrape(server)
    with server.client(None) as anonymous:
        for _ in range(3):
            assert anonymous.get("/no-such-page").status_code == 404
    after = scrape(server)
    assert metric(after, "teamcal_requests_total", method="GET", status="404") == \
        metric(before, "teamcal_requests_total", method="GET", status="404") + 3
    assert metric(after, "teamcal_request_duration_seconds_count", method="GET") >= 4
    assert metric(after, "teamcal_database_bytes") > 0
    assert metric(after, "teamcal_uptime_seconds") > 0
    assert metric(after, "figures_users") == 2


def test_metrics_show_job_runs_from_the_store(server: LiveServer) -> None:
    deadline = time.monotonic() + 20
    runs = 0.0
    while time.monotonic() < deadline and runs < 2:
        runs = metric(scrape(server), "teamcal_job_runs_total", job="figures.tick")
        time.sleep(0.3)
    assert runs >= 2
    assert metric(scrape(server), "teamcal_job_failures_total", job="figures.tick") == 0


def test_only_admins_or_the_token_read_the_metrics(server: LiveServer) -> None:
    assert httpx.get(server.url + "/metrics").status_code == 401
    with server.client("alice", "alice-pw") as alice:
        assert alice.get("/metrics").status_code == 403
    assert httpx.get(server.url + "/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    r = httpx.get(server.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and "teamcal_requests_total" in r.text


def test_hook_register_metrics(server: LiveServer) -> None:
    text = scrape(server)
    assert "# HELP figures_users Principals in the store." in text
    assert metric(text, "figures_users") == 2


@pytest.mark.sqlite_only
def test_healthz_says_unavailable_when_the_database_is_gone(tmp_path: Path) -> None:
    with PostgresCluster() as cluster:
        (tmp_path / "plugins.toml").write_text(f'[kernel]\ndatabase = "{cluster.url()}"\n')
        host = make_host(tmp_path)
        with LiveServer(host) as live:
            assert httpx.get(live.url + "/healthz").status_code == 200
            cluster.stop()
            r = httpx.get(live.url + "/healthz", timeout=30)
            assert r.status_code == 503 and r.json()["database"] == "unreachable"
        host.close()
