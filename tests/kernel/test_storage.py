"""The storage API: declared tables, portable statements, migrations, and upgrading old files."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

from kernel import Collection, Column, Index, Migrations, Rejected, Table, hookimpl
from kernel.host import Host
from kernel.store.postgres import pg_sql, redact
from kernel.store.tables import SchemaError
from kernel.testing import add_group, add_user, assert_config_error, event_object, make_host, write_config
from kernel.testing.postgres import round_trips

OLD_FILE = Path(__file__).parent.parent / "data" / "teamcal-0.1.sqlite3"


class Notes:
    """A plugin with two migrations, a generated key, a reference, an upsert and a partial index."""

    migrations = Migrations("notes")

    @staticmethod
    @migrations()
    def m001_notes(m) -> None:
        m.create_table(Table(
            "notes_items",
            (
                Column("id", "int", primary_key=True, generated=True),
                Column("collection_id", "int", references="collections(id)", on_delete="cascade"),
                Column("key", "text"),
                Column("body", "text", null=True),
                Column("pinned", "bool", default=False),
                Column("state", "text", default="open", choices=("open", "done")),
            ),
            unique=(("collection_id", "key"),),
            indexes=(Index("notes_items_pinned", ("collection_id",), where="pinned = 1"),),
        ))

    @staticmethod
    @migrations()
    def m002_weight(m) -> None:
        m.add_column("notes_items", Column("weight", "float", default=1.5))
        m.add_column("notes_items", Column("colour", "text", null=True))

    @staticmethod
    @migrations()
    def m003_no_colour(m) -> None:
        m.drop_column("notes_items", "colour")

    @hookimpl
    def register_migrations(self, host):
        return self.migrations


@pytest.fixture
def host(tmp_path: Path) -> Host:
    h = make_host(tmp_path, plugins=[("notes", Notes())])
    yield h
    h.close()


#: A row of the notes plugin's table (collection, key, body).
INSERT = "INSERT INTO notes_items (collection_id, key, body) VALUES (?, ?, ?)"


@pytest.fixture
def cal(host: Host) -> Collection:
    """alice's calendar ``work``, which notes rows belong to."""
    alice = add_user(host, "alice")
    return host.writes.create_collection(alice, "work", "calendar", principal=alice)


def test_declared_tables_take_portable_statements(host: Host) -> None:
    alice = add_user(host, "alice")
    cal = host.writes.create_collection(alice, "work", "calendar", principal=alice)
    store = host.store
    upsert = (
        "INSERT INTO notes_items (collection_id, key, body, pinned) VALUES (:c, :k, :b, :p)"
        " ON CONFLICT (collection_id, key) DO UPDATE SET body = excluded.body RETURNING id"
    )
    with store.transaction():
        first = store.execute(upsert, {"c": cal.id, "k": "a", "b": "one", "p": True}).fetchone()[0]
        again = store.execute(upsert, {"c": cal.id, "k": "a", "b": "two", "p": True}).fetchone()[0]
        store.executemany(
            "INSERT INTO notes_items (collection_id, key, body) VALUES (?, ?, ?)",
            [(cal.id, "b", "50% off"), (cal.id, "c", None)],
        )
    assert first == again
    rows = store.execute("SELECT key, body, pinned, state, weight FROM notes_items ORDER BY key").fetchall()
    assert [tuple(r) for r in rows] == [("a", "two", 1, "open", 1.5), ("b", "50% off", 0, "open", 1.5), ("c", None, 0, "open", 1.5)]
    assert store.execute("SELECT count(*) FROM notes_items WHERE body LIKE '%\\%%' ESCAPE '\\'").fetchone()[0] == 1
    with pytest.raises(store.integrity_errors), store.transaction():
        store.execute("INSERT INTO notes_items (collection_id, key, state) VALUES (?, 'x', 'lost')", (cal.id,))
    host.writes.delete_collection(cal, principal=alice)
    assert store.execute("SELECT count(*) FROM notes_items").fetchone()[0] == 0


def test_a_deferred_block_reads_its_own_writes_and_fails_as_a_whole(host: Host, cal: Collection) -> None:
    """``store.deferred()``: a read inside sees the statements sent before it; a constraint broken
    inside surfaces by the block's end and the whole transaction rolls back."""
    store = host.store
    with store.transaction(), store.deferred():
        store.execute(INSERT, (cal.id, "a", "one"))
        store.executemany(INSERT, [(cal.id, "b", "two"), (cal.id, "c", "three")])
        store.execute("UPDATE notes_items SET body = 'ONE' WHERE key = 'a'")
        inside = store.execute("SELECT key, body FROM notes_items ORDER BY key").fetchall()
        store.execute("DELETE FROM notes_items WHERE key = 'c'")
    assert [tuple(r) for r in inside] == [("a", "ONE"), ("b", "two"), ("c", "three")]
    assert [r[0] for r in store.execute("SELECT key FROM notes_items ORDER BY key")] == ["a", "b"]
    with pytest.raises(store.integrity_errors), store.transaction(), store.deferred():
        store.execute(INSERT, (cal.id, "d", "kept?"))
        store.execute(INSERT, (cal.id, "a", "a second a"))  # the unique (collection_id, key) broken
        store.execute("UPDATE notes_items SET body = 'changed'")
    rows = store.execute("SELECT key, body FROM notes_items ORDER BY key").fetchall()
    assert [tuple(r) for r in rows] == [("a", "ONE"), ("b", "two")]
    with store.transaction():  # the connection is usable afterwards
        store.execute(INSERT, (cal.id, "e", "five"))
    assert store.execute("SELECT count(*) FROM notes_items").fetchone()[0] == 3


