"""The calendar view's JSON API: occurrences from the index, and event writes through the pipeline."""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import quote

import icalendar
import pytest

from kernel import Collection
from kernel.testing import event_object, latency_during
from kernel.testing.postgres import round_trips
from tests.web.conftest import PASSWORD, Browser, Deployment, make_deployment

VTIMEZONE_BERLIN = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
    "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
)
# Weekly on Tuesdays at 10:00 Berlin time from 2026-03-17: across the change to summer time
# (2026-03-29); the 24 March one is cancelled, the 7 April one moved to 15:00 and renamed.
WEEKLY = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n" + VTIMEZONE_BERLIN
    + "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260317T100000\r\n"
    "DTEND;TZID=Europe/Berlin:20260317T103000\r\nRRULE:FREQ=WEEKLY\r\nEXDATE;TZID=Europe/Berlin:20260324T100000\r\n"
    "SUMMARY:standup\r\nLOCATION:room 1\r\nATTENDEE;CN=Bob:mailto:bob@example.com\r\n"
    "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:soon\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20260407T100000\r\n"
    "DTSTART;TZID=Europe/Berlin:20260407T150000\r\nDTEND;TZID=Europe/Berlin:20260407T153000\r\n"
    "SUMMARY:standup (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
ALL_DAY = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART;VALUE=DATE:20260320\r\nDTEND;VALUE=DATE:20260322\r\nSUMMARY:offsite\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
FLOATING = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART:20260318T080000\r\nDTEND:20260318T090000\r\nSUMMARY:gym\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
MARCH = "/web/api/events?start=2026-03-16T00:00:00%2B01:00&end=2026-04-13T00:00:00%2B02:00&tz=Europe/Berlin"


def calendar(dep: Deployment, owner: str, **attrs: object) -> Collection:
    principal = dep.host.store.principal(owner)
    assert principal is not None
    return dep.host.writes.create_collection(
        principal, f"c-{uuid.uuid4().hex[:8]}", "calendar", principal=None, attrs=attrs
    )


def put(dep: Deployment, collection: Collection, text: str, name: str | None = None) -> str:
    name = name or f"{uuid.uuid4().hex}.ics"
    dep.host.writes.put_object(collection, name, text.format(uid=uuid.uuid4().hex).encode(), principal=None)
    return name


def dav_url(collection: Collection, name: str) -> str:
    return f"/dav/cal/{collection.owner.name}/{collection.path}/{quote(name)}"


def test_occurrences_come_expanded_with_exceptions_and_time_zones(deployment: Deployment, alice: Browser) -> None:
    cal = calendar(deployment, "alice")
    weekly = put(deployment, cal, WEEKLY)
    put(deployment, cal, ALL_DAY)
    put(deployment, cal, FLOATING)
    answer = alice.client.get(MARCH + f"&calendars={cal.id}")
    assert answer.status_code == 200, answer.text
    events = answer.json()["events"]
    standups = sorted((e["start"], e["end"], e["title"]) for e in events if e["name"] == weekly)
    assert standups == [
        ("2026-03-17T09:00:00Z", "2026-03-17T09:30:00Z", "standup"),  # winter time: UTC+1
        ("2026-03-31T08:00:00Z", "2026-03-31T08:30:00Z", "standup"),  # summer time: UTC+2
        ("2026-04-07T13:00:00Z", "2026-04-07T13:30:00Z", "standup (moved)"),
    ]
    moved = next(e for e in events if e["title"] == "standup (moved)")
    assert moved["recurring"] and moved["recurrenceId"] == "2026-04-07T08:00:00Z" and moved["editable"]
    offsite = next(e for e in events if e["title"] == "offsite")
    assert (offsite["start"], offsite["end"], offsite["allDay"]) == ("2026-03-20", "2026-03-22", True)
    gym = next(e for e in events if e["title"] == "gym")
    assert (gym["start"], gym["allDay"]) == ("2026-03-18T08:00:00", False)  # floating: the wall clock
    # without calendars: every calendar alice sees
    assert {e["name"] for e in alice.client.get(MARCH).json()["events"]} >= {e["name"] for e in events}


