"""Length classes of the time index: which rows a time-range query reads, as plain B-tree ranges.

Every instance row carries its ``reach``: the class of its length, ``k`` when it
ends at most :data:`WIDTHS` ``[k]`` seconds after it starts (one past the last
width for longer rows), plus :data:`FLOATING_REACH` for floating rows. The index
``(collection_id, reach, start, end, ...)`` then answers "which rows of a
collection overlap [qs, qe]" with one range per class: a row of class ``k``
overlapping the range starts between ``qs - WIDTHS[k]`` and ``qe``. Classes grow
fourfold, so a class's range holds at most a few times the rows that overlap,
and the same ordinary index serves SQLite and PostgreSQL. Floating rows are
read in a zone chosen per query, so their ranges are widened by
:data:`FLOAT_SLACK` on both sides.
"""

from __future__ import annotations

from kernel.types import FLOATING, NEG_INF

#: Seconds: one hour, then each class four times the one before (the last about 1,900 years).
WIDTHS = tuple(3600 * 4**k for k in range(13))
#: The class of rows longer than the last width (open-ended ones among them).
LONGER = len(WIDTHS)
#: Added to a floating row's class.
FLOATING_REACH = 16
#: Floating times may sit up to 14 hours either side of UTC.
FLOAT_SLACK = 14 * 3600


def reach_of(start: int, end: int, flags: int) -> int:
    """The class of an instance row (:data:`WIDTHS`, :data:`LONGER`, :data:`FLOATING_REACH`)."""
    length = end - start
    k = next((k for k, width in enumerate(WIDTHS) if length <= width), LONGER)
    return k + (FLOATING_REACH if flags & FLOATING else 0)


def reach_sql() -> str:
    """:func:`reach_of` as an SQL expression over a row's ``start``, ``end`` and ``flags`` (both
    dialects; sums kept inside 64 bits, where ``end - start`` of an open-ended row would not be)."""
    cases = " ".join(f'WHEN "end" <= start + {width} THEN {k}' for k, width in enumerate(WIDTHS))
    return f"(CASE {cases} ELSE {LONGER} END + CASE WHEN flags & {FLOATING} <> 0 THEN {FLOATING_REACH} ELSE 0 END)"


def window_sql(columns: str, where: str = "", *, dialect: str = "sqlite") -> str:
    """A statement giving ``columns`` (of instance rows ``i``) for every row of collection ``:c``
    whose span, floating ones widened, meets [``:qs``, ``:qe``]: one B-tree range per class.
    ``where`` adds a condition.

    The classes are a constant table ``w`` driving one range read per class, so a database
    plans one small join where a union of a branch per class took PostgreSQL about 6 ms to
    plan, several times what running it costs. Each dialect is told to keep ``w`` outside:
    SQLite by CROSS JOIN, PostgreSQL by a LATERAL subquery it may not flatten (OFFSET 0),
    so that no statistics make it hash a collection's rows instead."""
    classes = ", ".join(
        f"({k + floating}, {WIDTHS[k] + slack if k < LONGER else 'NULL'}, {slack})"
        for floating, slack in ((0, 0), (FLOATING_REACH, FLOAT_SLACK))
        for k in range(LONGER + 1)
    )
    rows = (
        f"i.collection_id = :c AND i.reach = w.reach AND i.start >= COALESCE(:qs - w.earliest, {NEG_INF})"
        f' AND i.start <= :qe + w.slack AND i."end" >= :qs - w.slack{where}'
    )
    head = f"WITH w(reach, earliest, slack) AS (VALUES {classes}) SELECT {columns} FROM w CROSS JOIN "
    if dialect == "postgresql":
        return head + f"LATERAL (SELECT * FROM instances i WHERE {rows} OFFSET 0) i"
    return head + f"instances i WHERE {rows}"
