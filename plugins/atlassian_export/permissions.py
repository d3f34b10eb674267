"""A calendar's grants as Teamwork Graph ``permissions``.

Who may read a calendar in teamcal may see its events in Atlassian:

* the owner: a user as ``USER``, a group (a team calendar, whose members reach it
  through the group) as ``GROUP``;
* every grantee (read, write and admin all include reading): ``USER`` or ``GROUP``;
* a grant to everyone: ``ATLASSIAN_WORKSPACE`` (anyone in the Atlassian site), and
  then nothing else, since principals inside one entry are alternatives.

Principals are identified by their teamcal name (the ``externalId`` a connector
gives the user or group with ``setUsers`` / ``setGroups``). Atlassian takes at most
500 principals per object: past that, the owner and groups are kept first and the
rest of the users dropped (an event may become invisible to someone, never visible
to someone who may not read it). Admins read everything in teamcal but are not
listed: give them a group grant to see every calendar in Atlassian too.
"""

from __future__ import annotations

import logging

from kernel import EVERYONE, Collection, Principal, Store

log = logging.getLogger("teamcal.atlassian_export")

MAX_PRINCIPALS = 500
USER = "USER"
GROUP = "GROUP"
WORKSPACE = "ATLASSIAN_WORKSPACE"


def principal_entry(principal: Principal) -> dict:
    """One principal: ``{"type": "USER" | "GROUP", "id": name}``."""
    return {"type": GROUP if principal.kind == "group" else USER, "id": principal.name}


def calendar_permissions(store: Store, collection: Collection) -> list[dict]:
    """The ``permissions`` of every event in ``collection``: one entry whose principals may all read it."""
    grants = store.grants(collection.id)
    if any(grantee == EVERYONE for grantee, _ in grants):
        return [{"accessControls": [{"principals": [{"type": WORKSPACE}]}]}]
    grantees = list(store.principals_by_ids([grantee for grantee, _ in grants]).values())
    ordered = [collection.owner, *sorted(grantees, key=lambda p: (p.kind != "group", p.name))]
    principals: list[dict] = []
    seen: set[int] = set()
    for principal in ordered:
        if principal.id not in seen:
            seen.add(principal.id)
            principals.append(principal_entry(principal))
    if len(principals) > MAX_PRINCIPALS:
        log.warning(
            "calendar %s/%s: %d principals may read it, Atlassian takes %d; the last users are left out",
            collection.owner.name, collection.path, len(principals), MAX_PRINCIPALS,
        )
        principals = principals[:MAX_PRINCIPALS]
    return [{"accessControls": [{"principals": principals}]}]
