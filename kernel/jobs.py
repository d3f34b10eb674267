"""Periodic background jobs run in the app's lifespan."""

from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from kernel.host import Host

log = logging.getLogger("teamcal.jobs")


@dataclass(frozen=True)
class Job:
    """A job a plugin returns from ``register_jobs``: ``func(host)`` every ``interval`` seconds."""

    name: str
    interval: float
    func: Callable[[Any], Any]


async def run_job(host: Host, job: Job, stop: asyncio.Event) -> None:
    """Run one job on its interval until ``stop`` is set; errors are logged and the schedule kept.

    A plain function runs in a worker thread; an ``async def`` one on the loop.
    """
    while not stop.is_set():
        try:
            if inspect.iscoroutinefunction(job.func):
                result = job.func(host)
            else:
                result = await host.run(job.func, host)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one failing run must not end the job
            log.exception("job %s failed", job.name)
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(job.interval, 0.01))
        except asyncio.TimeoutError:
            pass
