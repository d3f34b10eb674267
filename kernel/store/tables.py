"""Declaring tables and migrations once, for every backend.

A plugin (and the kernel) describes its tables with :class:`Table`,
:class:`Column` and :class:`Index`, and changes them with ordered migrations in
a :class:`Migrations` set; the :class:`Migrator` each migration receives writes
the DDL in the backend's dialect. Data moves through the store's ``execute``
in the portable SQL subset (docs/plugins.md, "Storage").

Column types: ``int`` (64-bit), ``float``, ``text``, ``bytes``, ``bool``
(stored as 0/1 on both backends, so comparisons read the same). A generated
primary key (``generated=True``) is assigned by the database and never reused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kernel.store import Store

#: Column types and their spelling per dialect.
TYPES: dict[str, dict[str, str]] = {
    "int": {"sqlite": "INTEGER", "postgresql": "BIGINT"},
    "float": {"sqlite": "REAL", "postgresql": "DOUBLE PRECISION"},
    "text": {"sqlite": "TEXT", "postgresql": "TEXT"},
    "bytes": {"sqlite": "BLOB", "postgresql": "BYTEA"},
    "bool": {"sqlite": "INTEGER", "postgresql": "SMALLINT"},
}
#: ON DELETE actions a reference may take.
ON_DELETE = ("cascade", "set null", "restrict")
#: The table that records applied migrations (both backends).
RECORDS = "teamcal_migrations"
#: Where sqlite-utils recorded migrations before this API (read as applied, SQLite only).
LEGACY_RECORDS = "_sqlite_migrations"


class SchemaError(ValueError):
    """A table, column or migration declared wrongly (raised at start-up, naming what)."""


_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


def check_identifiers(*names: str) -> None:
    """ValueError unless each name is a plain lower-case identifier: a table or column a
    statement built for a plugin names."""
    for name in names:
        if not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"not a table or column name: {name!r}")


def quote(name: str) -> str:
    """An identifier, double-quoted (both dialects; ``end`` and friends stay usable)."""
    if not name or '"' in name or "\x00" in name:
        raise SchemaError(f"invalid identifier {name!r}")
    return f'"{name}"'


def one_of(dialect: str, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """The condition "``column`` is one of ``values``" and its parameters. PostgreSQL takes the
    values as one array, so the statement's text is the same for any number of them (psycopg
    converts and prepares it once, where a marker per value made it tokenise the text of every
    statement past 50 parameters again); SQLite has a marker per value (at most 32,766).

    On PostgreSQL an array of integers or of strings goes as one text literal that the server
    casts: psycopg adapts a Python list value by value (about 0.2 ms for 500 ids), the
    literal is joined in C and parsed by the server."""
    if dialect == "postgresql":
        items = list(values)
        if items and all(type(value) is int for value in items):
            return f"{column} = ANY(CAST(? AS BIGINT[]))", ["{" + ",".join(map(str, items)) + "}"]
        if items and all(type(value) is str for value in items):
            return f"{column} = ANY(CAST(? AS TEXT[]))", ["{" + ",".join(map(_array_element, items)) + "}"]
        return f"{column} = ANY(?)", [items]
    return f"{column} IN ({','.join('?' * len(values))})", list(values)


def one_of_chunks(dialect: str, column: str, values: Sequence[Any], size: int = 500) -> Iterator[tuple[str, list[Any]]]:
    """:func:`one_of` for each run of ``size`` of ``values``: a read by a long list of them, a
    statement a run."""
    for first in range(0, len(values), size):
        yield one_of(dialect, column, values[first : first + size])


def _array_element(value: str) -> str:
    """A string as an element of a PostgreSQL array literal: double-quoted, with ``\\`` and
    ``"`` escaped, so that commas, braces, blanks and ``NULL`` stay text."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(value: Any) -> str:
    """A constant as SQL text (DEFAULT clauses, CHECK lists)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise SchemaError(f"no SQL literal for {value!r}")


@dataclass(frozen=True)
class Column:
    """One column: name, type, nullability, default, keys and constraints."""

    name: str
    type: str
    null: bool = False
    default: Any = None
    primary_key: bool = False
    #: The database assigns the value (an ``int`` primary key), never reusing one.
    generated: bool = False
    unique: bool = False
    #: ``"table(column)"`` this column refers to.
    references: str | None = None
    on_delete: str | None = None
    #: The only values allowed (a CHECK constraint).
    choices: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise SchemaError(f"column {self.name!r}: unknown type {self.type!r} (one of {', '.join(TYPES)})")
        if self.generated and (self.type != "int" or not self.primary_key):
            raise SchemaError(f"column {self.name!r}: only an int primary key can be generated")
        if self.on_delete is not None and self.on_delete not in ON_DELETE:
            raise SchemaError(f"column {self.name!r}: on_delete must be one of {', '.join(ON_DELETE)}")

    def ddl(self, dialect: str, *, sole_key: bool) -> str:
        """The column's definition in a CREATE TABLE or ADD COLUMN."""
        name = quote(self.name)
        if self.generated:
            if dialect == "sqlite":
                return f"{name} INTEGER PRIMARY KEY AUTOINCREMENT"
            return f"{name} BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
        parts = [name, TYPES[self.type][dialect]]
        if self.primary_key and sole_key:
            parts.append("PRIMARY KEY")
        elif not self.null:
            parts.append("NOT NULL")
        if self.default is not None:
            parts.append("DEFAULT " + literal(self.default))
        if self.unique:
            parts.append("UNIQUE")
        if self.choices is not None:
            parts.append(f"CHECK ({name} IN ({', '.join(literal(c) for c in self.choices)}))")
        if self.references:
            table, _, column = self.references.partition("(")
            parts.append(f"REFERENCES {quote(table.strip())}({quote(column.rstrip(') '))})")
            if self.on_delete:
                parts.append("ON DELETE " + self.on_delete.upper())
        return " ".join(parts)


