"""``changes_committed`` for every process's changes, not only this one's.

The process that commits a change calls ``changes_committed`` right after the
commit. Every other process learns of it from the change feed: a
:class:`FeedFollower` in each server's lifespan reads the feed by sequence
number every ``[kernel] feed_poll`` seconds and passes on the changes other
processes made (each change row names the process that recorded it), in feed
order, once each. Because every write holds the
database's write lock (kernel.store.connections), sequence numbers follow
commit order and a reader that has seen number N has seen everything before it.

This is a nudge, as on one node: a consumer that must see every change exactly
once, across restarts, keeps its own cursor in the feed (``store.changes_since``)
and moves it in the same transaction as its work.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kernel.host import Host
    from kernel.types import Change

log = logging.getLogger("teamcal")

#: Changes read per poll.
BATCH = 1000


class FeedFollower:
    """Passes other processes' changes to this process's ``changes_committed`` hooks."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.cursor: int | None = None

    def poll(self) -> list[Change]:
        """Read the feed past the cursor (in a worker thread); the other processes' changes,
        told from this one's by the origin each change row names (``store.changes_by_others``)."""
        store = self.host.store
        if self.cursor is None:
            self.cursor = store.latest_seq()
            return []
        self.cursor, changes = store.changes_by_others(self.cursor, limit=BATCH)
        return changes

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the feed until ``stop`` is set."""
        interval = float(self.host.kernel.feed_poll)
        while not stop.is_set():
            try:
                changes = await self.host.run(self.poll)
                if changes:
                    self.host.notify(changes, local=False)
                    continue  # there may be more
            except Exception:
                log.exception("reading the change feed failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass
