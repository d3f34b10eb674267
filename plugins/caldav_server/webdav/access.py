"""Who may do what on a DAV target, mapped from the kernel's read / write / admin.

Rules: everyone authenticated reads the root, the principal directory and
the list of homes. A home is visible to its owner, to members of the group
that owns it, and to anyone holding a grant on a collection inside it; it is
writable (collections may be created in it) by its owner, by admins and by
group members whose team privilege includes write. Collections and their
resources follow ``host.privileges``. Without read a target answers 404, so
another user's data is never revealed; with read but without the privilege
the method needs, 403 with DAV:need-privileges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel.types import PRIVILEGES
from plugins.caldav_server.webdav.errors import DavError, need_privileges

if TYPE_CHECKING:
    from kernel import Host, Principal
    from plugins.caldav_server.webdav.resolve import Target

ALL = frozenset(PRIVILEGES)
READ = frozenset({"read"})
NONE: frozenset[str] = frozenset()

#: The DAV privileges (RFC 3744) each kernel privilege brings.
DAV_PRIVILEGES = {
    "read": ("read", "read-current-user-privilege-set"),
    "write": ("write", "write-properties", "write-content", "bind", "unbind"),
    "admin": ("read-acl", "write-acl", "unlock", "all"),
}


def home_privileges(host: Host, principal: Principal, owner: Principal) -> frozenset[str]:
    """What ``principal`` may do in ``owner``'s home (not in its collections)."""
    if principal.id == owner.id or principal.is_admin:
        return ALL
    if owner.kind == "group" and any(g.id == owner.id for g in host.store.groups_of(principal.id)):
        level = PRIVILEGES.index(host.kernel.team_member_privilege) + 1  # type: ignore[arg-type]
        return frozenset(PRIVILEGES[:level])
    if any(c.owner.id == owner.id for c in host.reachable_collections(principal)):
        return READ
    return NONE


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
    return home_privileges(host, principal, target.owner)


def check(privileges: frozenset[str], needed: str, href: str, dav_names: tuple[str, ...]) -> None:
    """Raise 404 without read, 403 need-privileges without ``needed``."""
    if "read" not in privileges:
        raise DavError(404, "Not found.")
    if needed not in privileges:
        raise need_privileges(href, dav_names)


def dav_privilege_names(privileges: frozenset[str]) -> list[str]:
    """The DAV privilege local names granted by a set of kernel privileges."""
    return [name for p in PRIVILEGES if p in privileges for name in DAV_PRIVILEGES[p]]
