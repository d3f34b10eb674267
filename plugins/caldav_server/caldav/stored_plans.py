"""Expansion plans kept in the database beside their objects, so that an expanded report
does not plan at query time an object written while the plugin ran.

A plan (:class:`expansion.ExpansionPlan`) depends on the object's text alone. The row of
an object (``caldav_server_plans``, keyed by its resource id, gone with it) holds the plan
of the content whose ETag it names, in the :data:`expansion.PLAN_FORMAT` it names. It is
written in the object's own write transaction (the ``object_stored`` hook) and read, a
batch of objects at a time, into the in-memory plan cache by the reports that expand; a
row whose ETag or format is not the object's is not read. Objects that expand to
themselves get a row saying so (they need no plan): reports then answer with their text
without looking at it, and :func:`backfill` can tell an object it has planned from one it
has not.

:func:`backfill` (a periodic job) plans what was written while the plugin was off or
before it stored plans, and what an older format stored. Its first run in a process looks
at every calendar object; once one has looked at all of them, later runs look only at the
objects the change feed names since (what another node without the plugin wrote, say): a
run with nothing to do then reads a few rows, not every object. A row the reader cannot
decode is skipped with a warning: its object is planned at query time, as without a row.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from kernel import Budget
from plugins.caldav_server.caldav import expansion
from plugins.caldav_server.caldav.calendar_data import parsed_calendar

if TYPE_CHECKING:
    import icalendar

    from kernel import Resource, Store

log = logging.getLogger("teamcal.caldav_server.plans")

#: What the plan column holds for an object that expands to itself.
SELF = '"self"'
#: Objects read or planned per statement or transaction.
BATCH = 500
#: Longest a :func:`backfill` run plans before it stops until its next run.
BACKFILL_SECONDS = 20.0


def plan_column(data: bytes, calendar: Callable[[], icalendar.Calendar]) -> str | None:
    """The plan column of a stored object (``calendar`` gives its parse when needed), or
    None when it cannot be planned now (it is then planned at query time). Made afresh:
    the in-memory cache holds only what expanded reports met."""
    if expansion.expands_to_itself(data):
        return SELF
    try:
        return expansion.plan_text(expansion.plan_of(data, calendar))
    except Exception:  # a plan is an optimisation: never a reason to refuse or fail a write
        log.warning("could not plan an object of %d bytes; it is planned when expanded", len(data), exc_info=True)
        return None


def record(tx: Store, resource: Resource, data: bytes, calendar: icalendar.Calendar) -> None:
    """In an object write's transaction: store the plan of its new content."""
    text = plan_column(data, lambda: calendar)
    if text is None:
        tx.execute("DELETE FROM caldav_server_plans WHERE resource_id = ?", (resource.id,))
    else:
        _save(tx, resource, text)


def _save(tx: Store, resource: Resource, text: str) -> None:
    tx.execute(
        "INSERT INTO caldav_server_plans (resource_id, etag, format, plan) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (resource_id) DO UPDATE SET etag = excluded.etag, format = excluded.format,"
        " plan = excluded.plan",
        (resource.id, resource.etag, expansion.PLAN_FORMAT, text),
    )


def preload(store: Store, rows: Iterable[tuple[Resource, bytes | None]]) -> None:
    """Bring what is stored of these objects (resource rows with their stored bytes) into the
    in-memory plan cache, their plans and which of them expand to themselves (so that their
    text need not be looked at): one query for those of them it does not know already."""
    stored = [(resource.id, resource.etag) for resource, data in rows if data]
    unknown = expansion.plans_wanted(etag for _, etag in stored)
    wanted = {resource_id: etag for resource_id, etag in stored if etag in unknown}
    ids = list(wanted)
    for first in range(0, len(ids), BATCH):
        part = ids[first : first + BATCH]
        among, values = store.one_of("resource_id", part)
        found = store.execute(
            f"SELECT resource_id, etag, plan FROM caldav_server_plans WHERE format = ? AND {among}",
            (expansion.PLAN_FORMAT, *values),
        ).fetchall()
        plans: list[tuple[str, expansion.ExpansionPlan | None, int]] = []
        itself: list[str] = []
        for resource_id, etag, text in found:
            if etag != wanted[resource_id]:
                continue
            if text == SELF:
                itself.append(etag)
                continue
            try:
                plan = expansion.plan_from_text(text)
            except ValueError as exc:
                log.warning("the stored plan of resource %d is unreadable (%s); planning it anew", resource_id, exc)
                continue
            plans.append((etag, plan, 2 * len(text)))  # about twice its text, as the cache counts plans
        expansion.remember_all(plans, itself)


class Progress:
    """How far :func:`backfill` has looked, in one process: ``seen`` is None until a run has
    looked at every calendar object, then the newest change number before that run began."""

    def __init__(self) -> None:
        self.seen: int | None = None


def backfill(store: Store, progress: Progress | None = None, *, seconds: float = BACKFILL_SECONDS) -> int:
    """Plan the calendar objects whose row is missing, of another content or of another
    format; for at most about ``seconds``. With ``progress`` (kept by the caller between
    runs), only those the change feed names after ``progress.seen`` once a run has looked at
    all of them. Returns how many were planned."""
    deadline = time.monotonic() + seconds
    begun = store.latest_seq()
    since = progress.seen if progress is not None else None
    sql = _unplanned(by_feed=since is not None)
    planned = 0
    after = since or 0
    while time.monotonic() < deadline:
        rows = store.execute(sql, (expansion.PLAN_FORMAT, after, BATCH)).fetchall()
        if not rows:
            if progress is not None:  # all looked at: next time, what changed since this run began
                progress.seen = begun
            break
        after = rows[-1][0]
        planned += _plan_batch(store, list(dict.fromkeys(row[1] for row in rows)))
    return planned


def _unplanned(*, by_feed: bool) -> str:
    """The statement reading calendar objects without a current plan, as (position, id) in
    order of position after a given one (parameters: the plan format, the position, how
    many). The position is the object's id; ``by_feed``, the number of a change naming the
    object: then only the objects of the changes after it are read, found from the feed."""
    source, position = "resources r", "r.id"
    if by_feed:
        source, position = "changes ch JOIN resources r ON r.collection_id = ch.collection_id AND r.name = ch.name", "ch.seq"
    return (
        f"SELECT {position}, r.id FROM {source} JOIN collections c ON c.id = r.collection_id"
        " LEFT JOIN caldav_server_plans p ON p.resource_id = r.id AND p.etag = r.etag AND p.format = ?"
        f" WHERE {position} > ? AND c.kind = 'calendar' AND p.resource_id IS NULL ORDER BY {position} LIMIT ?"
    )


def _plan_batch(store: Store, ids: Sequence[int]) -> int:
    """Plan these objects outside any transaction (writers go on meanwhile), then store the
    plans of those still holding the content planned, in one short transaction."""
    made: list[tuple[Resource, str]] = []
    for resource, data in store.resources_by_ids(list(ids), with_data=True):
        if data:
            text = plan_column(data, functools.partial(parsed_calendar, data, Budget()))
            if text is not None:
                made.append((resource, text))
    if not made:
        return 0
    saved = 0
    with store.transaction():
        among, values = store.one_of("id", [resource.id for resource, _ in made])
        current = dict(store.execute(f"SELECT id, etag FROM resources WHERE {among}", values).fetchall())
        for resource, text in made:
            if current.get(resource.id) == resource.etag:
                _save(store, resource, text)
                saved += 1
    return saved