def test_a_rule_without_end_answers_past_the_indexed_horizon(deployment: Deployment, alice: Browser) -> None:
    cal = calendar(deployment, "alice")
    put(deployment, cal, WEEKLY)
    far = "/web/api/events?start=2046-03-01T00:00:00Z&end=2046-04-01T00:00:00Z&tz=UTC"
    events = alice.client.get(far + f"&calendars={cal.id}").json()["events"]
    assert sorted(e["start"] for e in events) == [  # summer time starts on 25 March 2046
        "2046-03-06T09:00:00Z", "2046-03-13T09:00:00Z", "2046-03-20T09:00:00Z", "2046-03-27T08:00:00Z",
    ]


def test_create_edit_move_and_delete_are_seen_through_caldav(deployment: Deployment, alice: Browser) -> None:
    host = deployment.host
    cal = calendar(deployment, "alice")
    seq = host.store.latest_seq()
    made = alice.api("POST", f"/web/api/calendars/{cal.id}/events", {
        "title": "Planning", "start": "2026-05-05T09:30", "end": "2026-05-05T10:30", "timeZone": "Europe/Berlin",
        "rrule": "WEEKLY", "location": "Room 2", "description": "quarterly\nplanning",
    })
    assert made.status_code == 201, made.text
    name = made.json()["name"]
    with deployment.server.client("alice", PASSWORD) as dav:
        stored = icalendar.Calendar.from_ical(dav.get(dav_url(cal, name)).content)
    event = next(c for c in stored.walk("VEVENT"))
    assert str(event["SUMMARY"]) == "Planning" and str(event["LOCATION"]) == "Room 2"
    assert str(event["DESCRIPTION"]) == "quarterly\nplanning" and event["RRULE"]["FREQ"] == ["WEEKLY"]
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin" and event["DTSTART"].dt.hour == 9
    assert any(c.name == "VTIMEZONE" for c in stored.subcomponents)
    assert (cal.id, name, "created") in [(c.collection_id, c.name, c.kind) for c in host.store.changes_since(seq)]

    shown = alice.client.get(f"/web/api/calendars/{cal.id}/events/{name}").json()
    assert shown["title"] == "Planning" and shown["repeat"] == "WEEKLY" and shown["start"] == "2026-05-05T07:30:00Z"
    edited = alice.api("PUT", f"/web/api/calendars/{cal.id}/events/{name}", {
        "title": "Planning II", "start": "2026-05-05T11:00", "end": "2026-05-05T12:00", "timeZone": "Europe/Berlin",
        "rrule": "", "location": "", "description": "", "etag": shown["etag"],
    })
    assert edited.status_code == 200, edited.text
    stale = alice.api("PUT", f"/web/api/calendars/{cal.id}/events/{name}", {
        "title": "lost update", "start": "2026-05-05T11:00", "timeZone": "UTC", "etag": shown["etag"],
    })
    assert stale.status_code == 412
    moved = alice.api("POST", f"/web/api/calendars/{cal.id}/events/{name}/move", {
        "start": "2026-05-06T14:00", "end": "2026-05-06T15:00", "timeZone": "Europe/Berlin",
    })
    assert moved.status_code == 200, moved.text
    with deployment.server.client("alice", PASSWORD) as dav:
        event = icalendar.Calendar.from_ical(dav.get(dav_url(cal, name)).content).walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == "Planning II" and "RRULE" not in event and "LOCATION" not in event
    assert event["DTSTART"].dt.isoformat() == "2026-05-06T14:00:00+02:00" and int(event["SEQUENCE"]) == 2
    gone = alice.api("DELETE", f"/web/api/calendars/{cal.id}/events/{name}")
    assert gone.status_code == 200 and host.store.resource(cal.id, name) is None
    assert alice.client.get(f"/web/api/calendars/{cal.id}/events/{name}").status_code == 404


def test_one_occurrence_is_moved_or_removed_and_the_rest_kept(deployment: Deployment, alice: Browser) -> None:
    cal = calendar(deployment, "alice")
    name = put(deployment, cal, WEEKLY)
    path = f"/web/api/calendars/{cal.id}/events/{name}"
    moved = alice.api("POST", path + "/move", {
        "start": "2026-03-19T16:00", "end": "2026-03-19T16:30", "timeZone": "Europe/Berlin",
        "recurrenceId": "2026-03-17T09:00:00Z",
    })
    assert moved.status_code == 200, moved.text
    removed = alice.api("DELETE", path, {"recurrenceId": "2026-03-31T08:00:00Z"})
    assert removed.status_code == 200, removed.text
    events = alice.client.get(MARCH + f"&calendars={cal.id}").json()["events"]
    assert sorted((e["start"], e["title"]) for e in events) == [
        ("2026-03-19T15:00:00Z", "standup"),
        ("2026-04-07T13:00:00Z", "standup (moved)"),
    ]
    # the series' attendee and alarm are kept, in the series and in the new override
    data = deployment.host.store.data(deployment.host.store.resource(cal.id, name).id)
    parsed = icalendar.Calendar.from_ical(data)
    assert len(parsed.walk("VEVENT")) == 3 and data.count(b"ATTENDEE") == 2 and b"BEGIN:VALARM" in data


