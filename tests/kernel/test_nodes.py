"""Several `teamcal serve` processes on one database: two nodes, and `[kernel] workers`.

Real processes on 127.0.0.1 (started with ``python -m kernel.cli serve`` and stopped by
their PID), real clients (the ``caldav`` library, httpx), the backend of the run: a
private PostgreSQL cluster (kernel.testing.postgres), or one SQLite file that both
processes open, as nodes on one machine would. A small plugin installed for the
processes (a package with its dist-info on their PYTHONPATH, as pip would leave it)
names the process that answers and runs a slow periodic job that records where it ran.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import caldav
import httpx
import pytest

from kernel.host import Host
from kernel.testing import add_user, event_object, free_port, make_host

UTC = dt.UTC
WORKTREE = Path(__file__).resolve().parents[2]
#: The job lease of the nodes (seconds): a dead node's job moves on within 4/3 of it.
JOB_LEASE = 3.0

PROBE = '''
"""Test plugin: a route naming the process, and a slow job recording where it ran."""
import os
import re
import time
from dataclasses import dataclass, field

from starlette.responses import PlainTextResponse
from starlette.routing import Route

from kernel import Column, Job, Migrations, Table, hookimpl

migrations = Migrations("nodeprobe")


@migrations()
def m001_runs(m):
    m.create_table(Table("nodeprobe_runs", (
        Column("id", "int", primary_key=True, generated=True),
        Column("pid", "int"),
        Column("started", "float"),
        Column("finished", "float", null=True),
    )))


@dataclass
class Settings:
    interval: float = field(default=0.5, metadata={"doc": "seconds between runs"})
    hold: float = field(default=2.0, metadata={"doc": "seconds one run takes"})


@hookimpl
def register_settings():
    return {"nodeprobe": Settings}


@hookimpl
def register_migrations(host):
    return migrations


@hookimpl
def register_routes(host):
    async def pid(request):
        return PlainTextResponse(str(os.getpid()))

    return [Route("/nodeprobe/pid", pid)]


@hookimpl
def register_jobs(host):
    settings = host.settings("nodeprobe")

    def run(host):
        with host.store.transaction():
            run_id = host.store.execute(
                "INSERT INTO nodeprobe_runs (pid, started) VALUES (?, ?) RETURNING id", (os.getpid(), time.time())
            ).fetchone()[0]
        time.sleep(settings.hold)
        with host.store.transaction():
            host.store.execute("UPDATE nodeprobe_runs SET finished = ? WHERE id = ?", (time.time(), run_id))

    return [Job("nodeprobe", settings.interval, run)]
'''


def install_probe(directory: Path) -> Path:
    """The probe plugin as an installed distribution in ``directory`` (for PYTHONPATH)."""
    package = directory / "teamcal_nodeprobe"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(PROBE), encoding="utf-8")
    info = directory / "teamcal_nodeprobe-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: teamcal-nodeprobe\nVersion: 0.1\nSummary: teamcal test probe\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text("[teamcal]\nnodeprobe = teamcal_nodeprobe\n", encoding="utf-8")
    return directory


class Node:
    """One `teamcal serve` process on a free port; stopped (SIGTERM, then SIGKILL) by its PID."""

    def __init__(self, config: Path, probe: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        #: The environment of the node's process (and of commands run beside it).
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(WORKTREE), str(probe)])}
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kernel.cli", "--config", str(config), "serve", "--port", str(self.port)],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=config.parent,
            )
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the node answers (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode}: {self.log.read_text()[-3000:]}")
            try:
                httpx.get(self.url + "/nodeprobe/pid", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"node did not start: {self.log.read_text()[-3000:]}")

    def client(self, user: str | None = None, password: str = "password") -> httpx.Client:
        """An httpx client on this node (a fresh connection pool)."""
        return httpx.Client(base_url=self.url, auth=(user, password) if user else None, timeout=30)

    def kill(self) -> None:
        """Die at once (SIGKILL): nothing is finished, released or flushed."""
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop cleanly by PID (SIGTERM), killing it if it does not end within 20 s."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def deployment(directory: Path, kernel: str = "", *, base_url: str = "https://calendar.example.org") -> Host:
    """A migrated deployment on the run's backend with users alice, bob and root (admin)."""
    directory.mkdir()
    host = make_host(
        directory,
        ["caldav_server", "default_calendar", "limits", "atlassian_export", "nodeprobe"],
        "[limits]\nmax_events = 6\n",
        kernel=f'job_lease = "{JOB_LEASE}s"\nfeed_poll = "0.2s"\nauth_user_failures = 3\n'
        + (f'base_url = "{base_url}"\n' if base_url else "")  # one public URL for every node
        + kernel,
    )
    add_user(host, "alice")
    add_user(host, "bob")
    add_user(host, "root", admin=True)
    return host


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The probe plugin, installed for the nodes and for this process's host."""
    where = install_probe(tmp_path / "site")
    monkeypatch.syspath_prepend(str(where))
    return where


