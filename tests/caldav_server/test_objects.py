"""PUT / GET / HEAD / DELETE of calendar objects: ETags, conditional requests and every RFC 4791 precondition."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import httpx

from kernel import Collection, Host, Principal
from kernel.store.resources import make_etag
from kernel.testing import event_object as event
from kernel.testing.dav import CALDAV, error_elements, mkcalendar, parse_multistatus, propfind
from tests.caldav_server.conftest import Deployment

C = "{" + CALDAV + "}"
TODO = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//t//EN\r
BEGIN:VTODO\r
UID:todo-1\r
DTSTAMP:20240101T000000Z\r
SUMMARY:task\r
END:VTODO\r
END:VCALENDAR\r
"""


def test_put_get_head_delete_round_trip(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    body = event("round-trip")
    created = alice.put(cal + "a.ics", content=body, headers={"Content-Type": "text/calendar; charset=utf-8"})
    assert created.status_code == 201
    etag = created.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    got = alice.get(cal + "a.ics")
    assert got.status_code == 200 and got.content == body
    assert got.headers["ETag"] == etag
    assert got.headers["Content-Type"].startswith("text/calendar")
    assert "Last-Modified" in got.headers
    head = alice.head(cal + "a.ics")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(body)) and head.headers["ETag"] == etag
    assert alice.get(cal + "a.ics", headers={"If-None-Match": etag}).status_code == 304
    replaced = alice.put(cal + "a.ics", content=event("round-trip", summary="changed"))
    assert replaced.status_code == 204 and replaced.headers["ETag"] != etag
    assert alice.delete(cal + "a.ics").status_code == 204
    assert alice.get(cal + "a.ics").status_code == 404
    assert alice.delete(cal + "a.ics").status_code == 404


