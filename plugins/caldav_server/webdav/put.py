"""PUT: create or replace a resource through ``host.writes.put_object``.

:func:`prepare_put` runs before the body is read (privileges, locks, the
size limit), so an oversized body is refused after at most the limit;
If-Match / If-None-Match / If-Unmodified-Since are checked in the write
transaction (412, nothing written), against the row the URL's resolving read found
(``expected``: the kernel checks with its writes that it has not changed, and
writes again reading it when it has). The answer carries the strong ETag of the stored bytes only when
they are exactly the body: when the kernel's ingest pipeline repaired the data
(``kernel.ingest``: line breaks, value types, time zones ...) the ETag is left
out (RFC 4791 5.3.4), so the client fetches what was stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from kernel import ABSENT
from plugins.caldav_server.webdav.conditions import http_time
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.resolve import Target, collection_target

if TYPE_CHECKING:
    from kernel import Host, Parsed
    from plugins.caldav_server.webdav.context import DavContext


def prepare_put(ctx: DavContext) -> None:
    """Before the body is read: privileges, the collection's PUT checks, locks, and the size limit."""
    target = ctx.target
    if target.is_collection:
        ctx.require("read")
        raise DavError(405, "PUT on a collection is not allowed.", headers={"Allow": ", ".join(ctx.app.allow(target))})
    if target.parent_missing:
        raise DavError(409, "The parent collection does not exist.")
    collection = target.collection
    if collection is None:
        ctx.require("read")
        raise DavError(409, "Resources live in a collection, not directly in a home.")
    ctx.require("write", dav=("write-content",) if target.resource else ("bind",))
    for check in ctx.app.put_checks:
        check(ctx, collection, ctx.request.headers.get("content-type"))
    ctx.app.locks.check(ctx, _protected(ctx))
    ctx.body_limit = ctx.host.object_size_limit(ctx.principal, collection)
    ctx.body_precondition = next((p for p in (f(collection) for f in ctx.app.size_preconditions) if p), None)


def put(ctx: DavContext) -> Response:
    """Store the body at the target URL; 201 when created, 204 when replaced."""
    target = ctx.target
    collection = target.collection
    assert collection is not None and target.name is not None
    if ctx.body_late:  # a LOCK may have been granted while the body was arriving
        ctx.app.locks.check(ctx, _protected(ctx))
    headers = ctx.request.headers
    stored = ctx.host.writes.put_object(
        collection,
        target.name,
        ctx.body,
        principal=ctx.principal,
        content_type=headers.get("content-type"),
        if_match=headers.get("if-match"),
        if_none_match=headers.get("if-none-match"),
        if_unmodified_since=http_time(headers.get("if-unmodified-since")),
        source="caldav",
        keep_uid=True,
        expected=target.resource if target.resource is not None else ABSENT,  # what the URL resolved to
        parsed=ctx.meanwhile.result() if ctx.meanwhile is not None else None,
    )
    answer = {} if stored.rewritten else {"ETag": stored.resource.etag}
    return Response(status_code=201 if stored.created else 204, headers=answer)


def parse_body(host: Host, body: bytes) -> Parsed:
    """A PUT's ``meanwhile`` work: its body parsed as a calendar collection takes it, while
    authentication's and the URL's reads are on their way (unused for another collection)."""
    return host.writes.parse(body)


def _protected(ctx: DavContext) -> list[tuple[Target, bool]]:
    """What a PUT's locks protect: the resource, and for a new one its collection."""
    target = ctx.target
    if target.resource:
        return [(target, False)]
    assert target.collection is not None
    return [(target, False), (collection_target(ctx.hrefs, target.collection), False)]
