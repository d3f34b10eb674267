"""Server administration of accounts, groups and grants: the one implementation behind the
`teamcal user|group|grant` commands and the web admin console.

Every function checks its input (names, password length, what a name refers to) and
raises :class:`Rejected` with a sentence saying what to do, so both front ends answer
the same way. Removing users and groups and changing grants go through the write
pipeline (``host.writes``), so feed consumers see calendars leave.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel.passwords import hash_password
from kernel.store import EVERYONE
from kernel.types import PRIVILEGES, Collection, Principal, Rejected

if TYPE_CHECKING:
    from kernel.host import Host

#: The shortest password an administrator may set.
MIN_PASSWORD = 8
#: The grantee name that stands for every signed-in user.
EVERYONE_NAME = "everyone"


def check_password(password: str) -> None:
    """Refuse a password that is too short (400)."""
    if len(password) < MIN_PASSWORD:
        raise Rejected(400, None, f"The password needs at least {MIN_PASSWORD} characters.")


def find_principal(host: Host, name: str, kind: str | None = None) -> Principal:
    """The user or group called ``name`` (of ``kind`` when given); 404 naming what is missing."""
    found = host.store.principal(name)
    if found is None or (kind and found.kind != kind):
        raise Rejected(404, None, f"No {kind or 'user or group'} named {name!r}.")
    return found


def find_collection(host: Host, spec: str) -> Collection:
    """The collection named ``OWNER/PATH``, or a 404 Rejected."""
    owner, _, path = spec.partition("/")
    found = host.store.collection(owner, path.strip("/"))
    if found is None:
        raise Rejected(404, None, f"No calendar {spec!r} (write it as OWNER/NAME).")
    return found


def add_user(
    host: Host,
    name: str,
    password: str,
    *,
    admin: bool = False,
    email: str | None = None,
    display_name: str | None = None,
) -> Principal:
    """Create a user who can sign in with ``password``; 400 for a bad name or short password, 409 when taken."""
    check_password(password)
    with host.store.transaction():
        return host.store.create_principal(
            name, "user", display_name=display_name or None, email=email or None,
            password_hash=hash_password(password), is_admin=admin,
        )


def set_password(host: Host, user: Principal, password: str) -> None:
    """Give a user a new password; his web sessions end with the old one."""
    check_password(password)
    if user.kind != "user":
        raise Rejected(400, None, f"{user.name!r} is a group: only users have passwords.")
    with host.store.transaction():
        host.store.update_principal(user.id, password_hash=hash_password(password))


def set_server_admin(host: Host, user: Principal, admin: bool) -> None:
    """Make a user a server admin (who reaches every calendar) or take the role back."""
    if user.kind != "user":
        raise Rejected(400, None, f"{user.name!r} is a group: only users are server admins.")
    with host.store.transaction():
        host.store.update_principal(user.id, is_admin=int(admin))


def add_group(host: Host, name: str, display_name: str | None = None) -> Principal:
    """Create a group (a team); 400 for a bad name, 409 when the name is taken."""
    with host.store.transaction():
        return host.store.create_principal(name, "group", display_name=display_name or None)


def remove_principal(host: Host, principal: Principal, *, by: Principal | None = None, source: str = "api") -> None:
    """Delete a user or group with its home and calendars (through the write pipeline)."""
    host.writes.delete_principal(principal, by=by, source=source)


def add_member(host: Host, group: Principal, member: Principal, *, admin: bool = False) -> None:
    """Make ``member`` (a user or group) a member of ``group``; with ``admin`` a group admin."""
    if group.kind != "group":
        raise Rejected(400, None, f"{group.name!r} is a user, not a group.")
    if member.id == group.id:
        raise Rejected(400, None, "A group cannot be a member of itself.")
    with host.store.transaction():
        host.store.add_member(group.id, member.id, admin=admin)


def remove_member(host: Host, group: Principal, member: Principal) -> None:
    """Take ``member`` out of ``group`` (nothing happens when it was not a member)."""
    with host.store.transaction():
        host.store.remove_member(group.id, member.id)


def set_group_admin(host: Host, group: Principal, member: Principal, admin: bool) -> None:
    """Give a direct member the group-admin role or take it back (the member stays); 404 for a non-member."""
    with host.store.transaction():
        host.store.set_group_admin(group.id, member.id, admin)


def grantee_id(host: Host, name: str) -> int:
    """The id a grant to ``name`` (a user, a group, or ``everyone``) is stored under."""
    return EVERYONE if name == EVERYONE_NAME else find_principal(host, name).id


def set_grant(
    host: Host, collection: Collection, grantee: str, privilege: str | None, *, principal: Principal | None = None
) -> None:
    """Give ``grantee`` (a user or group name, or ``everyone``) read, write or admin on a calendar,
    or take its grant back with None."""
    if privilege is not None and privilege not in PRIVILEGES:
        raise Rejected(400, None, f"Unknown privilege {privilege!r}: use read, write or admin.")
    host.writes.set_grant(collection, grantee_id(host, grantee), privilege, principal=principal)


def grants(host: Host, collection: Collection) -> list[tuple[str, str]]:
    """(grantee name, privilege) of a calendar's grants; ``everyone`` for the grant to all."""
    found: list[tuple[str, str]] = []
    for grantee, privilege in host.store.grants(collection.id):
        p = host.store.principal_by_id(grantee) if grantee != EVERYONE else None
        found.append((p.name if p else EVERYONE_NAME, privilege))
    return found


def all_grants(host: Host) -> list[tuple[Collection, str, str]]:
    """Every grant of the server as (calendar, grantee name, privilege), by owner and path."""
    store = host.store
    found: list[tuple[Collection, str, str]] = []
    names = {p.id: p.name for p in store.principals()}
    grants = store.all_grants()
    collections = store.collections_by_ids(sorted({collection_id for collection_id, _, _ in grants}))
    for collection_id, grantee, privilege in grants:
        collection = collections.get(collection_id)
        if collection is not None:
            name = EVERYONE_NAME if grantee == EVERYONE else names.get(grantee, f"#{grantee}")
            found.append((collection, name, privilege))
    return sorted(found, key=lambda g: (g[0].owner.name, g[0].path, g[1]))


def all_calendars(host: Host) -> list[Collection]:
    """Every calendar of the server, by owner and path (for an administrator's choices), in one
    query per 500 owners."""
    store = host.store
    return store.collections_of_owners([p.id for p in store.principals()], top_level=False, kind="calendar")