def test_every_endpoint_needs_a_session(deployment: Deployment) -> None:
    cal = calendar(deployment, "alice")
    name = put(deployment, cal, ALL_DAY)
    with deployment.browser() as anonymous, deployment.server.client("alice", PASSWORD) as basic:
        for client in (anonymous, basic):  # Basic credentials are no session either
            for method, path in (
                ("GET", MARCH), ("POST", f"/web/api/calendars/{cal.id}/events"),
                ("GET", f"/web/api/calendars/{cal.id}/events/{name}"),
                ("PUT", f"/web/api/calendars/{cal.id}/events/{name}"),
                ("DELETE", f"/web/api/calendars/{cal.id}/events/{name}"),
                ("POST", f"/web/api/calendars/{cal.id}/events/{name}/move"),
            ):
                answer = client.request(method, path, json={"title": "x", "start": "2026-01-01"})
                assert answer.status_code == 401 and answer.json() == {"error": "Sign in first."}, (method, path)
    assert deployment.host.store.resource(cal.id, name) is not None
    assert deployment.host.store.count_resources(cal.id) == 1


def test_writes_without_the_csrf_token_are_refused(deployment: Deployment, alice: Browser) -> None:
    cal = calendar(deployment, "alice")
    name = put(deployment, cal, ALL_DAY)
    body = {"title": "forged", "start": "2026-01-01", "allDay": True}
    for method, path in (
        ("POST", f"/web/api/calendars/{cal.id}/events"), ("PUT", f"/web/api/calendars/{cal.id}/events/{name}"),
        ("DELETE", f"/web/api/calendars/{cal.id}/events/{name}"),
        ("POST", f"/web/api/calendars/{cal.id}/events/{name}/move"),
    ):
        assert alice.api(method, path, body, csrf=False).status_code == 403
        forged = alice.client.request(method, path, json=body, headers={"X-CSRF-Token": "guess"})
        assert forged.status_code == 403
    assert deployment.host.store.count_resources(cal.id) == 1
    assert b"offsite" in deployment.host.store.data(deployment.host.store.resource(cal.id, name).id)


def test_other_users_calendars_and_events_are_refused_without_a_leak(
    deployment: Deployment, alice: Browser, bob: Browser
) -> None:
    host = deployment.host
    secret = calendar(deployment, "alice")
    name = put(deployment, secret, WEEKLY)
    shared = calendar(deployment, "alice")
    shared_name = put(deployment, shared, ALL_DAY)
    host.writes.set_grant(shared, host.store.principal("bob").id, "read", principal=None)
    missing = bob.client.get(MARCH + "&calendars=999999")
    assert missing.status_code == 404
    assert bob.client.get(MARCH + f"&calendars={secret.id}").json() == missing.json()
    assert bob.client.get(MARCH + f"&calendars={shared.id},{secret.id}").status_code == 404
    assert all(e["calendar"] != secret.id for e in bob.client.get(MARCH).json()["events"])
    body = {"title": "mine", "start": "2026-03-17T10:00", "timeZone": "UTC"}
    for method, path in (
        ("GET", f"/web/api/calendars/{secret.id}/events/{name}"),
        ("PUT", f"/web/api/calendars/{secret.id}/events/{name}"),
        ("DELETE", f"/web/api/calendars/{secret.id}/events/{name}"),
        ("POST", f"/web/api/calendars/{secret.id}/events/{name}/move"),
        ("POST", f"/web/api/calendars/{secret.id}/events"),
    ):
        answer = bob.api(method, path, body)
        assert answer.status_code == 404 and "standup" not in answer.text, (method, path)
    # read-only: he sees the events, and may not change them
    seen = bob.client.get(MARCH + f"&calendars={shared.id}").json()["events"]
    assert [e["editable"] for e in seen] == [False]
    for method, path in (
        ("PUT", f"/web/api/calendars/{shared.id}/events/{shared_name}"),
        ("DELETE", f"/web/api/calendars/{shared.id}/events/{shared_name}"),
        ("POST", f"/web/api/calendars/{shared.id}/events"),
    ):
        assert bob.api(method, path, {**body, "allDay": False}).status_code == 403, (method, path)
    assert host.store.count_resources(secret.id) == 1 and host.store.count_resources(shared.id) == 1
    assert b"offsite" in host.store.data(host.store.resource(shared.id, shared_name).id)


