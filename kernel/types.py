"""Plain data types shared by the kernel and plugins.

Everything a hook receives or the store returns is one of these frozen
dataclasses: plugins never see database rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

PrincipalKind = Literal["user", "group"]
CollectionKind = Literal["calendar", "plain"]
Privilege = Literal["read", "write", "admin"]
ChangeKind = Literal["created", "modified", "deleted"]

#: Privileges in increasing order: each implies the ones before it.
PRIVILEGES: tuple[Privilege, ...] = ("read", "write", "admin")

#: Instance flags in the time-range index (see kernel.ical).
INCLUSIVE_START = 1
INCLUSIVE_END = 2
FLOATING = 4

#: Stand-ins for minus and plus infinity in the index (seconds).
NEG_INF = -(2**62)
POS_INF = 2**62


class Rejected(Exception):
    """A write refused on purpose: raised by the kernel or by a `validate_*` hook.

    ``status`` is the HTTP status a protocol plugin answers with,
    ``precondition`` the Clark-notation name of the RFC precondition element
    (``{urn:ietf:params:xml:ns:caldav}max-resource-size``) or None, and
    ``message`` one human sentence. ``conflict`` names a resource the request
    collided with (``no-uid-conflict`` reports its href).
    """

    def __init__(
        self,
        status: int,
        precondition: str | None,
        message: str,
        *,
        conflict: Resource | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.precondition = precondition
        self.message = message
        self.conflict = conflict


@dataclass(frozen=True)
class Principal:
    """A user or a group."""

    id: int
    name: str
    kind: PrincipalKind
    display_name: str
    email: str | None = None
    is_admin: bool = False


@dataclass(frozen=True)
class Collection:
    """A calendar or a plain WebDAV collection inside an owner's home.

    ``path`` is relative to the owner's home, segments joined by "/", never
    with leading or trailing slashes ("default", "litmus/sub").
    """

    id: int
    owner: Principal
    path: str
    kind: CollectionKind
    display_name: str | None
    description: str | None
    color: str | None
    sort_order: int | None
    timezone: str | None
    #: The component types a calendar accepts; empty: every one the server supports.
    components: tuple[str, ...]
    transparent: bool
    created: float
    modified: float
    sync_seq: int
    #: Sync tokens from before this change-feed position are no longer valid (the kernel
    #: renamed members of the collection; migration m006).
    sync_floor: int = 0

    @property
    def name(self) -> str:
        """The last path segment."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent_path(self) -> str:
        """The path of the parent collection, "" for a top-level one."""
        return self.path.rsplit("/", 1)[0] if "/" in self.path else ""


@dataclass(frozen=True)
class Resource:
    """A stored resource: a calendar object or a file in a plain collection."""

    id: int
    collection_id: int
    name: str
    etag: str
    content_type: str
    size: int
    uid: str | None
    component: str | None
    created: float
    modified: float
    created_by: int | None
    modified_by: int | None
    #: A digest of the object's rows in the time-range index as last written, which the
    #: kernel keeps to leave them alone when a replacing write would write the same ones
    #: (None: not a calendar object, or not known). Not part of equality.
    index_digest: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Change:
    """One row of the change feed: ``seq`` is global and strictly increasing.

    ``name`` is None for a change of the collection itself (created, its
    properties modified, deleted).
    """

    seq: int
    collection_id: int
    name: str | None
    kind: ChangeKind
    etag: str | None
    uid: str | None
    principal_id: int | None
    at: float


class Instance(NamedTuple):
    """One occurrence in the time-range index, in seconds since the epoch.

    Floating and all-day instances (``flags & FLOATING``) hold wall-clock
    time as if it were UTC; queries shift them into the asked-for zone.
    ``flags`` also says whether the start and end compare inclusively
    (RFC 4791 section 9.9). A named tuple: queries read thousands of rows,
    and a tuple is made several times faster than a frozen dataclass.
    """

    start: int
    end: int
    flags: int = 0
    recurrence_id: str | None = None


@dataclass(frozen=True)
class ObjectInfo:
    """What the kernel learns from one calendar object resource.

    ``indexed_until`` is None when every instance is in ``instances``;
    otherwise instances starting at or after it were left out (a rule
    without end, or more instances than the index keeps) and queries reaching
    past it expand the object on the fly.
    """

    uid: str
    component: str
    instances: tuple[Instance, ...]
    indexed_until: int | None
    recurring: bool
    max_attendees: int
    unbounded: bool


@dataclass(frozen=True)
class ObjectWrite:
    """An object write on its way through the pipeline, as `validate_object` sees it.

    ``action`` is "create", "update" or "delete". For deletes ``data``,
    ``calendar`` and ``info`` are None and ``old`` is the resource going away.
    ``calendar`` is the parsed ``icalendar.Calendar`` for calendar
    collections. ``source`` says who writes ("caldav", "subscription",
    "import", "cli", ...).
    """

    action: Literal["create", "update", "delete"]
    collection: Collection
    name: str
    principal: Principal | None
    source: str
    data: bytes | None = None
    content_type: str | None = None
    calendar: Any = None
    info: ObjectInfo | None = None
    old: Resource | None = None


@dataclass(frozen=True)
class CalendarOp:
    """A collection create, change or delete, as `validate_calendar` sees it.

    ``collection`` is the existing collection for "update" and "delete" (for
    "create", None); ``owner`` and ``path`` say where it is or will be;
    ``changes`` holds the attributes being set.
    """

    action: Literal["create", "update", "delete"]
    owner: Principal
    path: str
    kind: CollectionKind
    principal: Principal | None
    source: str
    collection: Collection | None = None
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PropertyWrite:
    """Dead-property changes on one target, as `validate_properties` sees them.

    ``scope`` says what carries the properties: a "collection", a "resource" of
    ``collection``, or a plugin's own target (the CalDAV server keeps "principal" and
    "home" properties). ``owner`` is the account they belong to: the collection's owner,
    or the principal. ``changes`` maps Clark names to the new serialized XML (None
    removes); ``previous`` and ``sizes`` map every property the target holds before and
    after the change to its size in bytes (UTF-8 of the stored XML).
    """

    scope: str
    owner: Principal
    principal: Principal | None
    source: str
    changes: Mapping[str, str | None]
    previous: Mapping[str, int]
    sizes: Mapping[str, int]
    collection: Collection | None = None
    resource: Resource | None = None

    @property
    def growth(self) -> int:
        """How many bytes the target gains (negative when it shrinks)."""
        return sum(self.sizes.values()) - sum(self.previous.values())
