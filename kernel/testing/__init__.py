"""Test helpers for teamcal and its plugin authors (a pytest plugin via ``pytest11``).

Build a host with chosen plugins on a temporary database, then talk to it
through httpx in-process (:func:`asgi_client`) or under a real uvicorn on a free
127.0.0.1 port (:class:`LiveServer`).

Backends: the ini option ``teamcal_backends`` (default ``sqlite``; teamcal's own
suite sets ``sqlite postgresql``) runs every test on each backend listed: hosts
made by :func:`make_host` get a fresh SQLite file, or a fresh schema in a private
PostgreSQL cluster started for the session (:mod:`kernel.testing.postgres`).
Mark a test that reads the SQLite file itself with ``@pytest.mark.sqlite_only``;
a module- or session-scoped fixture that makes hosts takes ``teamcal_backend`` as
an argument, so that it is made again for each backend.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from kernel.host import Host
from kernel.passwords import hash_password
from kernel.testing.postgres import PostgresCluster
from kernel.types import Principal

#: Makes the ``[kernel] database`` value of a new test host (None: a SQLite file).
_new_database: Callable[[], str] | None = None


def database_setting(directory: Path | None = None) -> str:
    """The ``[kernel] database`` value for a test host in ``directory`` on the current backend.

    A folder that already has a plugins.toml keeps its database (as it keeps its
    SQLite file), so a second host made there reopens the same deployment.
    """
    if directory is not None and (directory / "plugins.toml").exists():
        import tomllib

        with open(directory / "plugins.toml", "rb") as fh:
            found = tomllib.load(fh).get("kernel", {}).get("database")
        if isinstance(found, str):
            return found
    return "teamcal.sqlite3" if _new_database is None else _new_database()


def event_object(
    uid: str = "e1", start: str = "20240102T100000Z", end: str = "20240102T110000Z", summary: str = "x"
) -> bytes:
    """A calendar object resource holding one event (UTC start and end in iCalendar form)."""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//teamcal tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\n"
        f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def write_config(
    directory: Path, enabled: Iterable[str] = (), extra: str = "", *, port: int = 5232, kernel: str = ""
) -> Path:
    """Write a plugins.toml in ``directory`` enabling these plugins.

    ``kernel`` holds more ``[kernel]`` lines; ``extra`` is TOML appended after it.
    """
    path = directory / "plugins.toml"
    database = database_setting(directory)
    names = ", ".join(f'"{n}"' for n in enabled)
    path.write_text(
        f'enabled = [{names}]\n\n[kernel]\nhost = "127.0.0.1"\nport = {port}\n'
        f'database = "{database}"\n{kernel}\n\n{extra}\n',
        encoding="utf-8",
    )
    return path


def make_host(
    directory: Path,
    enabled: Iterable[str] = (),
    extra: str = "",
    *,
    plugins: Iterable[tuple[str, Any]] = (),
    kernel: str = "",
) -> Host:
    """A migrated host on a fresh database (SQLite file in ``directory``, or a PostgreSQL
    schema) with these plugins enabled.

    ``plugins`` are (name, object) pairs registered directly; ``kernel`` and
    ``extra`` are TOML lines for the ``[kernel]`` table and after it.
    """
    return Host.from_config(write_config(directory, enabled, extra, kernel=kernel), extra_plugins=plugins)


def add_user(host: Host, name: str, password: str = "password", *, admin: bool = False, **kw: Any) -> Principal:
    """Create a user with a password (fast: one hash per call)."""
    with host.store.transaction():
        return host.store.create_principal(name, "user", password_hash=hash_password(password), is_admin=admin, **kw)


def add_group(
    host: Host, name: str, members: Iterable[Principal] = (), *, admins: Iterable[Principal] = ()
) -> Principal:
    """Create a group with these members and these group admins."""
    with host.store.transaction():
        group = host.store.create_principal(name, "group")
        for m in members:
            host.store.add_member(group.id, m.id)
        for m in admins:
            host.store.add_member(group.id, m.id, admin=True)
    return group


def asgi_client(host: Host, user: str | None = None, password: str = "password") -> httpx.AsyncClient:
    """An httpx AsyncClient talking to the host's app in-process (no lifespan)."""
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
    """A host with no plugins on a temporary database (enable more with :func:`make_host`)."""
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
    """Declare the ``sqlite_only`` marker."""
    config.addinivalue_line("markers", "sqlite_only: the test reads the SQLite file itself; run it on SQLite only")


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
    global _new_database
    name: str = getattr(request, "param", "sqlite")
    if name == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("postgresql_cluster")
        _new_database = cluster.new_schema
    yield name
    _new_database = None
