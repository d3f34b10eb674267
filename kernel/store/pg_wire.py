"""Statements sent to PostgreSQL through libpq's pipeline directly, for the backend's hot path.

psycopg's cursors cost about 60 us of CPU a statement on this machine (a pipeline of one
about 85), libpq's own calls about 33, most of it the system calls: the rest is Python
around each statement (a cursor, its adapters, a generator per wait). A write sends a
dozen statements, a GET four, so the PostgreSQL backend sends its statements here instead:
each batch goes in libpq's pipeline mode, the parameters dumped and the rows loaded by
psycopg's own (compiled) adapters, so values are exactly what psycopg gives, and errors
are psycopg's exceptions. psycopg still owns the connection: its pool, its notices,
``COPY``, server-side cursors and ``executemany`` outside a batch.

A statement is prepared (a named Parse, sent in the same round trip) on its second use on a
connection, under a name of this module's; past :data:`MAX_PREPARED` on a connection the
least recently used one is deallocated, in the same round trip too.
"""

from __future__ import annotations

import re
import select
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

#: Statements prepared per connection; past them the least recently used one is deallocated.
MAX_PREPARED = 512
#: Statements whose uses are counted per connection before the count starts afresh.
_MAX_COUNTED = 4096

#: The tokens of a portable statement its markers are rewritten among: quoted text and
#: names (left alone), ``::`` casts, ``:name`` and ``?`` markers, and ``%``.
TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|::|:([A-Za-z_]\w*)|\?|%")


@lru_cache(maxsize=4096)
def wire_sql(sql: str) -> tuple[bytes, tuple[str, ...] | None]:
    """A statement in the portable subset with PostgreSQL's own markers (``$1``...), and the
    parameter names in their order when it uses ``:name`` ones (None for ``?``)."""
    names: list[str] = []
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        token = match.group(0)
        if token == "?":
            count += 1
            return f"${count}"
        if match.group(1):
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"
        return token

    text = TOKENS.sub(replace, sql)
    return text.encode(), (tuple(names) if names else None)


class Rows:
    """A statement's answer, read as from a sqlite3 cursor: ``fetchone``, ``fetchmany``,
    ``fetchall``, iteration, ``rowcount`` and ``description``."""

    __slots__ = ("_columns", "_count", "_rows")

    def __init__(self, rows: list[Any], rowcount: int = -1, columns: tuple[bytes, ...] = ()) -> None:
        self._rows: deque[Any] = deque(rows)
        self._count = rowcount if rowcount >= 0 else len(rows)
        self._columns = columns

    @property
    def description(self) -> list[tuple[str, None, None, None, None, None, None]] | None:
        """The columns of the rows (DB-API: a name and six unknowns each), None without rows."""
        if not self._columns:
            return None
        return [(name.decode(), None, None, None, None, None, None) for name in self._columns]

    @property
    def rowcount(self) -> int:
        """Rows the statement returned or changed."""
        return self._count

    def fetchone(self) -> Any:
        """The next row, or None."""
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int = 1) -> list[Any]:
        """Up to ``size`` of the rows left."""
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    def fetchall(self) -> list[Any]:
        """The rows left."""
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()


class Pending(Rows):
    """A statement sent in an open batch: its answer is waited for when first read."""

    __slots__ = ("_batch", "done", "error")

    def __init__(self, batch: Batch) -> None:
        super().__init__([])
        self._batch = batch
        self.error: Exception | None = None
        self.done = False

    def arrived(self, rows: list[Any], rowcount: int, columns: tuple[bytes, ...]) -> None:
        """Its answer came: ``rows`` (loaded), how many rows it returned or changed, and the
        names of its columns."""
        self._rows.extend(rows)
        self._columns = columns
        self._count = rowcount if rowcount >= 0 else len(rows)
        self.done = True

    def failed(self, error: Exception) -> None:
        """It failed with ``error`` (or was skipped after an earlier error)."""
        self.error = error
        self.done = True

    def wait(self) -> None:
        """Wait for this statement's answer; raise what the batch failed with at or before it
        (the first error of the batch, or this statement's own once that was raised)."""
        if not self.done:
            self._batch.read_until(self)
        if self.error is not None:
            self._batch.raise_first()
            raise self._batch.wire.refine(self.error)

    def fetchone(self) -> Any:
        self.wait()
        return super().fetchone()

    def fetchmany(self, size: int = 1) -> list[Any]:
        self.wait()
        return super().fetchmany(size)

    def fetchall(self) -> list[Any]:
        self.wait()
        return super().fetchall()

    def __iter__(self) -> Iterator[Any]:
        self.wait()
        return super().__iter__()

    @property
    def rowcount(self) -> int:
        """Rows the statement returned or changed, after waiting for it."""
        self.wait()
        return self._count

    @property
    def description(self) -> list[tuple[str, None, None, None, None, None, None]] | None:
        """The columns of the rows, after waiting for it."""
        self.wait()
        return super().description


