"""Copying a deployment's database into an empty one, of either backend, and proving the copy.

``teamcal store copy --to URL|FILE`` moves a SQLite deployment to PostgreSQL, or
takes a SQLite copy of a PostgreSQL one. The target gets its schema from the
same migrations a new deployment runs, while a :class:`~kernel.store.tables.Catalogue`
notes every table and column they declare (the kernel's and each enabled
plugin's); exactly those are copied, in the order they were created (referenced
tables first), in batches read from one snapshot of the source, so a running
server keeps writing meanwhile. Then generated keys continue where the source's
stopped, the time index's length classes are recomputed and checked with its
index, and every table's row count and checksum are compared
on both sides before anything is committed: a copy that does not match leaves
the target as it was. A PostgreSQL target is vacuumed and analysed at the end, so
the planner knows the new tables from the first request.

The checksum of a table is independent of row order and of the backend: each
value is normalised by its declared type (an ``int`` is an integer, a ``float``
its exact binary value, ``text`` its UTF-8 bytes, ``bytes`` its bytes, ``bool``
0 or 1), each row hashed, and the hashes added up.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernel.store.postgres import is_postgres_url, redact
from kernel.store.schema import kernel_migrations
from kernel.store.tables import RECORDS, Catalogue, Migrations, Table, applied, quote

#: Rows read and written per batch.
BATCH = 1000
#: Checksums are sums of row hashes modulo this (128 bits).
_MODULUS = 1 << 128


class CopyRefused(Exception):
    """The copy cannot start (a non-empty or unusable target): one line saying why."""


class CopyMismatch(Exception):
    """The copy did not match its source; nothing was committed."""


@dataclass
class TableTally:
    """Rows and checksum of one table, on the source and on the target."""

    name: str
    rows: int = 0
    checksum: int = 0
    target_rows: int = 0
    target_checksum: int = 0

    @property
    def matches(self) -> bool:
        """Same count and same checksum on both sides."""
        return (self.rows, self.checksum) == (self.target_rows, self.target_checksum)


@dataclass
class CopyReport:
    """What a copy did: per-table tallies, the index check, what it left out, how long it took."""

    source: str
    target: str
    tables: list[TableTally] = field(default_factory=list)
    index: str = ""
    left_out: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        """Rows copied in all tables."""
        return sum(t.rows for t in self.tables)


def describe_target(target: str) -> str:
    """The target as printed: a URL without its password, or the file path."""
    return redact(target) if is_postgres_url(target) else target


def normalise(table: Table) -> Callable[[Iterable[Any]], tuple[Any, ...]]:
    """A function making a row of ``table`` (values in declared column order) backend-neutral."""
    convert = [_CONVERT[c.type] for c in table.columns]

    def row(values: Iterable[Any]) -> tuple[Any, ...]:
        return tuple(None if v is None else f(v) for f, v in zip(convert, values))

    return row


def _text(value: Any) -> str:
    return bytes(value).decode("utf-8") if isinstance(value, (bytes, bytearray, memoryview)) else str(value)


def _bytes(value: Any) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


_CONVERT: dict[str, Callable[[Any], Any]] = {"int": int, "bool": int, "float": float, "text": _text, "bytes": _bytes}


def row_hash(row: tuple[Any, ...]) -> int:
    """A 128-bit hash of one normalised row (each value tagged with its kind and length)."""
    h = hashlib.blake2b(digest_size=16)
    for value in row:
        if value is None:
            h.update(b"N")
            continue
        if isinstance(value, int):
            data, tag = str(value).encode(), b"I"
        elif isinstance(value, float):
            data, tag = value.hex().encode(), b"F"
        elif isinstance(value, str):
            data, tag = value.encode("utf-8"), b"T"
        else:
            data, tag = value, b"B"
        h.update(tag + len(data).to_bytes(8, "big") + data)
    return int.from_bytes(h.digest(), "big")


def tally(store: Any, table: Table) -> tuple[int, int]:
    """(rows, checksum) of one declared table as ``store`` holds it now."""
    rows = checksum = 0
    fix = normalise(table)
    for batch in store.stream(_select(table), size=BATCH):
        for values in batch:
            checksum = (checksum + row_hash(fix(values))) % _MODULUS
        rows += len(batch)
    return rows, checksum


def _select(table: Table) -> str:
    return f"SELECT {', '.join(quote(c.name) for c in table.columns)} FROM {quote(table.name)}"


def copy_store(source: Any, target: Any, sets: list[Any], *, log: Callable[[str], None] = lambda _: None) -> CopyReport:
    """Migrate the empty ``target`` store and copy ``source`` into it (both :class:`kernel.store.Store`).

    ``sets`` are the enabled plugins' migration sets (``host.migration_sets()``);
    ``source`` must have every one of them applied. Raises :class:`CopyRefused`
    before writing when the target holds any table, :class:`CopyMismatch` (with
    nothing committed) when a count or checksum differs.
    """
    report = CopyReport(source.path, target.path)
    started = time.perf_counter()
    existing = target.table_names()
    if existing:
        raise CopyRefused(
            f"{target.path} is not empty ({len(existing)} tables, such as {existing[0]}): copy into an empty database"
        )
    for migrations in sets:
        if not isinstance(migrations, Migrations):
            name = getattr(migrations, "name", repr(migrations))
            raise CopyRefused(
                f"migration set {name!r} uses sqlite_utils.Migrations: its tables are not declared, so they"
                " cannot be copied (declare them with kernel.Migrations, docs/plugins.md)"
            )
    pending = source.pending_migrations(sets)
    if pending:
        raise CopyRefused(f"the source has pending migrations ({', '.join(pending)}): migrate it first")
    for migrations in [kernel_migrations, *sets]:
        unknown = applied(source, migrations.name) - set(migrations.steps)
        if unknown:
            raise CopyRefused(
                f"the source ran migrations of {migrations.name} this code does not declare"
                f" ({', '.join(sorted(unknown))}): copy with the version that wrote it"
            )
    names = {m.name for m in [kernel_migrations, *sets]}
    report.left_out = sorted({r[0] for r in source.execute(f"SELECT DISTINCT migration_set FROM {RECORDS}")} - names)
    catalogue = Catalogue()
    with target.transaction():
        target.migrate(sets, catalogue)
        for table in reversed(catalogue.tables.values()):  # rows a migration seeded: the source has its own
            target.execute(f"DELETE FROM {quote(table.name)}")
        with source.snapshot():
            for table in catalogue.tables.values():
                report.tables.append(_copy_table(source, target, table, log))
            positions = {
                (table.name, column.name): _sequence_position(source, table.name, column.name)
                for table in catalogue.tables.values()
                for column in table.columns
                if column.generated
            }
        for (table_name, column), position in positions.items():
            _continue_sequence(target, table_name, column, position)
        target.rebuild_index()
        report.index, problems = target.check_index()
        for item in report.tables:
            item.target_rows, item.target_checksum = tally(target, catalogue.tables[item.name])
        wrong = [t.name for t in report.tables if not t.matches]
        if problems or wrong:
            raise CopyMismatch(
                "; ".join([*problems, *(f"table {n} differs from the source" for n in wrong)])
                + ": nothing was committed"
            )
    if target.dialect == "postgresql":
        # statistics and the visibility map now, not when autovacuum gets to the new tables
        target.execute(f"VACUUM (ANALYZE) {', '.join(quote(name) for name in catalogue.tables)}")
    report.seconds = time.perf_counter() - started
    return report


def _copy_table(source: Any, target: Any, table: Table, log: Callable[[str], None]) -> TableTally:
    """Copy one table in batches, tallying what was read."""
    item = TableTally(table.name)
    fix = normalise(table)
    columns = ", ".join(quote(c.name) for c in table.columns)
    insert = f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({', '.join('?' * len(table.columns))})"
    for batch in source.stream(_select(table), size=BATCH):
        rows = [fix(values) for values in batch]
        target.executemany(insert, rows)
        for row in rows:
            item.checksum = (item.checksum + row_hash(row)) % _MODULUS
        item.rows += len(rows)
    log(f"{table.name}: {item.rows:,} rows")
    return item


def _sequence_position(store: Any, table: str, column: str) -> int:
    """The last value a generated key of ``store`` handed out (0: none yet); at least the largest stored."""
    largest = store.execute(f"SELECT max({quote(column)}) FROM {quote(table)}").fetchone()[0] or 0
    if store.dialect == "sqlite":
        found = store.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
        return max(largest, found[0] if found and found[0] else 0)
    name = store.execute("SELECT pg_get_serial_sequence(?, ?)", (quote(table), column)).fetchone()[0]
    last, called = store.execute(f"SELECT last_value, is_called FROM {name}").fetchone()
    return max(largest, last if called else 0)


def _continue_sequence(store: Any, table: str, column: str, position: int) -> None:
    """Make the next generated key of ``table`` follow ``position`` (never reusing a source key)."""
    if position <= 0:
        return
    if store.dialect == "sqlite":
        if store.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (position, table)).rowcount == 0:
            store.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, position))
        return
    store.execute("SELECT setval(pg_get_serial_sequence(?, ?), ?, true)", (quote(table), column, position))


def sqlite_target(path: str | Path) -> tuple[Path, Path]:
    """(the file asked for, the temporary file beside it the copy is built in).

    Refuses a file that already holds tables; the copy is renamed into place only
    when it is complete and verified.
    """
    final = Path(path).resolve()
    if final.exists() and final.stat().st_size > 0:
        import sqlite3

        conn = sqlite3.connect(f"{final.as_uri()}?mode=ro", uri=True)
        try:
            count = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise CopyRefused(f"{final} is not an empty SQLite database ({exc})") from None
        finally:
            conn.close()
        if count:
            raise CopyRefused(f"{final} is not empty ({count} tables): copy into an empty database")
    for stale in (Path(f"{final}-wal"), Path(f"{final}-shm")):
        if stale.exists():
            raise CopyRefused(f"{stale} exists beside the target: is a server using {final}?")
    return final, final.with_name(f".{final.name}.{os.getpid()}.partial")
