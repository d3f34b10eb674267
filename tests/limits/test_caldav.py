"""The limits end to end: the CalDAV plugin under a real uvicorn, raw HTTP and the caldav library."""

from __future__ import annotations

import base64
import itertools
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import caldav
import httpx
import pytest

from kernel import Host, Principal
from kernel.testing import LiveServer, add_group, add_user, make_host
from plugins.limits import overrides

from .conftest import CALDAV, TEAMCAL, calendar_object, footprint, sized_object

TOML = """
[limits]
max_icalendar_size = "4kb"
max_attendees = 3
max_recurrence_expansions = 10
max_calendars = 3
max_events = 4
[limits.accounts.bob]
max_attendees = 5
[limits.groups.team]
max_events = 6
"""
LIMIT_PROPS = ("max-resource-size", "max-instances", "max-attendees-per-instance")
_names = itertools.count()


@dataclass
class Live:
    """A host with caldav_server and limits, served by uvicorn."""

    host: Host
    server: LiveServer

    def user(self, name: str | None = None, groups: tuple[Principal, ...] = ()) -> Principal:
        """A fresh user (named ``name`` or uniquely) with one calendar ``cal``, member of ``groups``."""
        user = add_user(self.host, name or f"u{next(_names)}")
        with self.host.store.transaction():
            for group in groups:
                self.host.store.add_member(group.id, user.id)
        self.host.writes.create_collection(user, "cal", "calendar", principal=user)
        return user

    def client(self, user: Principal) -> httpx.Client:
        """A raw HTTP client authenticated as ``user``."""
        return self.server.client(user.name)


def live_server(directory: Path, enabled: tuple[str, ...], extra: str = "", kernel: str = "") -> Iterator[Live]:
    """Start one deployment; stop it afterwards."""
    host = make_host(directory, enabled, extra, kernel=kernel)
    server = LiveServer(host)
    with server:
        yield Live(host, server)
    host.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, teamcal_backend: str) -> Iterator[Live]:
    """One deployment for the module; every test makes its own users."""
    yield from live_server(tmp_path_factory.mktemp("live"), ("caldav_server", "limits"), TOML)


@pytest.fixture(scope="module")
def team(live: Live) -> Principal:
    """The group ``team`` (max_events 6 for members and its own calendars)."""
    return add_group(live.host, "team")


def precondition(response: httpx.Response) -> str:
    """The Clark name of the one precondition element in a DAV:error body."""
    root = ET.fromstring(response.content)
    assert root.tag == "{DAV:}error", response.text
    (element,) = [child for child in root if child.tag != "{DAV:}responsedescription"]
    return element.tag


def put(client: httpx.Client, user: Principal, name: str, data: bytes, calendar: str = "cal") -> httpx.Response:
    """PUT a calendar object into one of ``user``'s calendars."""
    return client.put(f"/dav/cal/{user.name}/{calendar}/{name}", content=data,
                      headers={"Content-Type": "text/calendar; charset=utf-8"})


def refused(response: httpx.Response, status: int, expected: str) -> None:
    """The response is a refusal with this status and precondition, and a one-sentence reason."""
    assert response.status_code == status, response.text
    assert precondition(response) == expected
    reason = ET.fromstring(response.content).findtext("{DAV:}responsedescription") or ""
    assert reason.endswith(".") and reason.count(". ") == 0, reason


def test_size_at_limit_accepted_one_over_refused(live: Live) -> None:
    alice = live.user()
    with live.client(alice) as client:
        assert put(client, alice, "ok.ics", sized_object("e1", 4096)).status_code == 201
        before = footprint(live.host)
        response = put(client, alice, "over.ics", sized_object("e2", 4097))
        refused(response, 403, CALDAV + "max-resource-size")
        assert client.get(f"/dav/cal/{alice.name}/cal/over.ics").status_code == 404
    assert footprint(live.host) == before


