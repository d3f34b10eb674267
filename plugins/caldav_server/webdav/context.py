"""The per-request context every DAV method and report handler receives."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kernel import Rejected
from plugins.caldav_server.webdav import access, deadprops, xml
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.multistatus import wants_minimal
from plugins.caldav_server.webdav.resolve import (
    Hrefs,
    Target,
    collection_target,
    member_target,
    relative_path,
    resolve,
    split_path,
)

if TYPE_CHECKING:
    from starlette.requests import Request

    from kernel import Collection, Later, Principal, Resource
    from plugins.caldav_server.webdav.app import DavApp

_DEPTHS = {"0": "0", "1": "1", "infinity": "infinity"}


def parse_depth(value: str | None) -> str | None:
    """The Depth header normalised to "0", "1" or "infinity" (None when absent); 400 otherwise."""
    if value is None:
        return None
    depth = _DEPTHS.get(value.strip().lower())
    if depth is None:
        raise DavError(400, f"Depth must be 0, 1 or infinity, not {value!r}.")
    return depth


class DavContext:
    """One DAV request: the app, the authenticated principal and the target its URL names."""

    def __init__(self, app: DavApp, request: Request, principal: Principal, target: Target, hrefs: Hrefs) -> None:
        self.app = app
        self.host = app.host
        self.store = app.host.store
        self.request = request
        self.principal = principal
        self.target = target
        self.hrefs = hrefs
        self.depth = parse_depth(request.headers.get("depth"))
        self.minimal = wants_minimal(request)
        #: The work this request may do on calendar data, shared by every object it touches.
        self.budget = app.host.budget()
        self._privileges: dict[str, frozenset[str]] = {}
        #: The request body, read on the event loop before the handler runs (b"" when none).
        self.body = b""
        #: The most the body may hold, and the precondition an oversized one names; a
        #: method's ``prepare`` may lower them before the body is read.
        self.body_limit = int(app.host.kernel.max_body_size)
        self.body_precondition: str | None = None
        #: True when the body was read after ``prepare`` (a big or chunked one): time passed
        #: between the two, so what ``prepare`` checked may have changed.
        self.body_late = False
        #: Member collections a listing is about to evaluate, for ``dav_properties_ahead``.
        self.listed: list[Collection] = []
        #: The method's ``meanwhile`` work on the body, when it was done before the handler.
        self.meanwhile: Later[Any] | None = None

    # -- access -----------------------------------------------------------------------

    def privileges(self, target: Target | None = None) -> frozenset[str]:
        """The kernel privileges the principal holds on a target (default: the request's)."""
        target = target or self.target
        key = target.href if target.collection is None else f"c{target.collection.id}"
        found = self._privileges.get(key)
        if found is None:
            found = self._privileges[key] = access.target_privileges(self.host, self.principal, target)
        return found

    def require(self, needed: str, target: Target | None = None, dav: tuple[str, ...] = ()) -> None:
        """404 without read, 403 DAV:need-privileges (naming ``dav`` privileges) without ``needed``."""
        target = target or self.target
        access.check(self.privileges(target), needed, target.href, dav or access.DAV_PRIVILEGES[needed][:1])

    # -- URLs -------------------------------------------------------------------------

    def member(self, resource: Resource) -> Target:
        """A resource of the request's collection (or, for a resource request, of its parent),
        with its href spelled below the request's URL."""
        target = self.target
        if target.kind == "collection":
            return member_target(target, resource)
        parent = Target(
            "collection", target.href[: target.href.rindex("/") + 1], owner=target.owner, collection=target.collection
        )
        return member_target(parent, resource)

    def parent_of(self, collection: Collection) -> Target:
        """The target a collection lives in: its parent collection, or its owner's home."""
        if collection.parent_path:
            parent = self.store.collection(collection.owner.id, collection.parent_path)
            if parent is not None:
                return collection_target(self.hrefs, parent)
        return Target("home", self.hrefs.home(collection.owner), owner=collection.owner)

    def resolve_href(self, href: str) -> Target | None:
        """The target an href names, or None when it is outside the DAV root; 400 on path tricks."""
        raw = relative_path(self.hrefs, href)
        if raw is None:
            return None
        return resolve(self.store, self.hrefs, split_path(raw), self.principal)

    # -- bodies and properties ------------------------------------------------------------

    def read_xml(self) -> xml.Element | None:
        """The request body parsed as XML (None when empty); 400 when malformed or hostile."""
        return xml.parse(self.body)

    def dead_properties(self, target: Target) -> dict[str, str]:
        """A target's dead properties (name -> XML element)."""
        return deadprops.load(self.host, target)

    def extra_properties(self, target: Target) -> dict[str, str]:
        """What ``dav_properties`` implementations add for a collection or resource (name -> XML)."""
        if target.collection is None or target.kind == "unmapped":
            return {}
        if self.listed and target.collection in self.listed:  # the first of a listing's members
            listed, self.listed = self.listed, []
            self.host.hook.dav_properties_ahead(host=self.host, principal=self.principal, collections=listed)
        found: dict[str, str] = {}
        for answer in self.host.hook.dav_properties(
            host=self.host, principal=self.principal, collection=target.collection, resource=target.resource
        ):
            for name, value in (answer or {}).items():
                if name in found:
                    continue
                if isinstance(value, str):
                    found[name] = xml.text_element(name, value)
                elif value.tag == name:
                    found[name] = xml.serialize(value)
                else:
                    found[name] = xml.element(name, xml.serialize(value))
        return found

    def rejected(self, exc: Rejected) -> DavError:
        """A kernel refusal as a DAV error (with the conflicting href for no-uid-conflict)."""
        detail = ""
        if exc.conflict is not None:
            collection = self.store.collection_by_id(exc.conflict.collection_id)
            if collection is not None:
                detail = xml.href(self.hrefs.resource(collection, exc.conflict.name))
        return DavError(exc.status, exc.message, exc.precondition, detail)
