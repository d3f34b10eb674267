"""The background scheduler: a kernel job that starts due subscriptions.

Each tick looks for subscriptions whose ``next_run`` has come and starts
each in its own task (at most ``max_concurrent_syncs`` at once). The next run
is set by the sync itself (interval plus jitter, or exponential backoff after
failures); each sync's kernel lease keeps two tasks or nodes from syncing the
same subscription, and the tick passes over those a lease is held for (the
tick itself is a kernel job: one node runs it at a time). At shutdown running syncs are cancelled between two
steps (never inside a write transaction) and give their lease back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from plugins.caldav_subscription import records
from plugins.caldav_subscription.runs import Busy, sync_now

if TYPE_CHECKING:
    from kernel import Host

log = logging.getLogger("teamcal.caldav_subscription")


class Scheduler:
    """Starts due syncs for one host; ``tick`` is the kernel job's function."""

    def __init__(self, host: Host, max_concurrent: int) -> None:
        self.host = host
        self.max_concurrent = max(1, max_concurrent)
        self.running: dict[int, asyncio.Task[None]] = {}
        self.stopping = False

    async def tick(self, host: Host) -> None:
        """Start every due subscription not already running here, up to the concurrency limit."""
        if self.stopping:
            return
        due = await host.run(lambda: records.due(host.store, time.time(), records.running(host.leases)))
        for subscription_id in due:
            if len(self.running) >= self.max_concurrent:
                break
            if subscription_id in self.running:
                continue
            task = asyncio.create_task(self._run(subscription_id), name=f"subscription-{subscription_id}")
            self.running[subscription_id] = task

    async def _run(self, subscription_id: int) -> None:
        try:
            outcome = await sync_now(self.host, subscription_id)
            log.info("%s", outcome.summary())
        except (Busy, LookupError):
            pass
        except Exception:
            log.exception("subscription %s: sync crashed", subscription_id)
        finally:
            self.running.pop(subscription_id, None)

    async def stop(self) -> None:
        """Cancel running syncs and wait for them to let go of their leases.

        Ticks started meanwhile start nothing; afterwards the scheduler may tick again
        (the host's next lifespan: it is the host's one scheduler, in ``host.state``).
        """
        self.stopping = True
        try:
            tasks = list(self.running.values())
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=10)
        finally:
            self.stopping = False
