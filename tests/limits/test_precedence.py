"""Which limit applies: account (run-time, then plugins.toml), then groups, then the default."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kernel import Rejected
from kernel.testing import add_group, add_user
from plugins.limits import overrides
from plugins.limits.effective import effective_limits

from .conftest import CALDAV, Deployment, calendar_object

TOML = """
[limits]
max_attendees = 5
max_events = 100
[limits.accounts.alice]
max_attendees = 7
[limits.groups.devs]
max_attendees = 9
max_events = 200
max_calendars = 20
[limits.groups.ops]
max_events = 300
max_calendars = 10
[limits.groups.eng]
max_recurrence_expansions = 50
"""


@pytest.fixture
def d(deploy: Callable[..., Deployment]) -> Deployment:
    """alice is in devs and ops; devs is inside eng; bob is in devs only; carol in nothing."""
    d = deploy(TOML)
    bob = add_user(d.host, "bob")
    add_user(d.host, "carol")
    devs = add_group(d.host, "devs", [d.alice, bob])
    add_group(d.host, "ops", [d.alice])
    add_group(d.host, "eng", [devs])
    return d


def limits_of(d: Deployment, name: str) -> dict[str, tuple[int, str]]:
    principal = d.host.store.principal(name)
    assert principal is not None
    return {k: (v.value, v.source) for k, v in effective_limits(d.host.settings("limits"), d.host.store, principal).items()}


def test_defaults_without_overrides(d: Deployment) -> None:
    assert limits_of(d, "carol") == {
        "max_icalendar_size": (524288, "default"),
        "max_attendees": (5, "default"),
        "max_recurrence_expansions": (3000, "default"),
        "max_calendars": (250, "default"),
        "max_events": (100, "default"),
        "max_property_size": (64 * 1024, "default"),
        "max_properties_size": (1024 * 1024, "default"),
        "max_properties": (1000, "default"),
        "max_property_storage": (16 * 1024 * 1024, "default"),
    }


def test_account_before_group_before_default(d: Deployment) -> None:
    alice = limits_of(d, "alice")
    assert alice["max_attendees"] == (7, "account (plugins.toml)")
    assert alice["max_icalendar_size"] == (524288, "default")
    assert limits_of(d, "bob")["max_attendees"] == (9, "group devs (plugins.toml)")


def test_several_groups_give_the_largest_value(d: Deployment) -> None:
    alice = limits_of(d, "alice")
    assert alice["max_events"] == (300, "group ops (plugins.toml)")
    assert alice["max_calendars"] == (20, "group devs (plugins.toml)")


def test_nested_groups_count(d: Deployment) -> None:
    assert limits_of(d, "bob")["max_recurrence_expansions"] == (50, "group eng (plugins.toml)")


def test_runtime_overrides_come_first_at_their_level(d: Deployment) -> None:
    store = d.host.store
    overrides.save(store, store.principal("alice").id, {"max_attendees": 3})
    overrides.save(store, store.principal("devs").id, {"max_attendees": 11, "max_events": 50})
    alice, bob = limits_of(d, "alice"), limits_of(d, "bob")
    assert alice["max_attendees"] == (3, "account override (db)")
    assert bob["max_attendees"] == (11, "group devs (db)")
    assert bob["max_events"] == (50, "group devs (db)"), "the group's db value replaces its plugins.toml value"
    assert alice["max_events"] == (300, "group ops (plugins.toml)"), "ops still gives more"
    overrides.clear(store, store.principal("alice").id)
    assert limits_of(d, "alice")["max_attendees"] == (7, "account (plugins.toml)")


def test_a_groups_own_calendars_use_its_limits(d: Deployment) -> None:
    devs = limits_of(d, "devs")
    assert devs["max_attendees"] == (9, "group devs (plugins.toml)")
    assert devs["max_recurrence_expansions"] == (50, "group eng (plugins.toml)")


def test_account_table_names_a_group_too(deploy: Callable[..., Deployment]) -> None:
    d = deploy("[limits.accounts.devs]\nmax_events = 1\n[limits.groups.devs]\nmax_events = 5\n")
    add_group(d.host, "devs", [d.alice])
    assert limits_of(d, "devs")["max_events"] == (1, "account (plugins.toml)")
    assert limits_of(d, "alice")["max_events"] == (5, "group devs (plugins.toml)")


def test_overrides_change_what_writes_may_do(d: Deployment) -> None:
    """The effective value is what the write pipeline enforces, at once, without a restart."""
    d.put(calendar_object("a", attendees=7), "a.ics")
    with pytest.raises(Rejected) as info:
        d.put(calendar_object("b", attendees=8), "b.ics")
    assert info.value.precondition == CALDAV + "max-attendees-per-instance"
    overrides.save(d.host.store, d.alice.id, {"max_attendees": 8})
    d.put(calendar_object("b", attendees=8), "b.ics")


def test_removing_a_principal_removes_its_overrides(d: Deployment) -> None:
    store = d.host.store
    carol = store.principal("carol")
    overrides.save(store, carol.id, {"max_events": 1})
    with store.transaction():
        store.delete_principal(carol.id)
    assert store.execute("SELECT count(*) FROM limits_overrides WHERE principal_id = ?", (carol.id,)).fetchone()[0] == 0


def test_an_accounts_limits_are_read_in_one_statement(d: Deployment) -> None:
    """The account's groups (nested ones too) and every stored override that reaches it come
    from one statement: a PUT or a calendar's PROPFIND waits for one round trip, not two."""
    store = d.host.store
    overrides.save(store, store.principal("eng").id, {"max_recurrence_expansions": 70})
    overrides.save(store, store.principal("alice").id, {"max_attendees": 4})
    principal = store.principal("alice")
    assert principal is not None
    with store.traced() as statements:
        found = effective_limits(d.host.settings("limits"), store, principal)
    assert len(statements) == 1
    alice = {k: (v.value, v.source) for k, v in found.items()}
    assert alice["max_recurrence_expansions"] == (70, "group eng (db)")
    assert alice["max_attendees"] == (4, "account override (db)")
    assert alice["max_events"] == (300, "group ops (plugins.toml)")