@dataclass(frozen=True)
class Index:
    """An index on some columns (or expressions written in the portable subset)."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    #: A partial index's condition, in the portable subset.
    where: str | None = None

    def ddl(self, table: str) -> str:
        """CREATE [UNIQUE] INDEX ..."""
        cols = ", ".join(c if not c.isidentifier() else quote(c) for c in self.columns)
        sql = f"CREATE {'UNIQUE ' if self.unique else ''}INDEX {quote(self.name)} ON {quote(table)} ({cols})"
        return sql + (f" WHERE {self.where}" if self.where else "")


@dataclass(frozen=True)
class Table:
    """A table: its columns, its (possibly compound) primary key, unique sets, checks and indexes."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    #: Table-level CHECK conditions, in the portable subset.
    checks: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = ()

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise SchemaError(f"table {self.name!r}: a column name appears twice")
        keyed = [c.name for c in self.columns if c.primary_key]
        if keyed and self.primary_key:
            raise SchemaError(f"table {self.name!r}: give the primary key on the columns or the table, not both")
        for group in (self.primary_key, *self.unique):
            for col in group:
                if col not in names:
                    raise SchemaError(f"table {self.name!r}: no column {col!r}")

    def ddl(self, dialect: str) -> list[str]:
        """CREATE TABLE and CREATE INDEX statements."""
        keyed = [c.name for c in self.columns if c.primary_key]
        sole = len(keyed) == 1 and not self.primary_key
        parts = [c.ddl(dialect, sole_key=sole) for c in self.columns]
        key = self.primary_key or (tuple(keyed) if not sole else ())
        if key:
            parts.append(f"PRIMARY KEY ({', '.join(quote(k) for k in key)})")
        parts += [f"UNIQUE ({', '.join(quote(k) for k in group)})" for group in self.unique]
        parts += [f"CHECK ({check})" for check in self.checks]
        statements = [f"CREATE TABLE {quote(self.name)} ({', '.join(parts)})"]
        statements += [index.ddl(self.name) for index in self.indexes]
        return statements