@pytest.fixture
def nodes(tmp_path: Path, probe: Path) -> Iterator[tuple[Host, Node, Node]]:
    """This process's host, and nodes A and B serving the same database."""
    host = deployment(tmp_path / "deployment")
    started = [Node(host.config.path, probe, tmp_path / f"node{n}.log") for n in "ab"]
    try:
        for node in started:
            node.wait_ready()
        yield host, started[0], started[1]
    finally:
        for node in started:
            node.stop()
        host.close()


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def teamcal(host: Host, node: Node, *args: str, stdin: str = "") -> str:
    """Run a `teamcal` command on the deployment, in a process of its own beside ``node``; it must
    succeed. Its output."""
    done = subprocess.run(
        [sys.executable, "-m", "kernel.cli", "--config", str(host.config.path), *args],
        input=stdin, capture_output=True, text=True, timeout=60, env=node.env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def runs(host: Host) -> list[tuple[int, float, float | None]]:
    """The probe job's runs: (pid, started, finished), in order."""
    rows = host.store.execute("SELECT pid, started, finished FROM nodeprobe_runs ORDER BY started")
    return [tuple(r) for r in rows]


def wait_until(condition: Callable[[], Any], timeout: float, step: float = 0.1) -> Any:
    """Poll ``condition()`` until it is truthy (bounded); its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


# -- two nodes -------------------------------------------------------------------------------


def test_a_write_on_one_node_is_in_the_others_sync_and_the_journal_once(nodes) -> None:
    host, a, b = nodes
    start = dt.datetime(2031, 3, 2, 9, tzinfo=UTC)
    with caldav.DAVClient(url=a.url + "/", username="alice", password="password") as writer, \
            caldav.DAVClient(url=b.url + "/", username="alice", password="password") as reader:
        made = writer.principal().make_calendar(name="Shared", cal_id="shared")
        seen = reader.principal().calendar(cal_id="shared")
        token = seen.objects_by_sync_token(load_objects=False).sync_token
        made.save_event(dtstart=start, dtend=start + dt.timedelta(hours=1), summary="Planning", uid="n1")
        changed = seen.objects_by_sync_token(sync_token=token, load_objects=True)
        assert [o.component["uid"] for o in changed] == ["n1"]  # on B, right after A answered
        assert [e.component["summary"] for e in seen.search(event=True, start=start, end=start + dt.timedelta(days=1))] == ["Planning"]
    with a.client("root") as on_a, b.client("root") as on_b:
        pulls = at_once(lambda: on_a.get("/api/atlassian/objects"), lambda: on_b.get("/api/atlassian/objects"))
    assert [p.status_code for p in pulls] == [200, 200]
    rows = host.store.execute("SELECT kind FROM atlassian_export_journal WHERE name = 'n1.ics'").fetchall()
    assert [r[0] for r in rows] == ["changed"]


def test_a_periodic_job_runs_on_one_node_at_a_time_and_moves_when_its_node_dies(nodes) -> None:
    host, a, b = nodes
    assert wait_until(lambda: len(runs(host)) >= 3, timeout=30), "the job did not run"
    done = runs(host)
    for (_, _, finished), (_, next_start, _) in itertools.pairwise(done):
        assert finished is not None and next_start >= finished  # never two runs at once, on any node
    by_pid = {a.pid: a, b.pid: b}
    running = wait_until(lambda: [r for r in runs(host) if r[2] is None], timeout=10)
    assert running, "no run in progress"
    holder = by_pid[running[-1][0]]
    other = b if holder is a else a
    holder.kill()
    killed = time.time()
    moved = wait_until(lambda: [r for r in runs(host) if r[0] == other.pid and r[1] > killed], timeout=4 * JOB_LEASE)
    assert moved, "the job never moved to the live node"
    # the documented handover: the lease (JOB_LEASE) plus a third of it for the idle node to
    # look again, with one second of slack for a busy machine
    assert moved[0][1] - killed <= JOB_LEASE * 4 / 3 + 1.0
    (status,) = [s for s in host.jobs.status() if s.name == "nodeprobe"]
    assert status.runs >= 2 and status.failures == 0  # the killed run is never recorded as finished


def test_racing_writers_on_two_nodes_get_the_answers_one_node_gives(nodes) -> None:
    host, a, b = nodes
    with a.client("alice") as on_a, b.client("alice") as on_b:
        assert on_a.request("MKCALENDAR", "/dav/cal/alice/race/").status_code == 201

        def put(client: httpx.Client, name: str, headers: dict[str, str], summary: str) -> int:
            body = event_object(name, summary=summary)
            return client.put(f"/dav/cal/alice/race/{name}.ics", content=body, headers=headers).status_code

        for i in range(4):  # If-None-Match: * creates once
            codes = at_once(*(lambda c=c, i=i: put(c, f"new{i}", {"If-None-Match": "*"}, "x") for c in (on_a, on_b)))
            assert sorted(codes) == [201, 412], codes
        etag = on_a.get("/dav/cal/alice/race/new0.ics").headers["etag"]
        codes = at_once(*(lambda c=c, s=s: put(c, "new0", {"If-Match": etag}, s) for c, s in ((on_a, "A"), (on_b, "B"))))
        assert sorted(codes) == [204, 412], codes  # If-Match: one of two updates of one version
        # limits: 6 events per account, 4 stored; 3 more from each node, at once
        codes = at_once(*(lambda c=c, n=n: put(c, n, {}, "x") for c in (on_a, on_b) for n in (f"{id(c)}-{k}" for k in range(3))))
    assert sorted(codes).count(201) == 2, codes
    calendar = host.store.collection(host.store.principal("alice").id, "race")
    assert host.store.count_resources(calendar.id) == 6
    # default calendar: bob's first requests, on both nodes at once, make one
    with a.client("bob") as bob_a, b.client("bob") as bob_b:
        codes = at_once(
            lambda: bob_a.request("PROPFIND", "/dav/cal/bob/", headers={"Depth": "1"}).status_code,
            lambda: bob_b.request("PROPFIND", "/dav/cal/bob/", headers={"Depth": "1"}).status_code,
        )
    assert codes == [207, 207]
    assert [c.path for c in host.store.collections(host.store.principal("bob").id)] == ["default"]


LOCKINFO = (
    '<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
    "<D:locktype><D:write/></D:locktype><D:owner>alice on A</D:owner></D:lockinfo>"
)


def test_locks_and_feed_tokens_taken_on_one_node_hold_on_the_other(nodes) -> None:
    host, a, b = nodes
    with a.client("alice") as on_a, b.client("alice") as on_b:
        assert on_a.request("MKCALENDAR", "/dav/cal/alice/locked/").status_code == 201
        assert on_a.put("/dav/cal/alice/locked/x.ics", content=event_object("x")).status_code == 201
        locked = on_a.request("LOCK", "/dav/cal/alice/locked/x.ics", content=LOCKINFO, headers={"Timeout": "Second-600"})
        assert locked.status_code == 200, locked.text
        token = locked.headers["lock-token"]
        assert on_b.put("/dav/cal/alice/locked/x.ics", content=event_object("x")).status_code == 423
        kept = on_b.put("/dav/cal/alice/locked/x.ics", content=event_object("x"), headers={"If": f"({token})"})
        assert kept.status_code == 204
        assert on_b.request("UNLOCK", "/dav/cal/alice/locked/x.ics", headers={"Lock-Token": token}).status_code == 204
        assert on_a.put("/dav/cal/alice/locked/x.ics", content=event_object("x", summary="free")).status_code == 204
    url = teamcal(host, a, "feed", "create", "alice/locked").split()[0]
    path = url.removeprefix("https://calendar.example.org")
    for node in (a, b):
        got = httpx.get(node.url + path, timeout=30)
        assert got.status_code == 200 and "SUMMARY:free" in got.text
    teamcal(host, a, "feed", "revoke", "1")
    assert httpx.get(b.url + path, timeout=30).status_code == 404


def test_logins_are_throttled_and_changed_across_nodes(nodes) -> None:
    host, a, b = nodes
    with a.client("bob") as bob_a, b.client("bob") as bob_b:
        assert bob_a.get("/dav/cal/bob/").status_code in (200, 207, 405)  # logged in (cached) on both
        assert bob_b.get("/dav/cal/bob/").status_code in (200, 207, 405)
    guesses = [(a, "one"), (b, "two"), (a, "three")]
    for node, guess in guesses:  # three failures, spread over the nodes: auth_user_failures = 3
        with node.client("alice", guess) as c:
            assert c.get("/dav/cal/alice/").status_code == 401
    for node in (a, b):
        with node.client("alice") as c:
            refused = c.get("/dav/cal/alice/")
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    # bob's password changes (the CLI, a third process): the old one fails on both nodes at once
    teamcal(host, a, "user", "passwd", "bob", "--password-stdin", stdin="new-password\n")
    for node in (a, b):
        with node.client("bob") as old, node.client("bob", "new-password") as new:
            assert old.get("/dav/cal/bob/").status_code == 401
            assert new.get("/dav/cal/bob/").status_code != 401
    teamcal(host, a, "user", "remove", "bob")
    for node in (a, b):
        with node.client("bob", "new-password") as gone:
            assert gone.get("/dav/cal/bob/").status_code == 401


# -- workers on one machine ----------------------------------------------------------------------


def children(pid: int) -> set[int]:
    """The PIDs of a process's children (Linux /proc)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(p) for p in (task / "children").read_text().split()}
    return found


def alive(pid: int) -> bool:
    """Is there a process with this PID (and not a zombie)?"""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_workers_serve_from_several_processes_sharing_one_store(
    tmp_path: Path, probe: Path, teamcal_backend: str
) -> None:
    host = deployment(tmp_path / "deployment", kernel="workers = 2", base_url="")
    node = Node(host.config.path, probe, tmp_path / "workers.log")
    workers: set[int] = set()
    try:
        node.wait_ready()
        for _ in range(200):  # new connections until both workers answered
            workers.add(int(httpx.get(node.url + "/nodeprobe/pid", timeout=10).text))
            if len(workers) == 2:
                break
        assert len(workers) == 2 and workers <= children(node.pid)
        for i in range(3):  # failed logins counted together, whichever worker answers
            with node.client("alice", f"guess{i}") as c:
                assert c.get("/dav/cal/alice/").status_code == 401
        with node.client("alice") as c:
            assert c.get("/dav/cal/alice/").status_code == 429
        writes = []
        for i in range(6):
            with node.client("bob") as c:
                if i == 0:
                    assert c.request("MKCALENDAR", "/dav/cal/bob/w/").status_code == 201
                writes.append(c.put(f"/dav/cal/bob/w/e{i}.ics", content=event_object(f"e{i}")).status_code)
        assert writes == [201] * 6
        with node.client("bob") as c:
            listing = c.request("PROPFIND", "/dav/cal/bob/w/", headers={"Depth": "1"})
        assert listing.status_code == 207 and all(f"e{i}.ics" in listing.text for i in range(6))
        assert wait_until(lambda: len(runs(host)) >= 2, timeout=30)
        done = [r for r in runs(host) if r[2] is not None]
        assert {pid for pid, _, _ in runs(host)} <= workers
        for (_, _, finished), (_, next_start, _) in itertools.pairwise(done):
            assert next_start >= finished  # the job once at a time over the workers
    finally:
        node.stop()
        host.close()
    assert node.proc.returncode == 0
    warned = "base_url is not set" in node.log.read_text()
    assert warned == (teamcal_backend == "postgresql")  # nodes on a shared database need one URL
    assert wait_until(lambda: not any(alive(pid) for pid in workers), timeout=20)


def test_metrics_of_several_workers_add_up_whichever_worker_answers(tmp_path: Path, probe: Path) -> None:
    """With workers = 2 each worker counts its own requests, and a scrape (whichever worker it
    reaches) gives the sum of both: counts only grow from scrape to scrape, and cover every
    request sent before it."""
    host = deployment(tmp_path / "deployment", kernel='workers = 2\nmetrics_token = "scrape-me"', base_url="")
    node = Node(host.config.path, probe, tmp_path / "workers.log")
    try:
        node.wait_ready()
        answered_by: set[int] = set()
        for _ in range(200):  # new connections until both workers answered
            answered_by.add(int(httpx.get(node.url + "/nodeprobe/pid", timeout=10).text))
            if len(answered_by) == 2:
                break
        assert len(answered_by) == 2
        seen: list[float] = []
        for round_no in range(6):
            for _ in range(5):  # each on a new connection: both workers take some
                assert httpx.get(node.url + "/nowhere", timeout=10).status_code == 404
            scrape = httpx.get(node.url + "/metrics", headers={"Authorization": "Bearer scrape-me"}, timeout=10)
            assert scrape.status_code == 200
            found = re.search(r'^teamcal_requests_total\{method="GET",status="404"\} (\S+)$', scrape.text, re.M)
            assert found is not None, scrape.text[:2000]
            seen.append(float(found.group(1)))
            assert seen[-1] >= 5 * (round_no + 1)
        assert seen == sorted(seen)
    finally:
        node.stop()
        host.close()
    assert node.proc.returncode == 0
