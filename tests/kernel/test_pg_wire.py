"""The PostgreSQL backend's statements sent through libpq's pipeline (``kernel.store.pg_wire``):
prepared on their second use within the same round trip, errors as psycopg raises them,
waits that let other threads run, and batches that never block on a full buffer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from kernel.store import pg_wire
from kernel.store.pg_wire import wire_sql
from kernel.testing import make_host
from kernel.testing.postgres import round_trips


@pytest.fixture
def store(tmp_path: Path) -> Iterator[object]:
    host = make_host(tmp_path)
    yield host.store
    host.close()


def test_portable_markers_become_numbered_ones() -> None:
    assert wire_sql("SELECT a FROM t WHERE b = ? AND c = ?") == (b"SELECT a FROM t WHERE b = $1 AND c = $2", None)
    assert wire_sql("SELECT :a, :b, :a") == (b"SELECT $1, $2, $1", ("a", "b"))
    # quoted text, quoted names, casts and a literal percent sign stay as written
    text = "SELECT '?:x', \"q?\", 1::int, '%' || ?"
    assert wire_sql(text) == (b"SELECT '?:x', \"q?\", 1::int, '%' || $1", None)


def _parses(trip: list[str]) -> list[str]:
    """The statement names a round trip's Parse messages gave ("" for an unnamed one)."""
    return [message.split('"')[1] for message in trip if message.startswith("Parse")]


@pytest.mark.postgresql_only
def test_a_statement_is_prepared_on_its_second_use_within_the_same_round_trip(store) -> None:
    sql = "SELECT count(*) FROM principals WHERE name = ?"
    parses = []
    for i in range(3):
        with round_trips(store) as trips:
            assert store.execute(sql, (f"nobody-{i}",)).fetchone()[0] == 0
        assert len(trips) == 1, trips
        parses.append(_parses(trips[0]))
    assert parses[0] == [""]  # first use: parsed for this run only
    assert len(parses[1]) == 1 and parses[1][0].startswith("tc_")  # second: prepared, run at once
    assert parses[2] == []  # then only bound to its name


@pytest.mark.postgresql_only
def test_a_statement_that_fails_to_prepare_is_not_taken_for_prepared(store) -> None:
    bad = "SELECT no_such_column FROM principals WHERE name = ?"
    for _ in range(3):  # the third would name a statement that was never made
        with pytest.raises(psycopg.errors.UndefinedColumn):
            store.execute(bad, ("alice",))
    assert store.execute("SELECT 1 + ?", (1,)).fetchone()[0] == 2