def test_a_failed_deferred_block_in_a_savepoint_leaves_the_outer_transaction_usable(host: Host, cal: Collection) -> None:
    """A deferred block inside a nested transaction fails by that transaction's end, which rolls
    back alone: the outer transaction goes on and commits its other writes."""
    store = host.store
    with store.transaction():
        store.execute(INSERT, (cal.id, "a", "one"))
        with pytest.raises(store.integrity_errors), store.transaction(), store.deferred():
            store.execute(INSERT, (cal.id, "b", "kept?"))
            store.execute(INSERT, (cal.id, "a", "a second a"))
        store.execute(INSERT, (cal.id, "c", "three"))
    assert [r[0] for r in store.execute("SELECT key FROM notes_items ORDER BY key")] == ["a", "c"]


def test_a_transaction_failing_after_its_deferred_block_writes_nothing(host: Host, cal: Collection) -> None:
    """An error raised after a deferred block (whose statements may still be on their way, one of
    them broken) rolls the whole transaction back, and the connection stays usable."""
    store = host.store
    with store.transaction():
        store.execute(INSERT, (cal.id, "a", "one"))
    for broken in (False, True):
        with pytest.raises((RuntimeError, *store.integrity_errors)), store.transaction():
            with store.deferred():
                store.execute(INSERT, (cal.id, "b", "two"))
                if broken:
                    store.execute(INSERT, (cal.id, "a", "a second a"))
            raise RuntimeError("the block fails after its deferred writes")
        assert [r[0] for r in store.execute("SELECT key FROM notes_items ORDER BY key")] == ["a"]
    with store.transaction():
        store.execute(INSERT, (cal.id, "d", "four"))
    assert store.execute("SELECT count(*) FROM notes_items").fetchone()[0] == 2


@pytest.mark.postgresql_only
def test_a_write_transaction_opens_with_its_first_statement_and_commits_with_its_last_block(host: Host, cal: Collection) -> None:
    """On PostgreSQL a transaction's BEGIN and write lock go with its first statement, and its
    COMMIT with its last deferred block: a read then deferred writes is two round trips, a
    transaction that runs nothing is none. The lock is still taken before anything is read."""
    store = host.store
    with round_trips(store) as trips:
        with store.transaction():
            pass
    assert trips == []
    with store.traced() as statements, round_trips(store) as trips:
        with store.transaction():
            count = store.execute("SELECT count(*) FROM notes_items").fetchone()[0]
            with store.deferred():
                store.execute(INSERT, (cal.id, "a", str(count)))
                store.execute(INSERT, (cal.id, "b", str(count)))
    assert [_executed(trip) for trip in trips] == [3, 3], trips
    assert [s.split()[0] for s in statements] == ["BEGIN", "SELECT", "SELECT", "INSERT", "INSERT", "COMMIT"]
    assert "pg_advisory_xact_lock" in statements[1] and "count(*)" in statements[2]
    assert [tuple(r) for r in store.execute("SELECT key, body FROM notes_items ORDER BY key")] == [
        ("a", "0"), ("b", "0")
    ]
    with round_trips(store) as trips, store.transaction():  # without a deferred block: COMMIT on its own
        store.execute("UPDATE notes_items SET body = 'x' WHERE key = 'a'")
    assert [_executed(trip) for trip in trips] == [3, 1], trips


def test_reads_sent_together_each_answer_in_order(host: Host, cal: Collection) -> None:
    """``store.read_together``: each read's rows, in the order asked, outside a transaction and
    inside one (where it sees the transaction's own writes)."""
    store = host.store
    store.executemany(INSERT, [(cal.id, "a", "one"), (cal.id, "b", "two")])
    keys = ("SELECT key FROM notes_items WHERE collection_id = ? ORDER BY key", (cal.id,))
    body = ("SELECT body FROM notes_items WHERE key = :key", {"key": "b"})
    none = ("SELECT key FROM notes_items WHERE key = ?", ("z",))
    assert [[tuple(r) for r in rows] for rows in store.read_together(keys, body, none)] == [
        [("a",), ("b",)], [("two",)], []
    ]
    with store.transaction():
        store.execute(INSERT, (cal.id, "c", "three"))
        assert [tuple(r) for r in store.read_together(keys)[0]] == [("a",), ("b",), ("c",)]


@pytest.mark.postgresql_only
def test_reads_sent_together_and_a_time_range_query_are_one_round_trip(host: Host, cal: Collection) -> None:
    """On PostgreSQL ``read_together`` is one round trip, also as a transaction's first
    statement (its BEGIN goes with it); a time-range query reads the index and the objects
    indexed short of the range together."""
    host.writes.put_object(cal, "e.ics", event_object("e", "20240103T100000Z", "20240103T110000Z"), principal=cal.owner)
    store = host.store
    reads = [("SELECT count(*) FROM notes_items", ()), ("SELECT count(*) FROM resources", ())]
    with round_trips(store) as trips:
        assert [rows[0][0] for rows in store.read_together(*reads)] == [0, 1]
    assert [_executed(trip) for trip in trips] == [2]
    with round_trips(store) as trips, store.transaction():
        store.read_together(*reads)
    assert [_executed(trip) for trip in trips] == [4, 1]  # BEGIN, the lock and both reads; COMMIT
    with round_trips(store) as trips:
        found = store.time_range(cal.id, 1704067200, 1704672000)  # the first week of 2024
    assert len(found) == 1 and len(trips) == 1, trips


def _executed(trip: list[str]) -> int:
    """How many statements a round trip ran (a simple query counts as one)."""
    return sum(message.startswith(("Execute", "Query")) for message in trip)


