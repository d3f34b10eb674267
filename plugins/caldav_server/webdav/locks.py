"""WebDAV write locks (RFC 4918 6, 7): storage, and the check every write makes.

Locks live in the plugin's ``caldav_server_locks`` table, keyed by the
canonical path of the lock root below the DAV root (a shared calendar's
alias URL in another home and its owner's URL are one key), so every worker
process and every URL of a resource sees them. A lock covers its root and,
at depth infinity, everything below it. A write must submit (in the If
header, from a list that holds), as the principal who took it, the token of
a lock covering each locked thing it changes; with shared locks one of them
is enough. Else 423 with DAV:lock-token-submitted. Expired locks are ignored
and swept.

A lock lasts at most ``[caldav_server] max_lock_timeout`` (one hour by default):
a longer Timeout, or ``Infinite``, gets that much, as RFC 4918 10.7 lets the
server choose, so a forgotten or hostile lock lapses on its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from plugins.caldav_server.webdav import ifheader, xml
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.resolve import header_href, quote_segment
from plugins.caldav_server.webdav.xml import d

if TYPE_CHECKING:
    from kernel import Store
    from plugins.caldav_server.webdav.context import DavContext
    from plugins.caldav_server.webdav.resolve import Target

#: The timeout of a LOCK that asks for none (or only for forms the server does not know).
DEFAULT_TIMEOUT = 3600
_COLUMNS = "token, path, root, depth, scope, owner, principal_id, timeout, expires"


@dataclass(frozen=True)
class Lock:
    """An active lock: ``path`` is the canonical lock root below the DAV root
    ("/cal/alice/litmus/x"), ``root`` the URL the LOCK addressed, as an href suffix
    (with the trailing slash of a collection)."""

    token: str
    path: str
    root: str
    depth: str
    scope: str
    owner: str | None
    principal_id: int
    timeout: int
    expires: float

    def activelock(self, root: str) -> str:
        """The DAV:activelock element (``root`` is the DAV root href prefix)."""
        remaining = max(0, round(self.expires - time.time()))
        return (
            f"<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:{self.scope}/></D:lockscope>"
            f"<D:depth>{self.depth}</D:depth>{self.owner or ''}<D:timeout>Second-{remaining}</D:timeout>"
            f"<D:locktoken>{xml.href(self.token)}</D:locktoken>"
            f"<D:lockroot>{xml.href(root + self.root)}</D:lockroot>"
            "</D:activelock>"
        )

    def covers(self, path: str) -> bool:
        """Does this lock protect ``path`` (its root, or below a depth-infinity root)?"""
        return self.path == path or (self.depth == "infinity" and path.startswith(self.path + "/"))


def parse_timeout(header: str | None, cap: int) -> int:
    """Seconds from a Timeout header ("Second-600", "Infinite"), at most ``cap``.

    The first form understood wins; without one, :data:`DEFAULT_TIMEOUT` (capped too).
    """
    for part in (header or "").split(","):
        part = part.strip()
        if part.lower() == "infinite":
            return cap
        if part.lower().startswith("second-") and part[7:].isdigit():
            return max(1, min(int(part[7:]), cap))
    return min(DEFAULT_TIMEOUT, cap)


def _ancestors(path: str) -> list[str]:
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[:i]) for i in range(len(parts), 0, -1)]


class Locks:
    """The lock table of one host; no lock lasts longer than ``max_timeout`` seconds."""

    def __init__(self, store: Store, max_timeout: int) -> None:
        self.store = store
        self.max_timeout = max_timeout

    def timeout(self, header: str | None) -> int:
        """The seconds a LOCK with this Timeout header gets."""
        return parse_timeout(header, self.max_timeout)

    @staticmethod
    def key(ctx: DavContext, target: Target) -> str:
        """A target's lock path: its canonical href below the DAV root, without trailing slash.

        A calendar reached through its alias in another home ("bob/team~standup")
        has the key of its owner's URL ("team/standup"), so a lock taken
        through either URL guards both.
        """
        hrefs = ctx.hrefs
        collection = target.collection
        if target.kind == "collection" and collection is not None:
            href = hrefs.collection(collection)
        elif target.kind in ("resource", "unmapped") and collection is not None and target.name is not None:
            href = hrefs.collection(collection) + quote_segment(target.name)
        elif target.kind == "unmapped" and target.owner is not None and target.name and not target.parent_missing:
            href = hrefs.home(target.owner) + quote_segment(target.name)
        else:
            href = target.href
        return href[len(hrefs.root) :].rstrip("/")

    def _rows(self, sql: str, args: Iterable[object]) -> list[Lock]:
        now = time.time()
        return [Lock(*row) for row in self.store.execute(sql, tuple(args)) if row[8] > now]

    def covering(self, path: str) -> list[Lock]:
        """Locks whose root is ``path``, or an ancestor locked at depth infinity."""
        return self.covering_each([path])[path]

    def covering_each(self, paths: Iterable[str]) -> dict[str, list[Lock]]:
        """The locks covering each of ``paths`` (as :meth:`covering`), read in one statement."""
        wanted = list(dict.fromkeys(paths))
        found = self._rows(*self.covering_statement(wanted))
        return {path: [lock for lock in found if lock.covers(path)] for path in wanted}

    @staticmethod
    def covering_statement(paths: Iterable[str]) -> tuple[str, tuple[str, ...]]:
        """The statement :meth:`covering_each` runs (to name it ahead: ``store.expecting``)."""
        ancestors = sorted({ancestor for path in paths for ancestor in _ancestors(path)})
        return f"SELECT {_COLUMNS} FROM caldav_server_locks WHERE path IN ({','.join('?' * len(ancestors))})", (
            *ancestors,
        )

    def below(self, path: str) -> list[Lock]:
        """Locks rooted strictly below ``path``."""
        escaped = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return self._rows(f"SELECT {_COLUMNS} FROM caldav_server_locks WHERE path LIKE ? ESCAPE '\\'", [escaped + "/%"])

    def by_token(self, token: str) -> Lock | None:
        """The active lock with this token."""
        found = self._rows(f"SELECT {_COLUMNS} FROM caldav_server_locks WHERE token = ?", [token])
        return found[0] if found else None

    def conflicting(self, path: str, depth: str, scope: str) -> Lock | None:
        """A held lock a new ``scope`` lock on ``path`` at ``depth`` would conflict with, or None.

        Call it in the transaction that creates the lock, so that two racing
        LOCK requests (in any process) cannot both win.
        """
        existing = self.covering(path) + (self.below(path) if depth == "infinity" else [])
        if scope == "exclusive":
            return existing[0] if existing else None
        return next((held for held in existing if held.scope == "exclusive"), None)

    def create(
        self, path: str, root: str, depth: str, scope: str, owner: str | None, principal_id: int, timeout: int
    ) -> Lock:
        """Take a new lock keyed ``path`` (see :meth:`key`), addressed as the href suffix ``root``.

        Expired locks are swept first. Conflicts are the caller's to check
        (:meth:`conflicting`) in the same transaction.
        """
        lock = Lock(
            f"urn:uuid:{uuid.uuid4()}",
            path,
            root,
            depth,
            scope,
            owner,
            principal_id,
            timeout,
            time.time() + timeout,
        )
        with self.store.transaction():
            self.store.execute("DELETE FROM caldav_server_locks WHERE expires <= ?", (time.time(),))
            self.store.execute(
                f"INSERT INTO caldav_server_locks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    lock.token,
                    lock.path,
                    lock.root,
                    lock.depth,
                    lock.scope,
                    lock.owner,
                    lock.principal_id,
                    lock.timeout,
                    lock.expires,
                ),
            )
        return lock

    def refresh(self, lock: Lock, timeout: int) -> Lock:
        """Extend a lock by ``timeout`` seconds from now."""
        expires = time.time() + timeout
        self.store.execute(
            "UPDATE caldav_server_locks SET timeout = ?, expires = ? WHERE token = ?", (timeout, expires, lock.token)
        )
        return Lock(
            lock.token, lock.path, lock.root, lock.depth, lock.scope, lock.owner, lock.principal_id, timeout, expires
        )

    def remove(self, token: str) -> None:
        """Release a lock."""
        self.store.execute("DELETE FROM caldav_server_locks WHERE token = ?", (token,))

    def remove_tree(self, path: str) -> None:
        """Release the locks rooted at ``path`` or below it (after DELETE or MOVE)."""
        escaped = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        self.store.execute(
            "DELETE FROM caldav_server_locks WHERE path = ? OR path LIKE ? ESCAPE '\\'", (path, escaped + "/%")
        )

    def remove_resource_locks(self, covering: dict[str, list[Lock]], path: str) -> None:
        """After a resource at ``path`` is deleted or moved away: release its lock, when the
        check made before (:meth:`check`, whose answer is ``covering``) found one rooted
        there. A resource has nothing below it to lock, so nothing else is looked for."""
        if any(lock.path == path for lock in covering[path]):
            self.remove_tree(path)

    # -- the check every write makes ------------------------------------------------------

    def submitted(self, ctx: DavContext) -> set[str]:
        """Evaluate the If header (412 when no list holds); the lock tokens it submits."""
        header = ctx.request.headers.get("if")
        if not header:
            return set()
        lists = ifheader.parse(header_href(header))

        def state_of(tag: str | None) -> ifheader.State:
            target = ctx.target
            if tag is not None:
                try:
                    found = ctx.resolve_href(tag)
                except DavError:
                    found = None
                if found is None:
                    return ifheader.State(None, frozenset())
                target = found
            etag = target.resource.etag if target.resource else None
            return ifheader.State(etag, frozenset(lock.token for lock in self.covering(self.key(ctx, target))))

        holds, tokens = ifheader.evaluate(lists, state_of)
        if not holds:
            raise DavError(412, "The conditions of the If header do not hold.")
        return tokens

    def check(self, ctx: DavContext, protected: Iterable[tuple[Target, bool]]) -> dict[str, list[Lock]]:
        """Refuse (423) a write touching a locked resource the request holds no lock on; else
        the locks covering each target, by its lock path (:meth:`key`).

        ``protected`` lists (target, deep): deep also checks locks below the
        target (deleting or moving a collection). What a lock guards (the
        target, or for a lock below it, its root) is open to the request when
        it submits, as the principal who took it, the token of a lock covering
        that: an exclusive lock admits only itself, while each holder of one
        of several shared locks may write.
        """
        tokens = self.submitted(ctx)
        keyed = [(self.key(ctx, target), deep) for target, deep in protected]
        covering = self.covering_each(path for path, _ in keyed)
        for path, deep in keyed:
            guarding = [(lock, path) for lock in covering[path]]
            guarding += [(lock, lock.path) for lock in (self.below(path) if deep else [])]
            held = [lock for lock, _ in guarding if lock.token in tokens and lock.principal_id == ctx.principal.id]
            for lock, guarded in guarding:
                if not any(mine.covers(guarded) for mine in held):
                    raise DavError(
                        423,
                        "The resource is locked.",
                        d("lock-token-submitted"),
                        xml.href(ctx.hrefs.root + lock.root),
                    )
        return covering
