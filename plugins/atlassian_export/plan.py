"""From journal rows to one batch: the objects to upsert, the ids to delete, and the state change.

A batch reads the journal after a cursor. Each resource named there is exported
once, from what is stored now, numbered with its latest row in the batch; the
ids a consumer was handed for it before and that it no longer produces (an
EXDATE, an occurrence out of the window, a new UID, the event or calendar gone)
become deletions. An id that another resource of the batch now produces is never
deleted. The batch stops after the resource that reaches ``limit`` objects and
deletions; its ``through`` is the cursor after it: every row up to there is either
exported here or named again by a later row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from . import journal
from .context import CalendarInfo, Deployment
from .mapping import OBJECT_TYPE, MappingError
from .state import Effect, Handed

log = logging.getLogger("teamcal.atlassian_export")

@dataclass
class Batch:
    """One batch: upserts as (calendar key, object), deletion ids, and what handing them over changes."""

    cursor: int
    effect: Effect
    upserts: list[tuple[str, dict]] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)
    failures: list[tuple[str, int, str]] = field(default_factory=list)
    more: bool = False

    @property
    def through(self) -> int:
        """The cursor after this batch."""
        return self.effect.through

    @property
    def empty(self) -> bool:
        """True when the batch moves nothing (and the cursor does not move)."""
        return self.through == self.cursor


def plan(
    deployment: Deployment,
    cursor: int,
    limit: int,
    now: datetime,
    handed: Handed,
    *,
    collection_id: int | None = None,
) -> Batch:
    """The next batch after ``cursor``: at least one resource, then up to ``limit`` objects and deletions."""
    store = deployment.store
    rows = journal.rows_after(store, cursor, max(1, limit), collection_id)
    batch = Batch(cursor=cursor, effect=Effect(through=cursor))
    if not rows:
        return batch
    last_seq: dict[tuple[int, str], int] = {}
    dropped: list[tuple[int, int]] = []
    for row in rows:
        if row.name is None:
            dropped.append((row.seq, row.collection_id))
            names = handed.resources(row.collection_id)
        else:
            names = [row.name]
        for name in names:
            last_seq.pop((row.collection_id, name), None)
            last_seq[(row.collection_id, name)] = row.seq
    produced: dict[tuple[int, str], list[str]] = {}
    known: dict[tuple[int, str], set[str]] = {}
    upserted: set[str] = set()
    count = 0
    through = rows[-1].seq
    items = sorted(last_seq.items(), key=lambda item: item[1])
    for index, ((cid, name), usn) in enumerate(items):
        objects = _export(deployment, batch, cid, name, usn, now)
        ids = [obj["id"] for obj in objects]
        produced[(cid, name)] = ids
        upserted.update(ids)
        recurring = any(obj[OBJECT_TYPE].get("isRecurringEvent") for obj in objects)
        batch.effect.objects.extend((oid, cid, name, usn, recurring) for oid in ids)
        calendar = deployment.calendar(cid)
        key = calendar.key if calendar else ""
        batch.upserts.extend((key, obj) for obj in objects)
        known[(cid, name)] = handed.ids(cid, name)
        count += len(objects) + len(known[(cid, name)])
        if count >= limit and index + 1 < len(items) and items[index + 1][1] > usn:
            through = usn  # rows sharing a number (a calendar's deletion) stay in one batch
            break
    for (cid, name), ids in produced.items():
        gone = sorted(known[(cid, name)] - set(ids) - upserted)
        batch.deletions.extend(gone)
    batch.effect.through = through
    batch.effect.resources = list(produced)
    batch.effect.collections = [cid for seq, cid in dropped if seq <= through]
    batch.effect.exported = len(batch.upserts)
    batch.effect.deleted = len(batch.deletions)
    batch.more = journal.head(store) > through
    return batch


def _export(deployment: Deployment, batch: Batch, cid: int, name: str, usn: int, now: datetime) -> list[dict]:
    """The objects one resource becomes now ([] when it is gone, not an event, or cannot be mapped)."""
    calendar = deployment.calendar(cid)
    if calendar is None:
        return []
    resource = deployment.store.resource(cid, name)
    if resource is None or resource.component != "VEVENT":
        return []
    try:
        return deployment.objects(calendar, resource, deployment.store.data(resource.id), usn, now)
    except MappingError as exc:
        where = f"{calendar.key}/{name}"
        log.warning("atlassian export: %s cannot be mapped: %s", where, exc)
        batch.failures.append((where, usn, str(exc)))
        return []


def full_export(
    deployment: Deployment, calendars: list[CalendarInfo], usn: int, now: datetime
) -> Iterator[tuple[int, str, list[dict], str | None]]:
    """Every event of these calendars as (collection id, resource name, objects, mapping error or None).

    Used by `teamcal export atlassian` without ``--since``; every object carries
    ``usn`` (the journal head: not below anything handed out, below anything later).
    """
    store = deployment.store
    for calendar in calendars:
        names = [r.name for r in store.resources(calendar.collection.id) if r.component == "VEVENT"]
        for i in range(0, len(names), 200):
            for resource, data in store.resources_with_data(calendar.collection.id, names[i : i + 200]):
                try:
                    yield calendar.collection.id, resource.name, deployment.objects(calendar, resource, data, usn, now), None
                except MappingError as exc:
                    yield calendar.collection.id, resource.name, [], str(exc)
