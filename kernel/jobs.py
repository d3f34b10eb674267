"""Periodic background jobs, run once per interval across every process and node.

Each process's lifespan runs a loop per job: when the job is due (its
``next_due`` in the store has passed) and its lease is free, the process takes
the lease, runs the job (renewing the lease meanwhile), records the run and
the next due time, and gives the lease back. So a job runs once per interval
on the whole cluster, not once per process; a process that dies mid-run stops
renewing, and another takes the job over ``[kernel] job_lease`` seconds later
(plus at most a third of it, how often idle processes look).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kernel.host import Host

log = logging.getLogger("teamcal.jobs")


@dataclass(frozen=True)
class Job:
    """A job a plugin returns from ``register_jobs``: ``func(host)`` every ``interval`` seconds."""

    name: str
    interval: float
    func: Callable[[Any], Any]


@dataclass(frozen=True)
class JobStatus:
    """What the store knows of a job's runs (for the admin console and metrics)."""

    name: str
    next_due: float
    last_started: float | None
    last_finished: float | None
    last_error: str | None
    runs: int
    failures: int
    running_on: str | None


class JobSchedule:
    """The jobs' shared state in the store: when each is due, and the lease its runner holds."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def lease_name(self, job: Job) -> str:
        """The lease a job runs under."""
        return f"job:{job.name}"

    def claim(self, job: Job) -> float | None:
        """Take a due job for this process: the start time, or None when it is not due or taken."""
        store = self.host.store
        now = time.time()
        row = store.execute("SELECT next_due FROM jobs WHERE name = ?", (job.name,)).fetchone()
        if row is not None and row[0] > now:
            return None
        with store.transaction():
            store.execute(
                "INSERT INTO jobs (name, next_due) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (job.name, now)
            )
            due = store.execute("SELECT next_due FROM jobs WHERE name = ?", (job.name,)).fetchone()[0]
            if due > now or not self.host.leases.acquire(self.lease_name(job), self.ttl):
                return None
            store.execute("UPDATE jobs SET last_started = ? WHERE name = ?", (now, job.name))
        return now

    def finish(self, job: Job, started: float, error: str | None) -> None:
        """Record a run and when the job is due next, and give its lease back."""
        store = self.host.store
        with store.transaction():
            store.execute(
                "UPDATE jobs SET next_due = ?, last_finished = ?, runs = runs + 1,"
                " failures = failures + ?, last_error = ? WHERE name = ?",
                (started + job.interval, time.time(), int(error is not None), error, job.name),
            )
            self.host.leases.release(self.lease_name(job))

    def wait(self, job: Job) -> float:
        """Seconds until this process should look at the job again."""
        row = self.host.store.execute("SELECT next_due FROM jobs WHERE name = ?", (job.name,)).fetchone()
        until_due = (row[0] if row else 0) - time.time()
        return min(max(until_due, 0.01), max(job.interval, 0.01), self.ttl / 3)

    @property
    def ttl(self) -> float:
        """How long a job's lease lasts without renewal."""
        return float(self.host.kernel.job_lease)

    def status(self) -> list[JobStatus]:
        """Every job the store has seen, by name."""
        rows = self.host.store.execute(
            "SELECT j.name, j.next_due, j.last_started, j.last_finished, j.last_error, j.runs, j.failures, l.owner"
            " FROM jobs j LEFT JOIN leases l ON l.name = 'job:' || j.name AND l.until >= ? ORDER BY j.name",
            (time.time(),),
        )
        return [JobStatus(*row) for row in rows]


async def run_job(host: Host, job: Job, stop: asyncio.Event) -> None:
    """Run one job whenever it is due and this process gets its lease, until ``stop`` is set.

    A plain function runs in a worker thread, an ``async def`` one on the loop;
    errors are logged and recorded, and the schedule is kept.
    """
    schedule = host.jobs
    while not stop.is_set():
        try:
            started = await host.run(schedule.claim, job)
            if started is not None:
                error = await _run_once(host, job, schedule)
                await host.run(schedule.finish, job, started, error)
            wait = await host.run(schedule.wait, job)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s could not be scheduled", job.name)
            wait = max(job.interval, 1.0)
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait)
        except TimeoutError:
            pass


async def _run_once(host: Host, job: Job, schedule: JobSchedule) -> str | None:
    """Run the job while a task renews its lease; the error message, or None."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(schedule.ttl / 3)
            if not await host.run(host.leases.renew, schedule.lease_name(job), schedule.ttl):
                log.warning("job %s lost its lease while running; another process may run it", job.name)

    renewing = asyncio.create_task(renew())
    try:
        if inspect.iscoroutinefunction(job.func):
            result = job.func(host)
        else:
            result = await host.run(job.func, host)
        if inspect.isawaitable(result):
            await result
        return None
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("job %s failed", job.name)
        return f"{type(exc).__name__}: {exc}"[:2000]
    finally:
        renewing.cancel()
