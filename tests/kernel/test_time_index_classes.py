"""The time index's length classes (kernel.store.reach): the rows a range reads are exactly the
rows whose span (floating ones widened by 14 hours) meets it, at every length from zero to
open-ended, on both backends; and the SQL and Python definitions of a row's class agree."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel import Instance
from kernel.host import Host
from kernel.store.reach import FLOAT_SLACK, LONGER, WIDTHS, reach_of, window_sql
from kernel.testing import add_user
from kernel.types import FLOATING, INCLUSIVE_END, INCLUSIVE_START, NEG_INF, POS_INF

from .conftest import event

_names = itertools.count()
#: Around 2024, seconds.
T0 = 1_704_067_200
#: Lengths at, next to and between every class boundary, and open-ended rows.
lengths = st.one_of(
    st.sampled_from([0, 1, *WIDTHS, *(w + 1 for w in WIDTHS), *(w - 1 for w in WIDTHS)]),
    st.integers(0, WIDTHS[-1] * 2),
)
rows = st.one_of(
    st.builds(
        lambda start, length, flags: Instance(T0 + start, T0 + start + length, flags),
        st.integers(-72, 72).map(lambda h: h * 1800) | st.integers(-WIDTHS[8], WIDTHS[8]), lengths,
        st.sampled_from([0, INCLUSIVE_START, INCLUSIVE_END, FLOATING, FLOATING | INCLUSIVE_START]),
    ),
    st.just(Instance(NEG_INF, POS_INF, INCLUSIVE_START | INCLUSIVE_END)),
    st.builds(lambda start: Instance(T0 + start, POS_INF, 0), st.integers(-WIDTHS[6], WIDTHS[6])),
)
windows = st.tuples(
    st.one_of(st.integers(-72, 72).map(lambda h: h * 1800), st.integers(-WIDTHS[9], WIDTHS[9])).map(lambda s: T0 + s)
    | st.just(NEG_INF),
    st.integers(0, 48).map(lambda h: h * 1800) | st.integers(0, WIDTHS[7]) | st.just(None),
)


def meets(row: Instance, qs: int, qe: int) -> bool:
    """Brute force: the row's span, widened when floating, meets [qs, qe]."""
    slack = FLOAT_SLACK if row.flags & FLOATING else 0
    return row.start - slack <= qe and row.end + slack >= qs


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(objects=st.lists(st.lists(rows, min_size=1, max_size=4), min_size=1, max_size=6),
       ranges=st.lists(windows, min_size=1, max_size=5))
def test_rows_near_a_range_are_exactly_those_meeting_it(host: Host, objects: list[list[Instance]],
                                                        ranges: list[tuple[int, int | None]]) -> None:
    owner = host.store.principal("owner") or add_user(host, "owner")
    cal = host.writes.create_collection(owner, f"c{next(_names)}", "calendar", principal=owner)
    stored: dict[int, list[Instance]] = {}
    for i, instances in enumerate(objects):
        resource, _, _ = host.writes.put_object(cal, f"e{i}.ics", event(f"u{i}"), principal=owner)
        with host.store.transaction():
            host.store.index_instances(resource, instances)
        stored[resource.id] = instances
    for qs, length in ranges:
        qe = POS_INF if length is None else qs + length
        near = host.store.instances_near(cal.id, stored, qs, qe)
        for rid, instances in stored.items():
            expected = sorted((r.start, r.end, r.flags) for r in instances if meets(r, qs, qe))
            assert sorted((r.start, r.end, r.flags) for r in near[rid]) == expected, (rid, qs, qe)
    assert host.store.check_index()[1] == []  # the SQL's classes are reach_of's


def test_classes_grow_fourfold_and_wrong_derived_columns_are_found_and_mended(host: Host) -> None:
    assert [reach_of(0, w, 0) for w in WIDTHS] == list(range(LONGER))
    assert reach_of(0, WIDTHS[0] + 1, 0) == 1 and reach_of(0, WIDTHS[-1] + 1, 0) == LONGER
    assert reach_of(NEG_INF, POS_INF, FLOATING) == LONGER + 16
    owner = add_user(host, "owner")
    cal = host.writes.create_collection(owner, "c", "calendar", principal=owner)
    host.writes.put_object(cal, "e.ics", event("u"), principal=owner)
    assert host.store.check_index() == ("B-tree index instances_window, 1 rows", [])
    with host.store.transaction():
        host.store.execute("UPDATE instances SET reach = reach + 1, component = 'VTODO'")
    assert host.store.check_index()[1] == ["1 of 1 instance rows have the wrong length class",
                                           "1 of 1 instance rows name another component than their resource"]
    with host.store.transaction():
        host.store.rebuild_index()
    assert host.store.check_index()[1] == []


def test_a_range_reads_each_class_through_the_window_index(host: Host) -> None:
    """The window statement reads every class as one B-tree range of ``instances_window`` bounded
    on both sides of ``start``, never a scan of a collection's rows (both backends: the classes
    are a constant table, which each planner must still keep outside, reading the index by range)."""
    sql = window_sql("i.resource_id", dialect=host.store.dialect)
    args = {"c": 1, "qs": T0, "qe": T0 + 86400}
    if host.store.dialect == "sqlite":
        plan = [row[-1] for row in host.store.execute("EXPLAIN QUERY PLAN " + sql, args)]
        assert any("instances_window (collection_id=? AND reach=? AND start>? AND start<?)" in step
                   for step in plan), plan
        assert not any(step.startswith("SCAN i") for step in plan), plan
    else:  # a tiny table is scanned whatever its indexes: ask whether the index can serve the query
        host.store.execute("SET enable_seqscan = off")
        plan = " ".join(row[0] for row in host.store.execute("EXPLAIN " + sql, args))
        host.store.execute("RESET enable_seqscan")
        assert "Nested Loop" in plan and "using instances_window on instances i" in plan, plan
        assert "(start >= COALESCE(" in plan and "(start <= (" in plan, plan
