"""Running a plugin's periodic job once, now, in a test (no schedule, no sleeping)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from kernel.host import Host
from kernel.jobs import Job

#: Seconds a job (and the tasks it started) may take in :func:`run_job`.
JOB_TIMEOUT = 120.0


def registered_jobs(host: Host) -> dict[str, Job]:
    """The jobs the host's plugins register (``register_jobs``), by name."""
    return {job.name: job for result in host.hook.register_jobs(host=host) for job in (result or [])}


def _job(host: Host, name: str) -> Job:
    jobs = registered_jobs(host)
    if name not in jobs:
        raise LookupError(f"no job named {name!r}: the enabled plugins register {sorted(jobs) or 'none'}")
    return jobs[name]


def run_job(host: Host, name: str) -> Any:
    """Run the registered job ``name`` once, now, and return what it returned.

    A plain function is called in this thread; an ``async def`` one runs on a
    fresh event loop, which also waits for the tasks the job started (a scheduler
    starting syncs) before it returns. The job's errors are raised, not logged. Its
    schedule and lease are left alone: this is a test's "run it now", not a server's
    run. From an async test use :func:`run_job_async`.
    """
    job = _job(host, name)
    result = job.func(host)
    if not inspect.isawaitable(result):
        return result
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_settled(result))
    if inspect.iscoroutine(result):
        result.close()
    raise RuntimeError("run_job is for synchronous tests: await run_job_async(host, name) in an async one")


async def run_job_async(host: Host, name: str) -> Any:
    """:func:`run_job` for async tests: a plain function runs in a worker thread (as the server
    runs it), an ``async def`` one on this loop; waits for the tasks the job started."""
    job = _job(host, name)
    if inspect.iscoroutinefunction(job.func):
        return await _settled(job.func(host))
    result = await host.run(job.func, host)
    return await _settled(result) if inspect.isawaitable(result) else result


async def _settled(awaitable: Any) -> Any:
    """Await the job, then the tasks it started on this loop (bounded by :data:`JOB_TIMEOUT`)."""
    before = asyncio.all_tasks()
    async with asyncio.timeout(JOB_TIMEOUT):
        result = await awaitable
        while started := asyncio.all_tasks() - before - {asyncio.current_task()}:
            await asyncio.wait(started)
    return result
