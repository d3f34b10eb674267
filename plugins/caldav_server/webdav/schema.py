"""The plugin's own tables (prefixed ``caldav_server_``), as one sqlite-utils migration set."""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("caldav_server")


@migrations()
def m001_properties(db: Database) -> None:
    """Dead properties of principals and homes (collections and resources use the kernel's table)."""
    db.execute(
        "CREATE TABLE caldav_server_properties ("
        " principal_id INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,"
        " scope TEXT NOT NULL CHECK (scope IN ('principal', 'home')),"
        " name TEXT NOT NULL, value TEXT NOT NULL,"
        " PRIMARY KEY (principal_id, scope, name))"
    )


@migrations()
def m002_locks(db: Database) -> None:
    """WebDAV write locks, keyed by the lock root's path below the DAV root."""
    db.execute(
        "CREATE TABLE caldav_server_locks ("
        " token TEXT PRIMARY KEY, path TEXT NOT NULL, root TEXT NOT NULL,"
        " depth TEXT NOT NULL CHECK (depth IN ('0', 'infinity')),"
        " scope TEXT NOT NULL CHECK (scope IN ('exclusive', 'shared')),"
        " owner TEXT, principal_id INTEGER NOT NULL, timeout INTEGER NOT NULL, expires REAL NOT NULL)"
    )
    db.execute("CREATE INDEX caldav_server_locks_path ON caldav_server_locks(path)")


@migrations()
def m003_feeds(db: Database) -> None:
    """Secret ICS feed URLs of calendars: only the SHA-256 of each token is kept."""
    db.execute(
        "CREATE TABLE caldav_server_feeds ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " token_hash TEXT NOT NULL UNIQUE,"
        " collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,"
        " created REAL NOT NULL, created_by TEXT, revoked REAL)"
    )
    db.execute("CREATE INDEX caldav_server_feeds_collection ON caldav_server_feeds(collection_id)")