def test_groups_and_rows_read_an_accounts_groups_with_their_rows_in_one_statement(host: Host) -> None:
    """``store.groups_and_rows``: the groups (nested ones too, by name, as ``groups_of``) and the
    rows of a table keyed by the account or any of them, in one statement; names are checked."""
    alice, bob = add_user(host, "alice"), add_user(host, "bob")
    leads = add_group(host, "leads", [alice])
    team = add_group(host, "team", [bob, leads])
    with host.store.traced() as statements:
        groups, rows = host.store.groups_and_rows(alice.id, "memberships", ("group_id", "admin"), key="member_id")
    assert len(statements) == 1
    assert groups == host.store.groups_of(alice.id) == [leads, team]
    assert rows == {alice.id: [(leads.id, 0)], leads.id: [(team.id, 0)]}  # team belongs to nothing
    by_name = host.store.groups_and_rows("alice", "memberships", ("group_id", "admin"), key="member_id")
    assert by_name == (groups, rows)
    assert host.store.groups_and_rows("nobody", "memberships", ("group_id",), key="member_id") == ([], {})
    assert host.store.groups_and_rows(bob.id, "memberships", ("group_id",), key="member_id") == (
        [team], {bob.id: [(team.id,)]}
    )
    carol = add_user(host, "carol")
    assert host.store.groups_and_rows(carol.id, "memberships", ("group_id",), key="member_id") == ([], {})
    for table, columns in (("memberships; DROP TABLE principals", ("group_id",)), ("memberships", ("1=1 --",))):
        with pytest.raises(ValueError):
            host.store.groups_and_rows(alice.id, table, columns, key="member_id")


def test_a_row_with_the_principal_it_names_in_one_statement(host: Host) -> None:
    """``store.principal_and_row``: a table's row found by column values, with the principal its
    key names and that principal's password hash, in one statement; None when no row has those
    values; names are checked, and a row is found by at least one column."""
    store = host.store
    alice, bob = add_user(host, "alice", "alice-pw"), add_user(host, "bob")
    team = add_group(host, "team", [bob], admins=[alice])
    with store.traced() as statements:
        found = store.principal_and_row("memberships", ("group_id", "admin"), key="member_id", member_id=alice.id)
    assert len(statements) == 1
    assert found == (alice, store.password_hash(alice.id), (team.id, 1))
    assert found is not None and found[1] and found[1].startswith("$argon2")
    by_group = store.principal_and_row("memberships", ("admin",), key="group_id", member_id=bob.id, admin=0)
    assert by_group == (team, None, (0,))  # a group has no password
    assert store.principal_and_row("memberships", ("admin",), key="member_id", member_id=bob.id, admin=1) is None
    for table, columns, equal in (
        ("memberships; DROP TABLE principals", ("admin",), {"member_id": 1}),
        ("memberships", ("1=1 --",), {"member_id": 1}),
        ("memberships", ("admin",), {"member_id = 1 OR 1": 1}),
        ("memberships", ("admin",), {}),
    ):
        with pytest.raises(ValueError):
            store.principal_and_row(table, columns, key="member_id", **equal)


def test_every_accounts_groups_and_every_groups_members_in_one_statement_each(host: Host) -> None:
    """``store.every_groups_of`` and ``store.every_membership``: ``groups_of`` and
    ``memberships`` of every principal and group at once (nested groups, a cycle of groups,
    admins), each in one statement; principals in no group and groups without members are
    left out."""
    store = host.store
    alice, bob, carol = add_user(host, "alice"), add_user(host, "bob"), add_user(host, "carol")
    leads = add_group(host, "leads", [alice])
    team = add_group(host, "team", [bob, leads], admins=[carol])
    board = add_group(host, "board", [team])
    empty = add_group(host, "empty")
    loop_a = add_group(host, "loop-a", [alice])
    loop_b = add_group(host, "loop-b", [loop_a])
    with store.transaction():
        store.execute("INSERT INTO memberships (group_id, member_id, admin) VALUES (?, ?, 0)", (loop_a.id, loop_b.id))
    with store.traced() as statements:
        groups = store.every_groups_of()
        members = store.every_membership()
    assert len(statements) == 2
    everyone = [alice, bob, carol, leads, team, board, empty, loop_a, loop_b]
    assert groups == {p.id: store.groups_of(p.id) for p in everyone if store.groups_of(p.id)}
    assert [g.name for g in groups[alice.id]] == ["board", "leads", "loop-a", "loop-b", "team"]
    assert empty.id not in members and board.id not in groups
    assert members == {g.id: store.memberships(g.id) for g in everyone if g.kind == "group" and store.memberships(g.id)}
    assert members[team.id] == [(bob, False), (carol, True), (leads, False)]


def test_principals_by_their_ids_in_one_statement(host: Host) -> None:
    """``store.principals_by_ids``: users and groups by id, ids no principal has left out, in one
    statement for any number up to 500 (and one more per 500 past it)."""
    store = host.store
    alice, bob = add_user(host, "alice"), add_user(host, "bob")
    team = add_group(host, "team", [bob])
    with store.traced() as statements:
        found = store.principals_by_ids([team.id, alice.id, 10**9, bob.id, alice.id])
    assert len(statements) == 1
    assert found == {alice.id: alice, bob.id: bob, team.id: team}
    assert store.principals_by_ids([]) == {}
    with store.traced() as statements:
        assert store.principals_by_ids([*range(10**6, 10**6 + 600), bob.id]) == {bob.id: bob}
    assert len(statements) == 2


def test_a_principals_rows_by_its_name(host: Host) -> None:
    """``store.principal_rows_statement``: a table's rows naming a principal, by the principal's
    name, filtered by column values (names are checked)."""
    store = host.store
    alice, bob = add_user(host, "alice"), add_user(host, "bob")
    team, board = add_group(host, "team", [bob]), add_group(host, "board", [alice], admins=[bob])
    rows = store.execute(*store.principal_rows_statement("bob", "memberships", ("group_id",), key="member_id"))
    assert sorted(rows.fetchall()) == sorted([(team.id,), (board.id,)])
    admin = store.principal_rows_statement("bob", "memberships", ("group_id",), key="member_id", admin=1)
    assert store.execute(*admin).fetchall() == [(board.id,)]
    assert store.execute(*store.principal_rows_statement("nobody", "memberships", ("group_id",), key="member_id")
                         ).fetchall() == []
    for table, columns, equal in (
        ("memberships; DROP TABLE principals", ("group_id",), {}),
        ("memberships", ("1=1 --",), {}),
        ("memberships", ("group_id",), {"admin = 1 OR 1": 1}),
    ):
        with pytest.raises(ValueError):
            store.principal_rows_statement("bob", table, columns, key="member_id", **equal)


def test_a_homes_rows_its_collections_and_their_properties_each_in_one_statement(host: Host, cal: Collection) -> None:
    """``store.home_rows_statement``: a plugin table's rows for the collections of one home, by
    the owner's name (names are checked); ``collections_by_ids`` and ``collections_properties``:
    several collections, and their dead properties, by id in one statement each."""
    store, alice = host.store, cal.owner
    bob = add_user(host, "bob")
    home = host.writes.create_collection(alice, "home", "calendar", principal=alice)
    other = host.writes.create_collection(bob, "work", "calendar", principal=bob)
    store.executemany(INSERT, [(cal.id, "a", "<a>"), (home.id, "b", "<b>"), (other.id, "c", "<c>")])
    statement = store.home_rows_statement("alice", "notes_items", ("collection_id", "key"))
    assert sorted(store.execute(*statement).fetchall()) == sorted([(cal.id, "a"), (home.id, "b")])
    assert store.execute(*store.home_rows_statement("nobody", "notes_items", ("key",))).fetchall() == []
    for table, columns in (("notes_items; DROP TABLE principals", ("key",)), ("notes_items", ("1=1 --",))):
        with pytest.raises(ValueError):
            store.home_rows_statement("alice", table, columns)
    tag = '<Y:tag xmlns:Y="urn:y">{}</Y:tag>'
    host.writes.update_collection(cal, principal=alice, properties={"{urn:y}tag": tag.format(1)})
    host.writes.update_collection(other, principal=bob, properties={"{urn:y}tag": tag.format(2)})
    with store.traced() as statements:
        found = store.collections_by_ids([other.id, cal.id, 10**12])
        properties = store.collections_properties([cal.id, home.id, other.id])
    assert len(statements) == 2
    assert {i: (c.owner.name, c.path) for i, c in found.items()} == {cal.id: ("alice", "work"), other.id: ("bob", "work")}
    assert properties == {cal.id: {"{urn:y}tag": tag.format(1)}, other.id: {"{urn:y}tag": tag.format(2)}}


def test_one_of_selects_the_rows_whose_column_is_among_values(host: Host, cal: Collection) -> None:
    """``store.one_of``: a condition for any number of values (none included) beside other
    ``?`` markers; on PostgreSQL its text does not change with the number of values, and
    strings that mean something in an array literal are still only text."""
    store = host.store
    keys = ["a", "b", "c", 'd"q', "e\\", "f,g", "{h}", "NULL", " i ", "", "ü"]
    store.executemany(INSERT, [(cal.id, key, f"<{key}>") for key in keys])
    ids = {key: store.execute("SELECT id FROM notes_items WHERE key = ?", (key,)).fetchone()[0] for key in keys}
    texts: dict[type, set[str]] = {str: set(), int: set()}
    cases = [(["b", "z"], ["b"]), (["a"], ["a"]), (keys[3:], keys[3:]), (["NULL", "null", ""], ["NULL", ""])]
    for wanted, expected in cases:
        among, values = store.one_of("key", wanted)
        texts[str].add(among)
        rows = store.execute(
            f"SELECT body FROM notes_items WHERE collection_id = ? AND {among}", (cal.id, *values)
        ).fetchall()
        assert sorted(r[0] for r in rows) == sorted(f"<{key}>" for key in expected)
    for wanted_ids, expected in (([ids["b"], ids["f,g"], 10**12], ["b", "f,g"]), ([ids["ü"]], ["ü"])):
        among, values = store.one_of("id", wanted_ids)
        texts[int].add(among)
        rows = store.execute(f"SELECT key FROM notes_items WHERE {among}", values).fetchall()
        assert sorted(r[0] for r in rows) == sorted(expected)
    among, values = store.one_of("key", [])
    assert store.execute(f"SELECT key FROM notes_items WHERE {among}", values).fetchall() == []
    if store.dialect == "postgresql":
        assert len(texts[str]) == len(texts[int]) == 1
    else:
        assert len(texts[str]) == len(cases)  # a marker per value


BODY_OF = "SELECT body FROM notes_items WHERE collection_id = ? AND key = ?"


def test_reads_named_ahead_are_answered_as_if_run_then(host: Host, cal: Collection) -> None:
    """``store.expecting``: each read named ahead runs once, sent with the block's first
    statement (one round trip on PostgreSQL), and is answered as read then, on both backends."""
    store = host.store
    store.executemany(INSERT, [(cal.id, key, f"<{key}>") for key in "abc"])
    bodies = f"WITH k(key) AS (SELECT key FROM notes_items) {BODY_OF} AND key IN (SELECT key FROM k)"
    ahead = [(BODY_OF, (cal.id, "a")), (BODY_OF, (cal.id, "b")), (bodies, (cal.id, "c"))]
    with store.traced() as statements, store.expecting(lambda: ahead):
        with round_trips(store) if store.dialect == "postgresql" else nullcontext([]) as trips:
            first = store.execute(BODY_OF, (cal.id, "c")).fetchone()
        a = store.execute(BODY_OF, (cal.id, "a"))
        b = store.execute(BODY_OF, (cal.id, "b"))
        assert (first, a.fetchone(), a.fetchone(), b.fetchall()) == (("<c>",), ("<a>",), None, [("<b>",)])
        assert store.execute(bodies, (cal.id, "c")).fetchall() == [("<c>",)]  # a WITH that only reads
    assert len(statements) == 4
    assert len(trips) == (1 if store.dialect == "postgresql" else 0)
    assert store.execute(BODY_OF, (cal.id, "a")).fetchall() == [("<a>",)]  # after the block: read as usual


def test_work_done_meanwhile_runs_while_the_reads_named_ahead_are_out(host: Host, cal: Collection) -> None:
    """``store.meanwhile``: on PostgreSQL the work runs once the block's reads named ahead have
    left, before their answers are read (the server has them while it runs), in the same
    round trip; ``result()`` gives what it returned or raises what it raised. On SQLite, and
    on PostgreSQL when no reads named ahead go out in the block, it runs when its result is
    asked for, once."""
    store = host.store
    store.executemany(INSERT, [(cal.id, key, f"<{key}>") for key in "ab"])
    postgresql = store.dialect == "postgresql"
    probe = "SELECT 'meanwhile probe', body FROM notes_items WHERE collection_id = ? AND key = ?"
    pid = store.execute("SELECT pg_backend_pid()").fetchone()[0] if postgresql else None
    seen: list[str] = []

    def work() -> str:
        if postgresql:  # another connection finds the read named ahead at the server already
            def look() -> None:
                for _ in range(500):
                    row = store.execute("SELECT query FROM pg_stat_activity WHERE pid = ?", (pid,)).fetchone()
                    if row and "meanwhile probe" in row[0]:
                        seen.append("at the server")
                        return
                    time.sleep(0.01)
            other = threading.Thread(target=look)
            other.start()
            other.join(timeout=30)
        seen.append("worked")
        return "done"

    with store.expecting(lambda: [(probe, (cal.id, "b"))]), store.meanwhile(work) as later:
        with round_trips(store) if postgresql else nullcontext([]) as trips:
            assert store.execute(BODY_OF, (cal.id, "a")).fetchall() == [("<a>",)]
            assert later.ran is postgresql
            assert store.execute(probe, (cal.id, "b")).fetchall() == [("meanwhile probe", "<b>")]
        assert len(trips) == (1 if postgresql else 0)
        assert seen == (["at the server", "worked"] if postgresql else [])
        assert later.result() == "done" and later.result() == "done"
    assert seen[-1] == "worked" and seen.count("worked") == 1

    def failing() -> str:
        raise ValueError("bad body")

    with store.expecting(lambda: [(BODY_OF, (cal.id, "b"))]), store.meanwhile(failing) as later:
        assert store.execute(BODY_OF, (cal.id, "a")).fetchall() == [("<a>",)]  # the read is answered
        with pytest.raises(ValueError, match="bad body"):
            later.result()
    with store.meanwhile(work) as later:  # no read named ahead: a statement leaves it alone
        store.execute(BODY_OF, (cal.id, "a")).fetchall()
        assert not later.ran
    with store.expecting(lambda: [(BODY_OF, (cal.id, "b"))]):  # nor does a later block's round trip
        store.execute(BODY_OF, (cal.id, "a")).fetchall()
    assert not later.ran and seen.count("worked") == 1

    with store.meanwhile(lambda: "outer") as outer:  # nested blocks: each one's work, once
        with store.meanwhile(lambda: "inner") as inner:
            pass
        with store.expecting(lambda: [(BODY_OF, (cal.id, "b"))]):
            store.execute(BODY_OF, (cal.id, "a")).fetchall()
        assert (outer.ran, inner.ran) == (postgresql, False)
        assert (outer.result(), inner.result()) == ("outer", "inner")


def test_a_nested_block_forgets_only_the_reads_it_named(host: Host, cal: Collection) -> None:
    """A ``store.expecting`` block inside another forgets, at its end, what it named and did not
    run, not what the enclosing block named: on PostgreSQL the enclosing block's reads are still
    answered from the first round trip; the inner block's are read again."""
    store = host.store
    store.executemany(INSERT, [(cal.id, key, f"<{key}>") for key in "abc"])
    postgresql = store.dialect == "postgresql"
    with store.expecting(lambda: [(BODY_OF, (cal.id, "a")), (BODY_OF, (cal.id, "b"))]):
        with round_trips(store) if postgresql else nullcontext([]) as trips:
            with store.expecting(lambda: [(BODY_OF, (cal.id, "c")), (BODY_OF, (cal.id, "b"))]):
                assert store.execute(BODY_OF, (cal.id, "a")).fetchall() == [("<a>",)]  # b and c go with it
            assert store.execute(BODY_OF, (cal.id, "b")).fetchall() == [("<b>",)]  # the outer block's: kept
            assert store.execute(BODY_OF, (cal.id, "c")).fetchall() == [("<c>",)]  # the inner block's: read again
        assert len(trips) == (2 if postgresql else 0)


def test_reads_named_ahead_never_answer_older_than_this_threads_writes(host: Host, cal: Collection) -> None:
    """What the thread writes (in a transaction or not) after the reads went out makes them
    run again; a read the block did not run is not kept for a later one."""
    store = host.store
    store.execute(INSERT, (cal.id, "a", "old"))
    update = "UPDATE notes_items SET body = ? WHERE collection_id = ? AND key = ?"
    with store.expecting(lambda: [(BODY_OF, (cal.id, "a"))]):
        store.execute("SELECT 1").fetchall()  # sends the read ahead on PostgreSQL
        with store.transaction():
            store.execute(update, ("in a transaction", cal.id, "a"))
        assert store.execute(BODY_OF, (cal.id, "a")).fetchall() == [("in a transaction",)]
    with store.expecting(lambda: [(BODY_OF, (cal.id, "a"))]):
        store.execute("SELECT 1").fetchall()
        store.execute(update, ("alone", cal.id, "a"))
        assert store.execute(BODY_OF, (cal.id, "a")).fetchall() == [("alone",)]
    if store.dialect == "postgresql":  # a WITH that writes (SQLite has no such statement)
        with store.expecting(lambda: [(BODY_OF, (cal.id, "a"))]):
            store.execute("SELECT 1").fetchall()
            store.execute(f"WITH w AS ({update} RETURNING key) SELECT count(*) FROM w", ("in a WITH", cal.id, "a"))
            assert store.execute(BODY_OF, (cal.id, "a")).fetchall() == [("in a WITH",)]
    with store.expecting(lambda: [(BODY_OF, (cal.id, "a"))]):
        store.execute("SELECT 1").fetchall()
    with store.transaction():
        store.execute(update, ("after the block", cal.id, "a"))
    assert store.execute(BODY_OF, (cal.id, "a")).fetchall() == [("after the block",)]
    # a transaction reads what it holds, even what it only reads, whoever wrote meanwhile
    with store.expecting(lambda: [(BODY_OF, (cal.id, "a"))]):
        store.execute("SELECT 1").fetchall()
        other = threading.Thread(target=lambda: store.execute(update, ("another thread", cal.id, "a")))
        other.start()
        other.join(timeout=30)
        with store.transaction():
            store.execute("SELECT 1").fetchall()
            assert store.execute(BODY_OF, (cal.id, "a")).fetchall() == [("another thread",)]


