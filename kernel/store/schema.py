"""The kernel's migration set: every kernel table, created and changed only here.

Declared with :mod:`kernel.store.tables`, so the same steps build the SQLite
file and a PostgreSQL database. Names match the steps sqlite-utils recorded
before, so an existing SQLite file runs none of them again. The instance index
was backend-specific (an R*Tree on SQLite, a GiST index on PostgreSQL) until
m012 made it one B-tree index on both (:mod:`kernel.store.reach`); the first
steps still build and fill the old structures, which m012 drops.
"""

from __future__ import annotations

from kernel.store.properties import BYTE_LENGTH
from kernel.store.reach import reach_sql
from kernel.store.tables import Column, Index, Migrations, Migrator, Table

kernel_migrations = Migrations("kernel")



def pg_instance_box(alias: str = "") -> str:
    """The box of one instance row in the PostgreSQL GiST index: the collection's band on one
    axis, the instance's span (widened by 14 hours when floating) on the other. Queries
    repeat this expression (``alias`` is their name for the table) so the planner uses the index."""
    a = alias + "." if alias else ""
    return (
        f"box(point({a}collection_id - 0.25, CASE WHEN {a}flags & 4 <> 0 THEN {a}start - 50400 ELSE {a}start END),"
        f' point({a}collection_id + 0.25, CASE WHEN {a}flags & 4 <> 0 THEN {a}"end" + 50400 ELSE {a}"end" END))'
    )

#: Statements that rebuilt the SQLite R*Tree from the ``instances`` rows (m005).
RTREE_REBUILD = (
    "DELETE FROM instances_rtree",
    "INSERT INTO instances_rtree (id, cmin, cmax, smin, smax)"
    " SELECT id, collection_id - 0.25, collection_id + 0.25,"
    " CASE WHEN flags & 4 THEN max(start - 50400, -4611686018427387904) ELSE start END,"
    ' CASE WHEN flags & 4 THEN min("end" + 50400, 4611686018427387904) ELSE "end" END'
    " FROM instances",
)

_ID = Column("id", "int", primary_key=True, generated=True)


@kernel_migrations()
def m001_initial(m: Migrator) -> None:
    """Principals, collections, resources, properties, changes, grants, instances."""
    m.create_table(Table("principals", (
        _ID,
        Column("name", "text", unique=True),
        Column("kind", "text", choices=("user", "group")),
        Column("display_name", "text"),
        Column("email", "text", null=True),
        Column("password_hash", "text", null=True),
        Column("is_admin", "bool", default=0),
        Column("created", "float"),
    )))
    m.create_table(Table(
        "memberships",
        (
            Column("group_id", "int", references="principals(id)", on_delete="cascade"),
            Column("member_id", "int", references="principals(id)", on_delete="cascade"),
        ),
        primary_key=("group_id", "member_id"),
        indexes=(Index("memberships_member", ("member_id",)),),
    ))
    m.create_table(Table(
        "collections",
        (
            _ID,
            Column("owner_id", "int", references="principals(id)", on_delete="cascade"),
            Column("path", "text"),
            Column("kind", "text", choices=("calendar", "plain")),
            Column("display_name", "text", null=True),
            Column("description", "text", null=True),
            Column("color", "text", null=True),
            Column("sort_order", "int", null=True),
            Column("timezone", "text", null=True),
            Column("components", "text", default=""),
            Column("transparent", "bool", default=0),
            Column("created", "float"),
            Column("modified", "float"),
            Column("sync_seq", "int", default=0),
        ),
        unique=(("owner_id", "path"),),
    ))
    m.create_table(Table(
        "resources",
        (
            _ID,
            Column("collection_id", "int", references="collections(id)", on_delete="cascade"),
            Column("name", "text"),
            Column("uid", "text", null=True),
            Column("component", "text", null=True),
            Column("etag", "text"),
            Column("content_type", "text"),
            Column("size", "int"),
            Column("data", "bytes"),
            Column("indexed_until", "int", null=True),
            Column("created", "float"),
            Column("modified", "float"),
            Column("created_by", "int", null=True),
            Column("modified_by", "int", null=True),
        ),
        unique=(("collection_id", "name"),),
        indexes=(
            Index("resources_uid", ("collection_id", "uid"), where="uid IS NOT NULL"),
            Index("resources_flagged", ("collection_id", "indexed_until"), where="indexed_until IS NOT NULL"),
        ),
    ))
    m.create_table(Table(
        "properties",
        (
            Column("collection_id", "int", null=True, references="collections(id)", on_delete="cascade"),
            Column("resource_id", "int", null=True, references="resources(id)", on_delete="cascade"),
            Column("name", "text"),
            Column("value", "text"),
        ),
        checks=("(collection_id IS NULL) <> (resource_id IS NULL)",),
        indexes=(
            Index("properties_collection", ("collection_id", "name"), unique=True, where="collection_id IS NOT NULL"),
            Index("properties_resource", ("resource_id", "name"), unique=True, where="resource_id IS NOT NULL"),
        ),
    ))
    m.create_table(Table(
        "changes",
        (
            Column("seq", "int", primary_key=True, generated=True),
            Column("collection_id", "int"),
            Column("name", "text", null=True),
            Column("kind", "text", choices=("created", "modified", "deleted")),
            Column("etag", "text", null=True),
            Column("uid", "text", null=True),
            Column("principal_id", "int", null=True),
            Column("at", "float"),
        ),
        indexes=(Index("changes_collection", ("collection_id", "seq")),),
    ))
    m.create_table(Table(
        "grants",
        (
            Column("collection_id", "int", references="collections(id)", on_delete="cascade"),
            Column("grantee_id", "int"),
            Column("privilege", "text", choices=("read", "write", "admin")),
        ),
        primary_key=("collection_id", "grantee_id"),
        indexes=(Index("grants_grantee", ("grantee_id",)),),
    ))
    m.create_table(Table(
        "instances",
        (
            _ID,
            Column("resource_id", "int", references="resources(id)", on_delete="cascade"),
            Column("collection_id", "int"),
            Column("start", "int"),
            Column("end", "int"),
            Column("flags", "int"),
            Column("recurrence_id", "text", null=True),
        ),
        indexes=(Index("instances_resource", ("resource_id",)),),
    ))
    m.only("sqlite", "CREATE VIRTUAL TABLE instances_rtree USING rtree(id, cmin, cmax, smin, smax)")
    m.only("postgresql", f"CREATE INDEX instances_box ON instances USING gist (({pg_instance_box()}))")


