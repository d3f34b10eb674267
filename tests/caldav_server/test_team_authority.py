"""Who may change a team calendar, over HTTP: a member (object rights), a group admin and a server
admin (the collection's), an outsider (nothing, and sees nothing). Attacks are sent as a hostile
member would; each asserts the answer, that the team calendar is unchanged and still the team's,
and that another user is served meanwhile."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kernel.testing import add_user, latency_during
from kernel.testing import event_object as event
from kernel.testing.dav import CALDAV, NS, error_elements, mkcalendar, parse_multistatus, propfind, unique
from tests.caldav_server.conftest import Deployment, make_deployment
from tests.caldav_server.test_locks import lock, token_of

D = "{DAV:}"
NEED = D + "need-privileges"
MK_PLANNING = (
    f'<C:mkcalendar xmlns:D="DAV:" xmlns:C="{CALDAV}"><D:set><D:prop><D:displayname>Planning</D:displayname>'
    "</D:prop></D:set></C:mkcalendar>"
)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """alice (team admin), bob and dave (team members), carol (outsider), root (server admin)."""
    dep = make_deployment(tmp_path_factory.mktemp("authority"))
    add_user(dep.host, "root", admin=True)
    dave = add_user(dep.host, "dave")
    team = dep.host.store.principal("team")
    assert team is not None
    with dep.host.store.transaction():
        dep.host.store.add_member(team.id, dave.id)
    with dep.server:
        yield dep
    dep.host.close()


def team_calendar(alice: httpx.Client) -> tuple[str, str]:
    """A fresh team calendar made by its group admin: (URL path, name)."""
    cal = mkcalendar(alice, owner="team", body=MK_PLANNING)
    return cal, cal.strip("/").rsplit("/", 1)[-1]


def state(dep: Deployment, name: str) -> tuple:
    """Everything a collection change could alter: id, owner, path, attributes, dead properties,
    objects and locks of the team calendar ``name``."""
    store = dep.host.store
    found = store.collection("team", name)
    assert found is not None, "the team calendar is gone"
    locks = store.execute("SELECT count(*) FROM caldav_server_locks WHERE path LIKE ?", (f"/cal/team/{name}%",))
    return (
        found.id, found.owner.name, found.path, found.display_name, found.color, found.description,
        store.properties(collection_id=found.id), sorted(r.name for r in store.resources(found.id)),
        locks.fetchone()[0],
    )


def proppatch(client: httpx.Client, path: str, props: str) -> httpx.Response:
    body = (
        f'<D:propertyupdate xmlns:D="DAV:" xmlns:C="{CALDAV}" xmlns:ICAL="{NS["ICAL"]}" xmlns:X="urn:x">'
        f"<D:set><D:prop>{props}</D:prop></D:set></D:propertyupdate>"
    )
    return client.request("PROPPATCH", path, content=body.encode())


def lock_timeout(r: httpx.Response) -> int:
    """The seconds the DAV:timeout of a LOCK answer grants."""
    assert r.status_code in (200, 201), r.text
    text = ET.fromstring(r.content).findtext(f".//{D}activelock/{D}timeout") or ""
    assert text.startswith("Second-"), text
    return int(text[len("Second-"):])


def lock_tokens(client: httpx.Client, path: str) -> list[str]:
    """The tokens DAV:lockdiscovery shows for ``path``."""
    found = parse_multistatus(propfind(client, path, "<D:prop><D:lockdiscovery/></D:prop>"))[path]
    return [h.text or "" for h in found.value(D + "lockdiscovery").iterfind(f"{D}activelock/{D}locktoken/{D}href")]


def probe(dep: Deployment) -> tuple[httpx.Client, object]:
    """carol's client and a request of hers, to time during an attack."""
    carol = dep.client("carol")
    return carol, lambda: carol.request("PROPFIND", "/dav/cal/carol/", headers={"Depth": "1"})


