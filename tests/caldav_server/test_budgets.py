"""Hostile calendar data against a live server: time zones, dense rules, line breaks.

Each attack is sent as a client would send it; the test asserts the answer
(a 4xx with its precondition, or 507), that nothing was stored, and that bob,
another user, is answered within a second while it runs. The deployment keeps
the index small (100 instances) and the request budget at 3,000 instances, so
that every budget is reached quickly; docs/security.md has the defaults.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from kernel.testing import latency_during
from kernel.testing.dav import CALDAV, mkcalendar, parse_multistatus, propfind, report
from tests.caldav_server.conftest import Deployment, make_deployment

DECL = f'xmlns:D="DAV:" xmlns:C="{CALDAV}"'
SECONDLY_UTC = ("DTSTART:20240101T000000Z", "DURATION:PT1S", "RRULE:FREQ=SECONDLY")
SECONDLY_BERLIN = ("DTSTART;TZID=Europe/Berlin:20240101T000000", "DURATION:PT1S", "RRULE:FREQ=SECONDLY")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """This module's deployment: a small index and a small request budget."""
    dep = make_deployment(tmp_path_factory.mktemp("budgets"), kernel="index_max_instances = 100\nbudget_instances = 3000")
    with dep.server:
        yield dep
    dep.host.close()


def attacked(attack, bob: httpx.Client) -> httpx.Response:
    """Run ``attack`` while bob reads his home; bob must be answered within a second every time."""
    answer, took = latency_during(attack, lambda: bob.request("PROPFIND", "/dav/cal/bob/", headers={"Depth": "0"}))
    assert took and max(took) < 1.0, took
    return answer


def calendar_object(uid: str, *lines: str, zone: str = "") -> bytes:
    props = "".join(f"{line}\r\n" for line in lines)
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//hostile//EN\r\n{zone}BEGIN:VEVENT\r\nUID:{uid}\r\n"
            f"DTSTAMP:20240101T000000Z\r\n{props}END:VEVENT\r\nEND:VCALENDAR\r\n").encode()


def members(client: httpx.Client, cal: str) -> list[str]:
    return [href for href in parse_multistatus(propfind(client, cal, "<D:prop><D:getetag/></D:prop>", "1"))
            if href != cal]


def week_query(year: int, calendar_data: str = "") -> str:
    window = f'start="{year}0301T000000Z" end="{year}0308T000000Z"'
    return (f"<C:calendar-query {DECL}><D:prop><D:getetag/>{calendar_data}</D:prop><C:filter>"
            f'<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range {window}/>'
            "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>")


def dense_calendar(alice: httpx.Client, count: int, lines: tuple[str, ...]) -> str:
    cal = mkcalendar(alice)
    for i in range(count):
        assert alice.put(f"{cal}tick{i}.ics", content=calendar_object(f"tick{i}", *lines)).status_code == 201
    return cal


def observance(kind: str, start: str, rule: str, offset_from: str, offset_to: str) -> str:
    return (f"BEGIN:{kind}\r\nDTSTART:{start}\r\nRRULE:{rule}\r\nTZOFFSETFROM:{offset_from}\r\n"
            f"TZOFFSETTO:{offset_to}\r\nEND:{kind}\r\n")


def zone(*observances: str) -> str:
    return f"BEGIN:VTIMEZONE\r\nTZID:Evil\r\n{''.join(observances)}END:VTIMEZONE\r\n"


