"""Each limit at its boundary through the write pipeline: at the limit accepted, one over refused
with the right status and precondition, and nothing stored."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kernel import Rejected
from kernel.testing import add_group, add_user
from kernel.testing.client import app_client
from plugins.limits import overrides
from plugins.limits.effective import overrides_read

from .conftest import CALDAV, TEAMCAL, Deployment, calendar_object, footprint, sized_object


def refused(d: Deployment, status: int, precondition: str, call: Callable[[], object]) -> Rejected:
    """Run ``call``, expect a refusal, and check that it left no trace."""
    before = footprint(d.host)
    with pytest.raises(Rejected) as info:
        call()
    assert (info.value.status, info.value.precondition) == (status, precondition)
    assert info.value.message.endswith(".") and len(info.value.message) < 200
    assert footprint(d.host) == before
    return info.value


def test_hook_object_size_limit(deploy: Callable[..., Deployment]) -> None:
    d = deploy('[limits]\nmax_icalendar_size = "2kb"\n[limits.accounts.bob]\nmax_icalendar_size = 4096\n')
    bob = add_user(d.host, "bob")
    plain = d.host.writes.create_collection(d.alice, "files", "plain", principal=d.alice)
    assert d.host.object_size_limit(d.alice, d.cal) == 2048
    assert d.host.object_size_limit(d.alice, d.calendar(bob, "work")) == 4096, "the owner's limit, not the writer's"
    assert d.host.object_size_limit(d.alice, plain) == d.host.kernel.max_body_size, "plain collections: kernel cap"


def test_size_at_limit_accepted_one_over_refused(deploy: Callable[..., Deployment]) -> None:
    d = deploy()
    overrides.save(d.host.store, d.alice.id, {"max_icalendar_size": 1000})
    d.put(sized_object("e1", 1000))
    e = refused(d, 403, CALDAV + "max-resource-size", lambda: d.put(sized_object("e2", 1001), "e2.ics"))
    assert "1001 bytes" in e.message and "1000 bytes" in e.message


def test_size_checked_for_every_writer(deploy: Callable[..., Deployment]) -> None:
    """Subscriptions and imports do not ask object_size_limit first: validate_object checks again."""
    d = deploy("[limits]\nmax_icalendar_size = 300\n")
    data = calendar_object(summary="s" * 400)
    for source in ("subscription", "import"):
        refused(
            d, 403, CALDAV + "max-resource-size",
            lambda source=source: d.host.writes.put_object(d.cal, "big.ics", data, principal=None, source=source),
        )


def test_hook_validate_object(deploy: Callable[..., Deployment]) -> None:
    """Attendees per instance: master and overrides each count on their own."""
    d = deploy("[limits]\nmax_attendees = 3\n")
    d.put(calendar_object(attendees=3))
    refused(d, 403, CALDAV + "max-attendees-per-instance", lambda: d.put(calendar_object("e2", attendees=4), "e2.ics"))
    rule = "FREQ=WEEKLY;COUNT=5"
    d.put(calendar_object("e3", attendees=2, rrule=rule, overrides=[("20300114T100000Z", 3)]), "e3.ics")
    refused(
        d, 403, CALDAV + "max-attendees-per-instance",
        lambda: d.put(calendar_object("e4", attendees=2, rrule=rule, overrides=[("20300114T100000Z", 4)]), "e4.ics"),
    )


def test_attendee_limit_applies_to_updates(deploy: Callable[..., Deployment]) -> None:
    d = deploy("[limits]\nmax_attendees = 2\n")
    d.put(calendar_object(attendees=2))
    etag = d.host.store.resource(d.cal.id, "e1.ics").etag
    refused(d, 403, CALDAV + "max-attendees-per-instance", lambda: d.put(calendar_object(attendees=3)))
    assert d.host.store.resource(d.cal.id, "e1.ics").etag == etag


@pytest.mark.parametrize(
    ("shape", "count"),
    [
        ({"rrule": "FREQ=DAILY;COUNT={n}"}, 0),
        ({"rrule": "FREQ=DAILY;COUNT={n1}", "rdates": ["20290101T100000Z"]}, 0),
        ({"rrule": "FREQ=DAILY;COUNT={n2}", "rdates": ["20290101T100000Z", "20290102T100000Z"]}, 0),
        ({"rrule": "FREQ=DAILY;COUNT={np1}", "exdates": ["20300108T100000Z"]}, 0),
        ({"rdates": [f"2029{m:02d}01T100000Z" for m in range(1, 10)]}, 0),
        ({"rrule": "FREQ=DAILY;UNTIL=20300116T100000Z"}, 0),
    ],
    ids=["count", "count+rdate", "count+2rdates", "count+exdate", "rdates-only", "until"],
)
def test_instances_at_limit_accepted_one_over_refused(
    deploy: Callable[..., Deployment], shape: dict, count: int
) -> None:
    """Each shape makes exactly 10 instances; one more instance is refused."""
    d = deploy("[limits]\nmax_recurrence_expansions = 10\n")

    def build(uid: str, n: int) -> bytes:
        fields = {k: (v.format(n=n, n1=n - 1, n2=n - 2, np1=n + 1) if isinstance(v, str) else v)
                  for k, v in shape.items()}
        return calendar_object(uid, **fields)

    d.put(build("ok", 10), "ok.ics")
    over = dict(shape)
    if "rrule" in shape and "UNTIL" in shape["rrule"]:
        over["rrule"] = "FREQ=DAILY;UNTIL=20300117T100000Z"
    elif "rrule" not in shape:
        over["rdates"] = [*shape["rdates"], "20291001T100000Z", "20291101T100000Z"]
    data = calendar_object("over", **over) if over != shape else build("over", 11)
    refused(d, 403, CALDAV + "max-instances", lambda: d.put(data, "over.ics"))


def test_instances_counted_past_the_kernel_index(deploy: Callable[..., Deployment]) -> None:
    """A bounded rule is counted in full, also past the index's horizon and instance cap."""
    d = deploy("[limits]\nmax_recurrence_expansions = 120\n", kernel="index_horizon_years = 1\nindex_max_instances = 50")
    weekly = "FREQ=WEEKLY;COUNT={}"
    d.put(calendar_object("w", rrule=weekly.format(120), start="20250106T100000Z"), "w.ics")
    refused(d, 403, CALDAV + "max-instances",
            lambda: d.put(calendar_object("w2", rrule=weekly.format(121), start="20250106T100000Z"), "w2.ics"))
    d.put(calendar_object("d", rrule="FREQ=DAILY;COUNT=120", start="20250106T100000Z"), "d.ics")
    refused(d, 403, CALDAV + "max-instances",
            lambda: d.put(calendar_object("d2", rrule="FREQ=DAILY;COUNT=121", start="20250106T100000Z"), "d2.ics"))
    refused(d, 403, CALDAV + "max-instances",
            lambda: d.put(calendar_object("y", rrule="FREQ=YEARLY;UNTIL=22000101T000000Z"), "y.ics"))


def test_rules_without_end_are_accepted_but_their_listed_instances_count(deploy: Callable[..., Deployment]) -> None:
    """A rule without COUNT or UNTIL is bounded by the kernel's index, not refused; its RDATEs and
    overridden instances still count."""
    d = deploy("[limits]\nmax_recurrence_expansions = 3\n")
    d.put(calendar_object("daily", rrule="FREQ=DAILY"), "daily.ics")
    d.put(calendar_object("minutely", rrule="FREQ=MINUTELY"), "minutely.ics")
    listed = calendar_object("x", rrule="FREQ=DAILY", rdates=["20290101T100000Z", "20290102T100000Z"],
                             overrides=[("20300108T100000Z", 0)])
    d.put(listed, "x.ics")
    too_many = calendar_object("y", rrule="FREQ=DAILY", rdates=["20290101T100000Z", "20290102T100000Z"],
                               overrides=[("20300108T100000Z", 0), ("20300109T100000Z", 0)])
    refused(d, 403, CALDAV + "max-instances", lambda: d.put(too_many, "y.ics"))


def test_max_events_per_account(deploy: Callable[..., Deployment]) -> None:
    """Objects count across all the owner's calendars; updates and deletes are always allowed."""
    d = deploy("[limits]\nmax_events = 3\n")
    other = d.calendar(d.alice, "other")
    d.put(calendar_object("a"), "a.ics")
    d.put(calendar_object("b", component="VTODO"), "b.ics")
    d.put(calendar_object("c"), "c.ics", collection=other)
    e = refused(d, 507, TEAMCAL + "max-events", lambda: d.put(calendar_object("d"), "d.ics", collection=other))
    assert "3" in e.message
    d.put(calendar_object("a", summary="changed"), "a.ics")
    d.host.writes.delete_object(d.cal, "a.ics", principal=d.alice)
    d.put(calendar_object("d"), "d.ics", collection=other)


def test_team_calendar_counts_against_its_group(deploy: Callable[..., Deployment]) -> None:
    d = deploy("[limits]\nmax_events = 2\n[limits.groups.devs]\nmax_events = 1\n")
    devs = add_group(d.host, "devs", [d.alice])
    team = d.calendar(devs, "team")
    d.put(calendar_object("t1"), "t1.ics", collection=team)
    refused(d, 507, TEAMCAL + "max-events", lambda: d.put(calendar_object("t2"), "t2.ics", collection=team))


