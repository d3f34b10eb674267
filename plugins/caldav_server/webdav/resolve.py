"""URLs under the DAV root: what a path names, and the hrefs the server hands out.

The namespace::

    /dav/                              root (answers current-user-principal)
    /dav/principals/                   the principal collection
    /dav/principals/<name>/            a user or group
    /dav/cal/                          the collection of homes
    /dav/cal/<name>/                   a principal's home
    /dav/cal/<name>/<a>/<b>/           a collection (plain collections nest)
    /dav/cal/<name>/<a>/<b>/<res>      a resource
    /dav/cal/<name>/<owner>~<cal>/     another principal's calendar shared with <name>
                                       (a team calendar, a grant), as it appears in
                                       <name>'s home: the same calendar as
                                       /dav/cal/<owner>/<cal>/

Path tricks are refused with 400 before anything is looked up: encoded
slashes or backslashes, NUL and other control characters, "." and ".."
segments, segments that are not UTF-8.

One name per resource: every path the server receives (the Request-URI, a
Destination or If header, an href in a REPORT body) is percent-decoded
completely and its segments normalised to Unicode NFC
(:func:`kernel.names.canonical_name`), so ``meeting-42%40example.com.ics``
and ``meeting-42@example.com.ics``, or ``café.ics`` in NFC and in NFD, name
one resource. Hrefs in answers spell every name one way
(:func:`quote_segment`): RFC 3986 ``pchar`` characters (unreserved,
sub-delims, ":" and "@") as they are, everything else percent-encoded as
UTF-8 with upper-case hex ("%" itself as "%25").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, unquote_to_bytes, urlsplit

from kernel import canonical_name
from plugins.caldav_server.webdav.errors import DavError

if TYPE_CHECKING:
    from kernel import Collection, Principal, Resource, Store

TargetKind = Literal["root", "principals", "principal", "homes", "home", "collection", "resource", "unmapped"]

PRINCIPALS = "principals"
HOMES = "cal"
#: Separates owner and calendar in the alias name of a shared calendar ("team~standup").
ALIAS = "~"
#: What a name keeps literally in an href besides letters and digits: the rest of RFC 3986
#: ``pchar`` (unreserved "-._~", sub-delims "!$&'()*+,;=", ":" and "@").
_SAFE = "-._~!$&'()*+,;=:@"
_PLAIN = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@]*")


def quote_segment(name: str) -> str:
    """A name as a path segment in the one canonical spelling hrefs use."""
    if _PLAIN.fullmatch(name):
        return name
    return quote(name, safe=_SAFE)


def header_href(value: str) -> str:
    """An href taken from an HTTP header (Destination, If), read as UTF-8.

    Header bytes reach us decoded as Latin-1; a client that sent a path's
    non-ASCII characters as raw UTF-8 instead of percent-encoding them gets
    them back as it meant them. Percent-encoded hrefs are unchanged.
    """
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


@dataclass(slots=True)
class Target:
    """What a URL names.

    For "resource" and "unmapped", ``collection`` is the parent collection
    (None for an unmapped URL directly in a home, and for an unmapped URL
    whose parent does not exist: then ``parent_missing`` is True). ``name`` is
    the last path segment of a resource or unmapped URL. ``data`` is a resource's content
    when the resolution read it with the row (for GET and HEAD: one statement, one version).
    """

    kind: TargetKind
    href: str
    owner: Principal | None = None
    collection: Collection | None = None
    resource: Resource | None = None
    name: str | None = None
    parent_missing: bool = False
    data: bytes | None = None

    @property
    def is_collection(self) -> bool:
        """True for everything that has members (all but principals, resources and unmapped URLs)."""
        return self.kind not in ("principal", "resource", "unmapped")

    @property
    def unmapped_path(self) -> str:
        """For an unmapped URL: its would-be collection path in the owner's home."""
        assert self.name is not None
        return f"{self.collection.path}/{self.name}" if self.collection else self.name


