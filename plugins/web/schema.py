"""The web plugin's tables: browser sessions and the key that signs their cookies."""

from __future__ import annotations

from kernel import Column, Index, Migrations, Migrator, Table

migrations = Migrations("web")


@migrations()
def m001_sessions(m: Migrator) -> None:
    """Sessions (only a hash of each id is kept) and the cookie-signing key."""
    m.create_table(Table(
        "web_sessions",
        (
            Column("id_hash", "text", primary_key=True),
            Column("principal_id", "int", references="principals(id)", on_delete="cascade"),
            Column("csrf", "text"),
            # a fingerprint of the password hash at sign-in: a new password ends the session
            Column("password_mark", "text"),
            Column("created", "float"),
            Column("expires", "float"),
        ),
        indexes=(Index("web_sessions_expires", ("expires",)),),
    ))
    m.create_table(Table(
        "web_keys",
        (
            Column("name", "text", primary_key=True),
            Column("value", "text"),
            Column("created", "float"),
        ),
    ))
