"""Operations endpoints: ``/healthz`` for load balancers and ``/metrics`` for Prometheus.

Metrics are kept in a registry of the host (prometheus-client's text format).
With ``[kernel] workers`` above one, the supervisor gives its workers a shared
folder (prometheus-client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``):
each worker's counters and histograms live in files there, and whichever worker
a scrape reaches adds up all of them, so the counts never jump back between
scrapes. Figures read when scraped (job runs, database size) come from the store
and are cluster-wide already. Plugins add their own through ``register_metrics``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from kernel.host import Host

log = logging.getLogger("teamcal.operations")

#: Methods counted by name; anything else is counted as "other" (a label per unknown verb
#: would let a client grow the metrics without bound).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PROPFIND", "PROPPATCH", "REPORT",
                     "MKCOL", "MKCALENDAR", "COPY", "MOVE", "LOCK", "UNLOCK", "PATCH"})
#: Seconds /healthz waits for the database before answering 503.
HEALTH_TIMEOUT = 5.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: prometheus-client's multiprocess folder: set by :func:`kernel.workers.serve_workers` for its
#: workers (before they import prometheus-client, which reads it at import).
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """One host's metrics registry: request counts and latencies, the kernel's own figures,
    and what plugins add (``register_metrics``)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("teamcal_requests", "HTTP requests answered, by method and status.",
                                ("method", "status"), registry=self.registry)
        self.latency = Histogram("teamcal_request_duration_seconds",
                                 "Time from a request's arrival to the end of its answer, by method.",
                                 ("method",), registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.registry.register(_KernelCollector(host, time.time()))
        host.hook.register_metrics(host=host, registry=self.registry)
        #: What a scrape reads: the registry itself, or with several workers the values of every
        #: worker's files plus the collectors that read their figures when scraped.
        self.exposed = self.registry
        if os.environ.get(MULTIPROCESS_ENV):
            self.exposed = CollectorRegistry(auto_describe=True)
            MultiProcessCollector(self.exposed)  # type: ignore[no-untyped-call]  # unannotated upstream
            for collector in list(self.registry._collector_to_names):
                if not isinstance(collector, MetricWrapperBase):
                    self.exposed.register(collector)

    def observe(self, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        method = method if method in METHODS else "other"
        self.requests.labels(method, str(status)).inc()
        self.latency.labels(method).observe(seconds)


class _KernelCollector(Collector):
    """Figures read when scraped: uptime, database size, jobs (cluster-wide, from the store)."""

    def __init__(self, host: Host, started: float) -> None:
        self.host = host
        self.started = started

    def collect(self) -> Iterator[Metric]:
        """The kernel's figures; what the store cannot answer now is left out of this scrape."""
        yield GaugeMetricFamily("teamcal_uptime_seconds", "Seconds since this process started.",
                                value=time.time() - self.started)
        try:
            size = self.host.store.database_bytes()
            jobs = self.host.jobs.status()
        except Exception:
            log.warning("metrics: the database did not answer", exc_info=True)
            return
        yield GaugeMetricFamily("teamcal_database_bytes", "Size of the database.", value=size)
        runs = CounterMetricFamily("teamcal_job_runs", "Runs of each periodic job, cluster-wide.", labels=["job"])
        failures = CounterMetricFamily("teamcal_job_failures", "Failed runs of each periodic job, cluster-wide.",
                                       labels=["job"])
        for job in jobs:
            runs.add_metric([job.name], job.runs)
            failures.add_metric([job.name], job.failures)
        yield runs
        yield failures


class RequestMetrics:
    """ASGI middleware: counts every HTTP answer and its latency into :class:`Metrics`."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, noting its status and when its answer ended."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def noting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        finally:
            self.metrics.observe(scope["method"], status, time.perf_counter() - started)


def routes(host: Host, metrics: Metrics) -> list[Route]:
    """``/healthz`` and ``/metrics``."""

    async def healthz(request: Request) -> Response:
        try:
            await asyncio.wait_for(host.run(host.store.ping), timeout=HEALTH_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            log.warning("health check: the database did not answer: %s", exc)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ok", "database": "ok"})

    async def scrape(request: Request) -> Response:
        denied = await _denied(host, request)
        if denied is not None:
            return denied
        body = await host.run(generate_latest, metrics.exposed)
        return Response(body, media_type=CONTENT_TYPE)

    return [Route("/healthz", healthz, methods=["GET", "HEAD"]), Route("/metrics", scrape, methods=["GET"])]


async def _denied(host: Host, request: Request) -> Response | None:
    """None when the request may read the metrics: the ``metrics_token`` as a bearer token
    when one is set, else a server admin's credentials."""
    token = host.kernel.metrics_token
    header = request.headers.get("authorization", "")
    if token and header.lower().startswith("bearer "):
        if hmac.compare_digest(header[7:].strip().encode(), token.encode()):
            return None
        return PlainTextResponse("Wrong metrics token.", 403)
    principal: Any = await host.require_principal(request)
    if not principal.is_admin:
        return PlainTextResponse("Only server admins (or the metrics token) may read the metrics.", 403)
    return None
