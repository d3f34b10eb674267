"""Change tracking: the kernel's change feed becomes upserts and deletions, numbered so they never go back."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from kernel.store import EVERYONE
from kernel.testing import add_group, add_user, make_host
from plugins.atlassian_export import journal, state
from plugins.atlassian_export.context import Deployment
from plugins.atlassian_export.mapping import external_id
from plugins.atlassian_export.pull import page

from .conftest import NOW, World, ics, make_world, toml, validate

EVENT = "atlassian:calendar-event"


def pull(world: World, now: datetime = NOW, limit: int = 500) -> tuple[list[dict], list[str]]:
    """Every page up to the journal's head, each acknowledged: (objects, deleted ids) in order."""
    deployment = world.deployment
    objects: list[dict] = []
    deletions: list[str] = []
    cursor = None
    for _ in range(200):
        answer = page(deployment, cursor, limit, now)
        objects += [o for r in answer["requests"] for o in r["objects"]]
        deletions += [i for r in answer["deletions"] for i in r["externalIds"]]
        cursor = answer["cursor"]
        if not answer["more"]:
            break
    page(deployment, cursor, limit, now)  # acknowledges the last page
    validate(objects)
    return objects, deletions


def ids(objects: list[dict]) -> list[str]:
    return [o["id"] for o in objects]


def weekly(uid: str, count: int = 10, **kw: object) -> bytes:
    """A weekly series starting a week before NOW."""
    return ics(uid, NOW - timedelta(days=7) + timedelta(hours=2), rrule=f"FREQ=WEEKLY;COUNT={count}", **kw)


def occurrence(uid: str, week: int) -> str:
    start = NOW - timedelta(days=7) + timedelta(hours=2) + timedelta(weeks=week)
    return external_id("alice/work", uid, start.strftime("%Y%m%dT%H%M%SZ"))


def test_create_and_update_are_upserts_numbered_by_the_change_feed(world: World) -> None:
    world.put("a.ics", ics("a", summary="First"))
    objects, deletions = pull(world)
    assert ids(objects) == ["alice/work:a"] and deletions == []
    assert objects[0]["updateSequenceNumber"] == world.host.store.latest_seq()
    assert objects[0]["displayName"] == "First"
    assert objects[0]["url"] == "http://127.0.0.1:5232/dav/cal/alice/work/a.ics"

    world.put("a.ics", ics("a", summary="Second"))
    objects, deletions = pull(world)
    assert [o["displayName"] for o in objects] == ["Second"] and deletions == []
    assert objects[0]["updateSequenceNumber"] == world.host.store.latest_seq()
    assert pull(world) == ([], [])


def test_several_changes_of_one_event_are_exported_once_with_the_last_number(world: World) -> None:
    for n in range(5):
        world.put("a.ics", ics("a", summary=f"v{n}"))
    objects, _ = pull(world)
    assert [(o["displayName"], o["updateSequenceNumber"]) for o in objects] == [("v4", world.host.store.latest_seq())]


def test_exdate_deletes_the_cancelled_occurrence(world: World) -> None:
    world.put("s.ics", weekly("s"))
    objects, _ = pull(world)
    assert ids(objects)[0] == "alice/work:s"
    assert set(ids(objects)[1:]) == {occurrence("s", w) for w in range(10)}
    cancelled = NOW - timedelta(days=7) + timedelta(hours=2) + timedelta(weeks=3)
    world.put("s.ics", weekly("s", exdates=(cancelled,)))
    objects, deletions = pull(world)
    assert deletions == [occurrence("s", 3)]
    assert occurrence("s", 3) not in ids(objects) and len(objects) == 10


def test_a_new_uid_deletes_the_old_ids(world: World) -> None:
    world.put("x.ics", weekly("old", count=2))
    pull(world)
    world.put("x.ics", ics("new"))
    objects, deletions = pull(world)
    assert ids(objects) == ["alice/work:new"]
    assert sorted(deletions) == sorted(["alice/work:old", occurrence("old", 0), occurrence("old", 1)])


