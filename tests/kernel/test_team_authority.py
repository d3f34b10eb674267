"""Team authority in the write pipeline: members have object rights, group admins and server
admins the collection's, whichever front end writes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kernel import Rejected
from kernel.accounts import set_grant
from kernel.host import Host
from kernel.testing import add_group, add_user, make_host
from kernel.testing.postgres import round_trips
from kernel.types import Principal

from .conftest import event
from .test_writes import snapshot

NEED = "{DAV:}need-privileges"


@pytest.fixture
def team(host: Host) -> tuple[Principal, ...]:
    """(team, lead: its admin, member, outsider, root: a server admin) and the team calendar ``planning``."""
    lead, member, outsider = (add_user(host, n) for n in ("lead", "member", "outsider"))
    root = add_user(host, "root", admin=True)
    group = add_group(host, "team", [member], admins=[lead])
    host.writes.create_collection(group, "planning", "calendar", principal=lead, attrs={"display_name": "Planning"})
    return group, lead, member, outsider, root


def refused(host: Host, call: Callable[[], object], status: int = 403, precondition: str | None = NEED) -> Rejected:
    """Run a write that must be refused, and check it changed nothing."""
    before = snapshot(host)
    with pytest.raises(Rejected) as info:
        call()
    assert (info.value.status, info.value.precondition) == (status, precondition)
    assert snapshot(host) == before
    return info.value


def test_privileges_of_members_group_admins_and_server_admins(host: Host, team: tuple[Principal, ...]) -> None:
    group, lead, member, outsider, root = team
    planning = host.store.collection(group.id, "planning")
    assert planning is not None
    assert host.privileges(member, planning) == {"read", "write"}
    assert host.privileges(lead, planning) == {"read", "write", "admin"}
    assert host.privileges(root, planning) == {"read", "write", "admin"}
    assert host.privileges(outsider, planning) == frozenset()
    assert host.home_privileges(member, group) == {"read"}
    assert host.home_privileges(lead, group) == {"read", "write", "admin"}
    assert host.home_privileges(root, group) == {"read", "write", "admin"}
    assert host.home_privileges(outsider, group) == frozenset()


def test_privileges_of_many_collections_equal_one_by_one_in_two_statements(
    host: Host, team: tuple[Principal, ...]
) -> None:
    """``host.privileges_of``: for every principal and a mix of calendars (its own, a team's,
    granted to it or to everyone, someone else's), what ``privileges`` says of each, the
    principal's groups and the calendars' grants read once for all of them."""
    group, lead, member, outsider, root = team
    planning = host.store.collection(group.id, "planning")
    assert planning is not None
    own = host.writes.create_collection(member, "mine", "calendar", principal=member)
    lent = host.writes.create_collection(outsider, "lent", "calendar", principal=outsider)
    public = host.writes.create_collection(lead, "public", "calendar", principal=lead)
    kept = host.writes.create_collection(lead, "kept", "calendar", principal=lead)
    set_grant(host, lent, "member", "write")
    set_grant(host, lent, "team", "read")
    set_grant(host, public, "everyone", "read")
    calendars = [planning, own, lent, public, kept]
    for principal in (group, lead, member, outsider, root, None):
        with host.store.traced() as statements:
            together = host.privileges_of(principal, calendars)
        assert together == {c.id: host.privileges(principal, c) for c in calendars}, principal
        assert len(statements) <= 2, statements
    assert host.privileges_of(member, calendars)[lent.id] == {"read", "write"}
    assert host.privileges_of(outsider, calendars)[kept.id] == frozenset()


def test_a_member_keeps_object_rights(host: Host, team: tuple[Principal, ...]) -> None:
    group, _lead, member, outsider, _root = team
    planning = host.store.collection(group.id, "planning")
    resource, created, _ = host.writes.put_object(planning, "e.ics", event(), principal=member)
    assert created
    host.writes.set_resource_properties(planning, resource, {"{x:}note": "<note xmlns='x:'/>"}, principal=member)
    host.writes.put_object(planning, "e.ics", event(summary="moved"), principal=member)
    host.writes.delete_object(planning, "e.ics", principal=member)
    hidden = refused(
        host, lambda: host.writes.put_object(planning, "o.ics", event("o"), principal=outsider), 404, None
    )
    assert "planning" not in hidden.message, "an outsider learns nothing about the calendar"


def test_a_member_cannot_change_the_collection(host: Host, team: tuple[Principal, ...]) -> None:
    group, _lead, member, outsider, _root = team
    planning = host.store.collection(group.id, "planning")
    assert planning is not None
    w = host.writes
    for attempt in (
        lambda: w.delete_collection(planning, principal=member),
        lambda: w.move_collection(planning, member, "stolen", principal=member),
        lambda: w.move_collection(planning, group, "renamed", principal=member),
        lambda: w.update_collection(planning, principal=member, attrs={"display_name": "Mine"}),
        lambda: w.update_collection(planning, principal=member, attrs={"color": "#ff0000"}),
        lambda: w.update_collection(planning, principal=member, properties={"{x:}p": "<p xmlns='x:'/>"}),
        lambda: w.set_grant(planning, outsider.id, "write", principal=member),
        lambda: w.create_collection(group, "more", "calendar", principal=member),
        lambda: w.copy_collection(planning, group, "copy", principal=member),
        lambda: w.delete_principal(group, by=member),
    ):
        refused(host, attempt)
    mine = w.create_collection(member, "mine", "calendar", principal=member)
    refused(host, lambda: w.move_collection(mine, group, "planning", principal=member))
    still = host.store.collection(group.id, "planning")
    assert still is not None and still.id == planning.id and still.display_name == "Planning"


def test_group_admins_and_server_admins_change_the_collection(host: Host, team: tuple[Principal, ...]) -> None:
    group, lead, _member, outsider, root = team
    w = host.writes
    planning = host.store.collection(group.id, "planning")
    renamed = w.update_collection(planning, principal=lead, attrs={"display_name": "Roadmap", "color": "#00ff00"})
    assert renamed.display_name == "Roadmap"
    w.set_grant(renamed, outsider.id, "read", principal=lead)
    moved, _ = w.move_collection(renamed, group, "roadmap", principal=lead)
    assert moved.path == "roadmap" and moved.owner.id == group.id
    second = w.create_collection(group, "second", "calendar", principal=lead)
    w.delete_collection(second, principal=root)
    w.delete_collection(moved, principal=lead)
    assert host.store.collections(group.id) == []
    refused(host, lambda: w.delete_principal(group, by=lead))
    w.delete_principal(group, by=root)
    assert host.store.principal("team") is None


def test_a_group_admin_through_another_group(host: Host) -> None:
    """Members of a group that is an admin member of the team are the team's admins."""
    alice, bob = add_user(host, "alice"), add_user(host, "bob")
    leads = add_group(host, "leads", [alice])
    team = add_group(host, "team", [bob], admins=[leads])
    assert host.store.group_roles(alice.id) == {leads.id: False, team.id: True}
    cal = host.writes.create_collection(team, "cal", "calendar", principal=alice)
    assert host.privileges(alice, cal) == {"read", "write", "admin"}
    assert host.privileges(bob, cal) == {"read", "write"}
    with host.store.transaction():
        host.store.set_group_admin(team.id, leads.id, False)
    assert host.privileges(alice, cal) == {"read", "write"}


@pytest.mark.parametrize(
    ("privilege", "member_gets", "home"),
    [("read", {"read"}, {"read"}), ("admin", {"read", "write", "admin"}, {"read", "write", "admin"})],
)
def test_team_member_privilege(tmp_path: Path, privilege: str, member_gets: set[str], home: set[str]) -> None:
    """"read" makes members readers; "admin" makes every member a group admin."""
    h = make_host(tmp_path, kernel=f'team_member_privilege = "{privilege}"')
    member = add_user(h, "member")
    group = add_group(h, "team", [member])
    cal = h.writes.create_collection(group, "cal", "calendar", principal=None)
    assert h.privileges(member, cal) == member_gets
    assert h.home_privileges(member, group) == home
    if privilege == "admin":
        h.writes.delete_collection(cal, principal=member)
    else:
        with pytest.raises(Rejected):
            h.writes.put_object(cal, "e.ics", event(), principal=member)
    h.close()


def test_group_admin_role_in_the_store(host: Host) -> None:
    alice, bob = add_user(host, "alice"), add_user(host, "bob")
    team = add_group(host, "team", [alice, bob])
    with host.store.transaction():
        host.store.add_member(team.id, alice.id, admin=True)
        host.store.add_member(team.id, alice.id)  # adding again never demotes
    assert [(m.name, admin) for m, admin in host.store.memberships(team.id)] == [("alice", True), ("bob", False)]
    with pytest.raises(Rejected) as err, host.store.transaction():
        host.store.set_group_admin(team.id, add_user(host, "carol").id, True)
    assert err.value.status == 404


def test_property_bytes_follow_every_write(host: Host) -> None:
    """The per-collection byte counter (triggers) follows sets, removals, resource and collection deletes."""
    alice = add_user(host, "alice")
    a, b = "<a xmlns='x:'>é</a>", "<b xmlns='x:'>12345</b>"
    cal = host.writes.create_collection(alice, "cal", "calendar", principal=alice, properties={"{x:}a": a})
    assert host.store.property_bytes(alice.id) == len(a.encode())
    resource, _, _ = host.writes.put_object(cal, "e.ics", event(), principal=alice)
    host.writes.set_resource_properties(cal, resource, {"{x:}b": b}, principal=alice)
    assert host.store.property_bytes(alice.id) == len(a.encode()) + len(b)
    host.writes.set_resource_properties(cal, resource, {"{x:}b": "<b xmlns='x:'/>"}, principal=alice)
    assert host.store.property_bytes(alice.id) == len(a.encode()) + len("<b xmlns='x:'/>")
    host.writes.delete_object(cal, "e.ics", principal=alice)
    assert host.store.property_bytes(alice.id) == len(a.encode())
    c = "<c xmlns='x:'>ü€</c>"  # removing one that was never set counts nothing
    host.writes.update_collection(cal, principal=alice, properties={"{x:}never": None, "{x:}c": c})
    assert host.store.property_bytes(alice.id) == len(a.encode()) + len(c.encode())
    host.writes.update_collection(cal, principal=alice, properties={"{x:}a": None, "{x:}c": None})
    assert host.store.property_bytes(alice.id) == 0


def test_migrations_keep_members_and_count_existing_properties(tmp_path: Path) -> None:
    """A database from before group admins and the byte counter: members stay plain members,
    and the properties already stored are counted."""
    from kernel.host import Host
    from kernel.store import kernel_migrations
    from kernel.testing import write_config

    host = Host.from_config(write_config(tmp_path), migrate=False)
    db = host.store
    kernel_migrations.apply(db, stop_before="m007_group_admins")
    with db.transaction():
        db.execute("INSERT INTO principals (id, name, kind, display_name, created) VALUES (1, 'team', 'group', 'team', 0)")
        db.execute("INSERT INTO principals (id, name, kind, display_name, created) VALUES (2, 'bob', 'user', 'bob', 0)")
        db.execute("INSERT INTO memberships (group_id, member_id) VALUES (1, 2)")
        db.execute(
            "INSERT INTO collections (id, owner_id, path, kind, created, modified) VALUES (5, 1, 'c', 'calendar', 0, 0)"
        )
        db.execute(
            "INSERT INTO resources (id, collection_id, name, etag, content_type, size, data, created, modified)"
            " VALUES (7, 5, 'r', 'e', 'text/plain', 1, ?, 0, 0)",
            (b"x",),
        )
        db.execute("INSERT INTO properties (collection_id, name, value) VALUES (5, 'p', '12345')")
        db.execute("INSERT INTO properties (resource_id, name, value) VALUES (7, 'q', 'é')")
    kernel_migrations.apply(db)
    assert [tuple(r) for r in db.execute("SELECT admin FROM memberships")] == [(0,)]
    assert [tuple(r) for r in db.execute("SELECT property_bytes FROM collections")] == [(5 + 2,)]
    with db.transaction():
        db.delete_resource_row(7)
    assert [tuple(r) for r in db.execute("SELECT property_bytes FROM collections")] == [(5,)]
    host.close()


def test_what_an_account_reaches_through_groups_and_grants_in_one_round_trip(
    host: Host, team: tuple[Principal, ...]
) -> None:
    """``store.reach`` (by name or by id) gives the account's groups as ``groups_of`` does and
    its roles as ``group_roles`` does (through nested groups too); its groups' top-level
    collections, then every collection granted to it, one of its groups or everyone that it
    does not own (a nested one too), each once, by owner and path; and the grants
    ``grants_of`` gives for those. ``host.reachable_collections`` keeps what it may read."""
    group, lead, member, outsider, root = team
    planning = host.store.collection(group.id, "planning")
    assert planning is not None
    board = add_group(host, "board", [group])  # every team member is on the board, through the team
    host.writes.create_collection(board, "agenda", "calendar", principal=root)
    host.writes.create_collection(board, "shelf", "plain", principal=root)
    host.writes.create_collection(board, "shelf/minutes", "calendar", principal=root)  # nested: not reached
    own = host.writes.create_collection(member, "mine", "calendar", principal=member)
    set_grant(host, own, "outsider", "read")  # the member's own: reached by the outsider only
    lent = host.writes.create_collection(outsider, "lent", "calendar", principal=outsider)
    set_grant(host, lent, "team", "read")
    host.writes.create_collection(outsider, "box", "plain", principal=outsider)
    deep = host.writes.create_collection(outsider, "box/deep", "calendar", principal=outsider)
    set_grant(host, deep, "member", "write")
    public = host.writes.create_collection(root, "public", "calendar", principal=root)
    set_grant(host, public, "everyone", "read")
    set_grant(host, planning, "outsider", "read")
    set_grant(host, planning, "member", "read")  # a team calendar granted too: listed once
    host.writes.create_collection(lead, "kept", "calendar", principal=lead)
    expected = {
        "member": ["board/agenda", "board/shelf", "team/planning", "outsider/box/deep", "outsider/lent", "root/public"],
        "lead": ["board/agenda", "board/shelf", "team/planning", "outsider/lent", "root/public"],
        "outsider": ["member/mine", "root/public", "team/planning"],
        "root": [],
        "team": ["board/agenda", "board/shelf", "outsider/lent", "root/public"],
    }
    for principal in (member, lead, outsider, root, group):
        for account in (principal.name, principal.id):
            with host.store.traced() as statements:
                reach = host.store.reach(account)
            assert len(statements) == 3, statements
            assert reach.groups == host.store.groups_of(principal.id)
            assert reach.roles == host.store.group_roles(principal.id)
            assert [f"{c.owner.name}/{c.path}" for c in reach.collections] == expected[principal.name], account
            assert reach.grants == host.store.grants_of([c.id for c in reach.collections])
        if principal is member:
            reach_of_member = reach
        readable = host.reachable_collections(principal)
        assert readable == [c for c in reach.collections if "read" in host.privileges(principal, c)]
    assert [c.path for c in host.reachable_collections(outsider)] == ["mine", "public", "planning"]
    assert "box/deep" in [c.path for c in host.reachable_collections(member)]
    if host.store.dialect == "postgresql":  # one round trip; none when named ahead
        with round_trips(host.store) as alone:
            host.store.reach("member")
        with host.store.expecting(lambda: host.store.reach_statements("member")):
            host.store.principal("member")
            with round_trips(host.store) as ahead:
                assert host.store.reach("member") == reach_of_member
        assert (len(alone), len(ahead)) == (1, 0)


def test_privileges_from_what_an_account_reaches_are_those_read_for_them(
    host: Host, team: tuple[Principal, ...]
) -> None:
    """``privileges_of``, ``home_privileges`` and ``container_privileges`` given the account's
    ``store.reach`` read nothing more and answer what they answer reading for themselves, for
    every collection there is: owned, a team's (top-level and nested), granted to the account,
    to a group of it or to everyone (nested too), granted to someone else, or none of these."""
    group, lead, member, outsider, root = team
    board = add_group(host, "board", [group])
    host.writes.create_collection(board, "agenda", "calendar", principal=root)
    host.writes.create_collection(group, "shelf", "plain", principal=lead)
    host.writes.create_collection(group, "shelf/minutes", "calendar", principal=lead)  # a team's, nested
    lent = host.writes.create_collection(outsider, "lent", "calendar", principal=outsider)
    set_grant(host, lent, "board", "write")  # to a group of the team's, so to its members
    host.writes.create_collection(outsider, "box", "plain", principal=outsider)
    deep = host.writes.create_collection(outsider, "box/deep", "calendar", principal=outsider)
    set_grant(host, deep, "member", "write")
    public = host.writes.create_collection(root, "public", "calendar", principal=root)
    set_grant(host, public, "everyone", "read")
    other = host.writes.create_collection(root, "other", "calendar", principal=root)
    set_grant(host, other, "outsider", "admin")  # someone else's grant counts for nobody else
    host.writes.create_collection(lead, "kept", "calendar", principal=lead)
    owners = [group, lead, member, outsider, root, board]
    every = [c for owner in owners for c in host.store.collections(owner.id, parent=None)]
    assert len(every) == 10
    for principal in (member, lead, outsider, root, group):
        reach = host.store.reach(principal.id)
        with host.store.traced() as statements:
            held = host.privileges_of(principal, every, reach=reach)
            homes = {o.id: host.home_privileges(principal, o, reach=reach) for o in owners}
            bound = {c.id: host.container_privileges(principal, c.owner, c.path, reach=reach) for c in every}
        nested = [c for c in every if "/" in c.path]
        assert len(statements) == len(nested), statements  # only each nested one's parent is read
        assert held == host.privileges_of(principal, every), principal.name
        assert homes == {o.id: host.home_privileges(principal, o) for o in owners}, principal.name
        assert bound == {c.id: host.container_privileges(principal, c.owner, c.path) for c in every}, principal.name
    held = {c.path: sorted(p) for c, p in ((c, host.privileges_of(member, [c], reach=host.store.reach("member"))[c.id])
                                             for c in every)}
    writes, reads = ["read", "write"], ["read"]
    assert [held[p] for p in ("shelf/minutes", "box/deep", "lent", "public", "other", "kept")] == [
        writes, writes, writes, reads, [], []]
