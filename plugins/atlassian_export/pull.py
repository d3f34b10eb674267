"""Pull pages: what a Forge connector's scheduled trigger fetches, acknowledged by the next call.

``page(cursor)`` returns the batch after ``cursor`` and its new cursor. Passing
that cursor back acknowledges the page: only then is it recorded as handed over
(the objects it held, for later deletions) and does the consumer's cursor move.
Asking again with the old cursor (a lost response) computes the page again;
an older cursor than the acknowledged one replays from there; a cursor that
was never handed out is a conflict.
"""

from __future__ import annotations

from datetime import datetime

from . import journal, state
from .batches import delete_requests, set_objects_requests
from .context import Deployment
from .plan import plan


class UnknownCursor(Exception):
    """The cursor was never handed out (or its page was superseded)."""


def page(deployment: Deployment, cursor: int | None, limit: int, now: datetime) -> dict:
    """``{"requests", "deletions", "cursor", "more"}`` after ``cursor`` (None: the acknowledged one)."""
    store = deployment.store
    journal.ingest(deployment)
    consumer = state.ensure_consumer(store, state.PULL, journal.head(store))
    if cursor is None:
        cursor = consumer.cursor
    elif cursor != consumer.cursor:
        effect = state.take_pending(store, state.PULL, cursor)
        if effect is not None:
            state.apply(store, state.PULL, effect)
        elif cursor > consumer.cursor:
            raise UnknownCursor(
                f"cursor {cursor} was not handed out here: pass the last cursor you received"
                f" (acknowledged: {consumer.cursor}), or 0 to start over"
            )
    batch = plan(deployment, cursor, limit, now, state.Handed(store, (state.PULL,)))
    if not batch.empty:
        state.save_pending(store, state.PULL, batch.effect)
    if batch.failures:
        state.record_rejected(store, state.PULL, [(w, "map", usn, reason) for w, usn, reason in batch.failures])
    backfill = cursor < consumer.backfill_until
    return {
        "requests": set_objects_requests(batch.upserts, size=int(deployment.settings.batch_size), backfill=backfill),
        "deletions": delete_requests(batch.deletions),
        "cursor": batch.through,
        "more": batch.more,
    }
