"""One name per resource: percent-encoding and Unicode normalisation never make two names.

Every path the server receives (Request-URI, Destination, If, hrefs in REPORT
bodies) names what it decodes to, in NFC; hrefs in answers spell each name one
way. Clients: raw HTTP, the ``caldav`` library, vdirsyncer.
"""

from __future__ import annotations

import datetime as dt
import http.client
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import caldav
import httpx
import pytest

from kernel.testing import event_object as event
from kernel.testing.dav import CALDAV, NS, mkcalendar, parse_multistatus, propfind
from tests.caldav_server.conftest import PASSWORD, Deployment
from tests.caldav_server.test_sync import result, sync

NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "café")


@pytest.fixture
def port(deployment: Deployment) -> int:
    """The live server's port, for requests sent byte for byte."""
    return deployment.server.port


def members(client: httpx.Client, cal: str) -> list[str]:
    """The member hrefs of a collection (PROPFIND Depth 1), in the order answered."""
    hrefs = list(parse_multistatus(propfind(client, cal, "<D:prop><D:getetag/></D:prop>", depth="1")))
    return [h for h in hrefs if h != cal]


def raw(port: int, method: str, path: str, body: bytes = b"", **headers: str) -> tuple[int, bytes]:
    """A request as alice with the path (and headers) exactly as given: no client-side normalisation."""
    import base64

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest(method, path, skip_accept_encoding=True)
    conn.putheader("Authorization", "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode())
    conn.putheader("Content-Length", str(len(body)))
    for name, value in headers.items():
        conn.putheader(name.replace("_", "-"), value.encode("utf-8"))  # type: ignore[arg-type]
    conn.endheaders(body)
    response = conn.getresponse()
    status, data = response.status, response.read()
    conn.close()
    return status, data


def test_percent_encoded_at_and_literal_at_are_one_resource(port: int, alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    status, _ = raw(port, "PUT", cal + "meeting-42%40example.com.ics", event("meeting-42@example.com"))
    assert status == 201
    literal = alice.get(cal + "meeting-42@example.com.ics")
    assert literal.status_code == 200 and b"UID:meeting-42@example.com" in literal.content
    replaced = event("meeting-42@example.com", summary="v2")
    status, _ = raw(port, "PUT", cal + "meeting-42@example.com.ics", replaced)
    assert status == 204  # the same resource, replaced
    assert members(alice, cal) == [cal + "meeting-42@example.com.ics"]
    status, body = raw(port, "GET", cal + "meeting-42%40example.com.ics")
    assert status == 200 and b"SUMMARY:v2" in body
    status, _ = raw(port, "DELETE", cal + "meeting-42%40example.com.ics")
    assert status == 204 and alice.get(cal + "meeting-42@example.com.ics").status_code == 404


def test_characters_that_need_no_encoding_are_the_same_either_way(port: int, alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    assert alice.put(cal + "a~b+c!d.ics", content=event("plain-chars")).status_code == 201
    for spelling in ("a%7Eb%2Bc%21d.ics", "%61~b+c!d.ics", "a%7eb%2bc%21d.ics"):
        status, body = raw(port, "GET", cal + spelling)
        assert status == 200 and b"UID:plain-chars" in body, spelling
    assert members(alice, cal) == [cal + "a~b+c!d.ics"]


def test_nfc_and_nfd_names_are_one_resource(port: int, alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    status, _ = raw(port, "PUT", cal + quote(NFD) + ".ics", event("cafe-nfd"))
    assert status == 201
    status, body = raw(port, "GET", cal + quote(NFC) + ".ics")
    assert status == 200 and b"UID:cafe-nfd" in body
    status, _ = raw(port, "PUT", cal + quote(NFC) + ".ics", event("cafe-nfd", summary="again"))
    assert status == 204
    assert members(alice, cal) == [cal + "caf%C3%A9.ics"]  # NFC, UTF-8, upper-case hex
    nfd_collection = "/dav/cal/alice/" + quote("équipe-" + NFD) + "/"
    assert alice.request("MKCALENDAR", nfd_collection).status_code == 201
    nfc_collection = "/dav/cal/alice/" + quote(unicodedata.normalize("NFC", "équipe-" + NFD)) + "/"
    found = parse_multistatus(propfind(alice, nfc_collection, "<D:prop><D:resourcetype/></D:prop>"))
    assert list(found) == [nfc_collection]


def test_hrefs_in_answers_are_canonical_whatever_the_request_spelled(port: int, alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    names = {"x@y.ics": "x@y.ics", "with space.ics": "with%20space.ics", "100%.ics": "100%25.ics",
             "q?#.ics": "q%3F%23.ics", NFD + ".ics": "caf%C3%A9.ics", "(a)&b=c;d,e:f$.ics": "(a)&b=c;d,e:f$.ics"}
    for i, name in enumerate(names):
        status, _ = raw(port, "PUT", cal + quote(name, safe=""), event(f"canon-{i}"))
        assert status == 201, name
    expected = sorted(cal + href for href in names.values())
    for _ in range(2):  # the same hrefs every time
        assert sorted(members(alice, cal)) == expected
    status, body = raw(port, "PROPFIND", cal + "x%40y.ics", Depth="0")
    assert status == 207 and list(parse_multistatus(httpx.Response(207, content=body))) == [cal + "x@y.ics"]
    listed, _ = result(sync(alice, cal))
    assert sorted(h for h in listed if h != cal) == expected
    query = (
        f'<C:calendar-query xmlns:D="DAV:" xmlns:C="{CALDAV}"><D:prop><D:getetag/></D:prop>'
        '<C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>'
    )
    answered = parse_multistatus(alice.request("REPORT", cal, content=query.encode(), headers={"Depth": "1"}))
    assert sorted(answered) == expected


def test_multiget_hrefs_in_any_spelling_find_the_resource(deployment: Deployment, alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    assert alice.put(cal + "meeting-42@example.com.ics", content=event("m42")).status_code == 201
    assert alice.put(cal + quote(NFC) + ".ics", content=event("cafe")).status_code == 201
    hrefs = [
        cal + "meeting-42%40example.com.ics",
        cal + "meeting-42@example.com.ics",
        deployment.url + cal + "meeting-42%40example.com.ics",
        cal + quote(NFD) + ".ics",
        cal + "missing%40example.com.ics",
    ]
    body = (
        f'<C:calendar-multiget xmlns:D="DAV:" xmlns:C="{CALDAV}"><D:prop><D:getetag/><C:calendar-data/></D:prop>'
        + "".join(f"<D:href>{h}</D:href>" for h in hrefs)
        + "</C:calendar-multiget>"
    )
    r = alice.request("REPORT", cal, content=body.encode(), headers={"Depth": "1"})
    assert r.status_code == 207
    answers = [
        (r.findtext("D:href", namespaces=NS), r.findtext("D:status", namespaces=NS),
         r.findtext(".//C:calendar-data", namespaces=NS))
        for r in ET.fromstring(r.content).findall("D:response", NS)
    ]
    found = [(href, "UID:m42" in (data or "")) for href, _, data in answers[:3]]
    assert found == [(cal + "meeting-42@example.com.ics", True)] * 3
    assert answers[3][0] == cal + "caf%C3%A9.ics" and "UID:cafe" in (answers[3][2] or "")
    assert answers[4][0] == cal + "missing%40example.com.ics" and "404" in (answers[4][1] or "")


def test_destination_and_if_headers_name_what_they_decode_to(
    port: int, deployment: Deployment, alice: httpx.Client
) -> None:
    cal = mkcalendar(alice)
    assert alice.put(cal + "src.ics", content=event("moved")).status_code == 201
    status, _ = raw(port, "MOVE", cal + "src.ics", Destination=deployment.url + cal + "dst%40x.ics")
    assert status == 201
    assert alice.get(cal + "dst@x.ics").status_code == 200
    other = mkcalendar(alice)
    status, _ = raw(port, "COPY", cal + "dst@x.ics", Destination=other + NFD + "-copy.ics", Overwrite="F")
    assert status == 201  # raw UTF-8 (NFD) in the header
    assert members(alice, other) == [other + "caf%C3%A9-copy.ics"]
    assert members(alice, cal) == [cal + "dst@x.ics"]
    lock = (
        '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
        "<D:locktype><D:write/></D:locktype></D:lockinfo>"
    )
    locked = alice.request("LOCK", cal + "dst@x.ics", content=lock.encode())
    assert locked.status_code == 200
    token = locked.headers["lock-token"].strip("<>")
    assert alice.put(cal + "dst@x.ics", content=event("moved", summary="no token")).status_code == 423
    tagged = f"<{deployment.url}{cal}dst%40x.ics> (<{token}>)"
    status, _ = raw(port, "PUT", cal + "dst%40x.ics", event("moved", summary="with token"), If=tagged)
    assert status == 204


def test_the_caldav_library_saves_and_finds_a_uid_with_at(deployment: Deployment) -> None:
    with caldav.DAVClient(url=deployment.url + "/", username="alice", password=PASSWORD) as client:
        cal = client.principal().make_calendar(name="At", cal_id="at-sign")
        try:
            saved = cal.save_event(
                dtstart=dt.datetime(2031, 5, 6, 10),
                dtend=dt.datetime(2031, 5, 6, 11),
                summary="with at",
                uid="meeting-42@example.com",
            )
            assert "meeting-42" in str(saved.url)
            assert cal.event_by_uid("meeting-42@example.com").component["summary"] == "with at"
            with deployment.client("alice") as alice:
                assert alice.get("/dav/cal/alice/at-sign/meeting-42@example.com.ics").status_code == 200
                listed = members(alice, "/dav/cal/alice/at-sign/")
                assert listed == ["/dav/cal/alice/at-sign/meeting-42@example.com.ics"]
        finally:
            cal.delete()


# -- names stored before m006 ------------------------------------------------------------------


def legacy_database(directory: Path) -> Path:
    """A database at the schema before m006, holding names as the server used to store them:
    reserved characters kept percent-encoded, NFD, and pairs that are one name now."""
    from kernel.passwords import hash_password
    from kernel.store import Store
    from kernel.store.db import SQLiteBackend
    from kernel.store.schema import kernel_migrations
    from kernel.testing import write_config

    config = write_config(directory, ["caldav_server"])
    conn = Store(SQLiteBackend(directory / "teamcal.sqlite3"))
    kernel_migrations.apply(conn, stop_before="m006_canonical_names")
    conn.execute(
        "INSERT INTO principals (id, name, kind, display_name, password_hash, created) VALUES (1, 'alice', 'user',"
        " 'alice', ?, 0)",
        (hash_password(PASSWORD),),
    )
    collections = {1: "work", 2: "team%40x", 3: "plain%40p", 4: "plain%40p/sub", 5: "plain@p"}
    for cid, path in collections.items():
        kind = "plain" if path.startswith("plain") and "/" not in path else "calendar"
        conn.execute(
            "INSERT INTO collections (id, owner_id, path, kind, created, modified) VALUES (?, 1, ?, ?, 0, 0)",
            (cid, path, kind),
        )
    resources = {
        "meeting-42%40example.com.ics": "m42",
        "a%40b.ics": "ab-legacy",
        "a@b.ics": "ab-canonical",
        NFD + ".ics": "cafe-nfd",
        NFC + ".ics": "cafe-nfc",
        "100%25.ics": "percent",
        "plain.ics": "plain",
    }
    for name, uid in resources.items():
        data = event(uid)
        conn.execute(
            "INSERT INTO resources (collection_id, name, uid, component, etag, content_type, size, data, created,"
            " modified) VALUES (1, ?, ?, 'VEVENT', ?, 'text/calendar', ?, ?, 0, 0)",
            (name, uid, f'"{uid}"', len(data), data),
        )
        conn.execute(
            "INSERT INTO changes (collection_id, name, kind, etag, uid, at) VALUES (1, ?, 'created', ?, ?, 0)",
            (name, f'"{uid}"', uid),
        )
    conn.execute("UPDATE collections SET sync_seq = (SELECT max(seq) FROM changes) WHERE id = 1")
    conn.close()
    return config


@pytest.mark.sqlite_only
def test_m006_makes_stored_names_canonical_and_old_urls_keep_working(tmp_path: Path, caplog) -> None:
    from kernel.host import Host
    from kernel.testing import LiveServer

    config = legacy_database(tmp_path)
    with caplog.at_level("INFO", logger="teamcal"):
        host = Host.from_config(config)
    store = host.store
    work = store.collection("alice", "work")
    assert work is not None
    by_uid = {r.uid: r.name for r in store.resources(work.id)}
    assert by_uid == {
        "m42": "meeting-42@example.com.ics",
        "ab-canonical": "a@b.ics",  # already canonical: keeps its name
        "ab-legacy": "a@b-2.ics",  # would have been a@b.ics too: suffixed
        "cafe-nfc": NFC + ".ics",
        "cafe-nfd": NFC + "-2.ics",
        "percent": "100%.ics",
        "plain": "plain.ics",
    }
    collisions = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.getMessage().startswith("m006:")]
    assert len(collisions) == 3 and any("'a%40b.ics' would become 'a@b.ics'" in m for m in collisions)
    assert any("'plain%40p' would become 'plain@p'" in m for m in collisions)
    paths = sorted(c.path for c in store.collections("alice", parent=None))
    assert paths == ["plain@p", "plain@p-2", "plain@p-2/sub", "team@x", "work"]
    # the feed tells consumers: the old name deleted, the new one created
    moved = [(c.name, c.kind) for c in store.changes_since(0, collection_id=work.id)][7:]
    assert ("a%40b.ics", "deleted") in moved and ("a@b-2.ics", "created") in moved
    assert ("plain.ics", "deleted") not in moved and len(moved) == 8  # 4 renamed, 2 rows each
    work = store.collection("alice", "work")
    assert work is not None and work.sync_floor == work.sync_seq > 7
    assert store.collection("alice", "team@x").sync_floor == 0  # type: ignore[union-attr]

    old_token = f"http://teamcal.invalid/sync/{work.id}/7"
    with LiveServer(host) as server, server.client("alice") as alice:
        cal = "/dav/cal/alice/work/"
        status, body = raw(server.port, "GET", cal + "meeting-42%40example.com.ics")
        assert status == 200 and b"UID:m42" in body
        assert b"UID:cafe-nfc" in alice.get(cal + quote(NFD) + ".ics").content
        assert b"UID:ab-legacy" in alice.get(cal + "a@b-2.ics").content
        assert b"UID:percent" in alice.get(cal + "100%25.ics").content
        assert alice.request("PROPFIND", "/dav/cal/alice/team%40x/", headers={"Depth": "0"}).status_code == 207
        stale = sync(alice, cal, old_token)
        assert stale.status_code == 403 and b"valid-sync-token" in stale.content
        listed, token = result(sync(alice, cal))
        assert len([h for h in listed if h != cal]) == 7
        assert result(sync(alice, cal, token))[0] == {}
    host.close()