def test_declared_oversize_body_refused_before_it_is_sent(live: Live) -> None:
    """Content-Length over the account's limit: 403 max-resource-size without the server waiting for the body."""
    alice = live.user()
    answer = raw_put(live, alice, headers=["Content-Length: 5000000"], chunks=[])
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
    assert b"max-resource-size" in answer


def test_streamed_oversize_body_refused_after_the_limit(live: Live) -> None:
    """A chunked body is refused once it passes the limit; the rest is never waited for."""
    alice = live.user()
    answer = raw_put(live, alice, headers=["Transfer-Encoding: chunked"], chunks=[b"x" * 1024] * 6)
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
    assert b"max-resource-size" in answer


def raw_put(live: Live, user: Principal, headers: list[str], chunks: list[bytes]) -> bytes:
    """Send a PUT's head and these chunks (never the end of the body), then read the answer."""
    auth = base64.b64encode(f"{user.name}:password".encode()).decode()
    head = [f"PUT /dav/cal/{user.name}/cal/big.ics HTTP/1.1", f"Host: 127.0.0.1:{live.server.port}",
            f"Authorization: Basic {auth}", "Content-Type: text/calendar", *headers, "", ""]
    with socket.create_connection(("127.0.0.1", live.server.port), timeout=10) as sock:
        sock.sendall("\r\n".join(head).encode())
        for chunk in chunks:
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        deadline = time.monotonic() + 10
        answer = b""
        while not _complete(answer) and time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    return answer