def test_hook_object_reads_ahead_names_the_owners_limits_and_the_count_goes_with_the_write(
    deploy: Callable[..., Deployment],
) -> None:
    """What the limits read in an object's write transaction is named ahead of it (on
    PostgreSQL it goes with the read of the old row): the owner's limits, unless the HTTP
    request has them already (a PUT reads them ahead of its body). The owner's object count
    is not read: max_events is checked with the write's rows (``store.refuse_if``), once per
    create. The limit still holds: the last object at the limit is stored, one more
    refused, and a replace at the limit accepted."""
    d = deploy("[limits]\nmax_events = 3\n", enabled=("limits", "caldav_server"))
    store = d.host.store
    plain = d.host.writes.create_collection(d.alice, "files", "plain", principal=d.alice)
    hook = d.host.hook.object_reads_ahead
    named = [read for answer in hook(host=d.host, collection=d.cal, deleting=False) for read in answer or ()]
    assert named == [store.groups_and_rows_statement(*overrides_read("alice"))]
    assert not any(hook(host=d.host, collection=plain, deleting=False))
    assert not any(hook(host=d.host, collection=d.cal, deleting=True))  # a delete reads nothing
    limits = named[0][0].partition("?")[0]  # SQLite traces a statement with its values

    def runs(statements: list[str]) -> list[int]:
        return [sum(s.startswith(limits) for s in statements), sum("sum(object_count)" in s for s in statements)]

    for name in ("e1.ics", "e2.ics"):
        with store.traced() as statements:
            d.put(calendar_object(name.removesuffix(".ics")), name)
        assert runs(statements) == [1, 1], statements
    with app_client(d.host, "alice", "password") as client:
        client.request("OPTIONS", "/dav/")  # the password checked once, as for any client
        with store.traced() as statements:
            assert client.put("/dav/cal/alice/cal/e3.ics", content=calendar_object("e3")).status_code == 201
    assert runs(statements) == [1, 1], statements  # the limits once: read ahead of the body, kept
    refused(d, 507, TEAMCAL + "max-events", lambda: d.put(calendar_object("e4"), "e4.ics"))
    d.put(calendar_object("e1", summary="replaced"), "e1.ics")
    with store.traced() as statements:
        d.put(calendar_object("e2", summary="replaced"), "e2.ics")
    assert runs(statements)[1] == 0, "a replace does not count"


def test_hook_validate_calendar(deploy: Callable[..., Deployment]) -> None:
    """max_calendars on create; plain collections do not count."""
    d = deploy("[limits]\nmax_calendars = 2\n")
    d.host.writes.create_collection(d.alice, "files", "plain", principal=d.alice)
    d.calendar(d.alice, "second")
    e = refused(d, 507, TEAMCAL + "max-calendars", lambda: d.calendar(d.alice, "third"))
    assert "2" in e.message
    assert d.host.store.collection(d.alice.id, "third") is None
    d.host.writes.delete_collection(d.host.store.collection(d.alice.id, "second"), principal=d.alice)
    d.calendar(d.alice, "third")


def test_moving_calendars_into_a_full_home(deploy: Callable[..., Deployment]) -> None:
    """A calendar moved into another home counts against that home's calendars and objects."""
    d = deploy("[limits.accounts.bob]\nmax_calendars = 1\nmax_events = 1\n")
    bob = add_user(d.host, "bob")
    d.put(calendar_object("a"), "a.ics")
    d.put(calendar_object("b"), "b.ics")
    d.calendar(bob, "own")
    refused(d, 507, TEAMCAL + "max-calendars",
            lambda: d.host.writes.move_collection(d.cal, bob, "moved", principal=None))
    d.host.writes.delete_collection(d.host.store.collection(bob.id, "own"), principal=None)
    refused(d, 507, TEAMCAL + "max-events",
            lambda: d.host.writes.move_collection(d.cal, bob, "moved", principal=None))
    d.host.writes.delete_object(d.cal, "b.ics", principal=None)
    moved, _ = d.host.writes.move_collection(d.cal, bob, "moved", principal=None)
    assert moved.owner.id == bob.id


def test_copying_objects_counts_in_the_target_home(deploy: Callable[..., Deployment]) -> None:
    d = deploy("[limits.accounts.bob]\nmax_events = 0\n")
    bob = add_user(d.host, "bob")
    target = d.calendar(bob, "work")
    d.put(calendar_object("a"), "a.ics")
    refused(d, 507, TEAMCAL + "max-events",
            lambda: d.host.writes.copy_object(d.cal, "a.ics", target, "a.ics", principal=None))


def test_limits_do_not_touch_plain_collections(deploy: Callable[..., Deployment]) -> None:
    d = deploy("[limits]\nmax_icalendar_size = 10\nmax_events = 0\n")
    files = d.host.writes.create_collection(d.alice, "files", "plain", principal=d.alice)
    stored, created, _ = d.host.writes.put_object(
        files, "notes.txt", b"x" * 100, principal=d.alice, content_type="text/plain"
    )
    assert created and stored.size == 100
    assert [r.name for r in d.host.store.resources(files.id)] == ["notes.txt"]


def test_plugin_disabled_means_no_limits(deploy: Callable[..., Deployment]) -> None:
    d = deploy(enabled=())
    d.put(calendar_object(attendees=200, rrule="FREQ=DAILY;COUNT=5000", summary="s" * 600_000))
    assert d.host.object_size_limit(d.alice, d.cal) == d.host.kernel.max_body_size
