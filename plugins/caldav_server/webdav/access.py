"""Who may do what on a DAV target, mapped from the kernel's read / write / admin.

Rules: everyone authenticated reads the root, the principal directory and
the list of homes. Homes follow ``host.home_privileges``: creating, deleting
and moving collections in a home (bind / unbind of collections) needs admin
there, held by the owner, server admins and the group's admins in a group's
home; members and grantees may list it. Collections and their resources
follow ``host.privileges``: write covers the objects (and their properties),
admin the collection itself (its properties, grants and anyone's locks).
Without read a target answers 404, so another user's data is never
revealed; with read but without the privilege the method needs, 403 with
DAV:need-privileges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel import PRIVILEGES
from plugins.caldav_server.webdav.errors import DavError, need_privileges

if TYPE_CHECKING:
    from kernel import Host, Principal
    from plugins.caldav_server.webdav.resolve import Target

ALL = frozenset(PRIVILEGES)
READ = frozenset({"read"})

#: The DAV privileges (RFC 3744) each kernel privilege brings on a resource.
DAV_PRIVILEGES = {
    "read": ("read", "read-current-user-privilege-set"),
    "write": ("write", "write-properties", "write-content", "bind", "unbind"),
    "admin": ("read-acl", "write-acl", "unlock", "all"),
}
#: On a collection or home, whose properties are the collection's own, write-properties
#: comes with admin. DAV:write stays with "write", because clients read it to decide whether
#: a calendar takes new events (docs/caldav.md, "Team calendars").
COLLECTION_DAV_PRIVILEGES = {
    "read": DAV_PRIVILEGES["read"],
    "write": ("write", "write-content", "bind", "unbind"),
    "admin": ("write-properties", *DAV_PRIVILEGES["admin"]),
}


def target_privileges(host: Host, principal: Principal, target: Target) -> frozenset[str]:
    """The kernel privileges ``principal`` holds on ``target``."""
    kind = target.kind
    if kind in ("root", "principals", "homes"):
        return READ
    if kind == "principal":
        assert target.owner is not None
        return ALL if principal.id == target.owner.id or principal.is_admin else READ
    if target.collection is not None:
        return host.privileges(principal, target.collection)
    assert target.owner is not None
    return host.home_privileges(principal, target.owner)


def check(privileges: frozenset[str], needed: str, href: str, dav_names: tuple[str, ...]) -> None:
    """Raise 404 without read, 403 need-privileges without ``needed``."""
    if "read" not in privileges:
        raise DavError(404, "Not found.")
    if needed not in privileges:
        raise need_privileges(href, dav_names)


def dav_privilege_names(privileges: frozenset[str], collection: bool = False) -> list[str]:
    """The DAV privilege local names granted by a set of kernel privileges, on a resource or
    (``collection``) on a collection or home."""
    table = COLLECTION_DAV_PRIVILEGES if collection else DAV_PRIVILEGES
    return [name for p in PRIVILEGES if p in privileges for name in table[p]]
