"""COPY and MOVE of calendar objects and collections: Destination forms, Overwrite, Depth, access."""

from __future__ import annotations

import httpx

from kernel.testing import event_object as event
from kernel.testing.dav import mkcalendar, parse_multistatus, propfind, unique
from tests.caldav_server.conftest import Deployment


def transfer(client: httpx.Client, method: str, src: str, dest: str, **headers: str) -> httpx.Response:
    return client.request(method, src, headers={"Destination": dest, **headers})


def test_move_event_between_calendars(deployment: Deployment, alice: httpx.Client) -> None:
    a, b = mkcalendar(alice), mkcalendar(alice)
    alice.put(a + "e.ics", content=event("moving"))
    r = transfer(alice, "MOVE", a + "e.ics", deployment.url + b + "e.ics")
    assert r.status_code == 201
    assert alice.get(a + "e.ics").status_code == 404
    assert b"moving" in alice.get(b + "e.ics").content


def test_copy_keeps_source_and_overwrite_rules(alice: httpx.Client) -> None:
    a, b = mkcalendar(alice), mkcalendar(alice)
    alice.put(a + "e.ics", content=event("copied"))
    assert transfer(alice, "COPY", a + "e.ics", b + "e.ics").status_code == 201
    assert alice.get(a + "e.ics").status_code == 200
    assert transfer(alice, "COPY", a + "e.ics", b + "e.ics", Overwrite="F").status_code == 412
    assert transfer(alice, "COPY", a + "e.ics", b + "e.ics").status_code == 204
    assert transfer(alice, "COPY", a + "e.ics", a + "e.ics").status_code == 403


def test_copy_into_a_calendar_with_that_uid_is_a_conflict(alice: httpx.Client) -> None:
    a = mkcalendar(alice)
    alice.put(a + "one.ics", content=event("same-uid"))
    assert transfer(alice, "COPY", a + "one.ics", a + "two.ics").status_code == 409


def test_destination_forms(deployment: Deployment, alice: httpx.Client) -> None:
    a = mkcalendar(alice)
    alice.put(a + "e.ics", content=event("dest"))
    assert transfer(alice, "COPY", a + "e.ics", "http://elsewhere.example/dav/x.ics").status_code == 502
    assert transfer(alice, "COPY", a + "e.ics", "/not-dav/x.ics").status_code == 502
    assert alice.request("COPY", a + "e.ics").status_code == 400
    assert transfer(alice, "COPY", a + "e.ics", f"/dav/cal/alice/{unique()}/e.ics").status_code == 409
    b = mkcalendar(alice)
    encoded = transfer(alice, "COPY", a + "e.ics", deployment.url + b + "caf%C3%A9.ics")
    assert encoded.status_code == 201
    assert alice.get(b + "café.ics").status_code == 200


def test_move_and_copy_collections(alice: httpx.Client) -> None:
    src = mkcalendar(alice)
    alice.put(src + "e.ics", content=event("tree"))
    alice.request(
        "PROPPATCH",
        src,
        content=b'<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><X:p xmlns:X="urn:x">dead</X:p></D:prop></D:set></D:propertyupdate>',
    )
    copy = f"/dav/cal/alice/{unique()}/"
    assert transfer(alice, "COPY", src, copy).status_code == 201
    assert b"tree" in alice.get(copy + "e.ics").content
    got = parse_multistatus(propfind(alice, copy, '<D:prop><X:p xmlns:X="urn:x"/></D:prop>'))[copy]
    assert got.text("{urn:x}p") == "dead"
    shallow = f"/dav/cal/alice/{unique()}/"
    assert transfer(alice, "COPY", src, shallow, Depth="0").status_code == 201
    assert alice.get(shallow + "e.ics").status_code == 404
    moved = f"/dav/cal/alice/{unique()}/"
    assert transfer(alice, "MOVE", src, moved).status_code == 201
    assert propfind(alice, src).status_code == 404
    assert alice.get(moved + "e.ics").status_code == 200
    assert transfer(alice, "MOVE", moved, copy, Overwrite="F").status_code == 412
    assert transfer(alice, "MOVE", moved, copy).status_code == 204
    assert transfer(alice, "MOVE", copy, copy + "inside/").status_code in (403, 409)
    assert transfer(alice, "MOVE", copy, shallow, Depth="0").status_code == 400


def test_destination_in_another_home_needs_write_there(
    deployment: Deployment, alice: httpx.Client, bob: httpx.Client
) -> None:
    a = mkcalendar(alice)
    alice.put(a + "e.ics", content=event("cross"))
    b = mkcalendar(bob, owner="bob")
    assert transfer(alice, "COPY", a + "e.ics", b + "e.ics").status_code == 404
    team = mkcalendar(alice, owner="team")
    assert transfer(alice, "COPY", a + "e.ics", team + "e.ics").status_code == 201
    assert bob.get(team + "e.ics").status_code == 200


def test_a_calendar_copied_or_moved_into_a_calendar_names_the_caldav_precondition(alice: httpx.Client) -> None:
    # RFC 4791 5.3.2: calendar-collection-location-ok for the Destination of a calendar.
    outer, inner = mkcalendar(alice), mkcalendar(alice)
    alice.put(inner + "e.ics", content=event("stays"))
    for method in ("COPY", "MOVE"):
        r = transfer(alice, method, inner, outer + "nested/")
        assert r.status_code == 403, (method, r.text)
        assert "calendar-collection-location-ok" in r.text
        assert alice.request("PROPFIND", outer + "nested/", headers={"Depth": "0"}).status_code == 404
    assert b"stays" in alice.get(inner + "e.ics").content
    # a plain collection cannot go there either, but no calendar precondition names that
    files = f"/dav/cal/alice/{unique('files')}/"
    assert alice.request("MKCOL", files).status_code == 201
    r = transfer(alice, "MOVE", files, outer + "files/")
    assert r.status_code == 403 and "calendar-collection-location-ok" not in r.text
    r = alice.request("MKCALENDAR", outer + "cal/")
    assert r.status_code == 403 and "calendar-collection-location-ok" in r.text
