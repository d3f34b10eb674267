"""PROPFIND: depths, allprop / propname / prop, per-property 404, Prefer: return=minimal, discovery properties."""

from __future__ import annotations

import httpx

from kernel.testing import event_object as event
from kernel.testing.dav import CALDAV, error_elements, mkcalendar, parse_multistatus, propfind
from tests.caldav_server.conftest import Deployment

D = "{DAV:}"
C = "{" + CALDAV + "}"


def test_root_answers_current_user_principal(alice: httpx.Client) -> None:
    for path in ("/", "/dav/"):
        found = parse_multistatus(propfind(alice, path, "<D:prop><D:current-user-principal/></D:prop>"))
        (only,) = found.values()
        assert only.text(D + "current-user-principal") == "/dav/principals/alice/"


def test_principal_properties(alice: httpx.Client) -> None:
    props = (
        "<D:prop><D:displayname/><D:principal-URL/><C:calendar-home-set/><C:calendar-user-address-set/>"
        "<D:group-membership/><D:resourcetype/><C:calendar-user-type/></D:prop>"
    )
    r = parse_multistatus(propfind(alice, "/dav/principals/alice/", props))["/dav/principals/alice/"]
    assert r.text(D + "displayname") == "Alice Liddell"
    assert r.text(D + "principal-URL") == "/dav/principals/alice/"
    homes = [h.text for h in r.value(C + "calendar-home-set").findall(D + "href")]
    assert homes == ["/dav/cal/alice/"]
    addresses = [h.text for h in r.value(C + "calendar-user-address-set").findall(D + "href")]
    assert addresses == ["mailto:alice@example.com", "/dav/principals/alice/"]
    assert [h.text for h in r.value(D + "group-membership")] == ["/dav/principals/team/"]
    assert r.value(D + "resourcetype").find(D + "principal") is not None
    assert r.text(C + "calendar-user-type") == "INDIVIDUAL"


def test_group_principal_lists_its_members(alice: httpx.Client) -> None:
    r = parse_multistatus(propfind(alice, "/dav/principals/team/", "<D:prop><D:group-member-set/></D:prop>"))
    members = [h.text for h in r["/dav/principals/team/"].value(D + "group-member-set")]
    assert members == ["/dav/principals/alice/", "/dav/principals/bob/"]


def test_unknown_property_is_a_404_propstat(alice: httpx.Client) -> None:
    r = propfind(alice, "/dav/cal/alice/", '<D:prop><D:displayname/><X:nope xmlns:X="urn:x"/></D:prop>')
    home = parse_multistatus(r)["/dav/cal/alice/"]
    assert home.props[D + "displayname"][0] == 200
    assert home.props["{urn:x}nope"][0] == 404


def test_prefer_return_minimal_drops_the_404s(alice: httpx.Client) -> None:
    r = propfind(
        alice, "/dav/cal/alice/", '<D:prop><D:displayname/><X:nope xmlns:X="urn:x"/></D:prop>', Prefer="return=minimal"
    )
    assert r.headers["Preference-Applied"] == "return=minimal"
    home = parse_multistatus(r)["/dav/cal/alice/"]
    assert list(home.props) == [D + "displayname"]


def test_depth_infinity_is_refused(alice: httpx.Client) -> None:
    r = propfind(alice, "/dav/cal/alice/", depth="infinity")
    assert r.status_code == 403
    assert error_elements(r)[0] == D + "propfind-finite-depth"
    no_depth = alice.request("PROPFIND", "/dav/cal/alice/")
    assert no_depth.status_code == 403
    principal = alice.request("PROPFIND", "/dav/principals/alice/")
    assert principal.status_code == 207


def test_depth_1_lists_calendar_members_with_etags(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    etags = {}
    for i in range(3):
        put = alice.put(f"{cal}e{i}.ics", content=event(f"uid-{i}"), headers={"Content-Type": "text/calendar"})
        etags[f"{cal}e{i}.ics"] = put.headers["ETag"]
    found = parse_multistatus(propfind(alice, cal, "<D:prop><D:getetag/><D:resourcetype/></D:prop>", depth="1"))
    assert set(found) == {cal, *etags}
    for href, etag in etags.items():
        assert found[href].text(D + "getetag") == etag
    assert found[cal].value(D + "resourcetype").find(C + "calendar") is not None
    assert found[cal].props[D + "getetag"][0] == 404


def test_allprop_and_propname(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    allprop = parse_multistatus(propfind(alice, cal, "<D:allprop/>"))[cal]
    assert D + "resourcetype" in allprop.props and D + "displayname" in allprop.props
    assert D + "current-user-privilege-set" not in allprop.props
    include = parse_multistatus(
        propfind(alice, cal, "<D:allprop/><D:include><D:current-user-privilege-set/></D:include>")
    )[cal]
    assert D + "current-user-privilege-set" in include.props
    names = parse_multistatus(propfind(alice, cal, "<D:propname/>"))[cal]
    assert C + "supported-calendar-component-set" in names.props
    assert all(len(elem) == 0 and not elem.text for _, elem in names.props.values())


def test_empty_body_means_allprop(alice: httpx.Client) -> None:
    r = alice.request("PROPFIND", "/dav/cal/alice/", headers={"Depth": "0"})
    assert D + "resourcetype" in parse_multistatus(r)["/dav/cal/alice/"].props


def test_calendar_properties(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    props = (
        "<D:prop><C:supported-calendar-component-set/><C:supported-calendar-data/><D:sync-token/>"
        "<CS:getctag/><D:supported-report-set/><D:owner/><D:current-user-privilege-set/>"
        "<C:supported-collation-set/></D:prop>"
    )
    r = parse_multistatus(propfind(alice, cal, props))[cal]
    comps = [c.get("name") for c in r.value(C + "supported-calendar-component-set")]
    assert comps == ["VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VAVAILABILITY"]  # none given: all
    assert r.text(D + "sync-token").startswith("http://teamcal.invalid/sync/")
    assert r.text("{http://calendarserver.org/ns/}getctag") == r.text(D + "sync-token")
    reports = {rep[0][0].tag for rep in r.value(D + "supported-report-set")}
    assert {C + "calendar-query", C + "calendar-multiget", D + "sync-collection"} <= reports
    assert r.text(D + "owner") == "/dav/principals/alice/"
    privileges = {p[0].tag for p in r.value(D + "current-user-privilege-set")}
    assert {D + "read", D + "write", D + "all", C + "read-free-busy"} <= privileges
    collations = [e.text for e in r.value(C + "supported-collation-set")]
    assert "i;unicode-casemap" in collations


def test_ctag_changes_when_the_calendar_changes(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)

    def ctag() -> str:
        return parse_multistatus(propfind(alice, cal, "<D:prop><CS:getctag/></D:prop>"))[cal].text(
            "{http://calendarserver.org/ns/}getctag"
        )

    before = ctag()
    alice.put(cal + "a.ics", content=event("ctag-a"))
    assert ctag() != before


def test_home_depth_1_lists_only_readable_collections(
    deployment: Deployment, alice: httpx.Client, bob: httpx.Client
) -> None:
    cal = mkcalendar(alice)
    listing = parse_multistatus(propfind(bob, "/dav/cal/bob/", "<D:prop><D:resourcetype/></D:prop>", depth="1"))
    assert cal not in listing
    assert propfind(bob, "/dav/cal/alice/").status_code == 404
