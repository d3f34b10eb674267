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

from sqlite_utils import Database, Migrations

migrations = Migrations("atlassian_export")


@migrations()
def m001_initial(db: Database) -> None:
    """Journal, consumers and their exported objects, pending pull pages, rejections, the rate ledger."""
    for statement in (
        "CREATE TABLE atlassian_export_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ("CREATE TABLE atlassian_export_journal ("
        " seq INTEGER PRIMARY KEY,"
        " collection_id INTEGER NOT NULL,"
        " name TEXT,"
        " kind TEXT NOT NULL CHECK (kind IN ('changed', 'deleted', 'refresh')),"
        " feed_seq INTEGER,"
        " at REAL NOT NULL)"),
        "CREATE TABLE atlassian_export_calendars (collection_id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL)",
        ("CREATE TABLE atlassian_export_consumers ("
        " name TEXT PRIMARY KEY,"
        " cursor INTEGER NOT NULL DEFAULT 0,"
        " backfill_until INTEGER NOT NULL DEFAULT 0,"
        " not_before REAL,"
        " last_error TEXT,"
        " last_error_at REAL,"
        " last_success_at REAL,"
        " exported INTEGER NOT NULL DEFAULT 0,"
        " deleted INTEGER NOT NULL DEFAULT 0,"
        " created REAL NOT NULL)"),
        ("CREATE TABLE atlassian_export_objects ("
        " consumer TEXT NOT NULL,"
        " object_id TEXT NOT NULL,"
        " collection_id INTEGER NOT NULL,"
        " name TEXT NOT NULL,"
        " usn INTEGER NOT NULL,"
        " recurring INTEGER NOT NULL,"
        " PRIMARY KEY (consumer, object_id))"),
        "CREATE INDEX atlassian_export_objects_resource ON atlassian_export_objects(consumer, collection_id, name)",
        ("CREATE TABLE atlassian_export_pending ("
        " consumer TEXT NOT NULL,"
        " through INTEGER NOT NULL,"
        " effect TEXT NOT NULL,"
        " created REAL NOT NULL,"
        " PRIMARY KEY (consumer, through))"),
        ("CREATE TABLE atlassian_export_rejected ("
        " consumer TEXT NOT NULL,"
        " object_id TEXT NOT NULL,"
        " operation TEXT NOT NULL,"
        " usn INTEGER,"
        " reason TEXT NOT NULL,"
        " at REAL NOT NULL,"
        " PRIMARY KEY (consumer, object_id, operation))"),
        "CREATE TABLE atlassian_export_sent (bucket TEXT NOT NULL, at REAL NOT NULL, count INTEGER NOT NULL)",
        "CREATE INDEX atlassian_export_sent_bucket ON atlassian_export_sent(bucket, at)",
    ):
        db.execute(statement)