class Catalogue:
    """The tables migrations declared, as they stand after them, in the order they were created.

    Filled while migrations run (``Migrations.apply(store, catalogue=...)``):
    ``teamcal store copy`` migrates the new database and copies exactly these
    tables and columns, whoever declared them.
    """

    def __init__(self) -> None:
        #: Table name -> its declaration with every column added since.
        self.tables: dict[str, Table] = {}

    def created(self, table: Table) -> None:
        """A migration created ``table``."""
        self.tables[table.name] = table

    def added(self, table: str, column: Column) -> None:
        """A migration added ``column`` to ``table``."""
        if table in self.tables:
            self.tables[table] = replace(self.tables[table], columns=(*self.tables[table].columns, column))

    def dropped(self, table: str) -> None:
        """A migration dropped ``table``."""
        self.tables.pop(table, None)

    def dropped_column(self, table: str, column: str) -> None:
        """A migration dropped ``column`` of ``table``."""
        if table in self.tables:
            kept = tuple(c for c in self.tables[table].columns if c.name != column)
            self.tables[table] = replace(self.tables[table], columns=kept)


class Migrator:
    """What a migration receives: DDL in the backend's dialect, and portable statements."""

    def __init__(self, store: Store, prefix: str | None, catalogue: Catalogue | None = None) -> None:
        self.store = store
        #: "sqlite" or "postgresql", for the rare step that differs.
        self.dialect: str = store.dialect
        self._prefix = prefix
        self._catalogue = catalogue or Catalogue()

    def _check_name(self, name: str) -> None:
        if self._prefix and not name.startswith(self._prefix + "_"):
            raise SchemaError(f"table or index {name!r} must start with the plugin's prefix {self._prefix + '_'!r}")

    def create_table(self, table: Table) -> None:
        """Create a table with its indexes."""
        self._check_name(table.name)
        for index in table.indexes:
            self._check_name(index.name)
        for statement in table.ddl(self.dialect):
            self.store.execute(statement)
        self._catalogue.created(table)

    def add_column(self, table: str, column: Column) -> None:
        """Add a column (a NOT NULL one needs a default)."""
        self._check_name(table)
        if not column.null and column.default is None:
            raise SchemaError(f"column {column.name!r} added to {table!r} needs a default or null=True")
        if column.primary_key or column.generated:
            raise SchemaError(f"column {column.name!r}: a primary key cannot be added later")
        self.store.execute(f"ALTER TABLE {quote(table)} ADD COLUMN {column.ddl(self.dialect, sole_key=False)}")
        self._catalogue.added(table, column)

    def drop_column(self, table: str, column: str) -> None:
        """Drop a column (drop the indexes that use it first; a key or referenced column cannot go).

        ``ALTER TABLE ... DROP COLUMN`` on both backends (SQLite 3.35 or later).
        """
        self._check_name(table)
        if self.dialect == "sqlite":
            import sqlite3

            if sqlite3.sqlite_version_info < (3, 35, 0):
                raise SchemaError(f"dropping column {column!r} needs SQLite 3.35 or later, not {sqlite3.sqlite_version}")
        self.store.execute(f"ALTER TABLE {quote(table)} DROP COLUMN {quote(column)}")
        self._catalogue.dropped_column(table, column)

    def create_index(self, table: str, index: Index) -> None:
        """Create an index."""
        self._check_name(index.name)
        self.store.execute(index.ddl(table))

    def drop_index(self, name: str) -> None:
        """Drop an index if it exists."""
        self._check_name(name)
        self.store.execute(f"DROP INDEX IF EXISTS {quote(name)}")

    def drop_table(self, name: str) -> None:
        """Drop a table if it exists."""
        self._check_name(name)
        self.store.execute(f"DROP TABLE IF EXISTS {quote(name)}")
        self._catalogue.dropped(name)

    def execute(self, sql: str, params: Any = ()) -> Any:
        """Run one statement of the portable subset (data changes in a migration)."""
        return self.store.execute(sql, params)

    def only(self, dialect: str, *statements: str) -> None:
        """Run statements on one backend only (an index type one backend lacks and the like; plugins rarely need it)."""
        if dialect not in TYPES["int"]:
            raise SchemaError(f"unknown dialect {dialect!r}")
        if self.dialect == dialect:
            for statement in statements:
                self.store.execute(statement)