@pytest.mark.parametrize(
    "query",
    [
        "/web/api/events?end=2026-03-01T00:00:00Z",
        "/web/api/events?start=2026-03-01T00:00:00Z",
        "/web/api/events?start=2026-03-02T00:00:00Z&end=2026-03-01T00:00:00Z",
        "/web/api/events?start=2026-01-01T00:00:00Z&end=2027-06-01T00:00:00Z",
        "/web/api/events?start=yesterday&end=2026-03-01T00:00:00Z",
        "/web/api/events?start=2026-03-01T00:00:00Z&end=2026-03-02T00:00:00Z&tz=Mars/Olympus",
        "/web/api/events?start=2026-03-01T00:00:00Z&end=2026-03-02T00:00:00Z&calendars=abc",
        "/web/api/events?start=2026-03-01T00:00:00Z&end=2026-03-02T00:00:00Z&calendars=" + ",".join(["1"] * 101),
    ],
)
def test_bad_queries_are_a_clear_400(alice: Browser, query: str) -> None:
    answer = alice.client.get(query)
    assert answer.status_code == 400 and answer.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": "", "start": "2026-03-01T10:00"},
        {"title": "x"},
        {"title": "x", "start": "2026-03-01T10:00", "end": "2026-03-01T09:00"},
        {"title": "x", "start": "2026-03-01", "end": "2026-03-01", "allDay": True},
        {"title": "x", "start": "2026-03-01T10:00", "allDay": "yes"},
        {"title": "x", "start": "2026-03-01T10:00", "rrule": "FREQ=NEVER"},
        {"title": "x", "start": "2026-03-01T10:00", "rrule": "every tuesday"},
        {"title": "x", "start": "2026-03-01T10:00", "timeZone": "Nowhere/Land"},
        {"title": "x\x00y", "start": "2026-03-01T10:00"},
        {"title": ["x"], "start": "2026-03-01T10:00"},
        {"title": "x", "start": "0001-01-01T10:00"},
    ],
)
def test_bad_events_are_a_clear_4xx_and_nothing_is_stored(deployment: Deployment, alice: Browser, body: dict) -> None:
    cal = calendar(deployment, "alice")
    answer = alice.api("POST", f"/web/api/calendars/{cal.id}/events", body)
    assert 400 <= answer.status_code < 500 and answer.json()["error"], answer.text
    assert deployment.host.store.count_resources(cal.id) == 0


def test_bodies_that_are_not_json_objects_are_refused(deployment: Deployment, alice: Browser) -> None:
    cal = calendar(deployment, "alice")
    path = f"/web/api/calendars/{cal.id}/events"
    headers = {"X-CSRF-Token": alice.csrf, "Content-Type": "application/json"}
    for content in (b"[1, 2]", b"{not json", b"\xff\xfe", b"[" * 100_000):
        answer = alice.client.post(path, content=content, headers=headers)
        assert answer.status_code == 400 and answer.json()["error"]
    form = alice.client.post(path, data={"title": "x"}, headers={"X-CSRF-Token": alice.csrf})
    assert form.status_code == 400
    huge = alice.client.post(path, content=b" " * (300 * 1024), headers=headers)
    assert huge.status_code == 413
    assert deployment.host.store.count_resources(cal.id) == 0


def test_a_costly_range_gets_507_and_others_are_served_meanwhile(deployment: Deployment, alice: Browser) -> None:
    cal = calendar(deployment, "alice")
    minutely = event_object(uuid.uuid4().hex, "20260101T000000Z", "20260101T000030Z", "tick").replace(
        b"SUMMARY:tick", b"SUMMARY:tick\r\nRRULE:FREQ=MINUTELY"
    )
    deployment.host.writes.put_object(cal, "tick.ics", minutely, principal=None)
    query = f"/web/api/events?start=2026-01-01T00:00:00Z&end=2027-01-01T00:00:00Z&tz=UTC&calendars={cal.id}"
    with deployment.signed_in("carol") as carol:
        answer, took = latency_during(
            lambda: alice.client.get(query), lambda: carol.client.get("/web/calendars"), probes=3
        )
    assert answer.status_code == 507 and answer.json()["error"]
    assert max(took) < 1.0, took


