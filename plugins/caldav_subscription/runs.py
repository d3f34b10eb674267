"""One sync of one subscription, with its lease, its status and its next run.

The sync runs under the kernel lease ``caldav_subscription:ID`` (``host.leases``,
taken for this one task), so a subscription is never synced twice at once,
whether by two tasks of one server, two nodes, or a server and `teamcal
subscription sync`. Store work runs in worker threads (``host.run``); the
event loop only waits for the remote.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from kernel import UnreadableSecret
from kernel.netguard import Refused
from plugins.caldav_subscription import records
from plugins.caldav_subscription.davxml import XMLError
from plugins.caldav_subscription.engine import Engine, Progress
from plugins.caldav_subscription.feeds import FeedError
from plugins.caldav_subscription.manage import credentials
from plugins.caldav_subscription.reconcile import MAX_REPORTED, Report
from plugins.caldav_subscription.remote_http import RemoteClient, RemoteError
from plugins.caldav_subscription.settings import Settings

if TYPE_CHECKING:
    from kernel import Host

log = logging.getLogger("teamcal.caldav_subscription")

#: How long a lease lasts without renewal; a crashed process's lease expires after this.
LEASE_TTL = 300.0
#: Renew the lease when it was last renewed this long ago.
RENEW_AFTER = 30.0


class Busy(Exception):
    """Another sync of this subscription is running (here or in another process)."""


class LeaseLost(Exception):
    """Our lease expired and someone else took the subscription over."""


@dataclass(frozen=True)
class Outcome:
    """How one sync went: the report, the error (None on success), time and requests."""

    subscription_id: int
    report: Report
    error: str | None
    duration: float
    requests: int

    def summary(self) -> str:
        """One line for the CLI and logs."""
        c = self.report.counts()
        text = (
            f"subscription {self.subscription_id}: pulled {c['pulled']}, pushed {c['pushed']},"
            f" deleted {c['deleted']}, conflicts {c['conflicts']}, skipped {c['skipped']}"
            f" in {self.duration:.2f}s ({self.requests} requests)"
        )
        return text + (f"; FAILED: {self.error}" if self.error else "")

    def public(self) -> dict[str, object]:
        """As JSON."""
        return {
            "id": self.subscription_id,
            "ok": self.error is None,
            "error": self.error,
            "duration": round(self.duration, 3),
            "requests": self.requests,
            "counts": self.report.counts(),
            "skipped": self.report.skipped[:MAX_REPORTED],
        }


async def sync_now(host: Host, subscription_id: int, *, progress: Progress | None = None) -> Outcome:
    """Sync one subscription now; raises :class:`Busy` when it is already being synced, LookupError when gone.

    Remote failures never raise: they are recorded in the status and returned
    in the :class:`Outcome`, and local data stays as it was.
    """
    settings: Settings = host.settings("caldav_subscription")
    store = host.store
    leases = host.leases.task()
    lease = records.lease_name(subscription_id)
    if await host.run(records.get, store, subscription_id) is None:
        raise LookupError(subscription_id)
    if not await host.run(leases.acquire, lease, LEASE_TTL):
        raise Busy(subscription_id)
    try:
        sub = await host.run(records.get, store, subscription_id)
        if sub is None:
            raise LookupError(subscription_id)
        started = time.time()
        clock = time.perf_counter()
        renewed = time.monotonic()

        async def heartbeat() -> None:
            nonlocal renewed
            if time.monotonic() - renewed > RENEW_AFTER:
                if not await host.run(leases.renew, lease, LEASE_TTL):
                    raise LeaseLost()
                renewed = time.monotonic()

        await host.run(partial(records.update, store, subscription_id, last_attempt=started))
        report = Report()
        error: str | None = None
        requests = 0
        engine: Engine | None = None
        collection = await host.run(store.collection_by_id, sub.collection_id)
        try:
            if collection is None:
                raise RemoteError("the local calendar no longer exists")
            client = RemoteClient(settings, sub.url, *credentials(host, sub))
            try:
                engine = Engine(
                    host, sub, collection, client, settings.conflict_policy, heartbeat=heartbeat, progress=progress
                )
                await engine.run()
            finally:
                requests = client.requests
                await client.aclose()
        except (RemoteError, Refused, XMLError, FeedError) as exc:
            error = str(exc)
        except UnreadableSecret as exc:
            error = f"cannot use the stored credentials: {exc}"
        except LeaseLost:
            error = "the sync took too long and lost its lease; another run took over"
        except Exception as exc:
            log.exception("subscription %s: sync failed", subscription_id)
            error = f"internal error: {type(exc).__name__}: {exc}"[:500]
        if engine is not None:
            report = engine.report
        duration = time.perf_counter() - clock
        await host.run(_finish, host, settings, sub, engine, report, error, duration, requests)
        return Outcome(subscription_id, report, error, duration, requests)
    finally:
        await host.run(leases.release, lease)


def _finish(
    host: Host,
    settings: Settings,
    sub: records.Subscription,
    engine: Engine | None,
    report: Report,
    error: str | None,
    duration: float,
    requests: int,
) -> None:
    """Record the status and schedule the next run (with jitter; backing off after failures)."""
    now = time.time()
    jitter = random.uniform(0, float(settings.jitter))
    values: dict[str, object] = {
        "last_duration": duration,
        "last_requests": requests,
        "last_counts": json.dumps(report.counts()),
        "last_skipped": json.dumps(report.skipped[:MAX_REPORTED]),
    }
    if error is None:
        assert engine is not None
        values.update(engine.state)
        values.update(failures=0, last_success=now, next_run=now + sub.interval + jitter)
    else:
        failures = sub.failures + 1
        delay = min(float(settings.backoff_max), sub.interval * 2 ** min(failures - 1, 30))
        values.update(failures=failures, last_error=error, last_error_at=now, next_run=now + delay + jitter)
        log.warning("subscription %s: sync failed (%d in a row): %s", sub.id, failures, error)
    current = records.get(host.store, sub.id)
    if current is not None:
        records.update(host.store, sub.id, **values)
