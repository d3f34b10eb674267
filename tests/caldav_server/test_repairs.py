"""Repaired data over HTTP: no ETag for what the client did not send, refusals that say where,
and the ingest pipeline's bounds against a hostile client (kernel/ingest, docs/caldav.md)."""

from __future__ import annotations

import zoneinfo

import httpx
import icalendar

from kernel.testing import latency_during
from kernel.testing.dav import CALDAV, error_elements, mkcalendar
from tests.caldav_server.conftest import Deployment

C = "{" + CALDAV + "}"
MISMATCHED = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//t//EN\r
BEGIN:VEVENT\r
UID:mismatch\r
DTSTAMP:20250101T000000Z\r
DTSTART:20250303T090000Z\r
DTEND;VALUE=DATE:20250304\r
SUMMARY:types differ\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_repaired_data_is_answered_without_an_etag_and_fetched_as_stored(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    put = alice.put(cal + "m.ics", content=MISMATCHED, headers={"Content-Type": "text/calendar"})
    assert put.status_code == 201, put.text
    assert "ETag" not in put.headers  # RFC 4791 5.3.4: the stored data is not the body
    got = alice.get(cal + "m.ics")
    assert got.status_code == 200 and got.content != MISMATCHED
    event = icalendar.Calendar.from_ical(got.content).walk("VEVENT")[0]
    assert event["DTEND"].to_ical() == b"20250304T000000Z"
    assert got.headers["ETag"].startswith('"')
    again = alice.put(cal + "m.ics", content=got.content, headers={"If-Match": got.headers["ETag"]})
    assert again.status_code == 204 and again.headers["ETag"] == got.headers["ETag"]


def test_what_cannot_be_interpreted_is_refused_saying_what_and_where(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    body = MISMATCHED.replace(b"DTSTART:20250303T090000Z\r\n", b"").replace(b"DTEND;VALUE=DATE:20250304\r\n", b"")
    r = alice.put(cal + "x.ics", content=body)
    assert r.status_code == 403 and error_elements(r)[0] == C + "valid-calendar-data"
    assert "A VEVENT needs a DTSTART (in the VEVENT with UID 'mismatch')." in r.text
    assert alice.get(cal + "x.ics").status_code == 404


def test_an_object_naming_hundreds_of_zones_is_refused_within_the_budget(deployment: Deployment) -> None:
    """Each IANA zone without a VTIMEZONE needs one generated: hundreds of them, over two centuries,
    are more than a request's budget, refused before the work is done."""
    zones = sorted(zoneinfo.available_timezones() - {"UTC"})
    rdates = "".join(f"RDATE;TZID={z}:19000101T090000,21000101T090000\r\n" for z in zones)
    body = MISMATCHED.replace(b"SUMMARY", rdates.encode() + b"SUMMARY").replace(b"UID:mismatch", b"UID:zones")
    with deployment.client("alice") as alice, deployment.client("bob") as bob:
        cal = mkcalendar(alice)

        def attack() -> httpx.Response:
            with deployment.client("alice") as attacker:
                return attacker.put(cal + "zones.ics", content=body)

        def probe() -> None:
            assert bob.request("PROPFIND", "/dav/cal/bob/", headers={"Depth": "0"}).status_code == 207

        probe()  # bob's login is verified (and cached) before the attack
        answer, took = latency_during(attack, probe)
        assert answer.status_code == 403, answer.text[:300]
        assert error_elements(answer)[0] == C + "max-instances"
        assert "budget_instances" in answer.text
        assert max(took) < 1.0, took
        assert alice.get(cal + "zones.ics").status_code == 404


def test_a_body_of_stray_lines_is_repaired_in_linear_time(deployment: Deployment) -> None:
    """50,000 lines that continue a DESCRIPTION without folding (each would be a join): the
    repair is linear in the data, and another user's request is answered meanwhile."""
    strays = b"".join(b"line %d of the agenda\r\n" % i for i in range(50_000))
    body = MISMATCHED.replace(b"SUMMARY:types differ\r\n", b"DESCRIPTION:Agenda\r\n" + strays)
    body = body.replace(b"UID:mismatch", b"UID:strays")
    with deployment.client("alice") as alice, deployment.client("bob") as bob:
        cal = mkcalendar(alice)

        def attack() -> httpx.Response:
            with deployment.client("alice") as attacker:
                return attacker.put(cal + "strays.ics", content=body)

        def probe() -> None:
            assert bob.request("PROPFIND", "/dav/cal/bob/", headers={"Depth": "0"}).status_code == 207

        probe()
        answer, took = latency_during(attack, probe)
        assert answer.status_code == 201, answer.text[:300]
        assert max(took) < 1.0, took
        stored = icalendar.Calendar.from_ical(alice.get(cal + "strays.ics").content)
        description = str(stored.walk("VEVENT")[0]["DESCRIPTION"])
        assert description.count("\n") == 50_000 and description.endswith("line 49999 of the agenda")
