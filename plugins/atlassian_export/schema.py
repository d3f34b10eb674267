"""The plugin's own tables (all prefixed ``atlassian_export_``), created only here.

* ``meta``: key/value state of the journal (the kernel feed cursor, fingerprints,
  the last window refresh).
* ``journal``: the outbox every consumer follows. One row per resource to export
  again ("changed": from the kernel's change feed, a calendar's new permissions or
  name, or the daily window refresh) or gone ("deleted"); ``name`` NULL for a whole
  calendar gone. ``seq`` is the position consumers keep as cursor and the
  ``updateSequenceNumber`` of what the row exports.
* ``calendars``: the fingerprint (key, name, permissions) each calendar was last
  exported with, so a change of a color does not re-export a calendar.
* ``consumers``: "push" and "pull": cursor, BACKFILL horizon, last error.
* ``objects``: per consumer, every object id the endpoint or connector was handed,
  with the resource it came from: deletions are computed from it.
* ``pending``: pull pages handed out but not yet acknowledged.
* ``rejected``: objects the endpoint (or the mapping) refused, with the reason.
* ``sent``: the rate limiter's ledger of recent requests (shared by processes).
"""

from __future__ import annotations

from kernel import Column, Index, Migrations, Migrator, Table

migrations = Migrations("atlassian_export")


@migrations()
def m001_initial(m: Migrator) -> None:
    """Journal, consumers and their exported objects, pending pull pages, rejections, the rate ledger."""
    m.create_table(Table(
        "atlassian_export_meta", (Column("key", "text", primary_key=True), Column("value", "text"))
    ))
    m.create_table(Table("atlassian_export_journal", (
        Column("seq", "int", primary_key=True),
        Column("collection_id", "int"),
        Column("name", "text", null=True),
        Column("kind", "text", choices=("changed", "deleted", "refresh")),
        Column("feed_seq", "int", null=True),
        Column("at", "float"),
    )))
    m.create_table(Table(
        "atlassian_export_calendars",
        (Column("collection_id", "int", primary_key=True), Column("fingerprint", "text")),
    ))
    m.create_table(Table("atlassian_export_consumers", (
        Column("name", "text", primary_key=True),
        Column("cursor", "int", default=0),
        Column("backfill_until", "int", default=0),
        Column("not_before", "float", null=True),
        Column("last_error", "text", null=True),
        Column("last_error_at", "float", null=True),
        Column("last_success_at", "float", null=True),
        Column("exported", "int", default=0),
        Column("deleted", "int", default=0),
        Column("created", "float"),
    )))
    m.create_table(Table(
        "atlassian_export_objects",
        (
            Column("consumer", "text"),
            Column("object_id", "text"),
            Column("collection_id", "int"),
            Column("name", "text"),
            Column("usn", "int"),
            Column("recurring", "bool"),
        ),
        primary_key=("consumer", "object_id"),
        indexes=(Index("atlassian_export_objects_resource", ("consumer", "collection_id", "name")),),
    ))
    m.create_table(Table(
        "atlassian_export_pending",
        (Column("consumer", "text"), Column("through", "int"), Column("effect", "text"), Column("created", "float")),
        primary_key=("consumer", "through"),
    ))
    m.create_table(Table(
        "atlassian_export_rejected",
        (
            Column("consumer", "text"),
            Column("object_id", "text"),
            Column("operation", "text"),
            Column("usn", "int", null=True),
            Column("reason", "text"),
            Column("at", "float"),
        ),
        primary_key=("consumer", "object_id", "operation"),
    ))
    m.create_table(Table(
        "atlassian_export_sent",
        (Column("bucket", "text"), Column("at", "float"), Column("count", "int")),
        indexes=(Index("atlassian_export_sent_bucket", ("bucket", "at")),),
    ))