def _complete(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    lengths = [line.split(b":", 1)[1] for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
    return not lengths or len(body) >= int(lengths[0])


def test_attendees_at_limit_accepted_one_over_refused(live: Live) -> None:
    alice, bob = live.user(), live.user("bob")  # [limits.accounts.bob] allows 5
    with live.client(alice) as client:
        assert put(client, alice, "three.ics", calendar_object("a3", attendees=3)).status_code == 201
        before = footprint(live.host)
        refused(put(client, alice, "four.ics", calendar_object("a4", attendees=4)), 403,
                CALDAV + "max-attendees-per-instance")
    assert footprint(live.host) == before
    with live.client(bob) as client:
        assert put(client, bob, "five.ics", calendar_object("b5", attendees=5)).status_code == 201
        refused(put(client, bob, "six.ics", calendar_object("b6", attendees=6)), 403,
                CALDAV + "max-attendees-per-instance")


def test_instances_at_limit_accepted_one_over_refused(live: Live) -> None:
    alice = live.user()
    with live.client(alice) as client:
        ok = calendar_object("r10", rrule="FREQ=WEEKLY;COUNT=10")
        assert put(client, alice, "r10.ics", ok).status_code == 201
        before = footprint(live.host)
        over = calendar_object("r11", rrule="FREQ=WEEKLY;COUNT=9", rdates=["20290101T100000Z", "20290201T100000Z"])
        refused(put(client, alice, "r11.ics", over), 403, CALDAV + "max-instances")
        assert footprint(live.host) == before
        forever = calendar_object("forever", rrule="FREQ=DAILY")
        assert put(client, alice, "forever.ics", forever).status_code == 201


def test_events_at_limit_accepted_one_over_refused(live: Live) -> None:
    alice = live.user()
    with live.client(alice) as client:
        for i in range(4):
            assert put(client, alice, f"e{i}.ics", calendar_object(f"e{i}")).status_code == 201
        before = footprint(live.host)
        refused(put(client, alice, "e4.ics", calendar_object("e4")), 507, TEAMCAL + "max-events")
        assert footprint(live.host) == before
        assert put(client, alice, "e0.ics", calendar_object("e0", summary="moved")).status_code == 204


def test_racing_writers_cannot_pass_max_events(live: Live) -> None:
    """Twenty PUTs at once through two servers on one database for the last four slots: four win."""
    alice = live.user()
    with LiveServer(live.host) as second:
        barrier = threading.Barrier(20, timeout=30)

        def one(i: int) -> int:
            url = (live.server.url, second.url)[i % 2]
            with httpx.Client(base_url=url, auth=(alice.name, "password"), timeout=30) as client:
                barrier.wait()
                return put(client, alice, f"r{i}.ics", calendar_object(f"r{i}")).status_code

        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = sorted(pool.map(one, range(20), timeout=60))
    assert statuses == [201] * 4 + [507] * 16
    assert live.host.store.count_resources(owner_id=alice.id) == 4


def test_calendars_at_limit_accepted_one_over_refused(live: Live) -> None:
    alice = live.user()
    with live.client(alice) as client:
        for name in ("two", "three"):
            assert client.request("MKCALENDAR", f"/dav/cal/{alice.name}/{name}/").status_code == 201
        response = client.request("MKCALENDAR", f"/dav/cal/{alice.name}/four/")
        refused(response, 507, TEAMCAL + "max-calendars")
        assert client.request("PROPFIND", f"/dav/cal/{alice.name}/four/", headers={"Depth": "0"}).status_code == 404
        assert client.request("MKCOL", f"/dav/cal/{alice.name}/files/").status_code == 201, "plain collections are free"


def test_group_override_for_members_and_team_calendars(live: Live, team: Principal) -> None:
    member = live.user(groups=(team,))
    if live.host.store.collection(team.id, "cal") is None:
        live.host.writes.create_collection(team, "cal", "calendar", principal=None)
    with live.client(member) as client:
        for i in range(6):
            assert put(client, member, f"m{i}.ics", calendar_object(f"m{i}")).status_code == 201
        refused(put(client, member, "m6.ics", calendar_object("m6")), 507, TEAMCAL + "max-events")
        response = client.request("PROPFIND", f"/dav/cal/{team.name}/cal/", headers={"Depth": "0"},
                                  content=propfind_limits())
        assert advertised(response)[f"/dav/cal/{team.name}/cal/"]["max-attendees-per-instance"] == "3"


def test_runtime_override_takes_effect_at_once(live: Live) -> None:
    """`teamcal limits set` writes the database; the running server applies it to the next request."""
    alice = live.user()
    with live.client(alice) as client:
        refused(put(client, alice, "big.ics", calendar_object(attendees=4)), 403,
                CALDAV + "max-attendees-per-instance")
        overrides.save(live.host.store, alice.id, {"max_attendees": 4})
        assert put(client, alice, "big.ics", calendar_object(attendees=4)).status_code == 201


def test_a_request_reads_the_accounts_limits_once(live: Live) -> None:
    """A PUT needs the limits before its body (the size cap) and inside its write (validation),
    a home's listing once per calendar: each request reads them from the database once."""
    alice = live.user()
    with live.client(alice) as client:
        assert client.request("MKCALENDAR", f"/dav/cal/{alice.name}/second/").status_code == 201
        statements: list[str] = []
        served = live.server.host.store.connections  # the server's own host and connections
        served.set_tracer(statements.append)
        try:
            created = put(client, alice, "e.ics", calendar_object("e"))
            on_put = [s for s in statements if "limits_overrides" in s]
            statements.clear()
            listing = client.request("PROPFIND", f"/dav/cal/{alice.name}/", headers={"Depth": "1"},
                                     content=propfind_limits())
            on_listing = [s for s in statements if "limits_overrides" in s]
        finally:
            served.set_tracer(None)
    assert created.status_code == 201 and len(on_put) == 1
    found = advertised(listing)
    assert found[f"/dav/cal/{alice.name}/cal/"] == found[f"/dav/cal/{alice.name}/second/"] != {}
    assert len(on_listing) == 1


def propfind_limits() -> bytes:
    props = "".join(f"<C:{p}/>" for p in LIMIT_PROPS)
    return (f'<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            f"<D:prop>{props}</D:prop></D:propfind>").encode()


def advertised(response: httpx.Response) -> dict[str, dict[str, str]]:
    """href -> {property local name: value} for the limit properties found (200 propstats)."""
    assert response.status_code == 207, response.text
    found: dict[str, dict[str, str]] = {}
    for item in ET.fromstring(response.content).iter("{DAV:}response"):
        href = item.findtext("{DAV:}href") or ""
        found[href] = {}
        for propstat in item.iter("{DAV:}propstat"):
            if "200" not in (propstat.findtext("{DAV:}status") or ""):
                continue
            for prop in propstat.iter():
                if prop.tag.startswith(CALDAV) and prop.tag[len(CALDAV):] in LIMIT_PROPS:
                    found[href][prop.tag[len(CALDAV):]] = prop.text or ""
    return found


def test_hook_dav_properties(live: Live) -> None:
    """Effective limits on calendar collections only, for each calendar's owner."""
    alice = live.user()
    overrides.save(live.host.store, alice.id, {"max_icalendar_size": 1_000_000, "max_recurrence_expansions": 99})
    with live.client(alice) as client:
        assert client.request("MKCOL", f"/dav/cal/{alice.name}/files/").status_code == 201
        assert put(client, alice, "e.ics", calendar_object("e")).status_code == 201
        response = client.request("PROPFIND", f"/dav/cal/{alice.name}/", headers={"Depth": "1"},
                                  content=propfind_limits())
        found = advertised(response)
        assert found[f"/dav/cal/{alice.name}/cal/"] == {
            "max-resource-size": "1000000", "max-instances": "99", "max-attendees-per-instance": "3",
        }
        assert found[f"/dav/cal/{alice.name}/"] == {}
        assert found[f"/dav/cal/{alice.name}/files/"] == {}
        on_object = client.request("PROPFIND", f"/dav/cal/{alice.name}/cal/e.ics", headers={"Depth": "0"},
                                   content=propfind_limits())
        assert advertised(on_object)[f"/dav/cal/{alice.name}/cal/e.ics"] == {}


def test_caldav_library_sees_the_limits(live: Live) -> None:
    """A real client reads the advertised limits and gets an error for a refused event."""
    alice = live.user()
    client = caldav.DAVClient(url=f"{live.server.url}/dav/cal/{alice.name}/cal/", username=alice.name,
                              password="password", timeout=30)
    with client:
        calendar = client.calendar(url=f"{live.server.url}/dav/cal/{alice.name}/cal/")
        props = calendar.get_properties([caldav.elements.cdav.MaxResourceSize()])
        assert props == {CALDAV + "max-resource-size": "4096"}
        calendar.save_event(calendar_object("ok", attendees=3).decode())
        with pytest.raises(caldav.lib.error.AuthorizationError) as info:
            calendar.save_event(calendar_object("over", attendees=4).decode())
        assert CALDAV + "max-attendees-per-instance" in info.value.preconditions
        assert [e.icalendar_component["UID"] for e in calendar.events()] == ["ok"]


def test_without_the_plugin_only_the_kernel_cap_holds(tmp_path: Path) -> None:
    for live in live_server(tmp_path, ("caldav_server",), kernel='max_body_size = "64kb"'):
        alice = live.user()
        with live.client(alice) as client:
            crowded = calendar_object("crowd", attendees=200, rrule="FREQ=DAILY;COUNT=4000")
            assert len(crowded) < 64 * 1024
            assert put(client, alice, "crowd.ics", crowded).status_code == 201
            for i in range(5):
                assert client.request("MKCALENDAR", f"/dav/cal/{alice.name}/c{i}/").status_code == 201
            response = client.request("PROPFIND", f"/dav/cal/{alice.name}/cal/", headers={"Depth": "0"},
                                      content=propfind_limits())
            assert advertised(response)[f"/dav/cal/{alice.name}/cal/"] == {}
            huge = calendar_object("huge", summary="x" * (64 * 1024))
            assert put(client, alice, "huge.ics", huge).status_code == 413
            assert client.get(f"/dav/cal/{alice.name}/cal/huge.ics").status_code == 404
