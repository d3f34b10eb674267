"""A private PostgreSQL server for tests: Debian's ``postgresql`` package, a temporary
cluster on a free loopback port, one schema per host.

``initdb`` and the server refuse to run as root, so under root (as in CI) they
run as the ``postgres`` system user the package creates. The cluster trusts
local connections from its one role, ``teamcal``, and skips fsync: it holds
throwaway test data.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote


def _bindir() -> Path | None:
    """Where initdb and pg_ctl are: ``pg_config --bindir``, else Debian's versioned folders."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10).stdout.strip()
        if found and (Path(found) / "initdb").exists():
            return Path(found)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def available() -> bool:
    """Is a PostgreSQL server installed here?"""
    return _bindir() is not None


class PostgresCluster:
    """A throwaway PostgreSQL cluster; use as a context manager (it stops the server by its PID)."""

    def __init__(self, role: str = "teamcal", *, durable: bool = False) -> None:
        bindir = _bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install -y postgresql)")
        self.bindir = bindir
        # a folder of its own in the system's temp dir: the postgres user cannot enter
        # the root-only folders pytest makes
        self.directory = Path(tempfile.mkdtemp(prefix="teamcal-pg-"))
        self.data = self.directory / "data"
        self.role = role
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0
        #: A COMMIT waits for its WAL on disk, as in production (benchmarks: writes are then
        #: measured as durably as on SQLite's ``synchronous = FULL``); tests run without.
        self.durable = durable

    def _run(self, *args: str) -> None:
        command = list(args)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> PostgresCluster:
        """initdb, then start the server and wait until it accepts connections."""
        if self._as_postgres:
            shutil.chown(self.directory, "postgres")
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.role,
            "-E", "UTF8", "--no-sync", "--locale=C",
        )
        speed = "" if self.durable else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1{speed} -c max_connections=400"
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.directory / "server.log"), "-w", "-t", "60", "start",
        )
        self.execute("postgres", "CREATE DATABASE teamcal")
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) by its PID file."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, database: str = "teamcal") -> str:
        """A connection URL for the cluster's role."""
        return f"postgresql://{self.role}@127.0.0.1:{self.port}/{database}"

    def execute(self, database: str, sql: str) -> None:
        """Run one statement as the cluster's role (autocommit)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(sql)

    def new_schema(self) -> str:
        """A fresh, empty schema in the ``teamcal`` database; returns a URL whose connections use it."""
        name = "t_" + uuid.uuid4().hex[:16]
        self.execute("teamcal", f"CREATE SCHEMA {name}")
        return self.url() + "?options=" + quote(f"-csearch_path={name}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: Messages after which a client waits for the server: a simple query, and a pipeline's (or
#: an extended query's) Sync or Flush.
_WAITS = ("Query", "Sync", "Flush")


@contextmanager
def round_trips(store: Any, *, every_thread: bool = False) -> Iterator[list[list[str]]]:
    """The round trips the calling thread's PostgreSQL connection makes during the block (with
    ``every_thread``: those of every connection the store has open, as request handlers'
    worker threads hold them), read from libpq's protocol trace: one entry per wait for the
    server, listing the messages sent for it (``Parse "" "BEGIN"``, ``Query "SELECT 1"``,
    ...). Filled when the block ends."""
    connections = store.connections.live() if every_thread else [store.conn]
    trips: list[list[str]] = []
    with ExitStack() as files:
        traces = [files.enter_context(tempfile.TemporaryFile()) for _ in connections]
        with ExitStack() as tracing:
            for conn, trace in zip(connections, traces, strict=True):
                conn.raw.pgconn.trace(trace.fileno())
                conn.raw.pgconn.set_trace_flags(_trace_flags())
                tracing.callback(conn.raw.pgconn.untrace)
            yield trips
        for trace in traces:
            trace.seek(0)
            trips.extend(_trips(trace.read().decode()))


def _trips(trace: str) -> list[list[str]]:
    """A protocol trace's messages from the client, grouped by the wait that ends each group."""
    sent = [line.split("\t", 2)[2] for line in trace.splitlines() if line.startswith("F\t")]
    trips: list[list[str]] = []
    current: list[str] = []
    for message in sent:
        kind = message.split(" ", 1)[0].split("\t", 1)[0]
        if kind == "Flush" and not current and trips:
            continue  # the Flush psycopg sends right after a Sync: the same wait
        current.append(message)
        if kind in _WAITS:
            trips.append(current)
            current = []
    return trips


def _trace_flags() -> Any:
    from psycopg import pq

    return pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE
