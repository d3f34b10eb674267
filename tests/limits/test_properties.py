"""Dead-property quotas: per value, per target (count and bytes), per account; for every way
properties get stored (PROPPATCH, MKCOL/MKCALENDAR bodies, COPY and MOVE), with overrides."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from kernel import Host, Rejected
from kernel.testing import LiveServer, add_user, latency_during, make_host
from plugins.limits import overrides

from .conftest import TEAMCAL, Deployment, calendar_object

KB = 1024
MB = 1024 * KB


def value(name: str, size: int) -> str:
    """A dead property stored as exactly ``size`` bytes of XML."""
    bare = f'<ns0:{name} xmlns:ns0="urn:x"></ns0:{name}>'
    return f'<ns0:{name} xmlns:ns0="urn:x">{"v" * (size - len(bare))}</ns0:{name}>'


def stored(host: Host) -> list[tuple]:
    """Every dead property the kernel and the CalDAV plugin hold, and each collection's byte count."""
    kernel = sorted(map(tuple, host.store.execute(
        "SELECT coalesce(collection_id, 0), coalesce(resource_id, 0), name, length(value) FROM properties"
    )))
    counters = sorted(map(tuple, host.store.execute("SELECT id, property_bytes FROM collections")))
    plugin = []
    if host.store.table_exists("caldav_server_properties"):
        plugin = sorted(map(tuple, host.store.execute("SELECT principal_id, scope, name FROM caldav_server_properties")))
    return [kernel, counters, plugin]


def refused(host: Host, precondition: str, call: Callable[[], object]) -> Rejected:
    """Run a write that must be refused with a 507 quota answer, and check it stored nothing."""
    before = stored(host)
    with pytest.raises(Rejected) as info:
        call()
    assert (info.value.status, info.value.precondition) == (507, TEAMCAL + precondition)
    assert info.value.message.endswith(".")
    assert stored(host) == before
    return info.value


def test_hook_validate_properties(deploy: Callable[..., Deployment]) -> None:
    """Per value: at the limit accepted, one byte over refused, for collections and resources."""
    d = deploy('[limits]\nmax_property_size = "1kb"\n')
    w = d.host.writes
    w.update_collection(d.cal, principal=d.alice, properties={"{urn:x}a": value("a", KB)})
    e = refused(d.host, "max-property-size",
                lambda: w.update_collection(d.cal, principal=d.alice, properties={"{urn:x}b": value("b", KB + 1)}))
    assert "1025 bytes" in e.message and "1024 bytes" in e.message and "alice" in e.message
    resource, _, _ = w.put_object(d.cal, "e.ics", calendar_object(), principal=d.alice)
    refused(d.host, "max-property-size",
            lambda: w.set_resource_properties(d.cal, resource, {"{urn:x}c": value("c", KB + 1)}, principal=d.alice))
    refused(d.host, "max-property-size",
            lambda: w.create_collection(d.alice, "new", "calendar", principal=d.alice,
                                        properties={"{urn:x}d": value("d", 2 * KB)}))
    assert d.host.store.collection(d.alice.id, "new") is None


def test_count_and_bytes_per_target(deploy: Callable[..., Deployment]) -> None:
    d = deploy('[limits]\nmax_properties = 3\nmax_properties_size = "2kb"\n')
    w = d.host.writes
    three = {f"{{urn:x}}p{i}": value(f"p{i}", 100) for i in range(3)}
    w.update_collection(d.cal, principal=d.alice, properties=three)
    e = refused(d.host, "max-properties",
                lambda: w.update_collection(d.cal, principal=d.alice, properties={"{urn:x}p3": value("p3", 100)}))
    assert "4 dead properties" in e.message and "limit of 3" in e.message
    w.update_collection(d.cal, principal=d.alice, properties={"{urn:x}p0": value("p0", 200)})  # replacing is fine
    refused(d.host, "max-properties-size",
            lambda: w.update_collection(d.cal, principal=d.alice, properties={"{urn:x}p1": value("p1", 1900)}))
    w.update_collection(d.cal, principal=d.alice, properties={"{urn:x}p0": None, "{urn:x}p3": value("p3", 100)})


def test_a_target_over_a_lowered_limit_may_shrink(deploy: Callable[..., Deployment]) -> None:
    d = deploy()
    w = d.host.writes
    w.update_collection(d.cal, principal=d.alice, properties={f"{{urn:x}}p{i}": value(f"p{i}", 500) for i in range(4)})
    overrides.save(d.host.store, d.alice.id, {"max_properties": 2, "max_properties_size": 1000})
    w.update_collection(d.cal, principal=d.alice, properties={"{urn:x}p0": None})
    w.update_collection(d.cal, principal=d.alice, properties={"{urn:x}p1": value("p1", 100)})
    refused(d.host, "max-properties",
            lambda: w.update_collection(d.cal, principal=d.alice, properties={"{urn:x}p9": value("p9", 50)}))


def test_account_storage_counts_every_calendar_and_object(deploy: Callable[..., Deployment]) -> None:
    d = deploy("[limits.accounts.alice]\nmax_property_storage = 2560\n")
    w = d.host.writes
    other = d.calendar(d.alice, "other")
    w.update_collection(d.cal, principal=d.alice, properties={"{urn:x}a": value("a", KB)})
    resource, _, _ = w.put_object(other, "e.ics", calendar_object(), principal=d.alice)
    w.set_resource_properties(other, resource, {"{urn:x}b": value("b", KB)}, principal=d.alice)
    assert d.host.store.property_bytes(d.alice.id) == 2 * KB
    e = refused(d.host, "max-property-storage",
                lambda: w.update_collection(other, principal=d.alice, properties={"{urn:x}c": value("c", KB + 1)}))
    assert "2048 bytes" in e.message and "2560" in e.message
    refused(d.host, "max-property-storage", lambda: w.copy_collection(other, d.alice, "copy", principal=d.alice))
    overrides.save(d.host.store, d.alice.id, {"max_property_storage": 8 * KB})
    w.copy_collection(other, d.alice, "copy", principal=d.alice)
    assert d.host.store.property_bytes(d.alice.id) == 3 * KB