@kernel_migrations()
def m002_resource_listing_index(m: Migrator) -> None:
    """A covering index for collection listings (PROPFIND Depth 1, sync), so they never read
    resource bodies: listing 1,000 objects drops from about 11 ms to 2 ms on SQLite.
    (PostgreSQL keys it on collection and name only: its index rows have a size limit.)"""
    m.only(
        "sqlite",
        "CREATE INDEX resources_listing ON resources(collection_id, name, etag, content_type, size, uid,"
        " component, created, modified, created_by, modified_by)",
    )
    m.only("postgresql", "CREATE INDEX resources_listing ON resources(collection_id, name)")


@kernel_migrations()
def m003_object_counts(m: Migrator) -> None:
    """A counter of calendar objects per collection, so that counting an account's objects
    (the limits plugin does on every create) does not scan them all: at 100,000 objects the
    scan took milliseconds per PUT and made seeding quadratic. The store keeps it (m009)."""
    m.add_column("collections", Column("object_count", "int", default=0))
    m.execute(
        "UPDATE collections SET object_count = (SELECT count(*) FROM resources r"
        " WHERE r.collection_id = collections.id AND r.component IS NOT NULL)"
    )


@kernel_migrations()
def m004_resource_component_index(m: Migrator) -> None:
    """A small covering index (id, component), so that a time-range query for one component
    checks each candidate's component without reading its row (rows hold the stored object):
    the component test of a dense week at 100,000 events drops from about 15 ms to 7 ms."""
    m.create_index("resources", Index("resources_component", ("id", "component")))


@kernel_migrations()
def m005_rtree_collection_bands(m: Migrator) -> None:
    """Rebuild index boxes with a band of a quarter unit either side of the collection id:
    zero-width boxes made the R*Tree scan most of its nodes."""
    m.only("sqlite", *RTREE_REBUILD)


@kernel_migrations()
def m006_canonical_names(m: Migrator) -> None:
    """One name per resource: stored collection paths and resource names decoded and
    NFC-normalised (see kernel.store.renames), and ``collections.sync_floor``, the feed
    position before which a collection's sync tokens are no longer valid."""
    from kernel.store.renames import rename_collections, rename_resources

    m.add_column("collections", Column("sync_floor", "int", default=0))
    rename_collections(m.store)
    rename_resources(m.store)