class _Names:
    """The statements prepared on one connection, and how often others were used."""

    __slots__ = ("next", "prepared", "uses")

    def __init__(self) -> None:
        self.prepared: OrderedDict[tuple[bytes, tuple[int, ...]], bytes] = OrderedDict()
        self.uses: dict[tuple[bytes, tuple[int, ...]], int] = {}
        self.next = 0


_NAMES: weakref.WeakKeyDictionary[Any, _Names] = weakref.WeakKeyDictionary()


class Wire:
    """One psycopg connection's statements sent through libpq (see the module)."""

    def __init__(self, raw: Any, refine: Callable[[Exception], Exception] = lambda exc: exc) -> None:
        """``raw``: a psycopg connection; ``refine``: what to raise for each error psycopg gives."""
        import psycopg
        from psycopg.adapt import PyFormat, Transformer

        self._refusals = psycopg.Error
        self.raw = raw
        self.refine = refine
        self.pgconn = raw.pgconn
        self.names = _NAMES.setdefault(raw, _Names())
        self.transformer = Transformer(raw)
        self._auto = PyFormat.AUTO
        self._poll = select.poll()
        self._poll.register(self.pgconn.socket, select.POLLIN)

    def batch(self) -> Batch:
        """Open a batch (libpq's pipeline mode) on the connection."""
        return Batch(self)

    def run(self, sql: str, params: Any) -> Rows:
        """Run one statement; its answer, or psycopg's exception for its error."""
        batch, (pending,) = send_all(self, [(sql, params)])
        batch.close()
        return pending

    def dump(self, sql: str, params: Any) -> tuple[bytes, Sequence[Any], tuple[int, ...], list[Any]]:
        """The statement's text, its parameters dumped as psycopg dumps them, their types and
        formats."""
        text, names = wire_sql(sql)
        values = [params[name] for name in names] if names is not None else list(params)
        if not values:
            return text, [], (), []
        try:
            dumped = self.transformer.dump_sequence(values, [self._auto] * len(values))
        except self._refusals as exc:  # a value psycopg refuses before sending (text with a NUL)
            raise self.refine(exc) from None
        return text, dumped, tuple(self.transformer.types or ()), list(self.transformer.formats or ())

    def wait_readable(self) -> None:
        """Block (without the GIL) until the server has sent something."""
        self._poll.poll()


