"""The recurrence-instance index and the time-range query it serves."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from kernel.budget import Budget
from kernel.icaltext import read_calendar
from kernel.store.connections import Connection
from kernel.store.schema import RTREE_REBUILD, pg_instance_box
from kernel.store.tables import one_of
from kernel.types import FLOATING, NEG_INF, POS_INF, Instance

#: Floating times may sit up to 14 hours either side of UTC.
_FLOAT_SLACK = 14 * 3600
#: Half the width of a collection's band in the R*Tree. With zero width every
#: box would have zero area, and the R*Tree's area heuristics would build a
#: tree that scans most of its nodes (a week's query 150x slower at 60,000 events).
BAND = 0.25


class InstanceStore:
    """Mixin of :class:`kernel.store.Store` for the time-range index."""

    conn: Connection
    dialect: str

    def index_instances(self, resource_id: int, collection_id: int, instances: Iterable[Instance]) -> None:
        """Replace a resource's index rows (inside a write transaction)."""
        conn = self.conn
        if self.dialect != "sqlite":
            conn.execute("DELETE FROM instances WHERE resource_id = ?", (resource_id,))
            conn.executemany(
                'INSERT INTO instances (resource_id, collection_id, start, "end", flags, recurrence_id)'
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(resource_id, collection_id, i.start, i.end, i.flags, i.recurrence_id) for i in instances],
            )
            return
        conn.execute(
            "DELETE FROM instances_rtree WHERE id IN (SELECT id FROM instances WHERE resource_id = ?)",
            (resource_id,),
        )
        conn.execute("DELETE FROM instances WHERE resource_id = ?", (resource_id,))
        for inst in instances:
            cur = conn.execute(
                'INSERT INTO instances (resource_id, collection_id, start, "end", flags, recurrence_id)'
                " VALUES (?, ?, ?, ?, ?, ?)",
                (resource_id, collection_id, inst.start, inst.end, inst.flags, inst.recurrence_id),
            )
            lo, hi = inst.start, inst.end
            if inst.flags & FLOATING:
                lo, hi = max(NEG_INF, lo - _FLOAT_SLACK), min(POS_INF, hi + _FLOAT_SLACK)
            conn.execute(
                "INSERT INTO instances_rtree (id, cmin, cmax, smin, smax) VALUES (?, ?, ?, ?, ?)",
                (cur.lastrowid, collection_id - BAND, collection_id + BAND, lo, hi),
            )

    def rebuild_index(self) -> None:
        """Rebuild the time-range structure from the instance rows (inside a write transaction):
        SQLite's R*Tree; PostgreSQL keeps its GiST index itself."""
        if self.dialect == "sqlite":
            for statement in RTREE_REBUILD:
                self.conn.execute(statement)

    def check_index(self) -> tuple[str, list[str]]:
        """(what the time-range structure is, its problems: empty when sound).

        SQLite: one R*Tree box per instance row, and ``rtreecheck`` passes;
        PostgreSQL: the GiST index exists and is valid and ready.
        """
        conn = self.conn
        if self.dialect == "sqlite":
            rows = conn.execute("SELECT count(*) FROM instances").fetchone()[0]
            boxes = conn.execute("SELECT count(*) FROM instances_rtree").fetchone()[0]
            unboxed = conn.execute(
                "SELECT count(*) FROM instances i WHERE NOT EXISTS (SELECT 1 FROM instances_rtree t WHERE t.id = i.id)"
            ).fetchone()[0]
            problems = [] if rows == boxes and not unboxed else [f"{boxes} R*Tree boxes for {rows} instances"]
            check = conn.execute("SELECT rtreecheck('instances_rtree')").fetchone()[0]
            if check != "ok":
                problems.append(f"rtreecheck: {check.splitlines()[0]}")
            return f"R*Tree instances_rtree, {boxes:,} boxes", problems
        found = conn.execute(
            "SELECT indisvalid AND indisready FROM pg_index WHERE indexrelid = to_regclass('instances_box')"
        ).fetchone()
        if found is None:
            return "GiST index instances_box", ["the GiST index instances_box is missing"]
        return "GiST index instances_box", [] if found[0] else ["the GiST index instances_box is not valid"]

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
        source, where = self._window_sql()
        rows = self.conn.execute(
            f'SELECT i.resource_id, i.start, i."end", i.flags, i.recurrence_id {source}'
            f" WHERE {where} AND i.collection_id = :c ORDER BY i.resource_id, i.start",
            {"c": collection_id, "qs": start, "qe": end},
        )
        for rid, s, e, flags, recurrence_id in rows:
            if rid in wanted:
                found.setdefault(rid, []).append(Instance(s, e, flags, recurrence_id))
        unseen = [rid for rid in wanted if rid not in found]
        for first in range(0, len(unseen), 500):
            chunk = unseen[first : first + 500]
            among, values = one_of(self.dialect, "id", chunk)
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

    def _window_sql(self) -> tuple[str, str]:
        """(FROM clause, WHERE condition) finding the instance rows ``i`` whose box in the time
        index meets collection ``:c`` between ``:qs`` and ``:qe`` (floating rows' boxes are
        widened by 14 hours); callers filter the rows exactly."""
        if self.dialect == "sqlite":
            return (
                "FROM instances_rtree t JOIN instances i ON i.id = t.id",
                "t.cmin <= :c AND t.cmax >= :c AND t.smin <= :qe AND t.smax >= :qs",
            )
        return "FROM instances i", f"{pg_instance_box('i')} && box(point(:c, :qs), point(:c, :qe))"

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
        """The ids :meth:`time_range` returns; with ``rows``, each complete hit's rows put there."""
        from kernel import ical

        qs = NEG_INF if start is None else start
        qe = POS_INF if end is None else end
        source, where = self._window_sql()
        columns = 'i.resource_id, i.start, i."end", i.flags' + (", i.recurrence_id" if rows is not None else "")
        sql = f"SELECT {columns} {source}"
        args: dict[str, object] = {"c": collection_id, "qs": qs, "qe": qe}
        if component:
            sql += " JOIN resources r ON r.id = i.resource_id AND r.component = :component"
            args["component"] = component
        sql += (
            f" WHERE {where} AND i.collection_id = :c"
            ' AND (i.flags & 4 <> 0 OR ((:qs < i."end" OR (i.flags & 2 <> 0 AND :qs <= i."end"))'
            " AND (:qe > i.start OR (i.flags & 1 <> 0 AND :qe >= i.start))))"
        )
        found = self.conn.execute(sql, args).fetchall()  # psycopg: C loop, not a row at a time
        hits: set[int] = set()
        for rid, s, e, flags, *_ in found:
            if rid in hits:
                continue
            if not flags & FLOATING or ical.overlaps(Instance(s, e, flags), qs, qe, tz):
                hits.add(rid)
        if rows is not None:
            for rid, s, e, flags, recurrence_id in found:
                if rid in hits:
                    rows.setdefault(rid, []).append(Instance(s, e, flags, recurrence_id))
        flagged_sql = (
            "SELECT id, indexed_until, data FROM resources WHERE collection_id = ?"
            " AND indexed_until IS NOT NULL AND indexed_until <= ?"
        )
        flagged_args: list[object] = [collection_id, qe]
        if component:
            flagged_sql += " AND component = ?"
            flagged_args.append(component)
        budget = budget or Budget()
        for rid, until, data in self.conn.execute(flagged_sql, flagged_args).fetchall():
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
