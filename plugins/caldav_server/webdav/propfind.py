"""PROPFIND (RFC 4918 9.1): Depth 0 and 1; infinity refused with DAV:propfind-finite-depth.

A Depth 1 listing of a collection reads its resources a page at a time and
its members' dead properties in one query, only when the request needs them; a
listing of a home reads its calendars' dead properties in one query too, so its
cost does not grow with their number. The answer streams as it is built (see
``multistatus``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from starlette.responses import Response

from plugins.caldav_server.webdav import multistatus
from plugins.caldav_server.webdav.deadprops import CollectionProperties, ResourceProperties
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.properties import Evaluator, PropRequest
from plugins.caldav_server.webdav.resolve import (
    Target,
    alias_name,
    member_collection,
    member_target,
    quote_segment,
)
from plugins.caldav_server.webdav.xml import d

if TYPE_CHECKING:
    from kernel import Principal
    from plugins.caldav_server.webdav.context import DavContext

DeadGetter = Callable[[], dict[str, str]] | None


def propfind(ctx: DavContext) -> Response:
    """Answer a PROPFIND with a 207 listing the target (and its members at Depth 1)."""
    target = ctx.target
    if target.kind == "unmapped":
        raise DavError(404, "Not found.")
    ctx.require("read")
    body = ctx.read_xml()
    if body is not None and body.tag != d("propfind"):
        raise DavError(400, "The body of a PROPFIND must be a DAV:propfind element.")
    if body is not None and not any(child.tag in (d("prop"), d("allprop"), d("propname")) for child in body):
        raise DavError(400, "DAV:propfind needs DAV:prop, DAV:allprop or DAV:propname.")
    request = PropRequest.from_element(body)
    depth = ctx.depth or "infinity"
    if depth == "infinity" and target.is_collection:
        raise DavError(403, "Depth: infinity is not supported; use 0 or 1.", d("propfind-finite-depth"))
    evaluator = Evaluator(ctx, request)
    found, missing = evaluator.evaluate(target)
    first = multistatus.response(target.href, found, missing, minimal=ctx.minimal)
    if depth == "0" or not target.is_collection:
        return multistatus.multistatus([first], minimal=ctx.minimal)

    def parts() -> Iterator[str]:
        yield first
        for child, dead in members(ctx, target, resources=False):
            found, missing = evaluator.evaluate(child, dead)
            yield multistatus.response(child.href, found, missing, minimal=ctx.minimal)
        if target.kind == "collection":
            assert target.collection is not None
            yield from evaluator.listing_responses(target, ResourceProperties(ctx.store, target.collection.id))

    return multistatus.multistatus(parts(), minimal=ctx.minimal)


def members(ctx: DavContext, target: Target, *, resources: bool = True) -> Iterator[tuple[Target, DeadGetter]]:
    """The members of a collection-like target the principal may read, with dead-property
    getters (without a collection's resources when ``resources`` is False)."""
    store, hrefs = ctx.store, ctx.hrefs
    if target.kind == "root":
        yield Target("principals", hrefs.principals()), None
        yield Target("homes", hrefs.homes()), None
    elif target.kind == "principals":
        for p in store.principals():
            yield Target("principal", hrefs.principal(p), owner=p), None
    elif target.kind == "homes":
        for owner in visible_homes(ctx):
            yield Target("home", hrefs.home(owner), owner=owner), None
    elif target.kind == "home":
        assert target.owner is not None
        # by name, as the URL gives it: named ahead with the account's read (app._reads_ahead)
        children = _readable(ctx, [member_collection(target, c) for c in store.collections(target.owner.name)])
        if target.owner.id == ctx.principal.id:
            children += shared_into_home(ctx, target)
        yield from _with_dead_properties(ctx, children)
    elif target.kind == "collection":
        collection = target.collection
        assert collection is not None
        members = store.collections(collection.owner.name, parent=collection.path)  # by name: named ahead
        children = [member_collection(target, c) for c in members]
        yield from _with_dead_properties(ctx, _readable(ctx, children))
        if resources:
            dead = ResourceProperties(store, collection.id)
            for r in store.iter_resources(collection.id):
                yield member_target(target, r), dead.getter(r.id)


def _readable(ctx: DavContext, children: list[Target]) -> list[Target]:
    """The member collections the principal may read."""
    return [child for child in children if "read" in ctx.privileges(child)]


def _with_dead_properties(ctx: DavContext, children: list[Target]) -> Iterator[tuple[Target, DeadGetter]]:
    """Member collections with getters of their dead properties, read for all of them in one
    query when the request needs them."""
    dead = CollectionProperties(ctx.store, [child.collection.id for child in children if child.collection])
    ctx.listed = [child.collection for child in children if child.collection]  # dav_properties_ahead
    for child in children:
        assert child.collection is not None
        yield child, dead.getter(child.collection.id)


def shared_into_home(ctx: DavContext, home: Target) -> list[Target]:
    """The team calendars and granted calendars of other principals, as members of one's home."""
    return [
        Target("collection", home.href + quote_segment(alias_name(c)) + "/", owner=c.owner, collection=c)
        for c in ctx.host.reachable_collections(ctx.principal)
        if "/" not in c.path
    ]


def visible_homes(ctx: DavContext) -> list[Principal]:
    """The principals whose homes the request's principal sees: its own, its groups', and
    those of owners who granted it a collection."""
    principal = ctx.principal
    owners = {principal.id: principal}
    reach = ctx.store.reach(principal.id)  # the groups and what they and grants reach, read once
    for group in reach.groups:
        owners.setdefault(group.id, group)
    for c in ctx.host.reachable_collections(principal, reach=reach):
        owners.setdefault(c.owner.id, c.owner)
    return list(owners.values())