class Hrefs:
    """Builds hrefs under one DAV root (``/dav``, or behind a proxy ``/prefix/dav``)."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")

    def base(self) -> str:
        """The DAV root collection."""
        return self.root + "/"

    def principals(self) -> str:
        """The principal collection."""
        return f"{self.root}/{PRINCIPALS}/"

    def homes(self) -> str:
        """The collection of homes."""
        return f"{self.root}/{HOMES}/"

    def principal(self, principal: Principal) -> str:
        """A principal's URL."""
        return f"{self.root}/{PRINCIPALS}/{quote(principal.name, safe=_SAFE)}/"

    def home(self, owner: Principal) -> str:
        """A principal's home."""
        return f"{self.root}/{HOMES}/{quote(owner.name, safe=_SAFE)}/"

    def collection(self, collection: Collection) -> str:
        """A collection's URL (with trailing slash)."""
        return self.home(collection.owner) + "/".join(map(quote_segment, collection.path.split("/"))) + "/"

    def resource(self, collection: Collection, name: str) -> str:
        """A resource's URL (at its collection's own URL)."""
        return self.collection(collection) + quote_segment(name)


#: What a decoded segment never holds: backslashes and control characters (NUL included).
_UNSAFE = re.compile(r"[\\\x00-\x1f\x7f]")


def _decode(part: bytes) -> str:
    """Percent-decode one segment completely and normalise it to NFC."""
    try:
        return canonical_name((unquote_to_bytes(part) if b"%" in part else part).decode("utf-8"))
    except UnicodeDecodeError:
        raise DavError(400, "Path segments must be UTF-8.") from None


def split_path(raw: bytes) -> list[str]:
    """Decode a percent-encoded path (relative to the DAV root) into canonical segments; 400 on tricks."""
    segments: list[str] = []
    for part in raw.split(b"/"):
        if not part:
            continue
        if b"%" in part:
            low = part.lower()
            if b"%2f" in low or b"%5c" in low or b"%00" in low:
                raise DavError(400, "Encoded slashes, backslashes and NUL are not allowed in paths.")
        segment = _decode(part)
        if segment in (".", "..") or _UNSAFE.search(segment):
            raise DavError(400, f"{segment!r} is not allowed in a path.")
        segments.append(segment)
    return segments


def relative_path(hrefs: Hrefs, href: str) -> bytes | None:
    """The percent-encoded path of an href (absolute URL or path) below the DAV root; None
    outside it, and for an absolute URL that is not one (``http://[::1/x``)."""
    try:
        path = urlsplit(href.strip()).path if "://" in href else href.strip().split("?", 1)[0]
    except ValueError:  # an unclosed IPv6 bracket, a bracketed host that is no address
        return None
    raw = path.encode("utf-8")
    root = hrefs.root.encode("utf-8")
    if raw == root or raw == root + b"/":
        return b""
    if not raw.startswith(root + b"/"):
        return None
    return raw[len(root) + 1 :]


def resolve(
    store: Store, hrefs: Hrefs, segments: list[str], known: Principal | None = None, *, with_data: bool = False
) -> Target:
    """Look up what a path names. Unknown principals are a 404. ``known`` (the request's
    principal, just read) is not looked up again when the path names it. With ``with_data``
    a resource is read together with its content (``Target.data``)."""

    def principal(name: str) -> Principal | None:
        return known if known is not None and known.name == name else store.principal(name)

    if not segments:
        return Target("root", hrefs.base())
    top, rest = segments[0], segments[1:]
    if top == PRINCIPALS:
        if not rest:
            return Target("principals", hrefs.principals())
        owner = principal(rest[0])
        if owner is None or len(rest) > 1:
            raise DavError(404, "No such principal.")
        return Target("principal", hrefs.principal(owner), owner=owner)
    if top != HOMES:
        raise DavError(404, "Not found.")
    if not rest:
        return Target("homes", hrefs.homes())
    owner = principal(rest[0])
    if owner is None:
        raise DavError(404, "No such calendar home.")
    path = rest[1:]
    base = hrefs.home(owner)
    if not path:
        return Target("home", base, owner=owner)
    if ALIAS in path[0] and store.collection(owner.id, path[0]) is None:
        found = _alias(store, path[0])
        if found is not None:
            alias = base + quote_segment(path[0])
            return _in_home(
                store,
                found[0],
                [found[1], *path[1:]],
                lambda segs: alias + "".join("/" + quote_segment(s) for s in segs[1:]),
                with_data,
            )
    return _in_home(store, owner, path, lambda segs: base + "/".join(map(quote_segment, segs)), with_data)


