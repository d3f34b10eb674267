"""Test helpers for teamcal and its plugin authors (a pytest plugin via ``pytest11``).

Build a host with chosen plugins and settings on a temporary database
(:func:`build_host`, the ``make_teamcal`` fixture, or :func:`make_host`), then talk to
it in-process (:func:`app_client`, which runs the lifespan; :func:`asgi_client`, async
and without it) or under a real uvicorn on a free 127.0.0.1 port (:class:`LiveServer`).
:mod:`kernel.testing.dav` speaks WebDAV and CalDAV; :func:`run_job` runs a periodic job
once; :func:`record_hooks` records hook calls; :func:`assert_config_error` checks a
configuration error. docs/plugins.md ("Testing your plugin") shows them in use.

Backends: the ini option ``teamcal_backends`` (default ``sqlite``; teamcal's own
suite sets ``sqlite postgresql``) runs every test on each backend listed: hosts
made here get a fresh SQLite file, or a fresh schema in a private
PostgreSQL cluster started for the session (:mod:`kernel.testing.postgres`).
Mark a test that reads the SQLite file itself with ``@pytest.mark.sqlite_only``, and one
about PostgreSQL's protocol (:func:`~kernel.testing.postgres.round_trips`) with
``@pytest.mark.postgresql_only``;
a module- or session-scoped fixture that makes hosts takes ``teamcal_backend`` as
an argument, so that it is made again for each backend.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from kernel.host import Host
from kernel.testing import hosts as _hosts
from kernel.testing.client import AppClient, app_client
from kernel.testing.dav import DavResponse, parse_multistatus
from kernel.testing.hosts import (
    HostFactory,
    add_group,
    add_user,
    assert_config_error,
    build_host,
    database_setting,
    event_object,
    make_host,
    make_teamcal,
    write_config,
)
from kernel.testing.jobs import registered_jobs, run_job, run_job_async
from kernel.testing.postgres import PostgresCluster
from kernel.testing.recorder import HookCall, HookCalls, record_hooks

__all__ = [
    "AppClient",
    "DavResponse",
    "Deployment",
    "HookCall",
    "HookCalls",
    "HostFactory",
    "LiveServer",
    "add_group",
    "add_user",
    "app_client",
    "asgi_client",
    "assert_config_error",
    "build_host",
    "database_setting",
    "event_object",
    "free_port",
    "latency_during",
    "make_host",
    "make_teamcal",
    "parse_multistatus",
    "record_hooks",
    "registered_jobs",
    "run_job",
    "run_job_async",
    "write_config",
]

def asgi_client(host: Host, user: str | None = None, password: str = "password") -> httpx.AsyncClient:
    """An httpx AsyncClient talking to the host's app in-process, for async tests.

    No lifespan runs (no ``startup``/``shutdown`` hooks): use :func:`app_client` for that.
    """
    from kernel.app import build_app

    auth = (user, password) if user else None
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(host)), base_url="http://testserver", auth=auth
    )


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A host's deployment under a real uvicorn on 127.0.0.1, in a thread; use as a context manager.

    The server gets its own Host (and so its own SQLite connection) built from
    the same plugins.toml and extra plugins, as a second process would.
    """

    def __init__(self, host: Host, port: int | None = None) -> None:
        import uvicorn

        from kernel.app import build_app

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.host = Host.from_config(host.config.path, extra_plugins=host.extra_plugins)
        # as `teamcal serve --port` does: links (host.base_url) point where the server listens
        self.host.kernel.host, self.host.kernel.port = "127.0.0.1", self.port
        config = uvicorn.Config(
            build_app(self.host), host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=15)
        self.host.close()

    def client(self, user: str | None = None, password: str = "password", **kw: Any) -> httpx.Client:
        """A synchronous httpx client on the live server."""
        auth = (user, password) if user else None
        return httpx.Client(base_url=self.url, auth=auth, timeout=30, **kw)


class Deployment:
    """A host (for setting up users and data) and a :class:`LiveServer` on its deployment.

    ``with Deployment(host) as dep:`` starts the server; leaving stops it and closes the host.
    """

    def __init__(self, host: Host, server: LiveServer | None = None) -> None:
        self.host = host
        self.server = server or LiveServer(host)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.server.url

    def client(self, user: str | None = None, password: str = "password", **kw: Any) -> httpx.Client:
        """A synchronous httpx client on the live server, authenticated as ``user``."""
        return self.server.client(user, password, **kw)

    def __enter__(self) -> Deployment:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.server.__exit__(*exc)
        finally:
            self.host.close()


def latency_during(
    attack: Callable[[], Any], probe: Callable[[], Any], *, probes: int = 5, timeout: float = 120
) -> tuple[Any, list[float]]:
    """Run ``attack`` in a thread and ``probe`` (another user's request) while it runs.

    Returns the attack's result and how long each probe took, in seconds. The
    probes start once the attack has had 0.2 s to reach the server, and stop
    after ``probes`` of them or when the attack ends; the attack must end within
    ``timeout`` seconds. A hostile-input test asserts the attack's answer and
    that every probe was answered quickly.
    """
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(attack)
        time.sleep(0.2)
        took: list[float] = []
        for _ in range(probes):
            started = time.monotonic()
            probe()
            took.append(time.monotonic() - started)
            if running.done():
                break
            time.sleep(0.05)
        return running.result(timeout=timeout), took


@pytest.fixture
def teamcal_host(tmp_path: Path) -> Iterator[Host]:
    """A host with no plugins on a temporary database (``make_teamcal`` chooses plugins and settings)."""
    host = make_host(tmp_path)
    yield host
    host.close()


# -- backends ---------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``teamcal_backends`` ini option."""
    parser.addini(
        "teamcal_backends", "store backends every test runs on: sqlite and/or postgresql", default="sqlite"
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``sqlite_only`` and ``postgresql_only`` markers."""
    config.addinivalue_line("markers", "sqlite_only: the test reads the SQLite file itself; run it on SQLite only")
    config.addinivalue_line(
        "markers", "postgresql_only: the test is about PostgreSQL's protocol; run it on PostgreSQL only"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test once per configured backend (grouped by backend: a session-scoped parameter)."""
    if "teamcal_backend" not in metafunc.fixturenames:
        return
    backends = metafunc.config.getini("teamcal_backends").split()
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown:
        raise pytest.UsageError(f"teamcal_backends: unknown backend {sorted(unknown)[0]!r} (sqlite, postgresql)")
    if metafunc.definition.get_closest_marker("sqlite_only"):
        backends = ["sqlite"]
    if metafunc.definition.get_closest_marker("postgresql_only"):
        backends = [b for b in backends if b == "postgresql"]  # none configured: skipped, no parameter
    if len(backends) > 1 or backends != ["sqlite"]:
        metafunc.parametrize("teamcal_backend", backends, indirect=True, scope="session")


@pytest.fixture(scope="session")
def postgresql_cluster() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster for the session, stopped at its end."""
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session", autouse=True)
def teamcal_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The backend this test's hosts use: "sqlite" or "postgresql" (one fresh schema per host)."""
    name: str = getattr(request, "param", "sqlite")
    if name == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("postgresql_cluster")
        _hosts._new_database = cluster.new_schema
    yield name
    _hosts._new_database = None