def test_copy_and_move_carry_properties_into_the_target_account(deploy: Callable[..., Deployment]) -> None:
    d = deploy('[limits.accounts.bob]\nmax_property_storage = "1kb"\n')
    w = d.host.writes
    bob = add_user(d.host, "bob")
    bobs = d.calendar(bob, "work")
    resource, _, _ = w.put_object(d.cal, "e.ics", calendar_object(), principal=d.alice)
    w.set_resource_properties(d.cal, resource, {"{urn:x}big": value("big", 2 * KB)}, principal=d.alice)
    refused(d.host, "max-property-storage",
            lambda: w.copy_object(d.cal, "e.ics", bobs, "e.ics", principal=None))
    refused(d.host, "max-property-storage",
            lambda: w.copy_object(d.cal, "e.ics", bobs, "e.ics", principal=None, move=True))
    refused(d.host, "max-property-storage", lambda: w.move_collection(d.cal, bob, "moved", principal=None))
    assert d.host.store.resource(d.cal.id, "e.ics") is not None


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Host, LiveServer]]:
    """The CalDAV server with the limits plugin at its default quotas, users alice and carol."""
    host = make_host(tmp_path, ["caldav_server", "limits"])
    for name in ("alice", "carol"):
        add_user(host, name)
    server = LiveServer(host)
    with server:
        yield host, server
    host.close()


def proppatch(client: httpx.Client, path: str, props: str) -> httpx.Response:
    body = f'<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>{props}</D:prop></D:set></D:propertyupdate>'
    return client.request("PROPPATCH", path, content=body.encode())


def quota_error(r: httpx.Response) -> str:
    """The precondition a 507 names."""
    assert r.status_code == 507, (r.status_code, r.text[:300])
    root = ET.fromstring(r.content)
    assert root.tag == "{DAV:}error"
    return root[0].tag


def test_huge_dead_properties_are_refused_over_http(live: tuple[Host, LiveServer]) -> None:
    """Five 9 MB values (accepted before, a home PROPFIND then answered 9.7 MB) are each refused;
    nothing is stored; carol is served meanwhile."""
    host, server = live
    big = "<X:blob xmlns:X='urn:x'>" + "b" * (9 * MB) + "</X:blob>"
    with server.client("alice") as alice, server.client("carol") as carol:
        assert alice.request("MKCALENDAR", "/dav/cal/alice/cal/").status_code == 201
        before = stored(host)

        def attack() -> list[httpx.Response]:
            return [
                proppatch(alice, "/dav/cal/alice/cal/", big),
                proppatch(alice, "/dav/cal/alice/", big),
                proppatch(alice, "/dav/principals/alice/", big),
                alice.request(
                    "MKCALENDAR", "/dav/cal/alice/other/",
                    content=(f'<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
                             f"{big}</D:prop></D:set></C:mkcalendar>").encode(),
                ),
                alice.request(
                    "MKCOL", "/dav/cal/alice/files/", headers={"Content-Type": "application/xml"},
                    content=f'<D:mkcol xmlns:D="DAV:"><D:set><D:prop>{big}</D:prop></D:set></D:mkcol>'.encode(),
                ),
            ]

        answers, took = latency_during(attack, lambda: carol.request("PROPFIND", "/dav/cal/carol/"))
        for r in answers:
            assert quota_error(r) == TEAMCAL + "max-property-size", r.request.url
            assert "over the limit of 65536 bytes" in r.text
        assert max(took) < 1, took
        assert stored(host) == before
        assert host.store.collection("alice", "other") is None and host.store.collection("alice", "files") is None
        listing = alice.request("PROPFIND", "/dav/cal/alice/", headers={"Depth": "1"})
        assert listing.status_code == 207 and len(listing.content) < 20 * KB


def test_many_dead_properties_are_refused_over_http(live: tuple[Host, LiveServer]) -> None:
    """Filling a resource past 1,000 properties, or 1 MiB, takes more than one request; both are refused."""
    host, server = live
    with server.client("alice") as alice:
        assert alice.request("MKCALENDAR", "/dav/cal/alice/cal/").status_code == 201
        assert alice.put("/dav/cal/alice/cal/e.ics", content=calendar_object()).status_code == 201
        batch = lambda start: "".join(f"<X:p{i} xmlns:X='urn:x'>v</X:p{i}>" for i in range(start, start + 600))  # noqa: E731
        assert proppatch(alice, "/dav/cal/alice/cal/e.ics", batch(0)).status_code == 207
        before = stored(host)
        assert quota_error(proppatch(alice, "/dav/cal/alice/cal/e.ics", batch(600))) == TEAMCAL + "max-properties"
        chunk = "".join(f"<X:q{i} xmlns:X='urn:x'>{'q' * 60 * KB}</X:q{i}>" for i in range(18))
        assert quota_error(proppatch(alice, "/dav/cal/alice/cal/", chunk)) == TEAMCAL + "max-properties-size"
        assert stored(host) == before
        copied = alice.request("COPY", "/dav/cal/alice/cal/", headers={"Destination": "/dav/cal/alice/copy/"})
        assert copied.status_code == 201
        assert len(host.store.properties(resource_id=host.store.resource(
            host.store.collection("alice", "copy").id, "e.ics").id)) == 600