@pytest.mark.postgresql_only
def test_past_the_limit_the_least_recently_used_statement_is_deallocated(store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.execute("SELECT 1").fetchall()
    names = pg_wire._NAMES[store.conn.raw]
    assert len(names.prepared) > 2  # the host's own, made as it started
    monkeypatch.setattr(pg_wire, "MAX_PREPARED", 2)
    statements = [f"SELECT {n} + ?" for n in range(5)]
    for sql in statements:  # each prepared on its second use, the oldest deallocated past two
        with round_trips(store) as trips:
            assert [store.execute(sql, (1,)).fetchone()[0] for _ in range(2)] == [int(sql.split()[1]) + 1] * 2
        assert len(trips) == 2, trips
    on_server = {row[0] for row in store.execute("SELECT name FROM pg_prepared_statements") if row[0].startswith("tc_")}
    assert on_server == set(map(bytes.decode, names.prepared.values()))
    assert len(names.prepared) == 2
    kept = {text for text, _ in names.prepared}
    assert {wire_sql(sql)[0] for sql in statements[-2:]} <= kept
    assert not kept & {wire_sql(sql)[0] for sql in statements[:3]}
    # the least recently used went; a statement deallocated is parsed again, then prepared again
    assert [store.execute(statements[0], (1,)).fetchone()[0] for _ in range(3)] == [1, 1, 1]


@pytest.mark.postgresql_only
def test_in_a_deferred_block_an_answer_read_raises_the_first_error(store) -> None:
    reached = False
    with pytest.raises(psycopg.errors.DivisionByZero):  # not the "pipeline aborted" of what followed
        with store.transaction(), store.deferred():
            store.execute("SELECT 1 / (? - 1)", (1,))
            later = store.execute("SELECT 2")
            later.fetchone()
            reached = True
    assert not reached
    assert store.execute("SELECT 3").fetchone()[0] == 3
    assert not store.conn.in_transaction


@pytest.mark.postgresql_only
def test_a_statement_skipped_after_an_error_never_answers_empty_and_its_commit_fails(store) -> None:
    with pytest.raises(psycopg.errors.PipelineAborted):  # the COMMIT, skipped: nothing was committed
        with store.transaction():
            with store.deferred():
                store.execute("SELECT 1 / (? - 1)", (1,))
                later, after = store.execute("SELECT 2"), store.execute("SELECT 3")
                with pytest.raises(psycopg.errors.DivisionByZero):
                    later.fetchone()
                with pytest.raises(psycopg.errors.PipelineAborted):
                    after.fetchone()
    assert not store.conn.in_transaction
    assert store.execute("SELECT 4").fetchone()[0] == 4


@pytest.mark.postgresql_only
def test_answers_give_rowcount_and_column_names(store) -> None:
    changed = store.execute("UPDATE principals SET display_name = display_name WHERE name IN (?, ?)", ("x", "y"))
    assert changed.rowcount == 0
    rows = store.execute("SELECT 1 AS one, 'b' AS two UNION ALL SELECT 2, 'c'")
    assert [column[0] for column in rows.description] == ["one", "two"]
    assert rows.rowcount == 2
    assert rows.fetchone() == (1, "b") and rows.fetchall() == [(2, "c")] and rows.fetchone() is None


@pytest.mark.postgresql_only
def test_a_thread_waiting_for_the_database_lets_the_others_run(store) -> None:
    started, done = threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        store.execute("SELECT pg_sleep(2)").fetchall()
        done.set()

    waiting = threading.Thread(target=slow, daemon=True)
    waiting.start()
    assert started.wait(10)
    time.sleep(0.3)  # the other thread sends its statement and waits for the answer
    assert store.execute("SELECT 1").fetchone()[0] == 1  # this thread's own connection
    assert not done.is_set()  # had the wait held the GIL, this thread would only run after it
    waiting.join(10)
    assert done.is_set()


@pytest.mark.postgresql_only
def test_a_batch_of_big_statements_with_big_answers_never_blocks(store) -> None:
    big = "x" * 200_000
    lengths: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with store.transaction(), store.deferred():
                sent = [store.execute("SELECT length(?::text) + ?, ?::text", (big, n, big)) for n in range(100)]
                for answer in sent:
                    counted, text = answer.fetchone()
                    lengths.append(counted if text == big else -1)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(60)  # 20 MB each way; a client and server both blocked on writing would never end
    assert not worker.is_alive() and not errors, errors
    assert lengths == [200_000 + n for n in range(100)]


@pytest.mark.postgresql_only
def test_text_with_a_nul_is_refused_before_it_is_sent_and_the_transaction_goes_on(store) -> None:
    from kernel import Rejected

    with store.transaction():
        store.execute("CREATE TEMP TABLE t_nul (v text)")
        with pytest.raises(Rejected) as refused:
            store.execute("INSERT INTO t_nul VALUES (?)", ("a\x00b",))
        assert refused.value.status == 400
        with store.deferred():
            store.execute("INSERT INTO t_nul VALUES (?)", ("first",))
            with pytest.raises(Rejected):
                store.execute("INSERT INTO t_nul VALUES (?)", ("b\x00",))
            store.execute("INSERT INTO t_nul VALUES (?)", ("second",))
    assert [row[0] for row in store.execute("SELECT v FROM t_nul ORDER BY v")] == ["first", "second"]


@pytest.mark.postgresql_only
def test_a_nested_transactions_savepoint_steps_ride_with_the_next_statement(store) -> None:
    with store.transaction():
        store.execute("CREATE TEMP TABLE t_steps (v int)")
        with round_trips(store) as trips:
            with store.transaction():
                store.execute("INSERT INTO t_steps VALUES (1)")
            with store.transaction():
                store.execute("INSERT INTO t_steps VALUES (2)")
            store.execute("INSERT INTO t_steps VALUES (3)")
    sent = [" ".join(trip) for trip in trips]
    assert len(sent) == 3, sent  # each INSERT with the steps before it, none alone
    assert "SAVEPOINT sp1" in sent[0] and "VALUES (1)" in sent[0]
    assert "RELEASE SAVEPOINT sp1" in sent[1] and "VALUES (2)" in sent[1]
    assert "RELEASE SAVEPOINT sp1" in sent[2] and "VALUES (3)" in sent[2]
    assert [row[0] for row in store.execute("SELECT v FROM t_steps ORDER BY v")] == [1, 2, 3]


@pytest.mark.postgresql_only
def test_a_failure_in_a_nested_transaction_is_raised_there_and_undoes_only_its_work(store) -> None:
    with store.transaction():
        store.execute("CREATE TEMP TABLE t_nested (v int PRIMARY KEY)")
        store.execute("INSERT INTO t_nested VALUES (1)")
        reached = False
        with pytest.raises(psycopg.errors.UniqueViolation):
            with store.transaction():
                store.execute("INSERT INTO t_nested VALUES (2)")
                store.execute("INSERT INTO t_nested VALUES (1)")
                reached = True
        assert not reached
        with store.transaction():
            store.execute("INSERT INTO t_nested VALUES (3)")
        with pytest.raises(RuntimeError):
            with store.transaction():  # undone without a statement of its own having failed
                store.execute("INSERT INTO t_nested VALUES (4)")
                raise RuntimeError("the block gives up")
    assert [row[0] for row in store.execute("SELECT v FROM t_nested ORDER BY v")] == [1, 3]


@pytest.mark.postgresql_only
def test_transactions_that_run_nothing_send_nothing(store) -> None:
    with round_trips(store) as trips:
        with store.transaction():
            with store.transaction():
                pass
        with pytest.raises(RuntimeError):
            with store.transaction(), store.transaction():
                raise RuntimeError("nothing to undo")
    assert trips == []
    assert not store.conn.in_transaction
