"""REPORTs over raw HTTP: calendar-query, calendar-multiget, free-busy-query, principal reports."""

from __future__ import annotations

import httpx
import pytest

from kernel.testing import event_object as event
from kernel.testing.dav import CALDAV, error_elements, mkcalendar, parse_multistatus, report

D = "{DAV:}"
C = "{" + CALDAV + "}"
DECL = f'xmlns:D="DAV:" xmlns:C="{CALDAV}"'
WEEKLY = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//t//EN\r
BEGIN:VEVENT\r
UID:weekly\r
DTSTAMP:20240101T000000Z\r
DTSTART:20240101T090000Z\r
DURATION:PT1H\r
RRULE:FREQ=WEEKLY\r
SUMMARY:Standup\r
END:VEVENT\r
END:VCALENDAR\r
"""
TODO = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//t//EN\r
BEGIN:VTODO\r
UID:todo\r
DTSTAMP:20240101T000000Z\r
SUMMARY:No due date\r
END:VTODO\r
END:VCALENDAR\r
"""


def query(client: httpx.Client, path: str, filter_xml: str, prop: str = "<D:getetag/>") -> set[str]:
    body = f"<C:calendar-query {DECL}><D:prop>{prop}</D:prop><C:filter>{filter_xml}</C:filter></C:calendar-query>"
    return set(parse_multistatus(report(client, path, body)))


@pytest.fixture
def cal(alice: httpx.Client) -> str:
    """A calendar with a single event, a weekly series without end and a todo."""
    path = mkcalendar(alice)
    alice.put(path + "single.ics", content=event("single", "20240110T100000Z", "20240110T110000Z", "Budget Review"))
    alice.put(path + "weekly.ics", content=WEEKLY)
    alice.put(path + "todo.ics", content=TODO)
    return path


def test_time_range_query(alice: httpx.Client, cal: str) -> None:
    week = '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20240108T000000Z" end="20240115T000000Z"/></C:comp-filter></C:comp-filter>'
    assert query(alice, cal, week) == {cal + "single.ics", cal + "weekly.ics"}
    far = '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20990102T000000Z" end="20990103T000000Z"/></C:comp-filter></C:comp-filter>'
    assert query(alice, cal, far) == set()
    open_end = '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20500101T000000Z"/></C:comp-filter></C:comp-filter>'
    assert query(alice, cal, open_end) == {cal + "weekly.ics"}


def test_component_and_text_queries(alice: httpx.Client, cal: str) -> None:
    todos = '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"/></C:comp-filter>'
    assert query(alice, cal, todos) == {cal + "todo.ics"}
    text = (
        '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY">'
        "<C:text-match>budget</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter>"
    )
    assert query(alice, cal, text) == {cal + "single.ics"}
    octet = text.replace("<C:text-match>", '<C:text-match collation="i;octet">')
    assert query(alice, cal, octet) == set()
    negated = text.replace("<C:text-match>", '<C:text-match negate-condition="yes">')
    assert query(alice, cal, negated) == {cal + "weekly.ics"}
    no_rule = (
        '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:prop-filter name="RRULE">'
        "<C:is-not-defined/></C:prop-filter></C:comp-filter></C:comp-filter>"
    )
    assert query(alice, cal, no_rule) == {cal + "single.ics"}


def test_query_with_expand_returns_instances(alice: httpx.Client, cal: str) -> None:
    body = (
        f"<C:calendar-query {DECL}><D:prop><C:calendar-data>"
        '<C:expand start="20240101T000000Z" end="20240115T000000Z"/></C:calendar-data></D:prop>'
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        '<C:time-range start="20240101T000000Z" end="20240115T000000Z"/></C:comp-filter></C:comp-filter></C:filter>'
        "</C:calendar-query>"
    )
    found = parse_multistatus(report(alice, cal, body))
    weekly = found[cal + "weekly.ics"].text(C + "calendar-data")
    assert weekly.count("BEGIN:VEVENT") == 2 and "RRULE" not in weekly
    assert "RECURRENCE-ID:20240108T090000Z" in weekly


def test_calendar_data_subset(alice: httpx.Client, cal: str) -> None:
    body = (
        f'<C:calendar-query {DECL}><D:prop><C:calendar-data><C:comp name="VCALENDAR">'
        '<C:comp name="VEVENT"><C:prop name="SUMMARY"/><C:prop name="UID"/></C:comp></C:comp></C:calendar-data></D:prop>'
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter></C:filter>'
        "</C:calendar-query>"
    )
    data = parse_multistatus(report(alice, cal, body))[cal + "single.ics"].text(C + "calendar-data")
    assert "SUMMARY:Budget Review" in data and "DTSTART" not in data


