"""The PostgreSQL backend: several nodes on one database (psycopg 3 and psycopg_pool).

Selected by ``[kernel] database = "postgresql://user@host/db"``. Statements are
written once, in the portable subset both backends run (``?`` or ``:name``
parameters, ``ON CONFLICT``, ``RETURNING``); :func:`pg_sql` rewrites the
parameter markers into psycopg's. Each thread holds one pooled connection in
autocommit mode; a write transaction is ``BEGIN`` plus a transaction-scoped
advisory lock, so writers on every node queue as they do on one SQLite file.
Round trips are what a request pays most for here, so statements that need no answer
of their own ride with the next one that does, and reads named ahead ride with the next
statement (:class:`PgConnection`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from kernel.store.meanwhile import Later
from kernel.store.pg_wire import TOKENS, Batch, Pending, Rows, Wire, send_all


class StoreUnavailable(RuntimeError):
    """The database cannot be reached (one line naming it and why)."""


#: The advisory lock every write transaction holds (any constant unique to teamcal).
WRITE_LOCK_KEY = 0x7EA3CA1

@lru_cache(maxsize=4096)
def pg_sql(sql: str) -> str:
    """A statement in the portable subset with psycopg's parameter markers.

    ``?`` becomes ``%s``, ``:name`` becomes ``%(name)s`` and a literal ``%``
    becomes ``%%``; text inside quotes and ``::`` casts are left alone (a
    ``%`` is doubled even inside quotes, as psycopg reads the whole text).
    """

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if match.group(1):
            return f"%({match.group(1)})s"
        if token[0] == "'":
            return token.replace("%", "%%")
        return token

    return TOKENS.sub(replace, sql)


def _adapt(params: Any) -> Any:
    """Parameters as PostgreSQL takes them: booleans as 0/1 (the portable bool is an integer)."""
    if isinstance(params, dict):
        return {k: int(v) if isinstance(v, bool) else v for k, v in params.items()}
    return [int(v) if isinstance(v, bool) else v for v in params]


class PgConnection:
    """A pooled psycopg connection speaking the portable subset (``execute`` like sqlite3's).

    Statements go through :mod:`kernel.store.pg_wire` (libpq's pipeline, less Python a
    statement than psycopg's cursors). Four things wait to ride with the next statement,
    each saving a round trip: the statements that open a write transaction
    (:meth:`open_with`), the savepoint steps of nested transactions (``SAVEPOINT``,
    ``RELEASE SAVEPOINT``, ``ROLLBACK TO SAVEPOINT``: they answer nothing, and what fails
    after them is still raised by the statement that failed), a batch left open after the
    last deferred block of a transaction (:meth:`pipeline`), which the next statement (the
    ``COMMIT`` or any other) joins and closes, and reads named ahead (:meth:`expect`).
    """

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.wire = Wire(raw, refine=self._refine)
        self._trace: Callable[[str], Any] | None = None
        self._opening: tuple[str, ...] = ()
        self._steps: list[str] = []  # savepoint steps not sent yet, in a transaction begun
        self._batch: Batch | None = None  # the open deferred block's
        self._held: Batch | None = None  # left open after the last one, until the next statement
        self._expected: list[tuple[str, Any]] = []
        self._answered: dict[tuple[str, str], list[Any]] = {}
        self._in_order = 0  # depth of in_order() blocks
        self._meanwhile: list[Later[Any]] = []  # work for the next round trip of reads ahead
        self._refusals: list[tuple[str, Any, Exception, int]] = []  # checks for the next block, with their depth
        self._sent_refusals: list[tuple[Pending, Exception]] = []

    def set_trace_callback(self, callback: Callable[[str], Any] | None) -> None:
        """Call ``callback(sql)`` for every statement run (None: stop), as sqlite3 does."""
        self._trace = callback

    @property
    def broken(self) -> bool:
        """Has the server dropped this connection (psycopg has closed it)?"""
        return bool(self.raw.closed or self.raw.broken)

    def _refine(self, exc: Exception) -> Exception:
        """What to raise for an error psycopg gives: a check of :meth:`refuse_if` that found a
        row as its refusal; a refused value as :func:`_refused` says; a lost connection as a
        503 (the next statement outside a transaction connects anew)."""
        import psycopg

        for sent, refusal in self._sent_refusals:
            if sent.error is exc:
                return refusal

        if isinstance(exc, psycopg.DataError):
            return _refused(exc)
        if isinstance(exc, psycopg.OperationalError) and self.broken:
            from kernel.types import Rejected

            return Rejected(503, None, "The database connection was lost; try again.")
        return exc

    def refuse_if(self, sql: str, params: Any, refusal: Exception, depth: int) -> None:
        """In a transaction (``depth`` transactions deep): fail it with ``refusal`` when the read
        ``sql`` finds a row. The check is sent at the start of the next deferred block, with
        its writes, and fails them (and the COMMIT) when it finds one; a check no block sent
        runs before the COMMIT, and one of a nested transaction rolled back is dropped
        (``Store.refuse_if``)."""
        self._refusals.append((sql, params, refusal, depth))

    def _drop_refusals(self, step: str) -> None:
        """Before ``ROLLBACK TO SAVEPOINT spN``: drop the checks not sent yet of the
        transactions it undoes (deeper than N)."""
        depth = int(step.rpartition("sp")[2])
        self._refusals = [refusal for refusal in self._refusals if refusal[3] <= depth]

    def _send_refusals(self, batch: Batch) -> None:
        """Send the checks waiting for a deferred block in ``batch``: each divides by zero
        when its read finds a row, so that its failure is told from any other."""
        for sql, params, refusal, _ in self._refusals:
            check = f"SELECT 1 / (CASE WHEN EXISTS ({sql}) THEN 0 ELSE 1 END)"
            self._traced(check)
            self._sent_refusals.append((batch.send(check, _adapt(params)), refusal))
        self._refusals.clear()

    def _refuse_now(self) -> None:
        """Run the checks no deferred block sent (before a COMMIT), raising the first refusal."""
        refusals, self._refusals = self._refusals, []
        for sql, params, refusal, _ in refusals:
            if self.execute(sql, params).fetchone() is not None:
                raise refusal

    def open_with(self, *statements: str) -> None:
        """Open a transaction with ``statements`` (a BEGIN and what must follow it), sent in
        one round trip with the transaction's first statement. A transaction that runs none
        sends nothing: its COMMIT or ROLLBACK only forgets them. Reads named ahead are
        forgotten: in a transaction a read sees what the transaction holds."""
        self.forget_expected()
        self._refusals.clear()
        self._sent_refusals.clear()
        self._opening = statements

    def expect(self, statements: Sequence[tuple[str, Any]]) -> list[tuple[str, str]]:
        """Reads this thread will soon run: they are sent after the next statement, in its
        round trip (outside a transaction, one that runs alone; in one, the next that waits
        for the server), and when they run they are answered from what came back. Opening a
        transaction, a write, or :meth:`forget_expected` forgets them. A statement that is
        not a read is never sent ahead: it runs when its turn comes. A read ahead that fails
        fails only when it runs: in a transaction they go in a savepoint of their own, which
        is rolled back then, so the transaction goes on. Returns the keys of the reads this
        call added (not named already), for :meth:`forget_expected` to forget those alone."""
        known = {_statement_key(sql, params) for sql, params in self._expected} | set(self._answered)
        added: list[tuple[str, str]] = []
        for sql, params in statements:
            if not _is_read(sql):
                continue
            key = _statement_key(sql, params)
            if key not in known:
                known.add(key)
                added.append(key)
                self._expected.append((sql, params))
        return added

    @contextmanager
    def in_order(self) -> Iterator[None]:
        """A block whose statements, when any goes to the server, forget the reads named
        ahead that were already answered (``Store.in_order``)."""
        self._in_order += 1
        try:
            yield
        finally:
            self._in_order -= 1

    def meanwhile(self, later: Later[Any], *, add: bool = True) -> None:
        """Run ``later`` while the next batch with reads named ahead is on its way, before
        reading their answers (``Store.meanwhile``); with ``add=False``, no longer."""
        if add:
            self._meanwhile.append(later)
        elif later in self._meanwhile:
            self._meanwhile.remove(later)

    def forget_expected(self, keys: Sequence[tuple[str, str]] | None = None) -> None:
        """Forget the reads named ahead, sent or not: all of them, or those of ``keys``
        (as :meth:`expect` returned them)."""
        if keys is None:
            self._expected.clear()
            self._answered.clear()
            return
        if not keys:
            return
        drop = set(keys)
        self._expected = [(sql, params) for sql, params in self._expected if _statement_key(sql, params) not in drop]
        for key in drop:
            self._answered.pop(key, None)

    def execute(self, sql: str, params: Any = ()) -> Any:
        """Run one statement; returns its rows as a cursor (:class:`pg_wire.Rows`; None for a
        savepoint step held back, or a COMMIT or ROLLBACK that only closed what was waiting).
        Rows come in PostgreSQL's binary format: the same Python values as text, read without
        parsing text (object data without hex encoding), about a third less time for a month's
        objects. In a deferred block the statement is only sent: its answer is waited for when
        read."""
        if (self._answered or self._expected) and not _is_read(sql):
            self.forget_expected()  # this thread writes: what was read ahead may be older than that
        if self._refusals:
            if sql == "COMMIT":
                self._refuse_now()
            elif sql == "ROLLBACK":
                self._refusals.clear()
            elif sql.startswith("ROLLBACK TO SAVEPOINT "):
                self._drop_refusals(sql)
        if self._batch is not None:
            self._traced(sql)
            return self._batch.send(sql, _adapt(params))
        step = _SAVEPOINT_STEP.match(sql) is not None
        if self._held is not None:
            if sql not in ("COMMIT", "ROLLBACK") and not step:
                return self._close_held_with(sql, params)
            if self._release_held(sql):  # the batch's errors surface here, before a nested transaction
                return None
        if self._opening and sql in ("COMMIT", "ROLLBACK"):  # the transaction ran nothing
            self._opening = ()
            self._steps.clear()
            return None
        if step and self.in_transaction:
            self._steps.append(sql)
            return None
        if self._steps and sql == "ROLLBACK":  # it undoes whatever the steps would have done
            self._steps.clear()
        if self._opening or self._steps:
            return self._send_together([(sql, params)])[0]
        if self._answered and (rows := self._answered.pop(_statement_key(sql, params), None)) is not None:
            return Rows(rows)
        if self._expected and not self.in_transaction:
            return self._send_expected(sql, params)
        self._traced(sql)
        return self.wire.run(sql, _adapt(params))

    def _send_expected(self, sql: str, params: Any) -> Any:
        """Run ``sql`` with the reads named ahead after it, in one batch; keep their rows.
        A read ahead that fails is only not answered: it runs again when its turn comes.
        Each is sent once: one named twice, or the same as ``sql``, is not sent again."""
        unique = {_statement_key(statement, values): (statement, values) for statement, values in self._expected}
        unique.pop(_statement_key(sql, params), None)
        expected, self._expected = list(unique.values()), []
        self._traced(sql, *(statement for statement, _ in expected))
        batch, sent = send_all(self.wire, [(sql, _adapt(params)), *((s, _adapt(v)) for s, v in expected)])
        first = sent[0]
        try:
            if self._meanwhile:
                work, self._meanwhile = self._meanwhile, []
                batch.push()
                for later in work:
                    later.run()
            batch.close()
        except Exception:
            if not (first.done and first.error is None):
                raise
        for (statement, values), read in zip(expected, sent[1:], strict=True):
            if read.done and read.error is None:
                self._answered[_statement_key(statement, values)] = read.fetchall()
        return first

    def read_together(self, statements: Sequence[tuple[str, Any]]) -> list[list[Any]]:
        """The rows of each of several reads, sent in one batch: one round trip for all
        (and, outside a transaction, one snapshot: the batch runs as one implicit
        transaction). When every one of them was named ahead and has been answered, they
        are answered from that, without a round trip."""
        if self._answered and statements:
            keys = [_statement_key(sql, params) for sql, params in statements]
            if all(key in self._answered for key in keys):
                return [self._answered.pop(key) for key in keys]
        if self._batch is not None:
            self._traced(*(sql for sql, _ in statements))
            sent = [self._batch.send(sql, _adapt(params)) for sql, params in statements]
            return [rows.fetchall() for rows in sent]
        if self._held is not None:
            self._release_held("")
        return [rows.fetchall() for rows in self._send_together(statements)]

    def _send_together(self, statements: Sequence[tuple[str, Any]]) -> list[Pending]:
        """Send what waits for the next statement (what opens a transaction, savepoint steps),
        ``statements`` and, in a transaction, the reads named ahead, in one batch; the answers
        of ``statements``, read (those of the reads ahead are kept for when they run)."""
        ahead: list[tuple[str, Any]] = []
        if self._expected and self.in_transaction:
            ahead, self._expected = self._expected, []
        waiting = [(statement, ()) for statement in self._waiting()]
        # in a savepoint of their own: one that fails leaves the transaction as it was
        guarded = [(_AHEAD_SAVEPOINT, ()), *ahead, (_AHEAD_RELEASE, ())] if ahead else []
        self._traced(*(sql for sql, _ in (*waiting, *statements, *guarded)))
        batch, sent = send_all(self.wire, [*waiting, *((sql, _adapt(p)) for sql, p in (*statements, *guarded))])
        ours = sent[: len(waiting) + len(statements)]
        try:
            batch.close()
        except Exception:
            if not all(pending.done and pending.error is None for pending in ours):
                raise
            undo, _ = send_all(self.wire, [(_AHEAD_UNDO, ()), (_AHEAD_RELEASE, ())])
            undo.close()  # a read ahead failed: it fails again when it runs, if it does
            return ours[len(waiting):]
        for (sql, params), read in zip(ahead, sent[len(ours) + 1 : len(ours) + 1 + len(ahead)], strict=True):
            self._answered[_statement_key(sql, params)] = read.fetchall()
        return ours[len(waiting):]

    def _waiting(self) -> list[str]:
        """Take what waits to be sent before the next statement, in order."""
        waiting = [*self._opening, *self._steps]
        self._opening = ()
        self._steps.clear()
        return waiting

    def script(self, sql: str) -> None:
        """Run statements without parameters, separated by ``;``, in one round trip (the
        simple query protocol: text results, never prepared)."""
        self.forget_expected()
        self._settle()
        self._traced(sql)
        self.raw.execute(sql)

    def executemany(self, sql: str, seq: Iterable[Any]) -> Any:
        """Run one statement for each parameter set (in a deferred block: only sent)."""
        self.forget_expected()
        rows = [_adapt(p) for p in seq]
        if self._batch is not None:
            self._traced(*(sql for _ in rows))
            for values in rows:
                self._batch.send(sql, values)
            return Rows([])
        self._settle()
        cursor = self.raw.cursor()
        self._traced(*(sql for _ in rows))
        try:
            cursor.executemany(pg_sql(sql), rows)
        except self._data_error as exc:
            raise _refused(exc) from None
        return cursor

    def stream(self, sql: str, params: Any = (), size: int = 1000) -> Iterator[list[Any]]:
        """The rows of a query in lists of ``size``, through a server-side cursor (inside a
        transaction), so a big table is never held in memory at once."""
        self._settle()
        with self.raw.cursor(name="teamcal_stream") as cursor:
            cursor.itersize = size
            cursor.execute(pg_sql(sql), _adapt(params))
            while rows := cursor.fetchmany(size):
                yield rows

    @contextmanager
    def pipeline(self, *, hold: bool = False) -> Iterator[None]:
        """A deferred block: its statements are sent as they run, and the client waits only
        when an answer is read, for every statement sent before it. With ``hold`` the batch
        stays open after a block that ends normally, until the next statement: a ``COMMIT``
        then goes with the block's statements, and their errors surface there. A block
        inside another ends at a sync point, raising its errors by its own end."""
        if self._batch is not None:
            try:
                yield
            except BaseException:
                self._batch.sync(raising=False)
                raise
            self._batch.sync()
            return
        if self._held is not None:
            batch, self._held = self._held, None
        else:
            batch = self.wire.batch()
        self._batch = batch
        try:
            waiting = self._waiting()
            self._traced(*waiting)
            for statement in waiting:
                batch.send(statement, ())
            self._send_refusals(batch)
            yield
        except BaseException:
            self._batch = None
            batch.abandon()
            raise
        self._batch = None
        if hold:
            self._held = batch
        else:
            batch.close()

    def _close_held_with(self, sql: str, params: Any) -> Any:
        """Send ``sql`` in the held batch and close it: one round trip for both. Raises the
        batch's first error, the statement's own or an earlier one's."""
        held, self._held = self._held, None
        assert held is not None
        self._traced(sql)
        try:
            rows = held.send(sql, _adapt(params))
        except BaseException:  # refused before it was sent (text with a NUL): what was sent stands
            held.close()
            raise
        held.close()
        return rows

    def _release_held(self, sql: str) -> bool:
        """Close the held batch before ``sql``; True when ``sql`` was a COMMIT sent with it.
        Before a ROLLBACK, what failed in the batch is not raised: it is being undone."""
        held, self._held = self._held, None
        assert held is not None
        if sql == "COMMIT":
            self._traced(sql)
            held.send(sql, ())
            held.close()
            return True
        if sql == "ROLLBACK":
            held.abandon()
            return False
        held.close()
        return False

    def _settle(self) -> None:
        """Send what waits for the next statement before one psycopg runs itself."""
        if self._batch is not None:
            raise RuntimeError("a script, COPY or server-side cursor cannot run in a deferred block")
        if self._held is not None:
            self._release_held("")
        if waiting := self._waiting():
            self._traced("; ".join(waiting))
            self.raw.execute("; ".join(waiting))

    def _traced(self, *statements: str) -> None:
        """Before ``statements`` go to the server: trace them, and in an :meth:`in_order`
        block forget the answers read ahead (they are older than what these will see)."""
        if self._in_order and self._answered:
            self._answered.clear()
        if self._trace is not None:
            for sql in statements:
                self._trace(sql)

    @property
    def _data_error(self) -> type[Exception]:
        import psycopg

        return psycopg.DataError

    @property
    def in_transaction(self) -> bool:
        """True while a transaction is open (or failed and not yet rolled back), or waits to be."""
        from psycopg.pq import TransactionStatus

        return bool(self._opening) or bool(self.raw.info.transaction_status != TransactionStatus.IDLE)


#: The savepoint holding the reads named ahead in a transaction, and what undoes it when one fails.
_AHEAD_SAVEPOINT = "SAVEPOINT teamcal_ahead"
_AHEAD_RELEASE = "RELEASE SAVEPOINT teamcal_ahead"
_AHEAD_UNDO = "ROLLBACK TO SAVEPOINT teamcal_ahead"
#: The statements of a nested transaction that answer nothing (``Transactions`` sends them).
_SAVEPOINT_STEP = re.compile(r"(?:SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT) \w+\Z")
_WRITES = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)


@lru_cache(maxsize=4096)
def _is_read(sql: str) -> bool:
    """Is this statement a read: a SELECT, or a WITH without INSERT, UPDATE, DELETE or MERGE
    anywhere in it (a word of those in a name or a literal only makes it count as a write)?"""
    head = sql.lstrip()[:6].upper()
    return head == "SELECT" or (head[:4] == "WITH" and _WRITES.search(sql) is None)


def _statement_key(sql: str, params: Any) -> tuple[str, str]:
    """What identifies a read named ahead: its text and its parameters' values."""
    if isinstance(params, dict):
        return sql, repr(sorted(params.items()))
    return sql, repr(tuple(params))


def _refused(exc: Exception) -> Exception:
    """Text PostgreSQL cannot hold (a NUL character) is the client's error, not the server's:
    refused before it reaches the server, the open transaction stays usable."""
    from kernel.types import Rejected

    if "NUL" in str(exc):
        return Rejected(400, None, "Text with a NUL character cannot be stored.")
    return exc


class PostgresBackend:
    """Several teamcal processes, on one or several machines, sharing one PostgreSQL database."""

    dialect = "postgresql"
    at_once = 2  # each statement waits on the network, and another piece runs meanwhile

    def __init__(self, url: str, *, password: str = "", max_connections: int = 32) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self.url = url
        self.integrity_errors: tuple[type[BaseException], ...] = (psycopg.errors.IntegrityError,)
        extra: dict[str, Any] = {"password": password} if password else {}
        try:
            psycopg.connect(url, connect_timeout=10, **extra).close()
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnavailable(f"cannot connect to {redact(url)}: {reason}") from None
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True, **extra},
            open=True,
            name="teamcal",
            timeout=30,
        )

    def connect(self) -> PgConnection:
        """A connection from the pool, held by the calling thread until it ends."""
        return PgConnection(self.pool.getconn())

    def broken(self, conn: PgConnection) -> bool:
        """Has the server dropped the connection? (:attr:`PgConnection.broken`)"""
        return conn.broken

    def release(self, conn: PgConnection) -> None:
        """Return a thread's connection to the pool (rolled back if a transaction was left open)."""
        if self.pool.closed:
            return
        if conn.in_transaction and not conn.broken:  # a broken one the pool discards
            import psycopg

            from kernel.types import Rejected

            try:
                conn.execute("ROLLBACK")
            except (psycopg.Error, Rejected):  # the server went away meanwhile
                pass
        self.pool.putconn(conn.raw)

    def begin(self, conn: PgConnection) -> None:
        """BEGIN, then wait for the cluster-wide write lock (released at COMMIT or ROLLBACK).
        Both go with the transaction's first statement: the lock is taken before it runs,
        and a transaction that runs no statement takes none."""
        conn.open_with("BEGIN", f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")

    def begin_read(self, conn: PgConnection) -> None:
        """A REPEATABLE READ, READ ONLY transaction: one snapshot, taken at its first statement
        (a ``SELECT 1`` sent with the BEGIN, in one round trip)."""
        conn.script("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT 1")

    def deferred(self, conn: PgConnection, *, outermost: bool = False) -> AbstractContextManager[Any]:
        """A batch in libpq's pipeline mode: statements are sent as they run, and the client
        waits only when a result is read, for every statement sent before it. In the outermost
        transaction the batch stays open until the next statement, so the ``COMMIT`` after
        a write's last block costs no round trip of its own."""
        return conn.pipeline(hold=outermost)

    def close(self) -> None:
        """Close the pool and its connections."""
        self.pool.close()

    def describe(self) -> str:
        """The URL without its password."""
        return redact(self.url)


def redact(url: str) -> str:
    """A database URL with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def is_postgres_url(database: str) -> bool:
    """Does a ``[kernel] database`` value name a PostgreSQL database rather than a file?"""
    return database.startswith(("postgresql://", "postgres://"))
