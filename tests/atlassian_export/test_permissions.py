"""A calendar's grants as Teamwork Graph permissions."""

from __future__ import annotations

from kernel.store import EVERYONE
from kernel.testing import add_group, add_user
from plugins.atlassian_export.permissions import MAX_PRINCIPALS, calendar_permissions

from .conftest import World


def principals(world: World, calendar=None) -> list[dict]:
    collection = world.host.store.collection_by_id((calendar or world.calendar).id)
    [entry] = calendar_permissions(world.host.store, collection)
    [control] = entry["accessControls"]
    return control["principals"]


def test_a_private_calendar_is_its_owners(world: World) -> None:
    assert principals(world) == [{"type": "USER", "id": "alice"}]


def test_grantees_follow_the_owner_groups_first(world: World) -> None:
    host = world.host
    zed = add_user(host, "zed")
    bob = add_user(host, "bob")
    ops = add_group(host, "ops")
    devs = add_group(host, "devs")
    for grantee, privilege in ((zed, "read"), (bob, "admin"), (ops, "write"), (devs, "read")):
        host.writes.set_grant(world.calendar, grantee.id, privilege, principal=world.alice)
    assert principals(world) == [
        {"type": "USER", "id": "alice"}, {"type": "GROUP", "id": "devs"}, {"type": "GROUP", "id": "ops"},
        {"type": "USER", "id": "bob"}, {"type": "USER", "id": "zed"},
    ]


def test_a_team_calendar_belongs_to_its_group(world: World) -> None:
    host = world.host
    team = add_group(host, "platform", admins=[world.alice])
    calendar = host.writes.create_collection(team, "team", "calendar", principal=world.alice)
    assert principals(world, calendar) == [{"type": "GROUP", "id": "platform"}]


def test_everyone_becomes_the_workspace_alone(world: World) -> None:
    host = world.host
    host.writes.set_grant(world.calendar, add_user(host, "bob").id, "read", principal=world.alice)
    host.writes.set_grant(world.calendar, EVERYONE, "read", principal=world.alice)
    assert principals(world) == [{"type": "ATLASSIAN_WORKSPACE"}]


def test_at_most_500_principals_owner_and_groups_kept(world: World) -> None:
    host = world.host
    with host.store.transaction():
        users = [host.store.create_principal(f"user{n:03d}", "user") for n in range(520)]
        for user in users:
            host.store.grant(world.calendar.id, user.id, "read")
    group = add_group(host, "zz-team")
    host.writes.set_grant(world.calendar, group.id, "read", principal=world.alice)
    found = principals(world)
    assert len(found) == MAX_PRINCIPALS == 500
    assert found[:3] == [{"type": "USER", "id": "alice"}, {"type": "GROUP", "id": "zz-team"},
                         {"type": "USER", "id": "user000"}]
    assert found[-1] == {"type": "USER", "id": "user497"}


def test_grants_to_deleted_principals_are_skipped(world: World) -> None:
    host = world.host
    bob = add_user(host, "bob")
    host.writes.set_grant(world.calendar, bob.id, "read", principal=world.alice)
    with host.store.transaction():
        host.store.grant(world.calendar.id, 9999, "read")  # a grantee id without a principal
    assert principals(world) == [{"type": "USER", "id": "alice"}, {"type": "USER", "id": "bob"}]