def test_invalid_filter_is_a_400_with_valid_filter(alice: httpx.Client, cal: str) -> None:
    body = f'<C:calendar-query {DECL}><C:filter><C:comp-filter name="VEVENT"/></C:filter></C:calendar-query>'
    r = report(alice, cal, body)
    assert r.status_code == 400
    assert error_elements(r)[0] == C + "valid-filter"
    bad_collation = (
        '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY">'
        '<C:text-match collation="i;klingon">x</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter>'
    )
    r = report(alice, cal, f"<C:calendar-query {DECL}><C:filter>{bad_collation}</C:filter></C:calendar-query>")
    assert r.status_code == 403
    assert error_elements(r)[0] == C + "supported-collation"


def test_multiget(alice: httpx.Client, cal: str) -> None:
    other = mkcalendar(alice)
    alice.put(other + "x.ics", content=event("elsewhere"))
    hrefs = "".join(
        f"<D:href>{h}</D:href>" for h in (cal + "single.ics", cal + "weekly.ics", cal + "nope.ics", other + "x.ics")
    )
    body = f"<C:calendar-multiget {DECL}><D:prop><D:getetag/><C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>"
    found = parse_multistatus(report(alice, cal, body))
    assert found[cal + "single.ics"].text(C + "calendar-data") == alice.get(cal + "single.ics").text
    assert found[cal + "weekly.ics"].text(D + "getetag") == alice.get(cal + "weekly.ics").headers["ETag"]
    assert found[cal + "nope.ics"].status == 404
    assert found[other + "x.ics"].status == 404


def test_free_busy_query(alice: httpx.Client, cal: str) -> None:
    body = (
        f'<C:free-busy-query {DECL}><C:time-range start="20240108T000000Z" end="20240111T000000Z"/></C:free-busy-query>'
    )
    r = report(alice, cal, body)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/calendar")
    assert "FREEBUSY;FBTYPE=BUSY:20240108T090000Z/20240108T100000Z" in r.text
    assert "20240110T100000Z/20240110T110000Z" in r.text
    assert report(alice, cal, f"<C:free-busy-query {DECL}/>").status_code == 400


def test_unknown_report_is_refused(alice: httpx.Client, cal: str) -> None:
    r = report(alice, cal, '<X:mystery xmlns:X="urn:x"/>')
    assert r.status_code == 403
    assert error_elements(r)[0] == D + "supported-report"


def test_principal_property_search(alice: httpx.Client) -> None:
    body = (
        f"<D:principal-property-search {DECL}><D:property-search><D:prop><D:displayname/></D:prop>"
        "<D:match>builder</D:match></D:property-search><D:prop><D:displayname/><C:calendar-home-set/></D:prop>"
        "</D:principal-property-search>"
    )
    found = parse_multistatus(report(alice, "/dav/principals/", body, depth="0"))
    assert list(found) == ["/dav/principals/bob/"]
    assert found["/dav/principals/bob/"].text(D + "displayname") == "Bob Builder"
    by_email = body.replace(
        "<D:displayname/></D:prop><D:match>builder", "<C:calendar-user-address-set/></D:prop><D:match>ALICE@example"
    )
    assert list(parse_multistatus(report(alice, "/dav/principals/", by_email, depth="0"))) == ["/dav/principals/alice/"]
    everyone = f"<D:principal-property-search {DECL}><D:prop/><D:displayname/><C:calendar-home-set/></D:principal-property-search>"
    listed = parse_multistatus(report(alice, "/", everyone, depth="0"))
    assert set(listed) == {
        "/dav/principals/alice/",
        "/dav/principals/bob/",
        "/dav/principals/carol/",
        "/dav/principals/team/",
    }
    assert listed["/dav/principals/carol/"].text(C + "calendar-home-set") == "/dav/cal/carol/"


def test_principal_search_property_set(alice: httpx.Client) -> None:
    r = report(alice, "/dav/principals/", f"<D:principal-search-property-set {DECL}/>", depth="0")
    assert r.status_code == 200
    assert "<D:displayname/>" in r.text and "calendar-user-address-set" in r.text


def test_expand_property(alice: httpx.Client) -> None:
    body = (
        f'<D:expand-property {DECL}><D:property name="group-membership"><D:property name="displayname"/>'
        '<D:property name="group-member-set"/></D:property>'
        f'<D:property name="calendar-home-set" namespace="{CALDAV}"/></D:expand-property>'
    )
    me = parse_multistatus(report(alice, "/dav/principals/alice/", body, depth="0"))["/dav/principals/alice/"]
    (group,) = me.value(D + "group-membership")
    assert group.findtext(D + "href") == "/dav/principals/team/"
    props = {p.tag: p for p in group.find(D + "propstat").find(D + "prop")}
    assert "".join(props[D + "displayname"].itertext()) == "team"
    assert [h.text for h in props[D + "group-member-set"]] == ["/dav/principals/alice/", "/dav/principals/bob/"]
    assert me.text(C + "calendar-home-set") == "/dav/cal/alice/"