def test_reads_after_an_in_order_block_are_not_older_than_its_own(host: Host, cal: Collection) -> None:
    """A read named ahead and already answered is read again after an ``in_order`` block
    that went to the database (it may have seen what another thread wrote since); a block
    that sent nothing keeps it, and outside such a block a later read may be answered from
    the earlier one (that is what naming reads ahead is for)."""
    store = host.store
    store.execute(INSERT, (cal.id, "a", "old"))
    update = "UPDATE notes_items SET body = ? WHERE collection_id = ? AND key = ?"

    def elsewhere(body: str) -> None:  # another connection writes meanwhile
        other = threading.Thread(target=lambda: store.execute(update, (body, cal.id, "a")))
        other.start()
        other.join(timeout=30)

    def read_after(body: str, block: Callable[[], Any]) -> list[Any]:
        with store.expecting(lambda: [(BODY_OF, (cal.id, "a"))]):
            store.execute("SELECT 1").fetchall()  # sends the read ahead on PostgreSQL
            elsewhere(body)
            block()
            return store.execute(BODY_OF, (cal.id, "a")).fetchall()  # type: ignore[no-any-return]

    def reading() -> None:
        with store.in_order():
            assert store.execute("SELECT count(*) FROM notes_items").fetchone() == (1,)

    def nothing() -> None:
        with store.in_order():
            pass

    stale = store.dialect == "postgresql"
    assert read_after("first", reading) == [("first",)]
    assert read_after("second", nothing) == [("first",) if stale else ("second",)]
    assert read_after("third", lambda: store.execute("SELECT 1").fetchall()) == [("second",) if stale else ("third",)]


def test_a_refusal_checked_under_the_write_lock_goes_with_the_writes(host: Host, cal: Collection) -> None:
    """``store.refuse_if``: a transaction is refused (the refusal raised, nothing written) when
    the check finds a row, and goes on when it finds none; on PostgreSQL the check of the
    transaction goes with its deferred writes, no round trip of its own (with no deferred
    block, before the COMMIT); a nested transaction's holds unless it is rolled back."""
    store = host.store
    taken = ("SELECT 1 FROM notes_items WHERE collection_id = ? AND key = ?", (cal.id, "taken"))
    refusal = Rejected(409, None, "taken")
    counted = round_trips if store.dialect == "postgresql" else (lambda _: nullcontext([]))

    def write(key: str, *, deferred: bool = True) -> None:
        with store.transaction():
            store.refuse_if(taken, refusal)
            with store.deferred() if deferred else nullcontext():
                store.execute(INSERT, (cal.id, key, "body"))

    with counted(store) as trips:
        write("a")
    store.execute(INSERT, (cal.id, "taken", "body"))
    for key, deferred in (("b", True), ("c", False)):
        with pytest.raises(Rejected) as refused:
            write(key, deferred=deferred)
        assert refused.value is refusal
    with pytest.raises(Rejected), store.transaction():  # a nested transaction's check holds for the whole
        with store.transaction():
            store.refuse_if(taken, refusal)
        store.execute(INSERT, (cal.id, "n", "body"))
    with store.transaction():  # ... unless that nested transaction is rolled back
        with contextlib.suppress(ValueError, Rejected), store.transaction():
            store.refuse_if(taken, refusal)  # SQLite raises here; PostgreSQL drops it at the rollback
            raise ValueError("undone")
        with store.deferred():
            store.execute(INSERT, (cal.id, "kept", "body"))
    with pytest.raises(RuntimeError):
        store.refuse_if(taken, refusal)
    keys = [r[0] for r in store.execute("SELECT key FROM notes_items ORDER BY key").fetchall()]
    assert keys == ["a", "kept", "taken"]
    assert len(trips) == (1 if store.dialect == "postgresql" else 0)  # BEGIN, lock, check, write, COMMIT


def test_a_read_named_ahead_that_fails_fails_only_when_it_runs(host: Host, cal: Collection) -> None:
    store = host.store
    store.execute(INSERT, (cal.id, "a", "body"))
    missing = "SELECT body FROM no_such_table WHERE key = ?"
    with store.expecting(lambda: [(missing, ("a",))]):
        assert store.execute(BODY_OF, (cal.id, "a")).fetchall() == [("body",)]
        with pytest.raises(Exception, match="no_such_table"):
            store.execute(missing, ("a",)).fetchall()
    assert store.execute(BODY_OF, (cal.id, "a")).fetchall() == [("body",)]


