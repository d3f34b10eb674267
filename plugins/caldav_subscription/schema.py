"""The plugin's own tables, all prefixed ``caldav_subscription_``."""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("caldav_subscription")


@migrations()
def m001_initial(db: Database) -> None:
    """Subscriptions, the remote objects each one tracks, and recorded conflicts."""
    statements = [
        """
        CREATE TABLE caldav_subscription_subscriptions (
            id INTEGER PRIMARY KEY,
            collection_id INTEGER NOT NULL UNIQUE REFERENCES collections(id) ON DELETE CASCADE,
            url TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('caldav', 'ics')),
            mode TEXT NOT NULL CHECK (mode IN ('one-way', 'two-way')),
            interval REAL NOT NULL,
            username TEXT,
            password TEXT,
            paused INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL,
            created_by INTEGER,
            capability TEXT,
            sync_token TEXT,
            ctag TEXT,
            feed_etag TEXT,
            feed_modified TEXT,
            local_seq INTEGER NOT NULL DEFAULT 0,
            next_run REAL NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_until REAL,
            last_attempt REAL,
            last_success REAL,
            last_error TEXT,
            last_error_at REAL,
            last_duration REAL,
            last_requests INTEGER,
            last_counts TEXT,
            last_skipped TEXT
        )
        """,
        "CREATE INDEX caldav_subscription_due ON caldav_subscription_subscriptions(paused, next_run)",
        """
        CREATE TABLE caldav_subscription_items (
            subscription_id INTEGER NOT NULL REFERENCES caldav_subscription_subscriptions(id) ON DELETE CASCADE,
            href TEXT NOT NULL,
            name TEXT NOT NULL,
            uid TEXT,
            remote_etag TEXT,
            local_etag TEXT,
            skipped TEXT,
            PRIMARY KEY (subscription_id, href)
        )
        """,
        "CREATE UNIQUE INDEX caldav_subscription_items_name ON caldav_subscription_items(subscription_id, name)",
        """
        CREATE TABLE caldav_subscription_conflicts (
            id INTEGER PRIMARY KEY,
            subscription_id INTEGER NOT NULL REFERENCES caldav_subscription_subscriptions(id) ON DELETE CASCADE,
            at REAL NOT NULL,
            name TEXT NOT NULL,
            uid TEXT,
            kind TEXT NOT NULL,
            policy TEXT NOT NULL,
            winner TEXT NOT NULL CHECK (winner IN ('remote', 'local'))
        )
        """,
        "CREATE INDEX caldav_subscription_conflicts_sub ON caldav_subscription_conflicts(subscription_id, at)",
    ]
    for sql in statements:
        db.execute(sql)
