"""Cost follows the answer, not the calendar: SQL statements per request do not grow with its size."""

from __future__ import annotations

import asyncio
import functools
import inspect
from pathlib import Path
from typing import Any

import httpx
import pytest

from kernel import Parsed
from kernel.accounts import set_grant
from kernel.host import Host
from kernel.testing import add_group, add_user, asgi_client, make_host
from kernel.testing import event_object as event
from kernel.testing.dav import CALDAV
from kernel.testing.postgres import round_trips
from tests.caldav_server.conftest import PASSWORD

PROPFIND = b'<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:getcontenttype/><D:resourcetype/></D:prop></D:propfind>'
MAX_SIZE = (f'<D:propfind xmlns:D="DAV:" xmlns:C="{CALDAV}"><D:prop><D:resourcetype/><C:max-resource-size/>'
            "</D:prop></D:propfind>").encode()
WEEK = (
    f'<C:calendar-query xmlns:D="DAV:" xmlns:C="{CALDAV}"><D:prop><D:getetag/><C:calendar-data/></D:prop>'
    '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
    '<C:time-range start="20240101T000000Z" end="20240108T000000Z"/></C:comp-filter></C:comp-filter></C:filter>'
    "</C:calendar-query>"
).encode()


def seeded(directory: Path, count: int) -> Host:
    """A host whose alice has a calendar of ``count`` events, one of them in the first week of 2024."""
    directory.mkdir()
    host = make_host(directory, ["caldav_server"])
    alice = add_user(host, "alice", PASSWORD)
    cal = host.writes.create_collection(alice, "cal", "calendar", principal=alice)
    host.writes.put_object(cal, "0.ics", event("u0", "20240103T100000Z", "20240103T110000Z"), principal=alice)
    for i in range(1, count):
        day = 10 + i % 15
        data = event(f"u{i}", f"202402{day}T100000Z", f"202402{day}T110000Z")
        host.writes.put_object(cal, f"{i}.ics", data, principal=alice)
    return host


def statements(
    host: Host, method: str, path: str, body: bytes, depth: str, user: str = "alice"
) -> tuple[int, httpx.Response]:
    """How many SQL statements one request of ``user`` runs, and its answer."""

    async def run() -> tuple[int, httpx.Response]:
        async with asgi_client(host, user, PASSWORD) as client:
            await client.request("OPTIONS", "/dav/")
            with host.store.traced() as seen:
                response = await client.request(method, path, content=body, headers={"Depth": depth})
            return len(seen), response

    return asyncio.run(run())


async def trips_of(
    host: Host, client: httpx.AsyncClient, method: str, path: str, status: int, **kw: Any
) -> tuple[int, httpx.Response]:
    """How many round trips to PostgreSQL one request makes (on every connection the store has
    open), and its answer, which must have ``status``. A statement is prepared in the round
    trip that first runs it by name."""
    with round_trips(host.store, every_thread=True) as trips:
        answer = await client.request(method, path, **kw)
    assert answer.status_code == status, answer.text
    return len(trips), answer


async def put_then_replace(counted: Any, path: str, uid: str) -> tuple[int, int]:
    """Round trips (``trips_of`` bound to a host and client) of a PUT making an object at
    ``path``, then of one replacing it with If-Match."""
    data = event(uid, "20240103T100000Z", "20240103T110000Z")
    new, created = await counted("PUT", path, 201, content=data)
    replacing, _ = await counted(
        "PUT", path, 204, content=data.replace(b"SUMMARY:x", b"SUMMARY:y"), headers={"If-Match": created.headers["ETag"]}
    )
    return new, replacing


