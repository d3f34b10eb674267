"""Feed tokens: created, looked up in constant time, listed and revoked.

A token is ``secrets.token_urlsafe(32)`` (256 random bits, 43 URL-safe
characters); the ``caldav_server_feeds`` table keeps only its SHA-256, so a
copy of the database does not give the URLs away and a token is shown once,
when it is made. A feed dies with its calendar (the row cascades) and is
never reused: revoking marks it, ids only grow. A feed a user made himself
(in the web app) names him: it dies with his account and opens the calendar
only while he may still read it (:func:`calendar_of` asks ``may_read``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kernel import Collection, Principal
    from kernel.store import Store

TOKEN_BYTES = 32
#: What ``secrets.token_urlsafe(TOKEN_BYTES)`` produces; anything else is no token.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
_COLUMNS = "id, collection_id, created, created_by, revoked, principal_id"


@dataclass(frozen=True)
class Feed:
    """One feed URL of a calendar (never its token). ``revoked`` is when, or None while active."""

    id: int
    collection_id: int
    created: float
    created_by: str | None
    revoked: float | None
    #: The user who made it himself (web app), or None for an administrator's feed.
    principal_id: int | None = None


def token_hash(token: str) -> str:
    """The stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def create(
    store: Store, collection: Collection, created_by: str | None, principal_id: int | None = None
) -> tuple[Feed, str]:
    """Make a feed for a calendar (``principal_id``: a user's own); returns it and its token
    (not stored, shown once)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = time.time()
    with store.transaction():
        feed_id = store.execute(
            "INSERT INTO caldav_server_feeds (token_hash, collection_id, created, created_by, principal_id)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (token_hash(token), collection.id, now, created_by, principal_id),
        ).fetchone()[0]
    return Feed(int(feed_id), collection.id, now, created_by, None, principal_id), token


def calendar_of(
    store: Store, token: str, may_read: Callable[[Principal, Collection], bool] | None = None
) -> Collection | None:
    """The calendar an active feed token opens, or None (unknown, revoked, not a calendar, or
    a user's own feed when ``may_read(user, calendar)`` says he no longer may read it).

    The lookup goes by the token's hash, and the stored hash is compared in
    constant time, so timing tells nothing about how close a guess was.
    """
    if not TOKEN_SHAPE.fullmatch(token):
        return None
    wanted = token_hash(token)
    row = store.execute(
        "SELECT token_hash, collection_id, revoked, principal_id FROM caldav_server_feeds WHERE token_hash = ?",
        (wanted,),
    ).fetchone()
    if row is None or not hmac.compare_digest(row[0], wanted) or row[2] is not None:
        return None
    collection = store.collection_by_id(row[1])
    if collection is None or collection.kind != "calendar":
        return None
    if row[3] is not None:
        owner = store.principal_by_id(row[3])
        if owner is None or may_read is None or not may_read(owner, collection):
            return None
    return collection


def feeds(store: Store, collection_id: int | None = None, principal_id: int | None = None) -> list[Feed]:
    """Every feed (of one calendar; made by one user), oldest first, revoked ones included."""
    sql = f"SELECT {_COLUMNS} FROM caldav_server_feeds WHERE 1 = 1"
    args: list[object] = []
    if collection_id is not None:
        sql += " AND collection_id = ?"
        args.append(collection_id)
    if principal_id is not None:
        sql += " AND principal_id = ?"
        args.append(principal_id)
    return [Feed(*row) for row in store.execute(sql + " ORDER BY id", args)]


def revoke(store: Store, feed_id: int) -> Feed | None:
    """Revoke a feed (once; revoking again keeps the first time); None when there is no such feed."""
    with store.transaction():
        store.execute(
            "UPDATE caldav_server_feeds SET revoked = ? WHERE id = ? AND revoked IS NULL", (time.time(), feed_id)
        )
        row = store.execute(f"SELECT {_COLUMNS} FROM caldav_server_feeds WHERE id = ?", (feed_id,)).fetchone()
    return Feed(*row) if row else None
