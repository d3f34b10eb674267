"""End to end with the ``caldav`` library (3.6.0) against teamcal under a real uvicorn."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import caldav
import pytest
from caldav.lib import error

from kernel.testing.dav import unique
from tests.caldav_server.conftest import PASSWORD, Deployment

UTC = dt.UTC


@pytest.fixture
def client(deployment: Deployment) -> Iterator[caldav.DAVClient]:
    """alice's caldav client, pointed at the server root."""
    with caldav.DAVClient(url=deployment.url + "/", username="alice", password=PASSWORD) as c:
        yield c


@pytest.fixture
def calendar(client: caldav.DAVClient) -> Iterator[caldav.Calendar]:
    """A fresh calendar of alice's, deleted afterwards."""
    cal = client.principal().make_calendar(name="E2E", cal_id=unique("e2e"))
    yield cal
    cal.delete()


def test_discovery_from_the_server_root_and_well_known(deployment: Deployment) -> None:
    for url in (deployment.url + "/", deployment.url + "/.well-known/caldav", deployment.url + "/dav/"):
        with caldav.DAVClient(url=url, username="alice", password=PASSWORD) as c:
            principal = c.principal()
            assert str(principal.url).endswith("/dav/principals/alice/")
            assert str(principal.calendar_home_set.url).endswith("/dav/cal/alice/")


def test_calendars_create_list_delete(client: caldav.DAVClient) -> None:
    principal = client.principal()
    cal_id = unique("list")
    cal = principal.make_calendar(name="Listed", cal_id=cal_id)
    names = {c.get_display_name() for c in principal.calendars()}
    assert "Listed" in names
    cal.delete()
    assert cal_id not in {str(c.url).rstrip("/").rsplit("/", 1)[-1] for c in principal.calendars()}


def test_events_save_edit_delete(calendar: caldav.Calendar) -> None:
    start = dt.datetime(2031, 5, 6, 10, tzinfo=UTC)
    event = calendar.save_event(dtstart=start, dtend=start + dt.timedelta(hours=1), summary="Planning", uid="e2e-1")
    loaded = calendar.event_by_uid("e2e-1")
    assert loaded.component["summary"] == "Planning"
    loaded.component["summary"] = "Planning (moved)"
    loaded.save()
    assert calendar.event_by_uid("e2e-1").component["summary"] == "Planning (moved)"
    event.delete()
    with pytest.raises(error.NotFoundError):
        calendar.event_by_uid("e2e-1")


def test_todos_save_complete_delete(calendar: caldav.Calendar) -> None:
    todo = calendar.save_todo(summary="Write report", uid="e2e-todo", due=dt.date(2031, 6, 1))
    assert [t.component["uid"] for t in calendar.todos()] == ["e2e-todo"]
    todo.complete()
    assert calendar.todos() == []
    assert len(calendar.todos(include_completed=True)) == 1
    todo.delete()
    assert calendar.todos(include_completed=True) == []


def test_date_search_with_and_without_expand(calendar: caldav.Calendar) -> None:
    start = dt.datetime(2031, 1, 5, 9, tzinfo=UTC)
    calendar.save_event(
        dtstart=start,
        dtend=start + dt.timedelta(hours=1),
        summary="Weekly",
        uid="weekly",
        rrule={"FREQ": "WEEKLY", "COUNT": 10},
    )
    calendar.save_event(
        dtstart=dt.datetime(2031, 4, 1, 9, tzinfo=UTC),
        dtend=dt.datetime(2031, 4, 1, 10, tzinfo=UTC),
        summary="Later",
        uid="later",
    )
    window = dict(start=dt.datetime(2031, 1, 10, tzinfo=UTC), end=dt.datetime(2031, 1, 27, tzinfo=UTC))
    plain = calendar.search(event=True, **window)
    assert [e.component["uid"] for e in plain] == ["weekly"]
    expanded = calendar.search(event=True, expand=True, **window)
    starts = sorted(e.component.start for e in expanded)
    assert starts == [dt.datetime(2031, 1, d, 9, tzinfo=UTC) for d in (12, 19, 26)]
    open_ended = calendar.search(event=True, start=dt.datetime(2031, 3, 20, tzinfo=UTC))
    assert [str(e.component["uid"]) for e in open_ended] == ["later"]


def test_text_search(calendar: caldav.Calendar) -> None:
    start = dt.datetime(2031, 4, 1, 9, tzinfo=UTC)
    calendar.save_event(dtstart=start, dtend=start + dt.timedelta(hours=1), summary="Budget review", uid="t1")
    calendar.save_event(dtstart=start, dtend=start + dt.timedelta(hours=1), summary="Lunch", uid="t2")
    found = calendar.search(event=True, summary="Budget review")
    assert [e.component["uid"] for e in found] == ["t1"]


def test_sync_tokens(calendar: caldav.Calendar) -> None:
    start = dt.datetime(2031, 7, 1, 9, tzinfo=UTC)
    first = calendar.save_event(dtstart=start, dtend=start + dt.timedelta(hours=1), summary="one", uid="s1")
    objects = calendar.objects_by_sync_token(load_objects=True)
    assert [o.component["uid"] for o in objects] == ["s1"]
    token = objects.sync_token
    calendar.save_event(dtstart=start, dtend=start + dt.timedelta(hours=1), summary="two", uid="s2")
    first.delete()
    changed = calendar.objects_by_sync_token(sync_token=token, load_objects=True)
    assert {str(o.url).rsplit("/", 1)[-1] for o in changed} >= {"s2.ics"}
    updated, deleted = objects.sync()
    assert [o.component["uid"] for o in updated] == ["s2"]
    assert [str(o.url).rsplit("/", 1)[-1] for o in deleted] == ["s1.ics"]
    assert calendar.objects_by_sync_token(sync_token=changed.sync_token).objects == []


def test_freebusy(calendar: caldav.Calendar) -> None:
    start = dt.datetime(2031, 8, 1, 9, tzinfo=UTC)
    calendar.save_event(dtstart=start, dtend=start + dt.timedelta(hours=2), summary="busy", uid="fb1")
    fb = calendar.freebusy_request(dt.datetime(2031, 8, 1, tzinfo=UTC), dt.datetime(2031, 8, 2, tzinfo=UTC))
    periods = fb.icalendar_component["FREEBUSY"]
    assert "20310801T090000Z/20310801T110000Z" in periods.to_ical().decode()