def test_listing_sync_and_week_query_cost_is_constant(tmp_path: Path) -> None:
    small, large = seeded(tmp_path / "small", 5), seeded(tmp_path / "large", 60)
    try:
        token_body = (
            b'<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:prop><D:getetag/></D:prop></D:sync-collection>'
        )
        for method, body, depth in (("PROPFIND", PROPFIND, "1"), ("REPORT", WEEK, "1"), ("REPORT", token_body, "0")):
            few, r1 = statements(small, method, "/dav/cal/alice/cal/", body, depth)
            many, r2 = statements(large, method, "/dav/cal/alice/cal/", body, depth)
            assert r1.status_code == r2.status_code == 207
            assert few == many, (method, few, many)
            assert 0 < few <= 12, (method, few)
    finally:
        small.close()
        large.close()


def test_a_listing_of_a_home_costs_the_same_for_2_and_8_calendars(tmp_path: Path) -> None:
    """PROPFIND Depth 1 of a home (what clients ask on every sync) reads its calendars' dead
    properties in one query, and which are one-way once: the statements do not grow with the
    number of calendars, and each calendar still answers with its own properties."""
    counts = []
    for size in (2, 8):
        (tmp_path / str(size)).mkdir()
        host = make_host(tmp_path / str(size), ["caldav_server", "limits", "caldav_subscription"])
        alice = add_user(host, "alice", PASSWORD)
        for i in range(size):
            calendar = host.writes.create_collection(alice, f"cal{i}", "calendar", principal=alice)
            tag = f'<Y:tag xmlns:Y="urn:y">{i}</Y:tag>'
            host.writes.update_collection(calendar, principal=alice, properties={"{urn:y}tag": tag})
        body = PROPFIND.replace(b"</D:prop>", b'<Y:tag xmlns:Y="urn:y"/><D:current-user-privilege-set/></D:prop>')
        try:
            count, response = statements(host, "PROPFIND", "/dav/cal/alice/", body, "1")
        finally:
            host.close()
        assert response.status_code == 207
        for i in range(size):
            own = response.text.split(f"/dav/cal/alice/cal{i}/", 1)[1].split("response>", 1)[0]
            assert f">{i}</" in own and "write-content" in own, own
        counts.append(count)
    assert counts[0] == counts[1], counts


def test_a_home_listing_costs_the_same_for_1_and_4_team_and_granted_calendars(tmp_path: Path) -> None:
    """What a member sees in their home besides their own calendars (their team's calendars
    and those granted to them) is read in a fixed number of statements, however many such
    calendars there are (the limits each owner's calendars advertise are read once per
    owner), and each of them is listed."""
    counts = []
    for size in (1, 4):
        (tmp_path / str(size)).mkdir()
        host = make_host(tmp_path / str(size), ["caldav_server", "limits"])
        alice, bob = add_user(host, "alice", PASSWORD), add_user(host, "bob", PASSWORD)
        team = add_group(host, "team", [bob])
        shared = []
        for i in range(size):
            shared.append(host.writes.create_collection(team, f"t{i}", "calendar", principal=None))
            granted = host.writes.create_collection(alice, f"g{i}", "calendar", principal=alice)
            set_grant(host, granted, "bob", "read")
            shared.append(granted)
        try:
            count, response = statements(host, "PROPFIND", "/dav/cal/bob/", PROPFIND, "1", user="bob")
        finally:
            host.close()
        assert response.status_code == 207
        for collection in shared:  # in bob's home as OWNER~NAME
            assert f"/dav/cal/bob/{collection.owner.name}~{collection.path}/<" in response.text, collection.path
        counts.append(count)
    assert counts[0] == counts[1], counts