def test_deleting_an_event_deletes_every_object_it_became(world: World) -> None:
    world.put("s.ics", weekly("s", count=3))
    world.put("a.ics", ics("a"))
    pull(world)
    world.delete("s.ics")
    objects, deletions = pull(world)
    assert objects == []
    assert sorted(deletions) == sorted(["alice/work:s", *(occurrence("s", w) for w in range(3))])


def test_deleting_a_calendar_deletes_all_its_objects(world: World) -> None:
    world.put("s.ics", weekly("s", count=2))
    world.put("a.ics", ics("a"))
    pull(world)
    world.host.writes.delete_collection(world.calendar, principal=world.alice)
    objects, deletions = pull(world)
    assert objects == []
    assert sorted(deletions) == sorted(["alice/work:a", "alice/work:s", occurrence("s", 0), occurrence("s", 1)])
    assert state.object_count(world.host.store, state.PULL) == 0


def test_a_uid_moving_to_another_resource_is_not_deleted(world: World) -> None:
    world.put("one.ics", ics("same"))
    pull(world)
    world.delete("one.ics")
    world.put("two.ics", ics("same", summary="Moved"))
    objects, deletions = pull(world)
    assert ids(objects) == ["alice/work:same"] and deletions == []
    world.put("three.ics", ics("other"))
    objects, deletions = pull(world)
    assert ids(objects) == ["alice/work:other"] and deletions == []


def test_new_grants_re_export_the_calendar_with_new_permissions(world: World) -> None:
    host = world.host
    world.put("a.ics", ics("a"))
    objects, _ = pull(world)
    assert objects[0]["permissions"] == [{"accessControls": [{"principals": [{"type": "USER", "id": "alice"}]}]}]
    bob = add_user(host, "bob")
    devs = add_group(host, "devs", [bob])
    host.writes.set_grant(world.calendar, bob.id, "read", principal=world.alice)
    host.writes.set_grant(world.calendar, devs.id, "write", principal=world.alice)
    objects, _ = pull(world)
    assert objects[0]["permissions"][0]["accessControls"][0]["principals"] == [
        {"type": "USER", "id": "alice"}, {"type": "GROUP", "id": "devs"}, {"type": "USER", "id": "bob"},
    ]
    host.writes.set_grant(world.calendar, EVERYONE, "read", principal=world.alice)
    objects, _ = pull(world)
    assert objects[0]["permissions"] == [{"accessControls": [{"principals": [{"type": "ATLASSIAN_WORKSPACE"}]}]}]


def test_a_new_color_exports_nothing_but_a_new_name_or_place_does(world: World) -> None:
    host = world.host
    world.put("a.ics", ics("a", summary=""))
    objects, _ = pull(world)
    assert objects[0]["displayName"] == "(no title) – Work"
    host.writes.update_collection(world.calendar, principal=world.alice, attrs={"color": "#ff0000"})
    assert pull(world) == ([], [])
    host.writes.update_collection(world.calendar, principal=world.alice, attrs={"display_name": "Office"})
    objects, _ = pull(world)
    assert objects[0]["displayName"] == "(no title) – Office"
    host.writes.move_collection(world.calendar, world.alice, "office", principal=world.alice)
    objects, deletions = pull(world)
    assert ids(objects) == ["alice/office:a"] and deletions == ["alice/work:a"]
    assert objects[0]["url"].endswith("/dav/cal/alice/office/a.ics")


def test_plain_collections_and_tasks_are_not_exported(world: World) -> None:
    host = world.host
    files = host.writes.create_collection(world.alice, "files", "plain", principal=world.alice)
    host.writes.put_object(files, "note.txt", b"hello", principal=world.alice)
    todo = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20250101T000000Z\r\n"
            b"SUMMARY:Task\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    world.put("t.ics", todo)
    assert pull(world) == ([], [])
    world.put("t.ics", ics("t"))  # the task becomes an event
    assert ids(pull(world)[0]) == ["alice/work:t"]


