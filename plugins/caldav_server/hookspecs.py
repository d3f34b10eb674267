"""Hooks the CalDAV server plugin offers to other plugins.

Other plugins implement them with ``@hookimpl(optionalhook=True)`` so they
still load when the CalDAV server is off.

Handlers registered through :func:`dav_reports` and :func:`dav_methods` are
plain functions, run in a worker thread (an ``async def`` handler runs on the
event loop instead and must not block it). They receive a *DAV request
context* ``ctx`` with these attributes:

- ``ctx.host``: the :class:`kernel.Host`;
- ``ctx.request``: the Starlette request (headers);
- ``ctx.body``: the request body, already read (bytes, at most ``[kernel] max_body_size``);
- ``ctx.principal``: the authenticated :class:`kernel.Principal`;
- ``ctx.target``: what the URL names: ``.kind`` is one of "root",
  "principals", "principal", "homes", "home", "collection", "resource",
  "unmapped"; ``.owner`` (a Principal), ``.collection`` (a
  :class:`kernel.Collection`, the parent collection for a resource or an
  unmapped URL), ``.resource`` (a :class:`kernel.Resource`), ``.href``;
- ``ctx.depth``: the Depth header ("0", "1", "infinity" or None);
- ``ctx.privileges(target)``: the kernel privileges ("read", "write",
  "admin") the principal holds on a target.

They return a Starlette ``Response``; raising ``kernel.Rejected`` answers with
its status and precondition element.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element

import pluggy

if TYPE_CHECKING:
    from kernel import Collection, HostAPI, Principal, Resource
    from plugins.caldav_server.webdav.extensions import DavExtensions

hookspec = pluggy.HookspecMarker("teamcal")


@hookspec
def dav_properties(
    host: HostAPI, principal: Principal, collection: Collection | None, resource: Resource | None
) -> dict[str, str | Element] | None:
    """Extra live properties for a PROPFIND target: ``{Clark name: text or Element}``.

    ``collection`` is the target collection (or the resource's collection),
    ``resource`` the target resource or None for a collection. Called only
    when a request asks for a property the built-ins don't know, or for
    allprop/propname. Text is sent escaped; an Element named like the
    property is sent as the property itself, any other Element as its only
    child. The limits plugin answers CALDAV:max-resource-size,
    max-instances, max-attendees-per-instance and (when set) min-date-time
    and max-date-time on calendar collections.
    """


@hookspec
def dav_properties_ahead(host: HostAPI, principal: Principal, collections: list[Collection]) -> None:
    """The ``dav_properties`` of these collections are about to be asked, one after another
    (a PROPFIND Depth 1 lists them as members): read what they need for all of them at once.

    Called once per listing, before its first ``dav_properties`` call, and only when one is
    made. On PostgreSQL, reads named ahead (``host.store.expecting``) go in one round trip:
    the limits plugin reads the limits of every owner of the listed calendars so.
    """


@hookspec
def dav_reports(host: HostAPI) -> dict[str, Callable[..., Any]]:
    """Extra REPORTs: ``{Clark name of the report's root element: handler}``.

    ``def handler(ctx, body: Element) -> Response`` receives the request
    context (see the module docstring) and the parsed request body. Reports
    registered here appear in DAV:supported-report-set of every collection.
    """


@hookspec
def dav_methods(host: HostAPI) -> dict[str, Callable[..., Any]]:
    """Extra HTTP methods on /dav URLs: ``{METHOD: handler}``.

    ``def handler(ctx) -> Response`` receives the request context (see
    the module docstring); the method is added to the Allow header. A plugin
    may replace a built-in method this way.
    """


@hookspec
def dav_extend(host: HostAPI, dav: DavExtensions) -> None:
    """Extend the DAV server once, when it is built: ``dav`` adds live properties, reports,
    methods, resource types, PUT checks, collection renderers for GET, DAV compliance
    classes and privileges (see :class:`plugins.caldav_server.webdav.extensions.DavExtensions`).
    """


@hookspec
def dav_reads_ahead(host: HostAPI, method: str, owner: str, path: list[str]) -> list[tuple[str, Any]] | None:
    """Reads your plugin will make, outside a transaction, for a DAV request on ``path`` in the
    home of ``owner`` (names as the URL gives them, decoded; ``path`` may be empty): a list
    of (sql, params), or None.

    They are named ahead of authentication (``store.expecting``): on PostgreSQL they go to
    the database with the account's read, and your read, the same text with the same
    parameters, is answered from what came back, without a round trip of its own. Name only
    reads that could as well run before the request is authenticated; one that is not run
    costs only the database's work. The limits plugin names its read of the owner's limits
    for a PUT.
    """