def test_stale_if_match_is_a_412_and_nothing_changes(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    first = alice.put(cal + "a.ics", content=event("stale")).headers["ETag"]
    second = alice.put(cal + "a.ics", content=event("stale", summary="v2")).headers["ETag"]
    stale = alice.put(cal + "a.ics", content=event("stale", summary="v3"), headers={"If-Match": first})
    assert stale.status_code == 412
    assert b"v2" in alice.get(cal + "a.ics").content
    ok = alice.put(cal + "a.ics", content=event("stale", summary="v3"), headers={"If-Match": second})
    assert ok.status_code == 204
    assert alice.delete(cal + "a.ics", headers={"If-Match": first}).status_code == 412
    assert alice.put(cal + "new.ics", content=event("fresh"), headers={"If-Match": first}).status_code == 412


def test_if_none_match_star_refuses_to_overwrite(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    assert alice.put(cal + "a.ics", content=event("inm"), headers={"If-None-Match": "*"}).status_code == 201
    assert alice.put(cal + "a.ics", content=event("inm"), headers={"If-None-Match": "*"}).status_code == 412


def test_uid_conflict_names_the_existing_resource(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    alice.put(cal + "first.ics", content=event("dup"))
    r = alice.put(cal + "second.ics", content=event("dup"))
    assert r.status_code == 409
    assert error_elements(r)[0] == C + "no-uid-conflict"
    assert "".join(r.text.split()).count(f"<D:href>{cal}first.ics</D:href>") == 1
    assert alice.get(cal + "second.ics").status_code == 404


def test_invalid_calendar_data_is_refused(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    for body in (
        b"not a calendar",
        b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
        event("x").replace(b"DTSTART:20240102T100000Z", b"DTSTART:tomorrow"),
    ):
        r = alice.put(cal + "bad.ics", content=body, headers={"Content-Type": "text/calendar"})
        assert r.status_code == 403, r.text
        assert error_elements(r)[0] in (C + "valid-calendar-data", C + "valid-calendar-object-resource")
    assert alice.get(cal + "bad.ics").status_code == 404


def test_non_calendar_media_type_is_refused(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    r = alice.put(cal + "a.ics", content=event("mt"), headers={"Content-Type": "text/plain"})
    assert r.status_code == 403  # RFC 4791 1.3: a precondition that always fails
    assert error_elements(r)[0] == C + "supported-calendar-data"


def test_unsupported_component_is_refused(alice: httpx.Client) -> None:
    body = (
        '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
        '<C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>'
        "</D:prop></D:set></C:mkcalendar>"
    )
    cal = mkcalendar(alice, body=body)
    r = alice.put(cal + "t.ics", content=TODO)
    assert r.status_code == 403
    assert error_elements(r)[0] == C + "supported-calendar-component"


def test_oversized_body_is_refused_with_max_resource_size(deployment, alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    limit = deployment.host.kernel.max_body_size
    huge = event("big", summary="x" * 100).replace(b"SUMMARY", b"X-PAD:" + b"y" * (limit // 2) + b"\r\nSUMMARY")
    r = alice.put(cal + "huge.ics", content=huge * 3)
    assert r.status_code == 413
    assert alice.get(cal + "huge.ics").status_code == 404


def test_resources_need_a_collection(alice: httpx.Client) -> None:
    assert alice.put("/dav/cal/alice/loose.ics", content=event("loose")).status_code == 409
    assert alice.put("/dav/cal/alice/missing/x.ics", content=event("m")).status_code == 409
    assert alice.put("/dav/cal/alice/", content=event("home")).status_code == 405


def test_get_calendar_returns_one_vcalendar_with_timezones_once(alice: httpx.Client) -> None:
    cal = mkcalendar(alice, body="")
    zone = (
        "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
        "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n"
        "BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
    )
    for i in range(2):
        body = (
            f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n{zone}BEGIN:VEVENT\r\nUID:z{i}\r\n"
            f"DTSTAMP:20240101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20240301T10000{i}\r\n"
            f"DURATION:PT1H\r\nSUMMARY:zoned {i}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
        assert alice.put(f"{cal}z{i}.ics", content=body.encode()).status_code == 201
    alice.put(cal + "t.ics", content=TODO)
    whole = alice.get(cal)
    assert whole.status_code == 200 and whole.headers["Content-Type"].startswith("text/calendar")
    text = whole.text
    assert text.count("BEGIN:VCALENDAR") == 1 and text.count("BEGIN:VTIMEZONE") == 1
    assert text.count("BEGIN:VEVENT") == 2 and text.count("BEGIN:VTODO") == 1
    import icalendar

    assert len(list(icalendar.Calendar.from_ical(text).walk("VEVENT"))) == 2


def test_delete_calendar_frees_the_name(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    alice.put(cal + "a.ics", content=event("gone"))
    assert alice.delete(cal).status_code == 204
    assert alice.get(cal + "a.ics").status_code == 404
    assert propfind(alice, cal).status_code == 404
    again = alice.request("MKCALENDAR", cal)
    assert again.status_code == 201
    listing = parse_multistatus(propfind(alice, cal, "<D:prop><D:getetag/></D:prop>", depth="1"))
    assert list(listing) == [cal]


def get_with_a_write_landing(deployment: Deployment, alice: httpx.Client, path: str,
                             write: Callable[[Host, Collection, Principal], Any]) -> tuple[httpx.Response, Any]:
    """alice's GET of ``path`` with ``write`` committed (on another connection) just before the
    served GET's first statement that reads the object's content; the answer, and what
    ``write`` returned."""
    host = deployment.host
    owner = host.store.principal("alice")
    assert owner is not None
    collection = host.store.collection(owner.id, path.strip("/").split("/")[-2])
    assert collection is not None
    armed, landed = [True], []

    def between(sql: str) -> None:
        if armed and re.search(r"\bdata\b", sql) and reads(sql, "resources"):
            armed.clear()
            writer = threading.Thread(target=lambda: landed.append(write(host, collection, owner)))
            writer.start()
            writer.join(10)

    served = deployment.server.host.store.connections  # the server's own host and connections
    served.set_tracer(between)
    try:
        got = alice.get(path)
    finally:
        served.set_tracer(None)
    assert landed, "the write did not land during the GET"
    return got, landed[0]


def test_a_get_sends_the_etag_of_the_bytes_it_sends_when_a_write_lands_during_it(
    deployment: Deployment, alice: httpx.Client
) -> None:
    """A PUT committing while a GET reads the object: the body and its ETag are one version."""
    cal = mkcalendar(alice)
    first = alice.put(cal + "g.ics", content=event("g", summary="one")).headers["ETag"]
    got, stored = get_with_a_write_landing(
        deployment, alice, cal + "g.ics",
        lambda host, c, owner: host.writes.put_object(c, "g.ics", event("g", summary="two"), principal=owner),
    )
    assert got.status_code == 200
    assert got.headers["ETag"] == make_etag(got.content)
    assert got.headers["ETag"] in (first, stored.resource.etag)


def test_a_get_reads_the_object_once(deployment: Deployment, alice: httpx.Client) -> None:
    """GET and HEAD read an object's row and content in one statement, the one resolving the URL."""
    cal = mkcalendar(alice)
    etag = alice.put(cal + "once.ics", content=event("once")).headers["ETag"]
    served = deployment.server.host.store
    for method in ("GET", "HEAD"):
        with served.traced() as statements:
            got = alice.request(method, cal + "once.ics")
        assert got.status_code == 200 and got.headers["ETag"] == etag
        assert len([s for s in statements if reads(s, "resources")]) == 1, statements
    with served.traced() as statements:
        assert alice.get(cal + "once.ics", headers={"If-None-Match": etag}).status_code == 304
        assert alice.get(cal + "missing.ics").status_code == 404
    assert len([s for s in statements if reads(s, "resources")]) == 2, statements


def test_an_object_url_is_resolved_in_one_statement(deployment: Deployment, alice: httpx.Client) -> None:
    """The calendar and the object a URL names are read together (a round trip each on
    PostgreSQL): one statement reads collections or resources for a GET, a 404 and a PUT's
    resolution, however the object is then read or written."""
    cal = mkcalendar(alice)
    etag = alice.put(cal + "one.ics", content=event("one")).headers["ETag"]
    served = deployment.server.host.store
    for path in (cal + "one.ics", cal + "none.ics"):
        with served.traced() as statements:
            alice.get(path)
        looked = [s for s in statements if reads(s, "collections") or reads(s, "resources")]
        assert len(looked) == 1, looked
    with served.traced() as statements:
        put = alice.put(cal + "one.ics", content=event("one", summary="again"), headers={"If-Match": etag})
    assert put.status_code == 204
    before = statements[: next(i for i, s in enumerate(statements) if s.strip().upper().startswith("BEGIN"))]
    assert len([s for s in before if reads(s, "collections") or reads(s, "resources")]) == 1, before


def reads(sql: str, table: str) -> bool:
    """Whether a statement reads ``table`` (names it after FROM or JOIN)."""
    return re.search(rf"\b(?:FROM|JOIN) {table}\b", sql) is not None


def test_a_get_answers_404_when_a_delete_lands_during_it(deployment: Deployment, alice: httpx.Client) -> None:
    """A DELETE committing while a GET reads the object: a 404, not an empty body under the old ETag."""
    cal = mkcalendar(alice)
    alice.put(cal + "d.ics", content=event("d"))
    got, _ = get_with_a_write_landing(
        deployment, alice, cal + "d.ics", lambda host, c, owner: host.writes.delete_object(c, "d.ics", principal=owner)
    )
    assert got.status_code == 404
    assert "ETag" not in got.headers