LAST_SUNDAY_OF_MARCH = observance("DAYLIGHT", "16010325T020000", "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "+0000", "+0100")
HOSTILE_ZONES = {
    "secondly since 1601": (zone(observance("STANDARD", "16010101T000000", "FREQ=SECONDLY", "+0100", "+0000"),
                                 LAST_SUNDAY_OF_MARCH), "repeats FREQ=SECONDLY"),
    "hourly since 2024": (zone(observance("STANDARD", "20240101T000000", "FREQ=HOURLY", "+0100", "+0000"),
                               observance("DAYLIGHT", "20240101T003000", "FREQ=HOURLY", "+0000", "+0100")),
                          "repeats FREQ=HOURLY"),
    # 2,500 observances are refused alike (tests/kernel/test_zones.py); parsing their 280 KB
    # alone keeps the event loop busy, as any body that size does until parsing moves off it
    "150 observances": (zone(*(observance("STANDARD" if i % 2 else "DAYLIGHT", f"{1700 + i // 12}{i % 12 + 1:02d}01T000000",
                                          "FREQ=YEARLY", "+0100", "+0000") for i in range(150))),
                        "it has 150 observances, more than the 100 accepted"),
    "daily since 2024": (zone(observance("STANDARD", "20240101T000000", "FREQ=DAILY", "+0100", "+0000")),
                         "more than the 2,000 accepted (setting zone_max_transitions)"),
}


@pytest.mark.parametrize("name", HOSTILE_ZONES)
def test_a_hostile_time_zone_is_refused_and_stores_nothing(alice: httpx.Client, bob: httpx.Client, name: str):
    tz, says = HOSTILE_ZONES[name]
    cal = mkcalendar(alice)
    data = calendar_object("evil", "DTSTART;TZID=Evil:20240105T100000", "DTEND;TZID=Evil:20240105T110000", zone=tz)
    r = attacked(lambda: alice.put(cal + "evil.ics", content=data), bob)
    assert r.status_code == 403, r.text[:300]
    assert "valid-calendar-data" in r.text and "The time zone" in r.text and "Evil" in r.text and says in r.text
    assert alice.get(cal + "evil.ics").status_code == 404 and members(alice, cal) == []


def test_a_hostile_calendar_timezone_is_refused_and_not_set(alice: httpx.Client, bob: httpx.Client):
    cal = mkcalendar(alice)
    tz = HOSTILE_ZONES["secondly since 1601"][0]
    text = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//hostile//EN\r\n{tz}END:VCALENDAR\r\n"
    body = (f'<D:propertyupdate {DECL}><D:set><D:prop><C:calendar-timezone><![CDATA[{text}]]>'
            "</C:calendar-timezone></D:prop></D:set></D:propertyupdate>")
    r = attacked(lambda: alice.request("PROPPATCH", cal, content=body.encode()), bob)
    (answer,) = parse_multistatus(r).values()
    assert answer.props[f"{{{CALDAV}}}calendar-timezone"][0] == 403
    found = parse_multistatus(propfind(alice, cal, "<D:prop><C:calendar-timezone/></D:prop>"))[cal]
    assert found.props[f"{{{CALDAV}}}calendar-timezone"][0] == 404


def test_a_query_far_past_the_index_over_dense_rules_is_answered(alice: httpx.Client, bob: httpx.Client):
    cal = dense_calendar(alice, 31, SECONDLY_UTC)
    r = attacked(lambda: report(alice, cal, week_query(2090)), bob)
    assert len(parse_multistatus(r)) == 31  # each rule is looked at near 2090 only


def test_a_query_needing_more_instances_than_the_budget_is_507(alice: httpx.Client, bob: httpx.Client):
    cal = dense_calendar(alice, 3, SECONDLY_BERLIN)  # wall-clock rules: two hours of slack each
    r = attacked(lambda: report(alice, cal, week_query(2090)), bob)
    assert r.status_code == 507, r.text[:300]
    assert "more than 3,000 recurrence instances" in r.text and "budget_instances" in r.text


def test_a_year_of_free_busy_over_dense_rules_is_507(alice: httpx.Client, bob: httpx.Client):
    cal = dense_calendar(alice, 31, SECONDLY_UTC)
    body = f'<C:free-busy-query {DECL}><C:time-range start="20300101T000000Z" end="20310101T000000Z"/></C:free-busy-query>'
    r = attacked(lambda: report(alice, cal, body), bob)
    assert r.status_code == 507 and "recurrence instances" in r.text
    # twenty seconds of it fit the budget: 31 objects checked in the index, then expanded
    short = f'<C:free-busy-query {DECL}><C:time-range start="20300101T000000Z" end="20300101T000020Z"/></C:free-busy-query>'
    answer = report(alice, cal, short)
    assert answer.status_code == 200 and "FREEBUSY;FBTYPE=BUSY:20300101T000000Z/20300101T000020Z" in answer.text


def test_expanding_dense_rules_past_the_budget_is_507(alice: httpx.Client, bob: httpx.Client):
    cal = dense_calendar(alice, 3, SECONDLY_UTC)
    expand = '<C:calendar-data><C:expand start="20900301T000000Z" end="20900308T000000Z"/></C:calendar-data>'
    r = attacked(lambda: report(alice, cal, week_query(2090, expand)), bob)
    assert r.status_code == 507 and "recurrence instances" in r.text


def test_bare_cr_is_a_line_break_before_validation(alice: httpx.Client, bob: httpx.Client):
    cal = mkcalendar(alice)
    smuggled = calendar_object("a", "DTSTART:20240105T100000Z", "SUMMARY:bare\rUID:x\nX-EVIL:1")
    r = attacked(lambda: alice.put(cal + "cr.ics", content=smuggled), bob)
    assert r.status_code == 403 and "valid-calendar-object-resource" in r.text and "more than one UID" in r.text
    assert alice.get(cal + "cr.ics").status_code == 404 and members(alice, cal) == []


def test_lf_only_data_is_stored_with_crlf_and_answered_without_an_etag(alice: httpx.Client):
    cal = mkcalendar(alice)
    data = calendar_object("lf", "DTSTART:20240105T100000Z", "SUMMARY:lf only")
    put = alice.put(cal + "lf.ics", content=data.replace(b"\r\n", b"\n"))
    assert put.status_code == 201 and "etag" not in put.headers  # RFC 4791 5.3.4: not the bytes sent
    got = alice.get(cal + "lf.ics")
    assert got.content == data and got.headers["etag"]
    again = alice.put(cal + "lf.ics", content=data)  # already CRLF: stored as sent, with its ETag
    assert again.status_code == 204 and again.headers["etag"] == alice.get(cal + "lf.ics").headers["etag"]
