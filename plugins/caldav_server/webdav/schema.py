"""The plugin's own tables (prefixed ``caldav_server_``), declared with the kernel's storage API."""

from __future__ import annotations

from kernel import Column, Index, Migrations, Migrator, Table

migrations = Migrations("caldav_server")


@migrations()
def m001_properties(m: Migrator) -> None:
    """Dead properties of principals and homes (collections and resources use the kernel's table)."""
    m.create_table(Table(
        "caldav_server_properties",
        (
            Column("principal_id", "int", references="principals(id)", on_delete="cascade"),
            Column("scope", "text", choices=("principal", "home")),
            Column("name", "text"),
            Column("value", "text"),
        ),
        primary_key=("principal_id", "scope", "name"),
    ))


@migrations()
def m002_locks(m: Migrator) -> None:
    """WebDAV write locks, keyed by the lock root's path below the DAV root."""
    m.create_table(Table(
        "caldav_server_locks",
        (
            Column("token", "text", primary_key=True),
            Column("path", "text"),
            Column("root", "text"),
            Column("depth", "text", choices=("0", "infinity")),
            Column("scope", "text", choices=("exclusive", "shared")),
            Column("owner", "text", null=True),
            Column("principal_id", "int"),
            Column("timeout", "int"),
            Column("expires", "float"),
        ),
        indexes=(Index("caldav_server_locks_path", ("path",)),),
    ))


@migrations()
def m003_feeds(m: Migrator) -> None:
    """Secret ICS feed URLs of calendars: only the SHA-256 of each token is kept."""
    m.create_table(Table(
        "caldav_server_feeds",
        (
            Column("id", "int", primary_key=True, generated=True),
            Column("token_hash", "text", unique=True),
            Column("collection_id", "int", references="collections(id)", on_delete="cascade"),
            Column("created", "float"),
            Column("created_by", "text", null=True),
            Column("revoked", "float", null=True),
        ),
        indexes=(Index("caldav_server_feeds_collection", ("collection_id",)),),
    ))


@migrations()
def m004_feed_owners(m: Migrator) -> None:
    """Feeds a user made himself in the web app: whose they are (they stop with his read access)."""
    m.add_column(
        "caldav_server_feeds",
        Column("principal_id", "int", null=True, references="principals(id)", on_delete="cascade"),
    )


@migrations()
def m005_expansion_plans(m: Migrator) -> None:
    """Expansion plans stored with their objects (``caldav.stored_plans``); filled by the
    write path and by the ``caldav_server.plans`` job."""
    m.create_table(Table(
        "caldav_server_plans",
        (
            Column("resource_id", "int", primary_key=True, references="resources(id)", on_delete="cascade"),
            Column("etag", "text"),
            Column("format", "int"),
            Column("plan", "text"),
        ),
    ))
