"""Access: another user's calendar is invisible, a read-only grant shows read-only, team calendars."""

from __future__ import annotations

import httpx

from kernel.testing import event_object as event
from kernel.testing.dav import CALDAV, error_elements, mkcalendar, parse_multistatus, propfind, unique
from tests.caldav_server.conftest import Deployment

D = "{DAV:}"
C = "{" + CALDAV + "}"


def grant(deployment: Deployment, owner: str, path: str, grantee: str, privilege: str | None) -> None:
    """Give ``grantee`` a privilege on ``owner``'s collection at ``path`` (a URL path)."""
    host = deployment.host
    collection = host.store.collection(owner, path.strip("/").split("/", 3)[3])
    assert collection is not None
    who = host.store.principal(grantee)
    assert who is not None
    host.writes.set_grant(collection, who.id, privilege, principal=None)


def privileges(client: httpx.Client, path: str) -> set[str]:
    r = parse_multistatus(propfind(client, path, "<D:prop><D:current-user-privilege-set/></D:prop>"))[path]
    return {p[0].tag for p in r.value(D + "current-user-privilege-set")}


def test_another_users_calendar_is_invisible(alice: httpx.Client, bob: httpx.Client) -> None:
    cal = mkcalendar(alice)
    alice.put(cal + "secret.ics", content=event("secret", summary="salary talk"))
    for method, path in (
        ("PROPFIND", cal),
        ("GET", cal),
        ("GET", cal + "secret.ics"),
        ("PUT", cal + "x.ics"),
        ("DELETE", cal + "secret.ics"),
        ("DELETE", cal),
        ("PROPPATCH", cal),
        ("REPORT", cal),
        ("PROPFIND", "/dav/cal/alice/"),
        ("MKCALENDAR", "/dav/cal/alice/" + unique() + "/"),
        ("OPTIONS", cal),
        ("COPY", cal + "secret.ics"),
        ("MOVE", cal),
    ):
        r = bob.request(
            method, path, content=event("intruder"), headers={"Depth": "0", "Destination": "/dav/cal/bob/x/"}
        )
        assert r.status_code == 404, (method, path, r.status_code)
        assert "salary" not in r.text
    assert alice.get(cal + "secret.ics").status_code == 200


def test_read_only_grant(deployment: Deployment, alice: httpx.Client, bob: httpx.Client) -> None:
    cal = mkcalendar(alice)
    etag = alice.put(cal + "a.ics", content=event("shared-ro")).headers["ETag"]
    grant(deployment, "alice", cal, "bob", "read")
    assert bob.get(cal + "a.ics").status_code == 200
    got = privileges(bob, cal)
    assert D + "read" in got and D + "write" not in got and D + "write-content" not in got
    denied = bob.put(cal + "a.ics", content=event("shared-ro", summary="bob was here"))
    assert denied.status_code == 403
    assert error_elements(denied) == [D + "need-privileges", D + "responsedescription"]
    assert bob.delete(cal + "a.ics").status_code == 403
    assert bob.delete(cal).status_code == 403
    assert alice.get(cal + "a.ics").headers["ETag"] == etag
    alias = "/dav/cal/bob/alice~" + cal.split("/")[-2] + "/"
    listing = parse_multistatus(propfind(bob, "/dav/cal/bob/", "<D:prop><D:resourcetype/></D:prop>", depth="1"))
    assert alias in listing and cal not in listing
    assert bob.get(alias + "a.ics").content == alice.get(cal + "a.ics").content
    assert bob.put(alias + "a.ics", content=event("shared-ro", summary="via alias")).status_code == 403
    in_alias = parse_multistatus(propfind(bob, alias, "<D:prop><D:getetag/></D:prop>", depth="1"))
    assert set(in_alias) == {alias, alias + "a.ics"}
    owner_view = parse_multistatus(propfind(bob, "/dav/cal/alice/", "<D:prop><D:resourcetype/></D:prop>", depth="1"))
    assert cal in owner_view
    grant(deployment, "alice", cal, "bob", None)
    assert bob.get(cal + "a.ics").status_code == 404


def test_write_grant(deployment: Deployment, alice: httpx.Client, bob: httpx.Client) -> None:
    cal = mkcalendar(alice)
    grant(deployment, "alice", cal, "bob", "write")
    assert bob.put(cal + "b.ics", content=event("from-bob")).status_code == 201
    assert D + "write" in privileges(bob, cal)
    assert bob.delete(cal).status_code == 403
    assert bob.request("MKCALENDAR", f"/dav/cal/alice/{unique()}/").status_code == 403


def test_team_calendar_through_group_membership(deployment: Deployment, alice: httpx.Client, bob: httpx.Client) -> None:
    cal = mkcalendar(alice, owner="team")
    assert bob.put(cal + "standup.ics", content=event("standup")).status_code == 201
    assert alice.get(cal + "standup.ics").status_code == 200
    with deployment.client("carol") as carol:
        assert carol.get(cal + "standup.ics").status_code == 404
        assert propfind(carol, "/dav/cal/team/").status_code == 404
    owner = parse_multistatus(propfind(bob, cal, "<D:prop><D:owner/></D:prop>"))[cal].text(D + "owner")
    assert owner == "/dav/principals/team/"


def test_wrong_credentials_get_a_basic_challenge(deployment: Deployment) -> None:
    with deployment.client("alice", "wrong-password") as wrong:
        r = wrong.request("PROPFIND", "/dav/", headers={"Depth": "0"})
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Basic")
    with deployment.client(None) as anonymous:
        for path in ("/dav/", "/dav/cal/alice/", "/"):
            assert anonymous.request("PROPFIND", path).status_code == 401


def test_the_homes_listed_are_ones_own_its_teams_and_those_that_granted_it_a_calendar(
    deployment: Deployment, alice: httpx.Client, bob: httpx.Client
) -> None:
    """PROPFIND Depth 1 of the homes collection lists the principal's home, its groups' homes
    and the homes of owners who granted it a calendar (or one to a group of it): no other."""
    homes = "/dav/cal/"

    def listed(client: httpx.Client) -> set[str]:
        return set(parse_multistatus(propfind(client, homes, "<D:prop><D:resourcetype/></D:prop>", depth="1")))

    with deployment.client("carol") as carol:
        before = {"bob": listed(bob), "alice": listed(alice), "carol": listed(carol)}
        for name in ("bob", "alice"):  # other tests of the module may have granted them more
            assert {homes, f"/dav/cal/{name}/", "/dav/cal/team/"} <= before[name]
            assert "/dav/cal/carol/" not in before[name]
        assert {homes, "/dav/cal/carol/"} <= before["carol"] and "/dav/cal/team/" not in before["carol"]
        cal = mkcalendar(carol)
        grant(deployment, "carol", cal, "team", "read")  # to bob's and alice's group
        assert listed(bob) == before["bob"] | {"/dav/cal/carol/"}
        assert listed(alice) == before["alice"] | {"/dav/cal/carol/"}
        assert listed(carol) == before["carol"]
        grant(deployment, "carol", cal, "team", None)
        assert listed(bob) == before["bob"]