@pytest.mark.postgresql_only
def test_hook_dav_properties_ahead_reads_the_limits_of_every_other_owner_at_once(tmp_path: Path) -> None:
    """A home listing's team and granted calendars advertise their owners' limits: the limits
    plugin reads those of every owner at once (``dav_properties_ahead``), so the listing
    takes as many round trips for calendars of 2 other owners as of 4: the account with
    everything named ahead, the calendars' dead properties, the other owners' limits."""
    counts = []
    for owners in (2, 4):
        (tmp_path / str(owners)).mkdir()
        host = make_host(tmp_path / str(owners), ["caldav_server", "limits"])
        bob = add_user(host, "bob", PASSWORD)
        team = add_group(host, "team", [bob])
        host.writes.create_collection(team, "t", "calendar", principal=None)
        for i in range(owners - 1):
            lender = add_user(host, f"lender{i}", PASSWORD)
            set_grant(host, host.writes.create_collection(lender, "g", "calendar", principal=lender), "bob", "read")
        host.writes.create_collection(bob, "own", "calendar", principal=bob)

        async def run(host: Host = host, owners: int = owners) -> int:
            async with asgi_client(host, "bob", PASSWORD) as client:
                counted = functools.partial(trips_of, host, client)
                for _ in range(3):  # the first rounds open the worker threads' connections
                    trips, answer = await counted("PROPFIND", "/dav/cal/bob/", 207, content=MAX_SIZE, headers={"Depth": "1"})
                    assert answer.text.count("max-resource-size>") == 2 * (owners + 1), answer.text  # own, team, lent
                return trips

        try:
            counts.append(asyncio.run(run()))
        finally:
            host.close()
    assert counts == [3, 3], counts


def test_a_put_reads_each_thing_once_before_its_transaction(tmp_path: Path) -> None:
    """Before it begins, a PUT (new or replacing) reads the account, the calendar and object
    its URL names, the locks over them and the owner's limits, and on PostgreSQL takes a new
    row's id: one statement each (on PostgreSQL all in one round trip), however many locks
    it checks."""
    host = make_host(tmp_path, ["caldav_server", "limits"])
    alice = add_user(host, "alice", PASSWORD)
    host.writes.create_collection(alice, "cal", "calendar", principal=alice)

    async def run() -> list[list[str]]:
        seen: list[list[str]] = []
        async with asgi_client(host, "alice", PASSWORD) as client:
            await client.request("OPTIONS", "/dav/")
            etag = None
            for status in (201, 204):  # new, then replaced under If-Match
                headers = {"If-Match": etag} if etag else {}
                with host.store.traced() as statements:
                    put = await client.put("/dav/cal/alice/cal/e.ics", content=event("e"), headers=headers)
                assert put.status_code == status, put.text
                etag = put.headers["ETag"]
                seen.append(statements[: next(i for i, s in enumerate(statements) if s.startswith("BEGIN"))])
        return seen

    try:
        for before in asyncio.run(run()):
            tables = ("limits_overrides", "caldav_server_locks", "collections", "principals", "nextval")
            read = sorted(next(t for t in tables if t in s) for s in before)
            expected = ["caldav_server_locks", "collections", "limits_overrides", "principals"]
            assert read == sorted(expected + (["nextval"] if host.store.dialect == "postgresql" else [])), before
    finally:
        host.close()


def test_a_put_body_is_parsed_once_while_the_first_round_trip_is_out(tmp_path: Path, monkeypatch) -> None:
    """A PUT with credentials the server remembers parses its body while the reads of its
    account and URL are on their way to PostgreSQL (``store.meanwhile``), and the write takes
    that parse: one parse a PUT (on SQLite, where there is no round trip to fill, in the
    write). Credentials just verified are parsed in the write as before; wrong credentials or
    an unknown user get a 401 without their body being parsed at all."""
    host = make_host(tmp_path, ["caldav_server", "limits"])
    alice = add_user(host, "alice", PASSWORD)
    host.writes.create_collection(alice, "cal", "calendar", principal=alice)
    parses: list[tuple[bytes, bool]] = []
    parse = host.writes.parse

    def recorded(data: bytes) -> Parsed:
        in_round_trip = any(frame.function == "_send_expected" for frame in inspect.stack())
        parses.append((data, in_round_trip))
        return parse(data)

    monkeypatch.setattr(host.writes, "parse", recorded)
    postgresql = host.store.dialect == "postgresql"

    async def run() -> list[int]:
        statuses = []
        async with asgi_client(host, "alice", PASSWORD) as client:
            for i in range(3):  # the first PUT verifies the password: then it is remembered
                data = event("e", summary=f"v{i}")
                put = await client.put("/dav/cal/alice/cal/e.ics", content=data)
                statuses.append(put.status_code)
                assert [d for d, _ in parses] == [data]
                assert parses[0][1] is (postgresql and i > 0), (i, parses)
                parses.clear()
                assert host.store.data(host.store.resource(host.store.collection(alice.id, "cal").id,
                                                           "e.ics").id) == data
        for user, password in (("alice", "wrong"), ("mallory", PASSWORD)):
            async with asgi_client(host, user, password) as stranger:
                refused = await stranger.put("/dav/cal/alice/cal/x.ics", content=event("x"))
                statuses.append(refused.status_code)
        return statuses

    try:
        assert asyncio.run(run()) == [201, 204, 204, 401, 401]
        assert parses == []
        assert host.store.resource(host.store.collection(alice.id, "cal").id, "x.ics") is None
    finally:
        host.close()


