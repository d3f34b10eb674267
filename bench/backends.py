"""``python -m bench.backends``: the same requests to teamcal on SQLite and on PostgreSQL, alternating.

On a shared machine the load changes from minute to minute, so two servers
measured one after the other (as ``python -m bench`` does) can differ by more
than the backends do. Here both run at once (``teamcal serve`` on a SQLite file
and on a private PostgreSQL cluster, each filled with the shared benchmark's
events through the write pipeline), and every operation is sent to one, then
the other, many times over: both see the same load, and the ratio of their
medians is the backends' difference. Each answer of the PostgreSQL server is
compared with the SQLite server's (the same body for a GET, the same hrefs and
ETags for a week, the same hrefs for a sync): a different answer counts as wrong.

Operations: GET of one event, a week's calendar-query with calendar-data (a
different week each time), and sync-collection from a token 10 changes back.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import shared
from bench.seeding import seed_teamcal
from bench.servers import CALENDAR, PASSWORD, USER, Teamcal

QUERY = (
    '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
    '<C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
    '<C:time-range start="{start}" end="{end}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>'
)
SYNC = (
    '<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>'
    "<D:prop><D:getetag/></D:prop></D:sync-collection>"
)
#: Weeks of the benchmark's two years of data the week query cycles through.
WEEKS = 90
_ETAGS = re.compile(rb"<[^>]*href>([^<]+)</[^>]*href>.*?<[^>]*getetag>([^<]+)<", re.S)


class Client:
    """One keep-alive HTTP connection to a server, with its credentials."""

    def __init__(self, server: Teamcal) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        self.auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        self.path = server.calendar_path()

    def send(self, method: str, path: str, body: str = "", headers: dict[str, str] | None = None) -> tuple[int, bytes, float]:
        """(status, body, seconds) of one request."""
        started = time.perf_counter()
        self.conn.request(method, path, body=body.encode(), headers={"Authorization": self.auth, **(headers or {})})
        response = self.conn.getresponse()
        data = response.read()
        return response.status, data, time.perf_counter() - started


def _week(i: int) -> tuple[str, str]:
    day = 1 + (i % WEEKS) * 7
    start = time.gmtime(1704067200 + day * 86400)  # 2024-01-01, the benchmark's first day, plus whole weeks
    end = time.gmtime(1704067200 + (day + 7) * 86400)
    return time.strftime("%Y%m%dT%H%M%SZ", start), time.strftime("%Y%m%dT%H%M%SZ", end)


def _answer(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (href, ETag) pairs of a multistatus, sorted: what two servers must agree on."""
    return sorted(_ETAGS.findall(data))


def measure(clients: dict[str, Client], repeat: int) -> dict[str, Any]:
    """Every operation ``repeat`` times on each server, alternating; medians, ratios, wrong answers."""
    base = next(iter(clients))
    sync_tokens: dict[str, str] = {}
    for name, client in clients.items():
        status, data, _ = client.send("REPORT", client.path, SYNC.format(token=""))
        sync_tokens[name] = re.search(rb"sync-token>([^<]+)<", data).group(1).decode()  # type: ignore[union-attr]
        for i in range(10):  # 10 changes after that token: the same on both
            status, data, _ = client.send("GET", client.path + f"ev-{i + 1:06d}.ics")
            client.send("PUT", client.path + f"ev-{i + 1:06d}.ics", data.decode(), {"Content-Type": "text/calendar"})
    operations: dict[str, Callable[[str, Client, int], tuple[str, str, str, dict[str, str]]]] = {
        "GET (ms)": lambda n, c, i: ("GET", c.path + f"ev-{20 + i % 500:06d}.ics", "", {}),
        "week calendar-query + data (ms)": lambda n, c, i: (
            "REPORT", c.path, QUERY.format(start=_week(i)[0], end=_week(i)[1]), {"Depth": "1"}
        ),
        "sync-collection, 10 changes (ms)": lambda n, c, i: ("REPORT", c.path, SYNC.format(token=sync_tokens[n]), {}),
    }
    results: dict[str, Any] = {}
    for label, make in operations.items():
        times: dict[str, list[float]] = {name: [] for name in clients}
        wrong = 0
        for i in range(repeat):
            answers = {}
            order = list(clients) if i % 2 == 0 else list(reversed(clients))
            for name in order:
                status, data, took = clients[name].send(*make(name, clients[name], i))
                if status not in (200, 207):
                    raise RuntimeError(f"{name}: {label} answered {status}: {data[:200]!r}")
                times[name].append(took * 1000)
                answers[name] = _answer(data) if status == 207 else data
            if label.startswith("sync"):
                answers = {n: [h for h, _ in a] for n, a in answers.items()}  # the tokens differ by design
            wrong += sum(1 for a in answers.values() if a != answers[base])
        results[label] = {name: round(statistics.median(t), 2) for name, t in times.items()} | {"wrong": wrong}
    return results


def main(argv: list[str] | None = None) -> int:
    """Seed, start both servers, measure each size; print a table. 1 when any answer differed."""
    p = argparse.ArgumentParser(prog="python -m bench.backends", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,10000", help="calendar sizes (default 1000,10000)")
    p.add_argument("--repeat", type=int, default=200, help="requests per operation and server (default 200)")
    p.add_argument("--shared-bench", help="caldav_bench.py (default ../shared/bench/caldav_bench.py)")
    args = p.parse_args(argv)
    script = shared.locate(args.shared_bench)
    from kernel.testing.postgres import PostgresCluster

    workdir = Path(tempfile.mkdtemp(prefix="teamcal-backends-"))
    failed = False
    try:
        with PostgresCluster(durable=True) as cluster:
            for size in (int(s) for s in args.sizes.split(",")):
                files = shared.write_events(script, workdir / f"ics-{size}", size)
                servers = {
                    "sqlite": Teamcal(workdir / str(size) / "sqlite"),
                    "postgresql": Teamcal(workdir / str(size) / "pg", database=cluster.new_schema(), name="teamcal-pg"),
                }
                for server in servers.values():
                    server.folder.mkdir(parents=True)
                    server.prepare()
                    seed_teamcal(server.config, USER, CALENDAR, files)
                    server.start()
                try:
                    results = measure({n: Client(s) for n, s in servers.items()}, args.repeat)
                finally:
                    for server in servers.values():
                        server.stop()
                print(f"== {size:,} events, {args.repeat} requests each, alternating")
                print(f"{'operation':<36}{'sqlite':>9}{'postgresql':>12}{'pg / sqlite':>13}{'wrong':>7}")
                for label, row in results.items():
                    print(f"{label:<36}{row['sqlite']:>9}{row['postgresql']:>12}"
                          f"{row['postgresql'] / row['sqlite']:>12.1f}x{row['wrong']:>7}", flush=True)
                    failed = failed or bool(row["wrong"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
