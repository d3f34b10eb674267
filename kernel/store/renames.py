"""Migration m006: collection paths and resource names stored before names had one form.

Before, the CalDAV server stored a name with the percent-escapes of RFC 3986
reserved characters (and of "%") as they were sent, so ``meeting-42%40example.com.ics``
and ``meeting-42@example.com.ics`` were two resources, and names were not
Unicode-normalised. Now a name is stored decoded and in NFC
(:func:`kernel.names.canonical_name`); this migration renames what is stored
to that form. Old URLs keep working: the server decodes them to the new name.

When two stored names become one, the one already canonical keeps it and the
other gets a suffix before its extension (``a@b.ics`` -> ``a@b-2.ics``), so
both stay reachable; each such collision is logged. Every renamed resource
leaves a "deleted" (old name) and a "created" (new name) row in the change
feed, so feed consumers follow, and its collection's ``sync_floor`` moves to
the feed's end: CalDAV sync tokens issued before name the old hrefs, so they
are refused (403 DAV:valid-sync-token) and clients sync afresh.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from kernel.names import canonical_name

if TYPE_CHECKING:
    from kernel.store import Store

log = logging.getLogger("teamcal")

#: The escapes the CalDAV server kept in stored names (RFC 3986 reserved characters and "%").
_KEPT_ESCAPE = re.compile(r"%(3[Aa]|3[Ff]|23|5[Bb]|5[Dd]|40|21|24|26|27|28|29|2[Aa]|2[Bb]|2[Cc]|3[Bb]|3[Dd]|25)")


def stored_name_canonical(name: str) -> str:
    """The canonical form of a name as it was stored before m006 (kept escapes decoded, NFC)."""
    return canonical_name(_KEPT_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), name))


def free_name(wanted: str, taken: set[str]) -> str:
    """``wanted``, or the first of ``stem-2.ext``, ``stem-3.ext``... that is not taken."""
    if wanted not in taken:
        return wanted
    head, slash, last = wanted.rpartition("/")
    stem, dot, ext = last.rpartition(".")
    if not stem:
        stem, dot, ext = last, "", ""
    n = 2
    while True:
        candidate = f"{head}{slash}{stem}-{n}{dot}{ext}"
        if candidate not in taken:
            return candidate
        n += 1


def plan(names: Iterable[str], canonical: Callable[[str, dict[str, str]], str], what: str) -> dict[str, str]:
    """{old: new} for the names whose canonical form differs; names already canonical keep theirs.

    ``canonical(name, renames so far)`` gives a name's canonical form; names are
    taken in order, so a collection path whose parent was renamed follows it.
    A collision is logged and resolved with :func:`free_name`.
    """
    names = list(names)
    renames: dict[str, str] = {}
    taken = {n for n in names if canonical(n, renames) == n}
    for name in names:
        wanted = canonical(name, renames)
        if wanted == name:
            continue
        new = free_name(wanted, taken)
        if new != wanted:
            log.warning("m006: the %s %r would become %r, which another has; it is now %r", what, name, wanted, new)
        taken.add(new)
        renames[name] = new
    return renames


def _record(store: Store, collection_id: int, name: str | None, kind: str, etag: str | None = None,
            uid: str | None = None) -> None:
    """A change row of m006, in the feed's columns of that migration's time (rows name the
    process that wrote them from m013 on: these name none), moving the collection's sync
    sequence and modification time as every change does."""
    now = time.time()
    seq = store.execute(
        "INSERT INTO changes (collection_id, name, kind, etag, uid, at) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
        (collection_id, name, kind, etag, uid, now),
    ).fetchone()[0]
    store.execute("UPDATE collections SET sync_seq = ?, modified = ? WHERE id = ?", (seq, now, collection_id))


def rename_collections(store: Store) -> None:
    """Give every collection path its canonical form, per owner (parents before children)."""
    owners = [r[0] for r in store.execute("SELECT DISTINCT owner_id FROM collections")]
    for owner in owners:
        rows = store.execute("SELECT id, path FROM collections WHERE owner_id = ?", (owner,)).fetchall()
        rows.sort(key=lambda r: (r[1].count("/"), r[1]))
        ids = {path: cid for cid, path in rows}

        def canonical(path: str, renames: dict[str, str]) -> str:
            parent, slash, last = path.rpartition("/")
            return renames.get(parent, stored_name_canonical(parent)) + slash + stored_name_canonical(last)

        for old, new in plan(ids, canonical, "collection").items():
            store.execute("UPDATE collections SET path = ? WHERE id = ?", (new, ids[old]))
            _record(store, ids[old], None, "modified")
            log.info("m006: collection %r renamed to %r", old, new)


def rename_resources(store: Store) -> None:
    """Give every resource name its canonical form, recording the rename in the change feed."""
    collections = [r[0] for r in store.execute("SELECT DISTINCT collection_id FROM resources")]
    for cid in collections:
        rows = store.execute(
            "SELECT id, name, etag, uid FROM resources WHERE collection_id = ? ORDER BY name", (cid,)
        ).fetchall()
        by_name = {name: (rid, etag, uid) for rid, name, etag, uid in rows}
        renames = plan(by_name, lambda name, _: stored_name_canonical(name), "resource")
        for old, new in renames.items():
            rid, etag, uid = by_name[old]
            store.execute("UPDATE resources SET name = ? WHERE id = ?", (new, rid))
            _record(store, cid, old, "deleted", None, uid)
            _record(store, cid, new, "created", etag, uid)
        if renames:
            store.execute("UPDATE collections SET sync_floor = sync_seq WHERE id = ?", (cid,))
            log.info("m006: %d resource name(s) of collection %d made canonical", len(renames), cid)
