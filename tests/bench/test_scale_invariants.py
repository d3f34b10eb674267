"""What keeps big calendars fast, checked on small ones: counters instead of scans, indexed
lookups, paged listings and streamed answers that are still complete and correct."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from kernel.host import Host
from kernel.testing import LiveServer, add_user, make_host
from kernel.types import Principal
from plugins.caldav_server.webdav import multistatus

DAV = "{DAV:}"


def event(uid: str, day: int = 1) -> bytes:
    """A small single event on 2026-03-<day>."""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:202603{day:02d}T100000Z\r\n"
        f"DTEND:202603{day:02d}T110000Z\r\nSUMMARY:event {uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    """A host with the CalDAV server and the limits plugin (which counts objects on create)."""
    built = make_host(tmp_path, ["caldav_server", "limits"])
    yield built
    built.close()


def test_account_object_count_follows_every_write(host: Host) -> None:
    """The per-collection counters (migration m003) agree with a real count after creates,
    updates, deletes, plain files, a move to another account and a calendar delete."""
    alice = add_user(host, "alice")
    bob = add_user(host, "bob")
    store = host.store

    def real(owner: Principal) -> int:
        return store.execute(
            "SELECT count(*) FROM resources r JOIN collections c ON c.id = r.collection_id"
            " WHERE c.owner_id = ? AND r.component IS NOT NULL",
            (owner.id,),
        ).fetchone()[0]

    work = host.writes.create_collection(alice, "work", "calendar", principal=alice)
    home = host.writes.create_collection(alice, "home", "calendar", principal=alice)
    files = host.writes.create_collection(alice, "files", "plain", principal=alice)
    for i in range(5):
        host.writes.put_object(work, f"e{i}.ics", event(f"w{i}"), principal=alice)
    host.writes.put_object(home, "h.ics", event("h"), principal=alice)
    host.writes.put_object(files, "notes.txt", b"not a calendar object", principal=alice)
    host.writes.put_object(work, "e0.ics", event("w0", 2), principal=alice)  # an update
    host.writes.delete_object(work, "e1.ics", principal=alice)
    assert store.count_resources(owner_id=alice.id) == real(alice) == 5
    host.writes.move_collection(home, bob, "moved", principal=None)  # only admins move into a home not theirs
    assert store.count_resources(owner_id=alice.id) == real(alice) == 4
    assert store.count_resources(owner_id=bob.id) == real(bob) == 1
    host.writes.delete_collection(work, principal=alice)
    assert store.count_resources(owner_id=alice.id) == real(alice) == 0


def test_uid_lookup_uses_its_index(host: Host) -> None:
    """The UID check of every PUT is an index search, not a scan of the calendar."""
    if host.store.dialect == "sqlite":
        plan = host.store.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM resources INDEXED BY resources_uid WHERE collection_id = ? AND uid = ?",
            (1, "x"),
        ).fetchall()
        assert any("resources_uid (collection_id=? AND uid=?)" in row[-1] for row in plan), plan
    else:  # a tiny table is scanned whatever its indexes: ask whether the index can serve the query
        host.store.execute("SET enable_seqscan = off")
        plan = " ".join(r[0] for r in host.store.execute(
            "EXPLAIN SELECT id FROM resources WHERE collection_id = ? AND uid = ? AND uid IS NOT NULL", (1, "x")
        ))
        host.store.execute("SET enable_seqscan = on")
        assert "resources_uid" in plan, plan
    alice = add_user(host, "alice")
    cal = host.writes.create_collection(alice, "cal", "calendar", principal=alice)
    host.writes.put_object(cal, "a.ics", event("same"), principal=alice)
    found = host.store.resource_by_uid(cal.id, "same")
    assert found is not None and found.name == "a.ics"
    assert host.store.resource_by_uid(cal.id, "other") is None


def test_paged_listing_is_complete_and_ordered(host: Host) -> None:
    """iter_resources returns every resource once, by name, across page boundaries."""
    alice = add_user(host, "alice")
    cal = host.writes.create_collection(alice, "cal", "calendar", principal=alice)
    with host.writes.transaction():
        for i in range(23):
            host.writes.put_object(cal, f"{i:03d}.ics", event(f"u{i}"), principal=alice)
    paged = list(host.store.iter_resources(cal.id, batch=5))
    assert [r.name for r in paged] == [f"{i:03d}.ics" for i in range(23)]
    assert paged == host.store.resources(cal.id)


def test_big_answers_stream_complete(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    """PROPFIND, sync-collection and calendar-query answers past one streamed chunk
    (``multistatus.CHUNK`` characters, made small here) go out chunked and hold every member
    exactly once."""
    monkeypatch.setattr(multistatus, "CHUNK", 64 * 1024)
    alice = add_user(host, "alice")
    cal = host.writes.create_collection(alice, "cal", "calendar", principal=alice)
    # each member's DAV:response is over 200 characters in every one of the three answers
    names = [f"event-with-a-long-name-{i:04d}.ics" for i in range(multistatus.CHUNK // 200)]
    with host.writes.transaction():
        for i, name in enumerate(names):
            host.writes.put_object(cal, name, event(f"u{i}", 1 + i % 28), principal=alice)
    base = "/dav/cal/alice/cal/"
    bodies = {
        "PROPFIND": ('<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:getcontenttype/>'
                     "<D:getlastmodified/></D:prop></D:propfind>", "1"),
        "REPORT sync": ('<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level>'
                        "<D:prop><D:getetag/><D:getcontentlength/></D:prop></D:sync-collection>", "0"),
        "REPORT query": ('<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                         "<D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter>"
                         '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
                         '<C:time-range start="20260301T000000Z" end="20260401T000000Z"/>'
                         "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>", "1"),
    }
    with LiveServer(host) as server, server.client("alice") as client:
        for label, (body, depth) in bodies.items():
            response = client.request(label.split()[0], base, content=body, headers={"Depth": depth})
            assert response.status_code == 207, label
            assert response.headers.get("transfer-encoding") == "chunked", label
            root = ET.fromstring(response.content)
            hrefs = [r.findtext(DAV + "href") for r in root.iter(DAV + "response")]
            members = sorted(h.rsplit("/", 1)[-1] for h in hrefs if h != base)
            assert members == names, label
            if label == "REPORT sync":
                assert root.findtext(DAV + "sync-token")
        small = client.request("PROPFIND", base, headers={"Depth": "0"})
        assert small.status_code == 207 and "content-length" in small.headers