def test_reads_named_ahead_in_a_transaction_go_with_its_first_round_trip(host: Host, cal: Collection) -> None:
    """In a transaction, reads named ahead go with the statement that opens it (after BEGIN
    and the write lock: one round trip on PostgreSQL) and are answered as the transaction
    saw them then; a write in between makes them run again. One that fails fails only when
    it runs, and leaves the transaction as it was, on both backends."""
    store = host.store
    store.executemany(INSERT, [(cal.id, key, f"<{key}>") for key in "ab"])
    update = "UPDATE notes_items SET body = ? WHERE collection_id = ? AND key = ?"
    counted = round_trips if store.dialect == "postgresql" else (lambda _: nullcontext([]))
    with store.transaction(), store.expecting(lambda: [(BODY_OF, (cal.id, "a")), (BODY_OF, (cal.id, "b"))]):
        with counted(store) as opening:
            assert store.execute("SELECT 1").fetchall() == [(1,)]
        with counted(store) as answered:
            a = store.execute(BODY_OF, (cal.id, "a")).fetchall()
        store.execute(update, ("changed", cal.id, "b"))
        b = store.execute(BODY_OF, (cal.id, "b")).fetchall()
    assert (a, b) == ([("<a>",)], [("changed",)])
    assert (len(opening), len(answered)) == ((1, 0) if store.dialect == "postgresql" else (0, 0))
    missing = "SELECT body FROM no_such_table WHERE key = ?"
    with store.transaction(), store.expecting(lambda: [(missing, ("a",)), (BODY_OF, (cal.id, "a"))]):
        store.execute(INSERT, (cal.id, "c", "<c>"))
        assert store.execute(BODY_OF, (cal.id, "a")).fetchall() == [("<a>",)]
        with pytest.raises(Exception, match="no_such_table"), store.transaction():
            store.execute(missing, ("a",)).fetchall()  # in a nested transaction, as a caller that goes on
        store.execute(INSERT, (cal.id, "d", "<d>"))
    with store.transaction(), store.expecting(lambda: [(missing, ("a",)), (BODY_OF, (cal.id, "b"))]):
        assert store.execute(BODY_OF, (cal.id, "a")).fetchall() == [("<a>",)]  # sent with the failing read
        assert store.execute(BODY_OF, (cal.id, "b")).fetchall() == [("changed",)]
        store.execute(INSERT, (cal.id, "e", "<e>"))
    among, values = store.one_of("key", ["c", "d", "e"])
    assert len(store.execute(f"SELECT key FROM notes_items WHERE {among}", values).fetchall()) == 3


def test_only_reads_are_sent_ahead(host: Host, cal: Collection) -> None:
    """A write named ahead (by mistake, or by a plugin's hook) is not run before its turn."""
    store = host.store
    store.execute(INSERT, (cal.id, "a", "kept"))
    delete = "DELETE FROM notes_items WHERE collection_id = ?"
    with store.expecting(lambda: [(delete, (cal.id,)), (f"WITH d AS ({delete} RETURNING key) SELECT 1", (cal.id,))]):
        assert store.execute("SELECT 1").fetchall() == [(1,)]
        assert store.execute(BODY_OF, (cal.id, "a")).fetchall() == [("kept",)]


def test_generated_keys_are_never_reused(host: Host) -> None:
    alice = add_user(host, "alice")
    cal = host.writes.create_collection(alice, "work", "calendar", principal=alice)
    insert = "INSERT INTO notes_items (collection_id, key) VALUES (?, ?) RETURNING id"
    with host.store.transaction():
        first = host.store.execute(insert, (cal.id, "a")).fetchone()[0]
        host.store.execute("DELETE FROM notes_items WHERE id = ?", (first,))
        second = host.store.execute(insert, (cal.id, "b")).fetchone()[0]
    assert second > first


def test_migrations_run_once_in_order(tmp_path: Path) -> None:
    host = make_host(tmp_path, plugins=[("notes", Notes())])
    done = host.store.execute("SELECT name FROM teamcal_migrations WHERE migration_set = 'notes'").fetchall()
    assert [r[0] for r in done] == ["m001_notes", "m002_weight", "m003_no_colour"]
    assert Notes.migrations.pending(host.store) == []
    again = Host.from_config(host.config.path, extra_plugins=[("notes", Notes())])
    assert again.store.execute("SELECT count(*) FROM teamcal_migrations WHERE migration_set = 'notes'").fetchone()[0] == 3
    again.close()
    host.close()


def test_a_dropped_column_is_gone_and_only_a_plugins_own_tables_lose_columns(host: Host) -> None:
    from kernel.store.tables import Migrator

    columns = host.store.execute("SELECT * FROM notes_items").description
    assert [c[0] for c in columns] == ["id", "collection_id", "key", "body", "pinned", "state", "weight"]
    with pytest.raises(SchemaError, match="must start with the plugin's prefix"):
        Migrator(host.store, "notes").drop_column("principals", "email")