def test_a_member_cannot_delete_move_rename_or_lock_a_team_calendar(
    deployment: Deployment, alice: httpx.Client, bob: httpx.Client
) -> None:
    cal, name = team_calendar(alice)
    alias = f"/dav/cal/bob/team~{name}/"
    assert bob.put(cal + "standup.ics", content=event("standup")).status_code == 201
    own = mkcalendar(bob, owner="bob")
    before = state(deployment, name)

    def attack() -> dict[str, httpx.Response]:
        return {
            "DELETE": bob.delete(cal),
            "DELETE alias": bob.delete(alias),
            "MOVE into own home": bob.request("MOVE", cal, headers={"Destination": "/dav/cal/bob/stolen/"}),
            "MOVE alias": bob.request("MOVE", alias, headers={"Destination": "/dav/cal/bob/stolen2/"}),
            "MOVE rename": bob.request("MOVE", cal, headers={"Destination": f"/dav/cal/team/{name}-renamed/"}),
            "PROPPATCH displayname": proppatch(bob, cal, "<D:displayname>Mine now</D:displayname>"),
            "PROPPATCH colour": proppatch(bob, alias, "<ICAL:calendar-color>#FF0000</ICAL:calendar-color>"),
            "PROPPATCH dead": proppatch(bob, cal, "<X:note>mine</X:note>"),
            "LOCK Infinite": lock(bob, cal, depth="infinity", timeout="Infinite"),
            "LOCK depth 0": lock(bob, alias),
            "MKCALENDAR": bob.request("MKCALENDAR", f"/dav/cal/team/{unique()}/"),
            "MKCOL": bob.request("MKCOL", f"/dav/cal/team/{unique()}/"),
            "COPY over": bob.request("COPY", own, headers={"Destination": cal, "Overwrite": "T"}),
            "MOVE over": bob.request("MOVE", own, headers={"Destination": cal, "Overwrite": "T"}),
        }

    carol, request = probe(deployment)
    with carol:
        answers, took = latency_during(attack, request)
    for what, r in answers.items():
        assert r.status_code == 403, (what, r.status_code, r.text)
        assert error_elements(r)[0] == NEED, what
    assert max(took) < 1, took
    assert state(deployment, name) == before
    assert deployment.host.store.collection("bob", "stolen") is None
    assert alice.get(cal + "standup.ics").status_code == 200
    with deployment.client("dave") as dave:
        assert dave.get(f"/dav/cal/dave/team~{name}/standup.ics").status_code == 200


def test_a_member_keeps_object_rights(deployment: Deployment, alice: httpx.Client, bob: httpx.Client) -> None:
    cal, name = team_calendar(alice)
    alias = f"/dav/cal/bob/team~{name}/"
    assert bob.put(alias + "a.ics", content=event("a")).status_code == 201
    assert bob.put(cal + "a.ics", content=event("a", summary="changed")).status_code == 204
    patched = parse_multistatus(proppatch(bob, cal + "a.ics", "<X:note>mine</X:note>"))[cal + "a.ics"]
    assert patched.props["{urn:x}note"][0] == 200
    own = mkcalendar(bob, owner="bob")
    assert bob.put(cal + "b.ics", content=event("b")).status_code == 201
    assert bob.request("COPY", cal + "a.ics", headers={"Destination": own + "a.ics"}).status_code == 201
    assert bob.request("MOVE", cal + "b.ics", headers={"Destination": own + "b.ics"}).status_code == 201
    assert bob.request("MOVE", own + "b.ics", headers={"Destination": alias + "c.ics"}).status_code == 201
    assert bob.delete(cal + "c.ics").status_code == 204
    privileges = parse_multistatus(propfind(bob, cal, "<D:prop><D:current-user-privilege-set/></D:prop>"))[cal]
    granted = {p[0].tag for p in privileges.value(D + "current-user-privilege-set")}
    assert {D + "read", D + "write", D + "write-content", D + "bind", D + "unbind"} <= granted
    assert not granted & {D + "write-properties", D + "all", D + "unlock", D + "write-acl"}
    taken = lock(bob, cal + "a.ics", timeout="Infinite")
    assert 3590 <= lock_timeout(taken) <= 3600, "Timeout: Infinite gets the one-hour cap"
    assert bob.request("UNLOCK", cal + "a.ics", headers={"Lock-Token": f"<{token_of(taken)}>"}).status_code == 204
    assert state(deployment, name)[7] == ["a.ics"]


