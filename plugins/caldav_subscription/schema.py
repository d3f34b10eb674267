"""The plugin's own tables, all prefixed ``caldav_subscription_``, declared with the kernel's storage API."""

from __future__ import annotations

from kernel import Column, Index, Migrations, Migrator, Table

migrations = Migrations("caldav_subscription")


@migrations()
def m001_initial(m: Migrator) -> None:
    """Subscriptions, the remote objects each one tracks, and recorded conflicts."""
    m.create_table(Table(
        "caldav_subscription_subscriptions",
        (
            Column("id", "int", primary_key=True, generated=True),
            Column("collection_id", "int", unique=True, references="collections(id)", on_delete="cascade"),
            Column("url", "text"),
            Column("kind", "text", choices=("caldav", "ics")),
            Column("mode", "text", choices=("one-way", "two-way")),
            Column("interval", "float"),
            Column("username", "text", null=True),
            Column("password", "text", null=True),
            Column("paused", "bool", default=0),
            Column("created", "float"),
            Column("created_by", "int", null=True),
            Column("capability", "text", null=True),
            Column("sync_token", "text", null=True),
            Column("ctag", "text", null=True),
            Column("feed_etag", "text", null=True),
            Column("feed_modified", "text", null=True),
            Column("local_seq", "int", default=0),
            Column("next_run", "float", default=0),
            Column("failures", "int", default=0),
            Column("lease_owner", "text", null=True),
            Column("lease_until", "float", null=True),
            Column("last_attempt", "float", null=True),
            Column("last_success", "float", null=True),
            Column("last_error", "text", null=True),
            Column("last_error_at", "float", null=True),
            Column("last_duration", "float", null=True),
            Column("last_requests", "int", null=True),
            Column("last_counts", "text", null=True),
            Column("last_skipped", "text", null=True),
        ),
        indexes=(Index("caldav_subscription_due", ("paused", "next_run")),),
    ))
    m.create_table(Table(
        "caldav_subscription_items",
        (
            Column("subscription_id", "int", references="caldav_subscription_subscriptions(id)", on_delete="cascade"),
            Column("href", "text"),
            Column("name", "text"),
            Column("uid", "text", null=True),
            Column("remote_etag", "text", null=True),
            Column("local_etag", "text", null=True),
            Column("skipped", "text", null=True),
        ),
        primary_key=("subscription_id", "href"),
        indexes=(Index("caldav_subscription_items_name", ("subscription_id", "name"), unique=True),),
    ))
    m.create_table(Table(
        "caldav_subscription_conflicts",
        (
            Column("id", "int", primary_key=True, generated=True),
            Column("subscription_id", "int", references="caldav_subscription_subscriptions(id)", on_delete="cascade"),
            Column("at", "float"),
            Column("name", "text"),
            Column("uid", "text", null=True),
            Column("kind", "text"),
            Column("policy", "text"),
            Column("winner", "text", choices=("remote", "local")),
        ),
        indexes=(Index("caldav_subscription_conflicts_sub", ("subscription_id", "at")),),
    ))


@migrations()
def m002_kernel_leases(m: Migrator) -> None:
    """Syncs run under the kernel's leases (``host.leases``): the lease columns go."""
    m.drop_column("caldav_subscription_subscriptions", "lease_owner")
    m.drop_column("caldav_subscription_subscriptions", "lease_until")