@pytest.mark.parametrize(
    "table, message",
    [
        (lambda: Table("notes_x", (Column("a", "varchar"),)), "unknown type 'varchar'"),
        (lambda: Table("notes_x", (Column("a", "text", generated=True, primary_key=True),)), "only an int primary key"),
        (lambda: Table("notes_x", (Column("a", "int"), Column("a", "int"))), "appears twice"),
        (lambda: Table("notes_x", (Column("a", "int"),), primary_key=("b",)), "no column 'b'"),
    ],
)
def test_declaration_mistakes_are_named(table, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        table()


def test_a_failed_migration_leaves_nothing_and_stops_start_up(tmp_path: Path) -> None:
    broken = Migrations("broken")

    @broken()
    def m001(m) -> None:
        m.create_table(Table("broken_t", (Column("a", "int"),)))
        m.add_column("broken_t", Column("b", "int"))  # NOT NULL without a default

    class Broken:
        @hookimpl
        def register_migrations(self, host):
            return broken

    assert_config_error(
        "cannot migrate: migration broken.m001: column 'b' added to 'broken_t'",
        plugins=[("broken", Broken())],
        directory=tmp_path,
    )
    plain = Host.from_config(tmp_path / "plugins.toml")
    assert not plain.store.table_exists("broken_t")
    assert broken.pending(plain.store) == ["m001"]
    plain.close()


def test_pg_sql_rewrites_markers_outside_quotes_only() -> None:
    assert pg_sql("SELECT a FROM t WHERE b = ? AND c = :name") == "SELECT a FROM t WHERE b = %s AND c = %(name)s"
    assert pg_sql("SELECT ':x', \"q?\", x::int FROM t WHERE y LIKE '5%'") == "SELECT ':x', \"q?\", x::int FROM t WHERE y LIKE '5%%'"
    assert pg_sql("SELECT a % 2") == "SELECT a %% 2"


def test_database_urls_are_shown_without_their_password() -> None:
    assert redact("postgresql://teamcal:s3cret@db.example:5432/cal") == "postgresql://teamcal:***@db.example:5432/cal"
    assert redact("postgresql://teamcal@db.example/cal") == "postgresql://teamcal@db.example/cal"


def test_an_unreachable_postgresql_database_stops_start_up_with_one_line(tmp_path: Path) -> None:
    from kernel.testing import free_port

    url = f"postgresql://teamcal:hunter2@127.0.0.1:{free_port()}/nowhere"
    message = assert_config_error(
        "[kernel] database: cannot connect to postgresql://teamcal:***@127.0.0.1",
        settings={"kernel": {"database": url}},
    )
    assert "hunter2" not in message


@pytest.mark.sqlite_only
def test_a_file_from_teamcal_0_1_upgrades_in_place(tmp_path: Path) -> None:
    """A SQLite file written by the sqlite-utils schema: nothing re-runs, data and counts hold."""
    shutil.copy(OLD_FILE, tmp_path / "teamcal.sqlite3")
    host = Host.from_config(write_config(tmp_path, ["caldav_server"]))
    store = host.store
    kernel_steps = {r[0] for r in store.execute("SELECT name FROM teamcal_migrations WHERE migration_set = 'kernel'")}
    assert kernel_steps == {
        "m006_canonical_names", "m007_group_admins", "m008_property_bytes", "m009_counters_in_the_store",
        "m010_leases_and_jobs", "m011_auth_failures", "m012_instance_window_index", "m013_change_origins",
        "m014_index_digests",
    }
    assert store.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall() == []
    assert store.check_index()[1] == []  # the old rows got their length classes; the R*Tree is gone
    assert not store.execute("SELECT 1 FROM sqlite_master WHERE name = 'instances_rtree'").fetchall()
    alice = store.principal("alice")
    assert alice is not None
    work = store.collection(alice.id, "work")
    assert work is not None and work.display_name == "Work"
    assert [r.name for r in store.resources(work.id)] == ["e0.ics", "e1.ics", "e2.ics", "e3.ics"]
    assert store.count_resources(owner_id=alice.id) == 4
    assert store.properties(collection_id=work.id) == {"{urn:x}note": "<x:note xmlns:x='urn:x'>hi</x:note>"}
    team = store.principal("team")
    planning = store.collection(team.id, "planning")
    week = store.time_range(planning.id, 1735603200, 1736208000)  # a week of 2025: the weekly event
    assert [r.name for r, _ in store.resources_by_ids(week)] == ["weekly.ics"]
    host.writes.put_object(work, "new.ics", event_object("new"), principal=alice)
    host.writes.delete_object(work, "e0.ics", principal=alice)
    assert store.count_resources(owner_id=alice.id) == 4
    assert [c.name for c in store.changes_since(0, collection_id=work.id)][-2:] == ["new.ics", "e0.ics"]
    host.close()


def test_nodes_starting_at_once_apply_each_migration_once(tmp_path: Path) -> None:
    """Two hosts migrating one fresh database at the same moment, as nodes started together do."""
    import threading

    config = write_config(tmp_path, ["caldav_server", "limits"])
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def start() -> None:
        barrier.wait(timeout=30)
        try:
            outcomes.append(Host.from_config(config, extra_plugins=[("notes", Notes())]))
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            outcomes.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    hosts = [o for o in outcomes if isinstance(o, Host)]
    assert len(hosts) == 2, outcomes
    rows = hosts[0].store.execute("SELECT migration_set, name, count(*) FROM teamcal_migrations GROUP BY migration_set, name")
    assert {r[2] for r in rows} == {1}
    assert Notes.migrations.pending(hosts[0].store) == []
    for host in hosts:
        host.close()


def test_a_calendars_objects_of_one_component(host: Host, cal: Collection) -> None:
    """``resources`` and ``resources_with_data`` with ``component``: only the objects of that type
    (all of them, or among those named), by name, as without it."""
    task = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:{uid}\r\n"
            b"DTSTAMP:20240101T000000Z\r\nSUMMARY:task\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    for i in range(4):
        host.writes.put_object(cal, f"e{i}.ics", event_object(f"e{i}"), principal=None)
        host.writes.put_object(cal, f"t{i}.ics", task.replace(b"{uid}", f"t{i}".encode()), principal=None)
    store = host.store
    tasks = [r for r in store.resources(cal.id) if r.component == "VTODO"]
    assert [r.name for r in tasks] == ["t0.ics", "t1.ics", "t2.ics", "t3.ics"]
    assert store.resources(cal.id, component="VTODO") == tasks
    assert store.resources(cal.id, ["t1.ics", "e1.ics", "t3.ics"], component="VTODO") == [tasks[1], tasks[3]]
    with_data = store.resources_with_data(cal.id, component="VEVENT")
    assert [(r.name, b"VEVENT" in d) for r, d in with_data] == [(f"e{i}.ics", True) for i in range(4)]
    assert store.resources_with_data(cal.id, ["t2.ics", "e2.ics"], component="VTODO") == [
        (tasks[2], store.resources_with_data(cal.id, ["t2.ics"])[0][1])]
    assert store.resources(cal.id, component="VJOURNAL") == []