def resolving_read(store: Store, segments: list[str], *, with_data: bool = False) -> tuple[str, tuple[Any, ...]] | None:
    """The statement :func:`resolve` runs for a path to a collection or an object in a home
    (named by the URL, not through an alias), to name it ahead of authentication
    (``store.expecting``); None for other paths."""
    if len(segments) < 3 or segments[0] != HOMES or ALIAS in segments[2]:
        return None
    owner, path = segments[1], segments[2:]
    if len(path) == 1:
        return store.collections_at_statement(owner, [path[0]])
    return store.collections_with_member_statement(owner, "/".join(path), "/".join(path[:-1]), path[-1],
                                                   with_data=with_data)


def alias_name(collection: Collection) -> str:
    """The name a collection of another principal has in a home it is shared into."""
    return f"{collection.owner.name}{ALIAS}{collection.path}"


def _alias(store: Store, name: str) -> tuple[Principal, str] | None:
    """(owner, collection path) of an alias segment "owner~calendar", or None."""
    owner_name, _, path = name.partition(ALIAS)
    owner = store.principal(owner_name)
    if owner is None or not path or store.collection(owner.id, path) is None:
        return None
    return owner, path


def _in_home(
    store: Store, owner: Principal, path: list[str], href_of: Callable[[list[str]], str], with_data: bool = False
) -> Target:
    """Resolve a path below ``owner``'s home; ``href_of`` spells the segments as an href."""
    full, up, name = "/".join(path), "/".join(path[:-1]), path[-1]
    resource: Resource | None = None
    data: bytes | None = None
    if up:  # the URL's collection, its parent's, and the parent's resource of that name: one statement
        found, resource, data = store.collections_with_member(owner.name, full, up, name, with_data=with_data)
    else:
        found = store.collections_at(owner.name, [full])
    collection = found.get(canonical_name(full))
    if collection is not None:
        return Target("collection", href_of(path) + "/", owner=owner, collection=collection)
    if len(path) == 1:
        return Target("unmapped", href_of(path), owner=owner, name=name)
    parent = found.get(canonical_name(up))
    if parent is None:
        return Target("unmapped", href_of(path), owner=owner, name=name, parent_missing=True)
    kind: TargetKind = "resource" if resource is not None else "unmapped"
    return Target(kind, href_of(path), owner=owner, collection=parent, resource=resource, name=name, data=data)


def member_target(parent: Target, resource: Resource) -> Target:
    """The target of a resource of the ``parent`` collection target (href below the parent's)."""
    return Target(
        "resource",
        parent.href + quote_segment(resource.name),
        owner=parent.owner,
        collection=parent.collection,
        resource=resource,
        name=resource.name,
    )


def member_collection(parent: Target, collection: Collection) -> Target:
    """The target of a sub-collection of ``parent`` (href below the parent's)."""
    return Target(
        "collection", parent.href + quote_segment(collection.name) + "/", owner=collection.owner, collection=collection
    )


def collection_target(hrefs: Hrefs, collection: Collection) -> Target:
    """The target of a collection at its own URL (no lookup)."""
    return Target("collection", hrefs.collection(collection), owner=collection.owner, collection=collection)