def test_group_admin_and_server_admin_change_a_team_calendar(deployment: Deployment, alice: httpx.Client) -> None:
    cal, name = team_calendar(alice)
    patched = parse_multistatus(proppatch(alice, cal, "<D:displayname>Roadmap</D:displayname>"))[cal]
    assert patched.props[D + "displayname"][0] == 200
    granted = parse_multistatus(propfind(alice, cal, "<D:prop><D:current-user-privilege-set/></D:prop>"))[cal]
    assert D + "write-properties" in {p[0].tag for p in granted.value(D + "current-user-privilege-set")}
    taken = lock(alice, cal, depth="infinity", timeout="Infinite, Second-99999999")
    assert 3590 <= lock_timeout(taken) <= 3600
    assert alice.request("UNLOCK", cal, headers={"Lock-Token": f"<{token_of(taken)}>"}).status_code == 204
    moved = alice.request("MOVE", cal, headers={"Destination": f"/dav/cal/team/{name}-moved/"})
    assert moved.status_code == 201
    found = deployment.host.store.collection("team", f"{name}-moved")
    assert found is not None and found.display_name == "Roadmap"
    with deployment.client("root") as root:
        recoloured = parse_multistatus(
            proppatch(root, f"/dav/cal/team/{name}-moved/", "<ICAL:calendar-color>#00FF00</ICAL:calendar-color>")
        )
        assert recoloured[f"/dav/cal/team/{name}-moved/"].props["{" + NS["ICAL"] + "}calendar-color"][0] == 200
        assert root.request("MKCALENDAR", f"/dav/cal/team/{name}-root/").status_code == 201
        assert root.delete(f"/dav/cal/team/{name}-root/").status_code == 204
    assert alice.delete(f"/dav/cal/team/{name}-moved/").status_code == 204
    assert deployment.host.store.collection("team", f"{name}-moved") is None


def test_an_outsider_sees_nothing(deployment: Deployment, alice: httpx.Client) -> None:
    cal, name = team_calendar(alice)
    assert alice.put(cal + "a.ics", content=event("a")).status_code == 201
    token = token_of(lock(alice, cal + "a.ics"))
    before = state(deployment, name)
    with deployment.client("carol") as carol:
        for r in (
            carol.delete(cal),
            carol.request("MOVE", cal, headers={"Destination": "/dav/cal/carol/stolen/"}),
            proppatch(carol, cal, "<D:displayname>x</D:displayname>"),
            lock(carol, cal),
            carol.request("UNLOCK", cal + "a.ics", headers={"Lock-Token": f"<{token}>"}),
            carol.request("MKCALENDAR", f"/dav/cal/team/{unique()}/"),
            carol.put(cal + "b.ics", content=event("b")),
        ):
            assert r.status_code == 404, (r.request.method, r.status_code)
            assert "Planning" not in r.text
    assert state(deployment, name) == before
    assert alice.request("UNLOCK", cal + "a.ics", headers={"Lock-Token": f"<{token}>"}).status_code == 204


def test_admins_remove_a_members_lock(deployment: Deployment, alice: httpx.Client, bob: httpx.Client) -> None:
    """A member's lock lapses within the cap, and the calendar's admins remove it with the token
    DAV:lockdiscovery shows; another member cannot."""
    cal, name = team_calendar(alice)
    for resource in ("a.ics", "b.ics"):
        assert bob.put(cal + resource, content=event(resource)).status_code == 201
        taken = lock(bob, cal + resource, timeout="Infinite")
        assert taken.status_code == 200 and 3590 <= lock_timeout(taken) <= 3600
    assert alice.put(cal + "a.ics", content=event("a.ics", summary="blocked")).status_code == 423
    with deployment.client("dave") as dave:
        [token] = lock_tokens(dave, cal + "a.ics")
        denied = dave.request("UNLOCK", cal + "a.ics", headers={"Lock-Token": f"<{token}>"})
        assert denied.status_code == 403 and error_elements(denied)[0] == NEED
    [token] = lock_tokens(alice, cal + "a.ics")
    assert alice.request("UNLOCK", cal + "a.ics", headers={"Lock-Token": f"<{token}>"}).status_code == 204
    assert alice.put(cal + "a.ics", content=event("a.ics", summary="free")).status_code == 204
    with deployment.client("root") as root:
        [token] = lock_tokens(root, cal + "b.ics")
        assert root.request("UNLOCK", cal + "b.ics", headers={"Lock-Token": f"<{token}>"}).status_code == 204
    assert state(deployment, name)[-1] == 0


def test_team_member_privilege_admin_makes_every_member_an_admin(tmp_path: Path) -> None:
    """The documented choice still holds: with "admin", members manage the team's calendars."""
    dep = make_deployment(tmp_path, kernel='team_member_privilege = "admin"')
    with dep.server, dep.client("bob") as bob:
        cal = mkcalendar(bob, owner="team")
        assert parse_multistatus(proppatch(bob, cal, "<D:displayname>Ours</D:displayname>"))[cal].props[
            D + "displayname"
        ][0] == 200
        assert bob.delete(cal).status_code == 204
    dep.host.close()