@pytest.mark.postgresql_only
def test_round_trips_of_a_get_a_put_and_a_week_on_postgresql(tmp_path: Path) -> None:
    """What a request waits for on PostgreSQL, counted on the wire. A GET is 1 round trip:
    the account, with the URL and its object read ahead. A PUT replacing an object is 2: the
    account with the URL (its row), the locks and the owner's limits read ahead; then its
    whole transaction, BEGIN, the lock, the check that the row read ahead is unchanged
    (``store.guard_row``), the writes with the change and COMMIT. A new object's PUT is 2
    too: the same first round trip with a new row's id; then BEGIN, the lock, the checks
    that the name and the body's UID are still free (``store.guard_absent``) and that the
    account is under its object count (the limits plugin's ``store.refuse_if``), the writes
    and COMMIT. A week's
    calendar-query is 3 (the account with the URL, the index with the objects indexed short
    of it, the data). A DELETE is 2, as a PUT replacing an object (an unlocked object's locks
    are not looked for again). A PROPPATCH of a calendar is 6:
    the account with the URL and its locks; BEGIN with the properties' sizes; the owner's
    limits; the writes with the change; the calendar read back; COMMIT. A MOVE of an
    object within its calendar is 7: the account with both URLs and their locks read ahead;
    BEGIN with the source, its content and properties and what the destination holds; the
    delete's own read and its writes; the new row's reads with the owner's limits and
    count (``object_reads_ahead``), its writes, and COMMIT. A COPY to another calendar is
    5: the same without the delete. PROPFIND Depth 1 of a calendar is 3 (the account with the
    URL, the calendar's member collections and the owner's limits its calendar advertises; its
    dead properties; the first page of its objects), of a home 2 (the account with the home's
    calendars and its own dead properties, the owner's limits and what the account reaches
    through its groups and grants; the calendars' dead properties)."""
    host = make_host(tmp_path, ["caldav_server", "limits"])
    alice = add_user(host, "alice", PASSWORD)
    calendar = host.writes.create_collection(alice, "cal", "calendar", principal=alice)
    host.writes.create_collection(alice, "other", "calendar", principal=alice)
    cal = "/dav/cal/alice/cal/"

    async def run() -> list[tuple[int, ...]]:
        async with asgi_client(host, "alice", PASSWORD) as client:
            counted = functools.partial(trips_of, host, client)

            seen = []
            for i in range(3):  # the first rounds open the worker threads' connections
                new, replacing = await put_then_replace(counted, cal + f"n{i}.ics", f"n{i}")
                get, _ = await counted("GET", cal + f"n{i}.ics", 200)
                week, _ = await counted("REPORT", cal, 207, content=WEEK, headers={"Depth": "1"})
                await counted("PUT", cal + f"d{i}.ics", 201, content=event(f"d{i}", "20240103T100000Z", "20240103T110000Z"))
                deleting, _ = await counted("DELETE", cal + f"d{i}.ics", 204)
                patch = ('<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><X:calendar-color xmlns:X="'
                         f'http://apple.com/ns/ical/">#00000{i}</X:calendar-color><Y:z xmlns:Y="urn:y">{i}</Y:z>'
                         "</D:prop></D:set></D:propertyupdate>")
                patching, _ = await counted("PROPPATCH", cal, 207, content=patch)
                await counted("PUT", cal + f"m{i}.ics", 201, content=event(f"m{i}", "20240103T100000Z", "20240103T110000Z"))
                moving, _ = await counted("MOVE", cal + f"m{i}.ics", 201, headers={"Destination": cal + f"moved{i}.ics"})
                copying, _ = await counted("COPY", cal + f"moved{i}.ics", 201,
                                           headers={"Destination": f"/dav/cal/alice/other/copied{i}.ics"})
                listing, _ = await counted("PROPFIND", cal, 207, content=PROPFIND, headers={"Depth": "1"})
                home, _ = await counted("PROPFIND", "/dav/cal/alice/", 207, content=PROPFIND, headers={"Depth": "1"})
                seen.append((new, replacing, get, week, deleting, patching, moving, copying, listing, home))
            return seen

    try:
        seen = asyncio.run(run())
        outside = []  # a write outside a request (a subscription's sync): its old row, then COMMIT
        for summary in (b"SUMMARY:x", b"SUMMARY:z"):  # created, then replaced
            data = event("sync", "20240103T100000Z", "20240103T110000Z").replace(b"SUMMARY:x", summary)
            with round_trips(host.store) as trips:
                host.writes.put_object(calendar, "sync.ics", data, principal=None, source="subscription")
            outside.append(len(trips))
    finally:
        host.close()
    assert seen[-1] == (2, 2, 1, 3, 2, 6, 7, 5, 3, 2), seen
    assert outside == [2, 2]