def test_the_window_moves_on_with_the_daily_refresh(world: World) -> None:
    world.put("d.ics", ics("d", NOW - timedelta(days=1), rrule="FREQ=DAILY;COUNT=400"))
    objects, _ = pull(world)
    first = set(ids(objects))
    assert len(first) == 1 + 181  # the series; yesterday up to 179 days ahead (the window is [-30 d, +180 d))
    usn = objects[0]["updateSequenceNumber"]
    assert journal.refresh(world.deployment) == 0  # not due yet
    assert journal.refresh(world.deployment, now=NOW.timestamp() + 10**9) == 1  # the one recurring event
    later = NOW + timedelta(days=40)
    objects, deletions = pull(world, now=later)
    entered = set(ids(objects)) - first
    assert len(entered) == 40 and all(o["updateSequenceNumber"] > usn for o in objects)
    assert sorted(deletions) == sorted(occurrence_days("d", range(-1, 10)))
    assert journal.refresh(world.deployment, force=True) == 1


def occurrence_days(uid: str, days: range) -> list[str]:
    start = NOW - timedelta(days=1)
    return [external_id("alice/work", uid, (start + timedelta(days=d + 1)).strftime("%Y%m%dT%H%M%SZ")) for d in days]


def test_sequence_numbers_strictly_increase_per_object(world: World) -> None:
    """Across update, delete, re-create, window refreshes, a calendar's new grants and its deletion."""
    host = world.host
    seen: dict[str, list[int]] = {}

    def record(now: datetime = NOW) -> None:
        objects, _ = pull(world, now=now)
        for o in objects:
            seen.setdefault(o["id"], []).append(o["updateSequenceNumber"])

    world.put("s.ics", weekly("s", count=4))
    world.put("a.ics", ics("a"))
    record()
    world.put("a.ics", ics("a", summary="changed"))
    record()
    journal.refresh(world.deployment, force=True)
    record()
    world.delete("a.ics")
    record()
    world.put("a.ics", ics("a", summary="again"))
    journal.refresh(world.deployment, force=True)
    record()
    host.writes.set_grant(world.calendar, EVERYONE, "read", principal=world.alice)
    record()
    host.writes.delete_collection(world.calendar, principal=world.alice)
    work = host.writes.create_collection(world.alice, "work", "calendar", principal=world.alice)
    world.put("a.ics", ics("a", summary="recreated"), work)
    world.put("s.ics", weekly("s", count=4), work)
    record()
    assert all(len(numbers) >= 4 for numbers in seen.values()), seen
    for object_id, numbers in seen.items():
        assert numbers == sorted(set(numbers)), (object_id, numbers)