MigrationFunc = Callable[[Migrator], None]


@dataclass
class Migrations:
    """An ordered set of migrations, named for its owner (the plugin's name, or "kernel").

    ``@migrations()`` on ``def m001_name(m: Migrator)`` adds one; they run in
    the order they are declared, each in its own transaction with its record,
    and never twice. A plugin's tables and indexes must carry its name as prefix.
    """

    name: str
    _steps: list[tuple[str, MigrationFunc]] = field(default_factory=list)

    def __call__(self, *, name: str | None = None) -> Callable[[MigrationFunc], MigrationFunc]:
        """Decorator registering a migration (named after the function unless ``name`` is given)."""

        def add(func: MigrationFunc) -> MigrationFunc:
            step = name or func.__name__
            if any(existing == step for existing, _ in self._steps):
                raise SchemaError(f"migration {step!r} is declared twice in set {self.name!r}")
            self._steps.append((step, func))
            return func

        return add

    @property
    def steps(self) -> list[str]:
        """Names of the migrations, in order."""
        return [step for step, _ in self._steps]

    def pending(self, store: Store) -> list[str]:
        """Names of the migrations not yet applied to ``store``."""
        done = applied(store, self.name)
        return [step for step, _ in self._steps if step not in done]

    def apply(
        self, store: Store, *, stop_before: str | None = None, catalogue: Catalogue | None = None
    ) -> list[str]:
        """Apply the pending migrations in order (up to, not including, ``stop_before``);
        returns their names. Each runs holding the write lock and is skipped when it turns
        out recorded meanwhile, so nodes starting at once apply each migration once;
        ``catalogue`` notes the tables they declare."""
        ensure_records(store)
        done = applied(store, self.name)
        prefix = None if self.name == "kernel" else self.name
        ran: list[str] = []
        for step, func in self._steps:
            if step == stop_before:
                break
            if step in done:
                continue
            with store.transaction():
                if step in applied(store, self.name):  # another node, starting at once, was first
                    continue
                try:
                    func(Migrator(store, prefix, catalogue))
                except SchemaError as exc:
                    raise SchemaError(f"migration {self.name}.{step}: {exc}") from None
                store.execute(
                    f"INSERT INTO {RECORDS} (migration_set, name, applied_at) VALUES (?, ?, ?)",
                    (self.name, step, time.time()),
                )
            ran.append(step)
        return ran


def ensure_records(store: Store) -> None:
    """Create the migration records table if it is missing."""
    table = Table(
        RECORDS,
        (Column("migration_set", "text"), Column("name", "text"), Column("applied_at", "float")),
        primary_key=("migration_set", "name"),
    )
    if not store.table_exists(RECORDS):
        with store.transaction():
            if store.table_exists(RECORDS):  # created by another node starting at once
                return
            for statement in table.ddl(store.dialect):
                store.execute(statement)


def applied(store: Store, set_name: str) -> set[str]:
    """Names of the migrations of a set recorded as applied (including sqlite-utils' records)."""
    done: set[str] = set()
    if store.table_exists(RECORDS):
        done |= {r[0] for r in store.execute(f"SELECT name FROM {RECORDS} WHERE migration_set = ?", (set_name,))}
    if store.dialect == "sqlite" and store.table_exists(LEGACY_RECORDS):
        done |= {
            r[0] for r in store.execute(f"SELECT name FROM {LEGACY_RECORDS} WHERE migration_set = ?", (set_name,))
        }
    return done

