"""A sliding-window rate limiter whose ledger is a table, so every process shares one budget.

Atlassian counts per app and site, not per process: the server's push job and a
`teamcal export atlassian push` run by hand draw from the same minute. Each
request is written to ``atlassian_export_sent`` (bucket, time, count) inside the
transaction that checks the budget; :meth:`RateLimiter.acquire` waits until the
last 60 seconds hold room for the request. The clock and the sleep are
injectable so that tests run the real logic without waiting real minutes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from kernel import Store

WINDOW = 60.0
#: Waits one acquire may take before giving up (each wait frees at least one ledger entry).
MAX_ROUNDS = 10_000

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """At most ``per_minute`` units (objects or ids) in any 60 seconds, in one named bucket."""

    def __init__(
        self, store: Store, bucket: str, per_minute: int, *, clock: Clock = time.time, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.store = store
        self.bucket = bucket
        self.per_minute = max(1, int(per_minute))
        self.clock = clock
        self.sleep = sleep

    def _try(self, count: int) -> float:
        """Take ``count`` units now (0.0), or say how long to wait before trying again."""
        with self.store.transaction():
            now = self.clock()
            self.store.execute(
                "DELETE FROM atlassian_export_sent WHERE bucket = ? AND at <= ?", (self.bucket, now - WINDOW)
            )
            rows = self.store.execute(
                "SELECT at, count FROM atlassian_export_sent WHERE bucket = ? ORDER BY at", (self.bucket,)
            ).fetchall()
            used = sum(c for _, c in rows)
            if used + count <= self.per_minute:
                self.store.execute(
                    "INSERT INTO atlassian_export_sent (bucket, at, count) VALUES (?, ?, ?)", (self.bucket, now, count)
                )
                return 0.0
            must_free, freed = used + count - self.per_minute, 0
            for at, c in rows:
                freed += c
                if freed >= must_free:
                    return max(at + WINDOW - now, 0.001)
        return WINDOW

    async def acquire(self, count: int) -> float:
        """Wait until ``count`` more units fit in the window, take them, and return the seconds waited.

        A request larger than the whole budget is let through alone in an empty window.
        """
        count = min(max(0, int(count)), self.per_minute)
        waited = 0.0
        for _ in range(MAX_ROUNDS):
            delay = self._try(count)
            if delay == 0.0:
                return waited
            await self.sleep(delay)
            waited += delay
        raise TimeoutError(f"rate limiter {self.bucket}: no room after {waited:.0f} s")
