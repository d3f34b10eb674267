"""MKCALENDAR, extended and plain MKCOL, PROPPATCH (atomic, protected, dead properties)."""

from __future__ import annotations

import httpx

from kernel.testing.dav import (
    CALDAV,
    NS,
    error_elements,
    mkcalendar,
    parse_multistatus,
    propfind,
    root_tag,
    unique,
)

D = "{DAV:}"
C = "{" + CALDAV + "}"
ICAL = "{http://apple.com/ns/ical/}"
DECL = f'xmlns:D="DAV:" xmlns:C="{CALDAV}" xmlns:ICAL="{NS["ICAL"]}"'


def proppatch(client: httpx.Client, path: str, inner: str) -> httpx.Response:
    """A PROPPATCH with the given DAV:propertyupdate content."""
    body = f'<?xml version="1.0"?><D:propertyupdate {DECL}>{inner}</D:propertyupdate>'
    return client.request("PROPPATCH", path, content=body.encode())


def statuses(r: httpx.Response, href: str) -> dict[str, int]:
    return {name: status for name, (status, _) in parse_multistatus(r)[href].props.items()}


def test_mkcalendar_with_initial_properties(alice: httpx.Client) -> None:
    body = (
        f"<C:mkcalendar {DECL}><D:set><D:prop><D:displayname>Work</D:displayname>"
        "<C:calendar-description>Meetings</C:calendar-description>"
        '<C:supported-calendar-component-set><C:comp name="VTODO"/></C:supported-calendar-component-set>'
        "<ICAL:calendar-color>#FF0000FF</ICAL:calendar-color><ICAL:calendar-order>3</ICAL:calendar-order>"
        '<X:custom xmlns:X="urn:example">kept</X:custom>'
        "</D:prop></D:set></C:mkcalendar>"
    )
    cal = mkcalendar(alice, body=body)
    props = (
        "<D:prop><D:displayname/><C:calendar-description/><C:supported-calendar-component-set/>"
        '<ICAL:calendar-color/><ICAL:calendar-order/><X:custom xmlns:X="urn:example"/></D:prop>'
    )
    r = parse_multistatus(propfind(alice, cal, props))[cal]
    assert r.text(D + "displayname") == "Work"
    assert r.text(C + "calendar-description") == "Meetings"
    assert [c.get("name") for c in r.value(C + "supported-calendar-component-set")] == ["VTODO"]
    assert r.text(ICAL + "calendar-color") == "#FF0000FF"
    assert r.text(ICAL + "calendar-order") == "3"
    assert r.text("{urn:example}custom") == "kept"


def test_mkcalendar_refusals(alice: httpx.Client, bob: httpx.Client) -> None:
    cal = mkcalendar(alice)
    exists = alice.request("MKCALENDAR", cal)
    assert exists.status_code == 405
    assert alice.request("MKCALENDAR", f"/dav/cal/alice/{unique()}/sub/").status_code == 409
    inside = alice.request("MKCALENDAR", cal + "nested/")
    assert inside.status_code == 403
    assert error_elements(inside)[0] == C + "calendar-collection-location-ok"
    assert bob.request("MKCALENDAR", f"/dav/cal/alice/{unique()}/").status_code == 404
    bad = alice.request(
        "MKCALENDAR",
        f"/dav/cal/alice/{unique()}/",
        content=f"<C:mkcalendar {DECL}><D:set><D:prop><D:getetag>x</D:getetag></D:prop></D:set></C:mkcalendar>".encode(),
    )
    assert bad.status_code == 403
    assert root_tag(bad) == C + "mkcalendar-response"


def test_extended_mkcol_makes_a_calendar(alice: httpx.Client) -> None:
    path = f"/dav/cal/alice/{unique()}/"
    body = (
        f"<D:mkcol {DECL}><D:set><D:prop><D:resourcetype><D:collection/><C:calendar/></D:resourcetype>"
        "<D:displayname>Via MKCOL</D:displayname></D:prop></D:set></D:mkcol>"
    )
    r = alice.request("MKCOL", path, content=body.encode(), headers={"Content-Type": "application/xml"})
    assert r.status_code == 201
    found = parse_multistatus(propfind(alice, path, "<D:prop><D:resourcetype/><D:displayname/></D:prop>"))[path]
    assert found.value(D + "resourcetype").find(C + "calendar") is not None
    assert found.text(D + "displayname") == "Via MKCOL"
    unknown = (
        f'<D:mkcol {DECL}><D:set><D:prop><D:resourcetype><D:collection/><X:book xmlns:X="urn:x"/></D:resourcetype>'
        "</D:prop></D:set></D:mkcol>"
    )
    r = alice.request(
        "MKCOL", f"/dav/cal/alice/{unique()}/", content=unknown.encode(), headers={"Content-Type": "text/xml"}
    )
    assert r.status_code == 403
    assert root_tag(r) == D + "mkcol-response"