def test_a_setting_that_shapes_every_object_re_exports_everything(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    world.put("a.ics", ics("a", extra="CATEGORIES:Offsite"))
    world.put("b.ics", ics("b"))
    objects, _ = pull(world)
    assert [o[EVENT]["eventType"] for o in objects] == ["default", "default"]
    world.host.close()
    again = make_host(tmp_path, ["atlassian_export"], toml(category_event_types={"Offsite": "offsite"}))
    objects, _ = pull(World(again, world.alice, world.calendar))
    assert {o["id"]: o[EVENT]["eventType"] for o in objects} == {"alice/work:a": "offsite", "alice/work:b": "default"}
    assert pull(World(again, world.alice, world.calendar)) == ([], [])
    again.close()


def test_enabling_the_plugin_later_exports_each_event_once_with_its_last_number(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    alice = add_user(host, "alice")
    work = host.writes.create_collection(alice, "work", "calendar", principal=alice)
    for n in range(3):
        host.writes.put_object(work, "a.ics", ics("a", summary=f"v{n}"), principal=alice)
    host.writes.put_object(work, "b.ics", ics("b"), principal=alice)
    last_a = host.store.latest_seq() - 1
    host.writes.put_object(work, "gone.ics", ics("gone"), principal=alice)
    host.writes.delete_object(work, "gone.ics", principal=alice)
    host.close()
    host = make_host(tmp_path, ["atlassian_export"])
    objects, deletions = pull(World(host, alice, work))
    assert [(o["id"], o["updateSequenceNumber"]) for o in objects] == [("alice/work:a", last_a), ("alice/work:b", last_a + 1)]
    assert deletions == []
    assert journal.head(host.store) == last_a + 1
    host.close()


def test_events_of_a_removed_user_are_deleted_by_the_reconciliation(world: World) -> None:
    host = world.host
    bob = add_user(host, "bob")
    home = host.writes.create_collection(bob, "cal", "calendar", principal=bob)
    host.writes.put_object(home, "b.ics", ics("b"), principal=bob)
    pull(world)
    with host.store.transaction():
        host.store.delete_principal(bob.id)  # `teamcal user remove`: no change rows
    assert pull(world) == ([], [])
    assert journal.refresh(world.deployment, force=True) == 1
    assert pull(world) == ([], ["bob/cal:b"])


def test_an_event_the_mapping_refuses_is_recorded_not_exported(world: World) -> None:
    world.put("dense.ics", ics("dense", NOW - timedelta(days=3000), rrule="FREQ=MINUTELY"))
    world.put("ok.ics", ics("ok"))
    objects, _ = pull(world)
    assert ids(objects) == ["alice/work:ok"]
    [row] = state.rejected(world.host.store, state.PULL)
    assert row["object_id"] == "alice/work/dense.ics" and row["operation"] == "map"
    assert "too dense" in row["reason"]


def test_ingest_is_bounded_and_resumable(world: World) -> None:
    for n in range(25):
        world.put(f"e{n}.ics", ics(f"e{n}"))
    deployment = Deployment.from_host(world.host)
    assert journal.ingest(deployment, page=7) == 25
    assert journal.ingest(deployment, page=7) == 0
    assert journal.feed_cursor(world.host.store) == world.host.store.latest_seq()


def test_the_limits_plugin_settings_shape_the_objects(tmp_path: Path) -> None:
    attendees = "\n".join(f"ATTENDEE;CN=P{n}:mailto:p{n}@example.com" for n in range(3))
    world = make_world(tmp_path, ("atlassian_export", "limits"), "[limits]\nmax_attendees = 3\n"
                       "max_recurrence_expansions = 5\n")
    world.put("a.ics", ics("a", extra=attendees))
    world.put("s.ics", weekly("s", count=5))
    objects, _ = pull(world)
    assert objects[0][EVENT]["exceedsMaxAttendees"] is False and objects[0][EVENT]["attendeeCount"] == 3
    assert len([o for o in objects if o["id"].startswith("alice/work:s")]) == 1 + 5
    world.host.close()
    host = make_host(tmp_path, ["atlassian_export", "limits"], "[limits]\nmax_attendees = 2\n"
                     "max_recurrence_expansions = 3\n")
    objects, _ = pull(World(host, world.alice, world.calendar))  # a changed limit re-exports everything
    assert objects[0][EVENT]["exceedsMaxAttendees"] is True
    assert len([o for o in objects if o["id"].startswith("alice/work:s")]) == 1 + 3
    host.close()


def test_without_the_limits_plugin_exceeds_max_attendees_is_left_out(world: World) -> None:
    world.put("a.ics", ics("a", extra="ATTENDEE:mailto:p@example.com"))
    [obj] = pull(world)[0]
    assert "exceedsMaxAttendees" not in obj[EVENT]


def test_event_urls_follow_the_template_and_are_encoded(tmp_path: Path) -> None:
    world = make_world(tmp_path, event_url="https://calendar.example.com/e/{owner}/{calendar}/{name}")
    host = world.host
    odd = host.writes.create_collection(world.alice, "team plans", "calendar", principal=world.alice)
    world.put("née #1.ics", ics("n"), odd)
    [obj] = pull(world)[0]
    assert obj["url"] == "https://calendar.example.com/e/alice/team%20plans/n%C3%A9e%20%231.ics"
    host.close()


def test_small_pages_split_between_rows_never_inside_one(world: World) -> None:
    for n in range(12):
        world.put(f"e{n}.ics", ics(f"e{n}"))
    objects, _ = pull(world, limit=5)
    assert len(objects) == 12
    with world.host.store.transaction():  # events gone without change rows, then their calendar's deletion
        world.host.store.execute("DELETE FROM resources WHERE collection_id = ?", (world.calendar.id,))
    world.host.writes.delete_collection(world.host.store.collection_by_id(world.calendar.id), principal=world.alice)
    objects, deletions = pull(world, limit=5)
    assert objects == [] and sorted(deletions) == sorted(f"alice/work:e{n}" for n in range(12))
    assert state.object_count(world.host.store, state.PULL) == 0
