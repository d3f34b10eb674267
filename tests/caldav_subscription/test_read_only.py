"""One-way calendars are read-only locally, whichever way a write comes in; two-way ones are not."""

from __future__ import annotations

import pytest

from kernel.host import Host
from kernel.testing import add_user
from kernel.types import Rejected
from plugins.caldav_subscription import records

from .conftest import local_objects, subscribe, sync
from .mini_dav import MiniDav
from .peers import event


def test_hook_calendar_privileges_and_validate_object_keep_one_way_read_only(host: Host) -> None:
    add_user(host, "root", admin=True)
    with MiniDav() as mini:
        mini.put("a.ics", event("a", "remote"))
        sub = subscribe(host, mini.url)
        assert sync(host, sub).report.pulled == 1
        calendar = host.store.collection_by_id(sub.collection_id)
        alice = host.store.principal("alice")
        for who in (alice, host.store.principal("root")):
            assert host.privileges(who, calendar) == frozenset({"read"})
        for source in ("caldav", "import", "cli", "api"):
            with pytest.raises(Rejected) as err:
                host.writes.put_object(calendar, "b.ics", event("b"), principal=alice, source=source)
            assert (err.value.status, err.value.precondition) == (403, "{DAV:}need-privileges")
        with pytest.raises(Rejected) as err:
            host.writes.delete_object(calendar, "a.ics", principal=alice, source="caldav")
        assert err.value.status == 403
        assert set(local_objects(host, sub)) == {"a.ics"}

        # The subscription itself still writes.
        mini.put("a.ics", event("a", "remote again"))
        assert sync(host, sub).report.pulled == 1

        # Ending the subscription hands the calendar back to its owner.
        records.delete(host.store, sub.id)
        assert host.privileges(alice, calendar) == frozenset({"read", "write", "admin"})
        host.writes.put_object(calendar, "b.ics", event("b"), principal=alice, source="caldav")


def test_two_way_calendar_stays_writable(host: Host) -> None:
    with MiniDav() as mini:
        sub = subscribe(host, mini.url, mode="two-way")
        calendar = host.store.collection_by_id(sub.collection_id)
        alice = host.store.principal("alice")
        assert host.privileges(alice, calendar) == frozenset({"read", "write", "admin"})
        host.writes.put_object(calendar, "b.ics", event("b"), principal=alice, source="caldav")


def test_deleting_the_calendar_ends_the_subscription(host: Host) -> None:
    with MiniDav() as mini:
        sub = subscribe(host, mini.url)
        calendar = host.store.collection_by_id(sub.collection_id)
        host.writes.delete_collection(calendar, principal=None, source="cli")
        assert records.get(host.store, sub.id) is None


def test_one_way_needs_an_empty_calendar(host: Host) -> None:
    alice = host.store.principal("alice")
    calendar = host.writes.create_collection(alice, "busy", "calendar", principal=None)
    host.writes.put_object(calendar, "x.ics", event("x"), principal=None, source="caldav")
    with MiniDav() as mini:
        with pytest.raises(Rejected) as err:
            subscribe(host, mini.url, calendar="alice/busy")
        assert err.value.status == 409 and "not empty" in err.value.message
        sub = subscribe(host, mini.url, calendar="alice/busy", mode="two-way")
        with pytest.raises(Rejected) as err:
            subscribe(host, mini.url, calendar="alice/busy", mode="two-way")
        assert err.value.status == 409 and "already follows" in err.value.message
        assert sync(host, sub).report.pushed == 1 and set(mini.objects) == {"x.ics"}