def test_plain_mkcol_rules(alice: httpx.Client) -> None:
    path = f"/dav/cal/alice/{unique('plain')}/"
    assert alice.request("MKCOL", path).status_code == 201
    assert alice.request("MKCOL", path).status_code == 405
    assert alice.request("MKCOL", path + "a/b/").status_code == 409
    assert alice.request("MKCOL", path + "a/").status_code == 201
    junk = alice.request("MKCOL", path + "c/", content=b"afafafaf", headers={"Content-Type": "xzy-foo/bar-512"})
    assert junk.status_code == 415
    listing = parse_multistatus(propfind(alice, path, "<D:prop><D:resourcetype/></D:prop>", depth="1"))
    assert set(listing) == {path, path + "a/"}
    assert (
        alice.put(path + "notes.txt", content=b"plain text", headers={"Content-Type": "text/plain"}).status_code == 201
    )
    assert alice.get(path + "notes.txt").text == "plain text"


def test_proppatch_sets_live_and_dead_properties(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    r = proppatch(
        alice,
        cal,
        "<D:set><D:prop><D:displayname>Renamed</D:displayname><ICAL:calendar-color>#00FF00</ICAL:calendar-color>"
        "<ICAL:calendar-order>7</ICAL:calendar-order><C:schedule-calendar-transp><C:transparent/></C:schedule-calendar-transp>"
        '<A:unknown-apple-prop xmlns:A="http://apple.com/ns/ical/x">whatever</A:unknown-apple-prop></D:prop></D:set>',
    )
    assert set(statuses(r, cal).values()) == {200}
    props = (
        "<D:prop><D:displayname/><ICAL:calendar-color/><ICAL:calendar-order/><C:schedule-calendar-transp/>"
        '<A:unknown-apple-prop xmlns:A="http://apple.com/ns/ical/x"/></D:prop>'
    )
    got = parse_multistatus(propfind(alice, cal, props))[cal]
    assert got.text(D + "displayname") == "Renamed"
    assert got.text(ICAL + "calendar-color") == "#00FF00"
    assert got.text(ICAL + "calendar-order") == "7"
    assert got.value(C + "schedule-calendar-transp").find(C + "transparent") is not None
    assert got.text("{http://apple.com/ns/ical/x}unknown-apple-prop") == "whatever"
    removed = proppatch(
        alice, cal, '<D:remove><D:prop><A:unknown-apple-prop xmlns:A="http://apple.com/ns/ical/x"/></D:prop></D:remove>'
    )
    assert set(statuses(removed, cal).values()) == {200}
    again = parse_multistatus(propfind(alice, cal, props))[cal]
    assert again.props["{http://apple.com/ns/ical/x}unknown-apple-prop"][0] == 404


def test_proppatch_is_atomic(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    r = proppatch(
        alice,
        cal,
        "<D:set><D:prop><D:displayname>Never</D:displayname><D:getetag>forged</D:getetag>"
        '<X:x xmlns:X="urn:x">never</X:x></D:prop></D:set>',
    )
    codes = statuses(r, cal)
    assert codes == {D + "displayname": 424, D + "getetag": 403, "{urn:x}x": 424}
    assert "cannot-modify-protected-property" in r.text
    got = parse_multistatus(propfind(alice, cal, '<D:prop><D:displayname/><X:x xmlns:X="urn:x"/></D:prop>'))[cal]
    assert got.text(D + "displayname") != "Never"
    assert got.props["{urn:x}x"][0] == 404
    protected = proppatch(
        alice,
        cal,
        '<D:set><D:prop><C:supported-calendar-component-set><C:comp name="VTODO"/></C:supported-calendar-component-set></D:prop></D:set>',
    )
    assert statuses(protected, cal) == {C + "supported-calendar-component-set": 403}


def test_proppatch_on_home_and_principal_keeps_dead_properties(alice: httpx.Client, bob: httpx.Client) -> None:
    for path in ("/dav/cal/alice/", "/dav/principals/alice/"):
        r = proppatch(alice, path, '<D:set><D:prop><X:pref xmlns:X="urn:apple-like">1</X:pref></D:prop></D:set>')
        assert statuses(r, path) == {"{urn:apple-like}pref": 200}
        got = parse_multistatus(propfind(alice, path, '<D:prop><X:pref xmlns:X="urn:apple-like"/></D:prop>'))[path]
        assert got.text("{urn:apple-like}pref") == "1"
    denied = proppatch(
        bob, "/dav/principals/alice/", '<D:set><D:prop><X:pref xmlns:X="urn:a">2</X:pref></D:prop></D:set>'
    )
    assert denied.status_code == 403


def test_calendar_timezone_is_validated(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    bad = proppatch(alice, cal, "<D:set><D:prop><C:calendar-timezone>nonsense</C:calendar-timezone></D:prop></D:set>")
    assert statuses(bad, cal) == {C + "calendar-timezone": 403}
    good = proppatch(
        alice, cal, "<D:set><D:prop><C:calendar-timezone-id>Europe/Berlin</C:calendar-timezone-id></D:prop></D:set>"
    )
    assert statuses(good, cal) == {C + "calendar-timezone-id": 200}
    got = parse_multistatus(propfind(alice, cal, "<D:prop><C:calendar-timezone/><C:calendar-timezone-id/></D:prop>"))[
        cal
    ]
    assert "TZID:Europe/Berlin" in got.text(C + "calendar-timezone")
    assert got.text(C + "calendar-timezone-id") == "Europe/Berlin"
