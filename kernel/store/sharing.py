"""What an account reaches outside its own home, read in one round trip: its groups (with
whether it administers each), the calendars of those groups and the collections granted
to it, to its groups or to everyone, and the grants of all of those.

Each statement starts from the account, by name (as a URL gives it, so a request can
name the reads ahead of authentication) or by id, so the three go to the database
together (``read_together``) and the privileges of every collection reached are worked
out without another read (``host.reachable_collections``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kernel.store.collections import _SELECT, _collection
from kernel.store.connections import Connection
from kernel.store.grants import EVERYONE
from kernel.store.principals import _principal
from kernel.types import Collection, Principal, Privilege


@dataclass(frozen=True)
class Reach:
    """What :meth:`SharingStore.reach` read for one account."""

    #: Every group the account belongs to, directly or through other groups, by name.
    groups: list[Principal]
    #: Group id -> whether the account (or a group it belongs to) is an admin of that group.
    roles: dict[int, bool]
    #: The top-level collections of those groups, then the collections granted to the
    #: account, one of its groups or everyone that it does not own (by owner name, path).
    collections: list[Collection]
    #: Collection id -> its grants as (grantee id, privilege), for the collections above.
    grants: dict[int, list[tuple[int, Privilege]]]


class SharingStore:
    """Reading what an account reaches through groups and grants (mixed into ``Store``)."""

    conn: Connection
    dialect: str
    #: :meth:`kernel.store.Store.read_together`
    read_together: Callable[..., list[list[Any]]]

    def reach(self, account: str | int) -> Reach:
        """What ``account`` (a name or an id) reaches outside its own home: one round trip
        on PostgreSQL, and none when :meth:`reach_statements` were named ahead."""
        groups, collections, grants = self.read_together(*self.reach_statements(account))
        found: dict[int, Collection] = {}
        for row in collections:
            found.setdefault(row[1], _collection(row[1:]))  # a group's calendar also granted: once
        given: dict[int, list[tuple[int, Privilege]]] = {}
        for collection_id, grantee, privilege in grants:
            given.setdefault(collection_id, []).append((grantee, privilege))
        return Reach(
            groups=[_principal(row) for row in groups],
            roles={row[0]: bool(row[6]) for row in groups},
            collections=list(found.values()),
            grants=given,
        )

    @staticmethod
    def reach_statements(account: str | int) -> list[tuple[str, tuple[Any, ...]]]:
        """The statements :meth:`reach` runs, to name them ahead (``store.expecting``)."""
        seed = "SELECT id FROM principals WHERE name = ?" if isinstance(account, str) else "SELECT CAST(? AS BIGINT)"
        head = (
            f"WITH RECURSIVE me(id) AS ({seed}),"
            " g(id) AS (SELECT id FROM me UNION SELECT m.group_id FROM memberships m JOIN g ON m.member_id = g.id)"
        )
        teams = (
            "c.owner_id IN (SELECT id FROM g WHERE id NOT IN (SELECT id FROM me)) AND c.path NOT LIKE '%/%'"
        )
        granted = (
            f"c.id IN (SELECT collection_id FROM grants WHERE grantee_id IN (SELECT id FROM g UNION SELECT {EVERYONE}))"
            " AND c.owner_id NOT IN (SELECT id FROM me)"
        )
        groups = (
            f"{head} SELECT p.id, p.name, p.kind, p.display_name, p.email, p.is_admin, max(m.admin)"
            " FROM memberships m JOIN g ON m.member_id = g.id JOIN principals p ON p.id = m.group_id"
            " GROUP BY p.id, p.name, p.kind, p.display_name, p.email, p.is_admin ORDER BY p.name"
        )
        select = _SELECT.replace("SELECT ", "", 1)
        collections = (
            f"{head} SELECT 0, {select} WHERE {teams} UNION ALL SELECT 1, {select} WHERE {granted}"
            " ORDER BY 1, 16, 3"  # teams' first; by owner name, then path
        )
        grants = (
            f"{head}, r(id) AS (SELECT c.id FROM collections c WHERE {teams}"
            f" UNION SELECT c.id FROM collections c WHERE {granted})"
            " SELECT collection_id, grantee_id, privilege FROM grants WHERE collection_id IN (SELECT id FROM r)"
            " ORDER BY grantee_id"
        )
        return [(groups, (account,)), (collections, (account,)), (grants, (account,))]