class Batch:
    """Statements sent one after another without waiting; their answers are read in order,
    when one is asked for or when the batch closes. After an error the server skips what
    follows until the batch's next sync point."""

    def __init__(self, wire: Wire) -> None:
        from psycopg.pq import ExecStatus, Format

        self.wire = wire
        self.pgconn = wire.pgconn
        self._status = ExecStatus
        self._binary = Format.BINARY
        self._queue: deque[tuple[str, Any]] = deque()  # ("prepare", key), ("query", Pending), ("deallocate" | "sync", None)
        self._errors: list[Exception] = []
        self._raised = 0
        self._unasked = False  # statements were sent since the server was last asked for answers
        with self._talking():
            self.pgconn.enter_pipeline_mode()

    def send(self, sql: str, params: Any) -> Pending:
        """Queue one statement; its answer comes when it is read."""
        with self._talking():
            return self._send(sql, params)

    def _send(self, sql: str, params: Any) -> Pending:
        wire = self.wire
        text, values, types, formats = wire.dump(sql, params)
        key = (text, types)
        names = wire.names
        name = names.prepared.get(key)
        if name is not None:
            names.prepared.move_to_end(key)
        else:
            uses = names.uses.get(key, 0) + 1
            if uses >= 2:
                while len(names.prepared) >= MAX_PREPARED:
                    _, unused = names.prepared.popitem(last=False)
                    self.pgconn.send_query_params(b"DEALLOCATE " + unused, None)
                    self._queue.append(("deallocate", None))
                names.next += 1
                name = b"tc_%d" % names.next
                names.prepared[key] = name
                names.uses.pop(key, None)
                self.pgconn.send_prepare(name, text, param_types=types or None)
                self._queue.append(("prepare", key))
            else:
                if len(names.uses) >= _MAX_COUNTED:
                    names.uses.clear()
                names.uses[key] = uses
        pending = Pending(self)
        if name is None:
            self.pgconn.send_query_params(
                text, values or None, param_types=types or None, param_formats=formats or None,
                result_format=self._binary,
            )
        else:
            self.pgconn.send_query_prepared(name, values or None, param_formats=formats or None,
                                            result_format=self._binary)
        self._queue.append(("query", pending))
        self._unasked = True
        return pending

    def push(self) -> None:
        """Send a sync point now without reading: the server works on what was sent while the
        caller goes on; :meth:`close` then only reads the answers."""
        with self._talking():
            self.pgconn.pipeline_sync()
            self._queue.append(("sync", None))
            self._flush()
            self._unasked = False

    def read_until(self, pending: Pending) -> None:
        """Ask the server for what it has done so far and read answers up to ``pending``'s."""
        with self._talking():
            if self._unasked:
                self.pgconn.send_flush_request()
                self._flush()
                self._unasked = False
            while not pending.done:
                self._read_one()

    def sync(self, *, raising: bool = True) -> None:
        """A sync point: everything sent is answered, and what follows runs even if something
        before failed (as its own implicit transaction, outside a BEGIN). Raises the first
        error not raised yet (without ``raising``: marks them raised)."""
        if not raising:
            self._raised = len(self._errors)
        with self._talking():
            if not self._queue or self._queue[-1][0] != "sync":  # not pushed since the last statement
                self.pgconn.pipeline_sync()
                self._queue.append(("sync", None))
                self._flush()
                self._unasked = False
            while self._queue:
                self._read_one()
        if not raising:
            self._raised = len(self._errors)
        self.raise_first()

    def close(self) -> None:
        """Sync, leave pipeline mode, and raise the first error not raised yet."""
        try:
            self.sync()
        finally:
            self._leave()

    def abandon(self) -> None:
        """Close after an exception elsewhere: answers are read, their errors not raised. A
        connection left unreadable is closed (its pool then discards it)."""
        try:
            self.sync(raising=False)
        except Exception:  # noqa: BLE001 - the connection is no longer usable: closed below
            pass
        self._leave()

    def _leave(self) -> None:
        """Leave pipeline mode; close a connection that failed on the way (its pool then
        discards it, and the thread's next statement outside a transaction connects anew)."""
        if not self._queue and not self.wire.raw.closed:
            try:
                self.pgconn.exit_pipeline_mode()
                return
            except self.wire._refusals:  # still busy: answers were left unread
                pass
        self.wire.raw.close()

    @contextmanager
    def _talking(self) -> Iterator[None]:
        """Errors of libpq's own calls (a lost connection) as the wire refines them."""
        try:
            yield
        except self.wire._refusals as exc:
            raise self.wire.refine(exc) from exc

    def raise_first(self) -> None:
        """Raise the first error of the batch not raised yet (each is raised once)."""
        if self._raised < len(self._errors):
            error = self._errors[self._raised]
            self._raised = len(self._errors)
            raise self.wire.refine(error)

    def _flush(self) -> None:
        """Send what libpq holds, reading meanwhile what the server sends (so neither side
        blocks on a full buffer)."""
        socket = self.pgconn.socket
        while self.pgconn.flush():
            readable, _, _ = select.select([socket], [socket], [])
            if readable:
                self.pgconn.consume_input()

    def _result(self) -> Any:
        pgconn = self.pgconn
        while pgconn.is_busy():
            self.wire.wait_readable()
            pgconn.consume_input()
        return pgconn.get_result()

    def _read_one(self) -> None:
        kind, item = self._queue.popleft()
        result = self._result()
        status = result.status
        if kind == "sync":
            if status != self._status.PIPELINE_SYNC:  # pragma: no cover - libpq's ordering
                raise RuntimeError(f"expected a pipeline sync, got {status!r}")
            return
        if self._result() is not None:  # pragma: no cover - one result per statement here
            raise RuntimeError("more than one result for a statement")
        if kind == "deallocate":  # it cannot fail but in a failed transaction; the name is never reused
            return
        if kind == "prepare":
            if status != self._status.COMMAND_OK:
                self.wire.names.prepared.pop(item, None)
                self._error(result)
            return
        pending: Pending = item
        if status in (self._status.TUPLES_OK, self._status.COMMAND_OK):
            transformer = self.wire.transformer
            rows: list[Any] = []
            if result.ntuples:
                transformer.set_pgresult(result)
                rows = transformer.load_rows(0, result.ntuples, tuple)
                transformer.set_pgresult(None)
            count = result.command_tuples
            columns = tuple(result.fname(i) for i in range(result.nfields))
            pending.arrived(rows, count if count is not None else -1, columns)
            return
        pending.failed(self._error(result))

    def _error(self, result: Any) -> Exception:
        """The error of a failed statement, or of one skipped after an earlier error (a COMMIT
        skipped so must fail too), kept in order to be raised."""
        from psycopg import errors

        if result.status == self._status.PIPELINE_ABORTED:
            error: Exception = errors.PipelineAborted("skipped after an earlier error in the same batch")
        else:
            error = errors.error_from_result(result, encoding=self.wire.raw.info.encoding)
        self._errors.append(error)
        return error


def send_all(wire: Wire, statements: Sequence[tuple[str, Any]]) -> tuple[Batch, list[Pending]]:
    """Open a batch and send ``statements`` in it; the batch and their answers to come."""
    batch = wire.batch()
    try:
        return batch, [batch.send(sql, params) for sql, params in statements]
    except BaseException:
        batch.abandon()
        raise
