"""Collection synchronization (RFC 6578): sync tokens and the sync-collection report.

A token is ``http://teamcal.invalid/sync/<collection id>/<seq>``, where seq
is a position in the kernel's change feed. An incremental sync reads the
feed after that position for the one collection (an indexed range), so its
cost follows the number of changes, not the size of the collection. With
DAV:limit the answer is cut after N members, the collection answers 507
with DAV:number-of-matches-within-limits, and the returned token resumes
exactly where the cut was: nothing is ever silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from starlette.responses import Response

from plugins.caldav_server.webdav import multistatus, xml
from plugins.caldav_server.webdav.deadprops import ResourceProperties
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.properties import Evaluator, PropRequest
from plugins.caldav_server.webdav.resolve import quote_segment
from plugins.caldav_server.webdav.xml import Element, d

if TYPE_CHECKING:
    from kernel import Collection, Resource
    from plugins.caldav_server.webdav.context import DavContext

PREFIX = "http://teamcal.invalid/sync/"
_TOKEN = re.compile(re.escape(PREFIX) + r"(\d+)/(\d+)")
VALID_TOKEN = d("valid-sync-token")


def token(collection: Collection, seq: int | None = None) -> str:
    """The sync token of a collection now (or at ``seq``); also served as its CS:getctag."""
    return f"{PREFIX}{collection.id}/{collection.sync_seq if seq is None else seq}"


def parse_token(text: str, collection: Collection) -> int:
    """The feed position a token names; 403 DAV:valid-sync-token when it is not one of this
    collection's tokens (malformed, foreign, from the future, or from before the kernel
    renamed members: ``sync_floor``)."""
    m = _TOKEN.fullmatch(text.strip())
    if (
        not m
        or int(m.group(1)) != collection.id
        or not collection.sync_floor <= int(m.group(2)) <= collection.sync_seq
    ):
        raise DavError(403, "The sync token is not valid for this collection.", VALID_TOKEN)
    return int(m.group(2))


def _limit(body: Element) -> int | None:
    limit = body.find(d("limit"))
    if limit is None:
        return None
    text = xml.child_text(limit.find(d("nresults"))).strip()
    if not text.isdigit() or int(text) < 1:
        raise DavError(400, "DAV:limit needs a positive DAV:nresults.")
    return int(text)


def _changed(ctx: DavContext, collection: Collection, since: int, limit: int | None) -> tuple[list[str], int, bool]:
    """Names changed after ``since`` (in first-change order), the position the answer
    reaches, and whether ``limit`` cut it (the position is then just before the first
    change of the first name left out, so the next sync resumes exactly there)."""
    first: dict[str, int] = {}
    for change in ctx.store.changes_since(since, collection_id=collection.id):
        if change.name is not None and change.name not in first:
            first[change.name] = change.seq
    order = list(first)
    if limit is not None and len(order) > limit:
        return order[:limit], first[order[limit]] - 1, True
    return order, collection.sync_seq, False


def _initial(
    ctx: DavContext, collection: Collection, limit: int | None
) -> tuple[list[tuple[str, Resource | None]] | None, int, bool]:
    """The members an initial sync answers: None for every one (the listing streams them),
    else those ``limit`` keeps, least recently changed first; the position the answer
    reaches, and whether ``limit`` cut it."""
    if limit is None or ctx.store.count_resources(collection.id) <= limit:
        return None, collection.sync_seq, False
    resources = ctx.store.resources(collection.id)
    last: dict[str, int] = {}
    for change in ctx.store.changes_since(0, collection_id=collection.id):
        if change.name is not None:
            last[change.name] = change.seq
    ordered = sorted(resources, key=lambda r: last.get(r.name, 0))
    return [(r.name, r) for r in ordered[:limit]], last.get(ordered[limit - 1].name, 0), True


def sync_collection(ctx: DavContext, body: Element) -> Response:
    """Answer DAV:sync-collection: the members changed since the token, deletions as 404."""
    target = ctx.target
    collection = target.collection
    if target.kind != "collection" or collection is None:
        raise DavError(403, "sync-collection runs on a collection.", d("supported-report"))
    if ctx.depth == "infinity":
        raise DavError(400, "sync-collection takes Depth: 0 (or 1).")
    level = xml.child_text(body.find(d("sync-level"))).strip() or "1"
    if level not in ("1", "infinity"):
        raise DavError(400, "DAV:sync-level must be 1 or infinity.")
    limit = _limit(body)
    text = xml.child_text(body.find(d("sync-token"))).strip()
    prop = body.find(d("prop"))
    evaluator = Evaluator(ctx, PropRequest.from_element(prop if prop is not None else Element(d("prop"))))
    members: list[tuple[str, Resource | None]] | None
    if text:
        since = parse_token(text, collection)
        names, reached, truncated = _changed(ctx, collection, since, limit)
        present = {r.name: r for r in ctx.store.resources(collection.id, names)} if names else {}
        members = [(name, present.get(name)) for name in names]
    else:
        members, reached, truncated = _initial(ctx, collection, limit)
    dead = ResourceProperties(ctx.store, collection.id)

    def parts() -> Iterator[str]:
        if members is None:
            yield from evaluator.listing_responses(target, dead)
        for name, resource in members or ():
            if resource is None:
                yield multistatus.status_response(target.href + quote_segment(name), 404)
                continue
            yield evaluator.resource_response(target, resource, dead)
        if truncated:
            yield multistatus.status_response(target.href, 507, "<D:number-of-matches-within-limits/>")

    tail = f"<D:sync-token>{xml.escape(token(collection, reached))}</D:sync-token>"
    return multistatus.multistatus(parts(), tail=tail, minimal=ctx.minimal)
