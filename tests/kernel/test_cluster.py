"""Several processes on one database: leases, jobs that run once per interval, and the feed follower.

Each "process" here is a Host of its own on the same database (as a second
`teamcal serve` would be); the two-node tests with real servers are in
tests/kernel/test_nodes.py.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from kernel import Job, hookimpl
from kernel.host import Host
from kernel.jobs import run_job
from kernel.leases import Leases
from kernel.testing import add_user, event_object, make_host


@pytest.fixture
def pair(tmp_path: Path):
    """Two hosts on one database, with a one-second job lease."""
    first = make_host(tmp_path, kernel='job_lease = "1s"')
    second = Host.from_config(first.config.path)
    yield first, second
    first.close()
    second.close()


def test_a_lease_has_one_holder_until_it_is_released_or_expires(pair) -> None:
    first, second = pair
    a, b = Leases(first.store, "a"), Leases(second.store, "b")
    assert a.acquire("work", 60) and a.acquire("work", 60)  # taking it again renews it
    assert not b.acquire("work", 60) and b.holder("work") == "a"
    assert a.renew("work", 60) and not b.renew("work", 60)
    a.release("work")
    b.release("work")  # not b's: nothing happens
    assert a.holder("work") is None and b.acquire("work", 60)
    assert not a.acquire("work", 60)
    Leases(second.store, "b").acquire("expired", -1)
    assert a.acquire("expired", 60)  # a holder that stopped renewing loses it


def count_runs(host: Host) -> int:
    row = host.store.execute("SELECT runs FROM jobs WHERE name = 'tick'").fetchone()
    return int(row[0]) if row else 0


async def run_for(hosts: list[Host], job: Job, seconds: float) -> None:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(run_job(h, job, stop)) for h in hosts]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)


def test_a_job_runs_once_per_interval_across_processes(pair) -> None:
    first, second = pair
    ran_on: list[str] = []
    job = Job("tick", 0.5, lambda host: ran_on.append(host.leases.owner))
    asyncio.run(run_for([first, second], job, 2.6))
    # six intervals at most, whoever ran them; two processes on their own would have made about ten
    assert 3 <= len(ran_on) <= 6, ran_on
    assert count_runs(first) == len(ran_on)
    status = first.jobs.status()
    assert [s.name for s in status] == ["tick"] and status[0].failures == 0 and status[0].running_on is None


def test_a_dead_processes_job_moves_to_another_after_the_lease(pair) -> None:
    first, second = pair
    started = asyncio.Event()

    async def hang(host: Host) -> None:
        started.set()
        await asyncio.sleep(3600)

    ran: list[float] = []

    async def scenario() -> float:
        stop = asyncio.Event()
        dying = asyncio.create_task(run_job(first, Job("tick", 0.2, hang), stop))
        await asyncio.wait_for(started.wait(), timeout=10)
        dying.cancel()  # the process dies mid-run: nothing finishes, nothing is released
        died = time.monotonic()
        healthy = asyncio.create_task(run_job(second, Job("tick", 0.2, lambda h: ran.append(time.monotonic())), stop))
        for _ in range(200):
            if ran:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(healthy, timeout=30)
        return died

    died = asyncio.run(scenario())
    assert ran, "the job never moved to the live process"
    assert ran[0] - died <= 1.0 + 1.0 / 3 + 1.0  # the lease, a third of it to look again, and slack


def test_a_failing_job_is_recorded_and_keeps_its_schedule(pair) -> None:
    first, _ = pair

    def broken(host: Host) -> None:
        raise RuntimeError("remote away")

    asyncio.run(run_for([first], Job("tick", 0.2, broken), 1.0))
    (status,) = first.jobs.status()
    assert status.runs >= 2 and status.failures == status.runs
    assert status.last_error == "RuntimeError: remote away"


class Recorder:
    """Records the changes ``changes_committed`` is told of."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str | None]] = []

    @hookimpl
    def changes_committed(self, host, changes) -> None:
        self.seen += [(c.seq, c.name) for c in changes]


def test_every_process_hears_of_every_change_once_in_order(tmp_path: Path) -> None:
    mine, theirs = Recorder(), Recorder()
    first = make_host(tmp_path, plugins=[("recorder", mine)])
    second = Host.from_config(first.config.path, extra_plugins=[("recorder", theirs)])
    alice = add_user(first, "alice")
    assert first.feed.poll() == second.feed.poll() == []  # each starts at the feed's end
    cal = first.writes.create_collection(alice, "work", "calendar", principal=alice)
    first.writes.put_object(cal, "a.ics", event_object("a"), principal=alice)
    second.writes.put_object(cal, "b.ics", event_object("b"), principal=alice)
    first.writes.put_object(cal, "c.ics", event_object("c"), principal=alice)
    for host in (first, second):
        host.notify(host.feed.poll(), local=False)
    # its own changes at once, the others' from the feed, in feed order
    assert [name for _, name in mine.seen] == [None, "a.ics", "c.ics", "b.ics"]
    assert [name for _, name in theirs.seen] == ["b.ics", None, "a.ics", "c.ics"]
    assert sorted(theirs.seen) == sorted(mine.seen) and len(set(mine.seen)) == 4  # each once
    first.close()
    second.close()


def test_a_rolled_back_transaction_leaves_no_mark(tmp_path: Path) -> None:
    recorder = Recorder()
    first = make_host(tmp_path)
    second = Host.from_config(first.config.path, extra_plugins=[("recorder", recorder)])
    alice = add_user(first, "alice")
    second.feed.poll()
    cal = second.writes.create_collection(alice, "work", "calendar", principal=alice)
    with pytest.raises(RuntimeError), second.writes.transaction():
        second.writes.put_object(cal, "gone.ics", event_object("gone"), principal=alice)
        raise RuntimeError("undo")
    first.writes.put_object(cal, "kept.ics", event_object("kept"), principal=alice)
    assert [c.name for c in second.feed.poll()] == ["kept.ics"]
    first.close()
    second.close()
