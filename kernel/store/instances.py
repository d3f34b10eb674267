"""The recurrence-instance index and the time-range query it serves."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from kernel.budget import Budget
from kernel.icaltext import read_calendar
from kernel.store.connections import Connection
from kernel.store.reach import reach_of, reach_sql, window_sql
from kernel.store.tables import one_of_chunks
from kernel.types import FLOATING, NEG_INF, POS_INF, Instance, Resource

_ROW = 'i.resource_id, i.start, i."end", i.flags'
#: The rows near a range, of every resource of the collection (the caller keeps those it wants), by dialect.
_NEAR_SQL = {dialect: window_sql(f"{_ROW}, i.recurrence_id", dialect=dialect) for dialect in ("sqlite", "postgresql")}
#: The rows overlapping a range exactly (floating ones: near it; the caller reads them in its zone).
_EXACT = (
    ' AND (i.flags & 4 <> 0 OR ((:qs < i."end" OR (i.flags & 2 <> 0 AND :qs <= i."end"))'
    " AND (:qe > i.start OR (i.flags & 1 <> 0 AND :qe >= i.start))))"
)
#: :data:`_EXACT`'s statement by (dialect, of one component only, with the recurrence id).
_RANGE_SQL = {
    (dialect, one, with_rid): window_sql(
        f"{_ROW}{', i.recurrence_id' if with_rid else ''}",
        _EXACT + (" AND i.component = :component" if one else ""),
        dialect=dialect,
    )
    for dialect in ("sqlite", "postgresql")
    for one in (False, True)
    for with_rid in (False, True)
}
#: An instance row's resource's component, and whether the row names another one.
_OWN_COMPONENT = "SELECT r.component FROM resources r WHERE r.id = instances.resource_id"
_WRONG_COMPONENT = (
    f"(component <> ({_OWN_COMPONENT}) OR (component IS NULL) <> (({_OWN_COMPONENT}) IS NULL))"
)


def index_digest(component: str | None, instances: Sequence[Instance]) -> int:
    """A digest of the rows :meth:`InstanceStore.index_instances` writes for an object of this
    component (a signed 64-bit number): a replacing write whose rows have the digest stored
    with the old row (``Resource.index_digest``) leaves them as they are. What a row derives
    (its length class) is left out: it follows from the rest."""
    text = "\n".join(f"{i.start} {i.end} {i.flags} {i.recurrence_id}" for i in instances)
    digest = hashlib.blake2b(f"{component}\n{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class InstanceStore:
    """Mixin of :class:`kernel.store.Store` for the time-range index."""

    conn: Connection
    dialect: str
    #: :meth:`kernel.store.Store.read_together`
    read_together: Callable[..., list[list[Any]]]

    def index_instances(self, resource: Resource, instances: Iterable[Instance]) -> None:
        """Replace a resource's index rows (inside a write transaction, after its row is saved:
        each index row repeats the saved resource's component, so a query for one component
        reads the index alone)."""
        conn = self.conn
        conn.execute("DELETE FROM instances WHERE resource_id = ?", (resource.id,))
        rid, cid, component = resource.id, resource.collection_id, resource.component
        conn.executemany(
            'INSERT INTO instances (resource_id, collection_id, start, "end", flags, recurrence_id, reach, component)'
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(rid, cid, i.start, i.end, i.flags, i.recurrence_id, reach_of(i.start, i.end, i.flags), component)
             for i in instances],
        )

    def rebuild_index(self) -> None:
        """Recompute what each instance row derives (its length class, its resource's component),
        inside a write transaction, as after rows were copied from elsewhere; the B-tree index
        keeps itself."""
        self.conn.execute(f"UPDATE instances SET reach = {reach_sql()} WHERE reach <> {reach_sql()}")
        self.conn.execute(f"UPDATE instances SET component = ({_OWN_COMPONENT}) WHERE {_WRONG_COMPONENT}")

    def check_index(self) -> tuple[str, list[str]]:
        """(what the time-range structure is, its problems: empty when sound): the index
        ``instances_window`` exists, and every row's length class and component are right."""
        conn = self.conn
        rows = conn.execute("SELECT count(*) FROM instances").fetchone()[0]
        problems = []
        wrong = conn.execute(f"SELECT count(*) FROM instances WHERE reach <> {reach_sql()}").fetchone()[0]
        if wrong:
            problems.append(f"{wrong} of {rows} instance rows have the wrong length class")
        wrong = conn.execute(f"SELECT count(*) FROM instances WHERE {_WRONG_COMPONENT}").fetchone()[0]
        if wrong:
            problems.append(f"{wrong} of {rows} instance rows name another component than their resource")
        if self.dialect == "sqlite":
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'instances_window'"
            ).fetchone()
            valid = found is not None
        else:
            found = conn.execute(
                "SELECT indisvalid AND indisready FROM pg_index WHERE indexrelid = to_regclass('instances_window')"
            ).fetchone()
            valid = found is not None and bool(found[0])
        if not valid:
            problems.append("the index instances_window is missing or not valid")
        return f"B-tree index instances_window, {rows:,} rows", problems

    def instances(self, resource_id: int) -> list[Instance]:
        """The index rows of one resource, by start."""
        rows = self.conn.execute(
            'SELECT start, "end", flags, recurrence_id FROM instances WHERE resource_id = ? ORDER BY start',
            (resource_id,),
        )
        return [Instance(*r) for r in rows]

    def instances_near(
        self, collection_id: int, resource_ids: Iterable[int], start: int, end: int
    ) -> dict[int, list[Instance]]:
        """The index rows of these resources of a collection that may overlap [start, end),
        by resource, by start.

        Floating rows are included when within 14 hours of the range (the
        caller reads them in its zone). Only resources of the collection whose
        index is complete up to ``end`` get an entry (a list, empty when none is
        near); a resource whose rule runs past the indexed horizon before ``end``
        has none and must be expanded from its data. The rows come from the
        collection's time index, so a long series costs only its rows near the
        range, and a resource with rows there needs no lookup of its own.
        """
        wanted = set(resource_ids)
        found: dict[int, list[Instance]] = {}
        rows = self.conn.execute(
            f"{_NEAR_SQL[self.dialect]} ORDER BY 1, 2", {"c": collection_id, "qs": start, "qe": end}
        )
        for rid, s, e, flags, recurrence_id in rows:
            if rid in wanted:
                found.setdefault(rid, []).append(Instance(s, e, flags, recurrence_id))
        unseen = [rid for rid in wanted if rid not in found]
        for among, values in one_of_chunks(self.dialect, "id", unseen):
            for (rid,) in self.conn.execute(
                f"SELECT id FROM resources WHERE collection_id = ? AND {among}", (collection_id, *values)
            ):
                found[rid] = []
        for (rid,) in self.conn.execute(
            "SELECT id FROM resources WHERE collection_id = ? AND indexed_until IS NOT NULL AND indexed_until <= ?",
            (collection_id, end),
        ):
            found.pop(rid, None)
        return found

    def time_range(
        self,
        collection_id: int,
        start: int | None,
        end: int | None,
        *,
        tz: datetime.tzinfo | None = None,
        component: str | None = None,
        budget: Budget | None = None,
    ) -> list[int]:
        """Ids of the resources with an instance overlapping [start, end) (epoch seconds).

        RFC 4791 section 9.9 semantics; floating and all-day instances are
        read in ``tz`` (the calendar's time zone; UTC when None). Reads the
        index; only objects whose rule runs past the indexed horizon are parsed,
        and what expanding them costs is spent from ``budget`` (the request's;
        ``OverBudget`` past it).
        """
        return sorted(self._range_hits(collection_id, start, end, tz, component, budget, None))

    def instances_in_range(
        self,
        collection_id: int,
        start: int,
        end: int,
        *,
        tz: datetime.tzinfo | None = None,
        component: str | None = None,
        budget: Budget | None = None,
    ) -> dict[int, list[Instance] | None]:
        """:meth:`time_range`'s resources, by id, each with its index rows that may overlap
        [start, end) (as :meth:`instances_near` gives them, in no particular order; None for a
        resource whose index stops before ``end``): the rows the time-range query read,
        so that expanding the same range needs no second look at the index."""
        rows: dict[int, list[Instance]] = {}
        hits = self._range_hits(collection_id, start, end, tz, component, budget, rows)
        return {rid: rows.get(rid) for rid in sorted(hits)}

    def instances_in_ranges(
        self,
        collection_ids: list[int],
        start: int,
        end: int,
        *,
        tz: datetime.tzinfo | None = None,
        component: str | None = None,
        budget: Budget | None = None,
    ) -> dict[int, dict[int, list[Instance] | None]]:
        """:meth:`instances_in_range` of several collections at once, by collection id: their
        index reads are sent together (on PostgreSQL one round trip for all, where a query
        per collection waits one each). For a view over many calendars."""
        statements = [read for cid in collection_ids for read in self._range_reads(cid, start, end, component, True)]
        answers = self.read_together(*statements) if statements else []
        budget = budget or Budget()
        found: dict[int, dict[int, list[Instance] | None]] = {}
        for i, cid in enumerate(collection_ids):
            rows: dict[int, list[Instance]] = {}
            hits = self._hits(answers[2 * i], answers[2 * i + 1], start, end, tz, budget, rows)
            found[cid] = {rid: rows.get(rid) for rid in sorted(hits)}
        return found

    def _range_hits(
        self,
        collection_id: int,
        start: int | None,
        end: int | None,
        tz: datetime.tzinfo | None,
        component: str | None,
        budget: Budget | None,
        rows: dict[int, list[Instance]] | None,
    ) -> set[int]:
        """The ids :meth:`time_range` returns; with ``rows``, the rows read put there by resource
        (those of every hit whose index is complete among them)."""
        # the index rows, and the objects whose index stops before the range ends: one round trip
        found, flagged = self.read_together(*self._range_reads(collection_id, start, end, component, rows is not None))
        return self._hits(found, flagged, start, end, tz, budget or Budget(), rows)

    def _range_reads(
        self, collection_id: int, start: int | None, end: int | None, component: str | None, with_rows: bool
    ) -> list[tuple[str, Any]]:
        """The two reads of a time-range query: the index rows near the range (with their
        recurrence ids when ``with_rows``), and the objects whose index stops before it ends."""
        qs = NEG_INF if start is None else start
        qe = POS_INF if end is None else end
        args: dict[str, object] = {"c": collection_id, "qs": qs, "qe": qe}
        if component:
            args["component"] = component
        sql = _RANGE_SQL[(self.dialect, bool(component), with_rows)]
        flagged_sql = (
            "SELECT id, indexed_until, data FROM resources WHERE collection_id = ?"
            " AND indexed_until IS NOT NULL AND indexed_until <= ?"
        )
        flagged_args: list[object] = [collection_id, qe]
        if component:
            flagged_sql += " AND component = ?"
            flagged_args.append(component)
        return [(sql, args), (flagged_sql, flagged_args)]

    def _hits(
        self,
        found: list[Any],
        flagged: list[Any],
        start: int | None,
        end: int | None,
        tz: datetime.tzinfo | None,
        budget: Budget,
        rows: dict[int, list[Instance]] | None,
    ) -> set[int]:
        """The resources the two reads of :meth:`_range_reads` show overlapping the range; the
        objects indexed short of its end are expanded from their data (spent from ``budget``)."""
        from kernel import ical

        qs = NEG_INF if start is None else start
        qe = POS_INF if end is None else end
        hits: set[int] = set()
        if rows is None:
            for rid, s, e, flags in found:
                if rid not in hits and (not flags & FLOATING or ical.overlaps(Instance(s, e, flags), qs, qe, tz)):
                    hits.add(rid)
        else:  # one pass: every resource's rows are kept, the caller takes those of the hits
            for rid, s, e, flags, recurrence_id in found:
                inst = Instance(s, e, flags, recurrence_id)
                if rid not in hits and (not flags & FLOATING or ical.overlaps(inst, qs, qe, tz)):
                    hits.add(rid)
                kept = rows.get(rid)
                if kept is None:
                    rows[rid] = [inst]
                else:
                    kept.append(inst)
        for rid, until, data in flagged:
            if rows is not None:
                rows.pop(rid, None)  # its index stops before the range ends: rows would be missing
            if rid in hits:
                continue
            try:
                calendar = read_calendar(bytes(data), budget)
            except ValueError:  # stored before a limit it now fails (a time zone refused)
                continue
            if ical.occurs_in(calendar, qs, qe, tz, after=until, budget=budget):
                hits.add(rid)
        return hits