def test_limits_apply_as_for_caldav(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path, "[limits]\nmax_events = 1\n", enabled=["caldav_server", "web", "limits"])
    with dep.server, dep.signed_in("carol") as carol:
        cal = calendar(dep, "carol")
        body = {"title": "one", "start": "2026-03-01T10:00", "timeZone": "UTC"}
        assert carol.api("POST", f"/web/api/calendars/{cal.id}/events", body).status_code == 201
        refused = carol.api("POST", f"/web/api/calendars/{cal.id}/events", {**body, "title": "two"})
        assert 400 <= refused.status_code < 600 and refused.status_code != 500 and refused.json()["error"]
        assert dep.host.store.count_resources(cal.id) == 1
    dep.host.close()


def test_the_view_page_embeds_calendars_as_inert_data(deployment: Deployment, alice: Browser) -> None:
    payload = '</script><script>alert(1)</script>'
    cal = calendar(deployment, "alice", display_name=payload)
    page = alice.client.get(f"/web/view?calendars={cal.id}")
    assert page.status_code == 200 and 'id="calendar"' in page.text
    assert payload not in page.text and "alert(1)" in page.text  # escaped, in the list and in the JSON block
    assert "/web/static/vendor/fullcalendar/index.global.min.js" in page.text
    script = alice.client.get("/web/static/vendor/fullcalendar/index.global.min.js")
    assert script.status_code == 200 and "FullCalendar" in script.text
    assert alice.client.get("/web/static/view.js").status_code == 200
    assert alice.client.get("/web/view?calendars=x").status_code == 400


def test_a_change_made_in_a_caldav_client_shows_in_the_view(deployment: Deployment, alice: Browser) -> None:
    import caldav

    cal = calendar(deployment, "alice")
    made = alice.api("POST", f"/web/api/calendars/{cal.id}/events", {
        "title": "Review", "start": "2026-03-18T14:00", "end": "2026-03-18T15:00", "timeZone": "Europe/Berlin",
        "rrule": "WEEKLY",
    })
    assert made.status_code == 201
    url = f"{deployment.url}{dav_url(cal, '')}"
    with caldav.DAVClient(url, username="alice", password=PASSWORD) as client:
        [event] = client.calendar(url=url).events()
        component = event.icalendar_component
        component["SUMMARY"] = icalendar.vText("Review (from Thunderbird)")
        event.save()
    titles = {e["title"] for e in alice.client.get(MARCH + f"&calendars={cal.id}").json()["events"]}
    assert titles == {"Review (from Thunderbird)"}
    assert len(alice.client.get(MARCH + f"&calendars={cal.id}").json()["events"]) == 4  # 18, 25 Mar, 1, 8 Apr



def test_the_events_of_many_calendars_cost_as_many_round_trips_as_of_one(tmp_path: Path, teamcal_backend: str) -> None:
    """The calendar view asks for the events of every calendar shown: the calendars are read
    in one query, their index in one round trip and their objects in one more, so on
    PostgreSQL the round trips do not grow with the number of calendars; each event still
    comes with its own calendar, and a calendar the user may not read among them is a 404."""
    with make_deployment(tmp_path) as dep, dep.signed_in("carol") as carol:
        counts = []
        for size in (1, 5):
            chosen = [calendar(dep, "carol") for _ in range(size)]
            for collection in chosen:
                put(dep, collection, ALL_DAY, "offsite.ics")
            ids = ",".join(str(c.id) for c in chosen)
            with ExitStack() as counting:
                if teamcal_backend == "postgresql":
                    trips = counting.enter_context(round_trips(dep.server.host.store, every_thread=True))
                answer = carol.client.get(MARCH + f"&calendars={ids}")
            assert answer.status_code == 200, answer.text
            events = answer.json()["events"]
            assert sorted(e["calendar"] for e in events) == sorted(c.id for c in chosen), events
            assert {e["title"] for e in events} == {"offsite"}
            if teamcal_backend == "postgresql":
                counts.append(len(trips))
        assert counts[:1] == counts[1:], counts
        private = calendar(dep, "alice")
        put(dep, private, ALL_DAY, "offsite.ics")
        refused = carol.client.get(MARCH + f"&calendars={ids},{private.id}")
        assert refused.status_code == 404 and "offsite" not in refused.text