@kernel_migrations()
def m007_group_admins(m: Migrator) -> None:
    """Group admins: a membership may carry the admin role, which gives collection rights
    (delete, move, rename, reconfigure, create) over the group's calendars; plain members
    keep the object rights of ``team_member_privilege``."""
    m.add_column("memberships", Column("admin", "bool", default=0))


#: The size in bytes of a text column's value, per dialect.
@kernel_migrations()
def m008_property_bytes(m: Migrator) -> None:
    """Bytes of dead properties per collection (its own and its resources'), so that an
    account's dead-property storage is one sum over its collections (kept by the store)."""
    size = BYTE_LENGTH[m.dialect].format("p.value")
    m.add_column("collections", Column("property_bytes", "int", default=0))
    m.execute(
        f"UPDATE collections SET property_bytes = (SELECT coalesce(sum({size}), 0) FROM properties p"
        " WHERE p.collection_id = collections.id)"
        f" + (SELECT coalesce(sum({size}), 0) FROM properties p"
        " JOIN resources r ON r.id = p.resource_id WHERE r.collection_id = collections.id)"
    )


@kernel_migrations()
def m009_counters_in_the_store(m: Migrator) -> None:
    """The store keeps ``object_count`` and ``property_bytes`` itself (kernel.store.resources,
    kernel.store.properties) on both backends; SQLite triggers that kept them before go."""
    m.only(
        "sqlite",
        *(
            f"DROP TRIGGER IF EXISTS {name}"
            for name in (
                "resources_count_insert", "resources_count_delete", "resources_count_update",
                "properties_bytes_insert", "properties_bytes_delete", "resources_properties_delete",
            )
        ),
    )


@kernel_migrations()
def m010_leases_and_jobs(m: Migrator) -> None:
    """Named leases shared by every process (kernel.leases) and the jobs' schedule
    (kernel.jobs): a periodic job runs once per interval on the whole cluster."""
    m.create_table(Table(
        "leases",
        (Column("name", "text", primary_key=True), Column("owner", "text"), Column("until", "float")),
    ))
    m.create_table(Table("jobs", (
        Column("name", "text", primary_key=True),
        Column("next_due", "float", default=0),
        Column("last_started", "float", null=True),
        Column("last_finished", "float", null=True),
        Column("last_error", "text", null=True),
        Column("runs", "int", default=0),
        Column("failures", "int", default=0),
    )))


@kernel_migrations()
def m011_auth_failures(m: Migrator) -> None:
    """The failed-login ledger (kernel.throttle), shared by every process and node."""
    m.create_table(Table(
        "auth_failures",
        (_ID, Column("key", "text"), Column("at", "float")),
        indexes=(Index("auth_failures_key", ("key", "at")), Index("auth_failures_at", ("at",))),
    ))


@kernel_migrations()
def m012_instance_window_index(m: Migrator) -> None:
    """The time index becomes one B-tree on both backends (kernel.store.reach): each instance
    row gets its length class and its resource's component, and ``instances_window`` covers
    what a time-range query reads, so a range is one index range per class with no other
    lookup. It replaces SQLite's R*Tree (each box it found took a lookup of its row and
    another of its resource's component) and PostgreSQL's GiST index."""
    m.add_column("instances", Column("reach", "int", default=0))
    m.add_column("instances", Column("component", "text", null=True))
    m.execute(f"UPDATE instances SET reach = {reach_sql()}")
    m.execute("UPDATE instances SET component = (SELECT r.component FROM resources r WHERE r.id = instances.resource_id)")
    m.create_index("instances", Index("instances_window", (
        "collection_id", "reach", "start", "end", "flags", "resource_id", "component", "recurrence_id",
    )))
    m.only("sqlite", "DROP TABLE IF EXISTS instances_rtree")
    m.only("postgresql", "DROP INDEX IF EXISTS instances_box")


@kernel_migrations()
def m013_change_origins(m: Migrator) -> None:
    """Each change row names the process that recorded it (``changes.origin``, a random number
    per store), so that the feed follower tells its own process's changes from others' by the
    row, not by numbers it must learn before the COMMIT: a write's change row can then go with
    its COMMIT, its number read back with it. Rows written before have none: others'."""
    m.add_column("changes", Column("origin", "int", null=True))


@kernel_migrations()
def m014_index_digests(m: Migrator) -> None:
    """Each resource row keeps a digest of its rows in the time-range index
    (``resources.index_digest``), so that replacing an object without changing its times
    leaves them alone. Rows written before have none: their next write rewrites them."""
    m.add_column("resources", Column("index_digest", "int", null=True))