@pytest.mark.postgresql_only
def test_the_subscription_plugin_adds_no_round_trip_to_a_request(tmp_path: Path) -> None:
    """With caldav_subscription enabled, which calendars of a home are one-way (their
    privileges) is read with the request's account, and whether a write's calendar is one-way
    is checked with the write's rows (``store.refuse_if``): a GET stays 1 round trip, a listing
    of the home as many as without the plugin, and a PUT replacing an object and a DELETE 2
    (each read of its own made them 5, a read with the transaction's first round trip 3)."""

    def trips(plugins: list[str], directory: Path) -> list[int]:
        directory.mkdir()
        host = make_host(directory, plugins)
        alice = add_user(host, "alice", PASSWORD)
        host.writes.create_collection(alice, "cal", "calendar", principal=alice)
        host.writes.create_collection(alice, "other", "calendar", principal=alice)
        cal = "/dav/cal/alice/cal/"

        async def run() -> list[int]:
            async with asgi_client(host, "alice", PASSWORD) as client:
                counted = functools.partial(trips_of, host, client)
                counts: list[int] = []
                for i in range(3):  # the first rounds open the worker threads' connections
                    _, replacing = await put_then_replace(counted, cal + f"n{i}.ics", f"n{i}")
                    get, _ = await counted("GET", cal + f"n{i}.ics", 200)
                    home, _ = await counted("PROPFIND", "/dav/cal/alice/", 207, content=PROPFIND, headers={"Depth": "1"})
                    deleting, _ = await counted("DELETE", cal + f"n{i}.ics", 204)
                    counts = [replacing, get, home, deleting]
                return counts

        try:
            return asyncio.run(run())
        finally:
            host.close()

    without = trips(["caldav_server", "limits"], tmp_path / "without")
    with_plugin = trips(["caldav_server", "limits", "caldav_subscription"], tmp_path / "with")
    assert without[:2] + without[3:] == [2, 1, 2], without
    assert with_plugin == without, (with_plugin, without)
