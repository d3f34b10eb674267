"""End to end with the CalDAV server plugin: one-way calendars refuse CalDAV writes, two-way ones sync them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import caldav
import pytest

from kernel.host import Host
from kernel.testing import LiveServer
from plugins.caldav_subscription import records

from .conftest import build_host, local_objects, subscribe, sync
from .mini_dav import MiniDav
from .peers import Peer, event, summary_of

PRIVILEGES = b'<?xml version="1.0"?><propfind xmlns="DAV:"><prop><current-user-privilege-set/></prop></propfind>'


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Host]:
    """A host with both plugins (alice's password is "password")."""
    host = build_host(tmp_path, enabled=("caldav_server", "caldav_subscription"))
    yield host
    host.close()


def test_one_way_calendar_is_read_only_over_caldav(served: Host) -> None:
    with MiniDav() as mini:
        mini.put("a.ics", event("a", "remote A"))
        sub = subscribe(served, mini.url)
        assert sync(served, sub).report.pulled == 1
        with LiveServer(served) as server, server.client("alice") as alice:
            path = "/dav/cal/alice/remote/"
            found = alice.request("PROPFIND", path, headers={"Depth": "0"}, content=PRIVILEGES)
            assert found.status_code == 207
            granted = set(re.findall(r"<(?:\w+:)?privilege>\s*<(?:\w+:)?([\w-]+)", found.text))
            assert "read" in granted
            assert not granted & {"write", "write-content", "write-properties", "bind", "unbind", "all"}, granted

            assert alice.get(path + "a.ics").status_code == 200
            for method, target in [("PUT", "b.ics"), ("PUT", "a.ics"), ("DELETE", "a.ics")]:
                body = event("b", "local") if method == "PUT" else None
                refused = alice.request(method, path + target, content=body, headers={"Content-Type": "text/calendar"})
                assert refused.status_code == 403, (method, target, refused.status_code)
                assert "need-privileges" in refused.text

            patch = (
                b'<?xml version="1.0"?><propertyupdate xmlns="DAV:"><set><prop>'
                b"<displayname>renamed</displayname></prop></set></propertyupdate>"
            )
            renamed = alice.request("PROPPATCH", path, content=patch)
            assert renamed.status_code in (207, 403) and "403" in (renamed.text + str(renamed.status_code))
            assert served.store.collection("alice", "remote").display_name != "renamed"

            client = caldav.DAVClient(url=server.url + path, username="alice", password="password")
            calendar = client.calendar(url=server.url + path)
            with pytest.raises(caldav.lib.error.DAVError):
                calendar.save_event(event("c", "from a client").decode())
        assert set(local_objects(served, sub)) == {"a.ics"}
        assert summary_of(local_objects(served, sub)["a.ics"]) == "remote A"


def test_a_listing_of_the_home_shows_only_the_one_way_calendar_read_only(served: Host) -> None:
    """A request reads which of a home's calendars are one-way once, for all of them: in one
    PROPFIND of the home the followed calendar is read-only and alice's own one is not; a
    write to her own calendar still goes through, and one to the followed calendar is refused."""
    alice = served.store.principal("alice")
    assert alice is not None
    served.writes.create_collection(alice, "mine", "calendar", principal=alice)
    with MiniDav() as mini:
        mini.put("a.ics", event("a", "remote A"))
        sub = subscribe(served, mini.url)
        assert sync(served, sub).report.pulled == 1
        with LiveServer(served) as server, server.client("alice") as client:
            found = client.request("PROPFIND", "/dav/cal/alice/", headers={"Depth": "1"}, content=PRIVILEGES)
            assert found.status_code == 207
            granted = {}
            for response in re.findall(r"<(?:\w+:)?response>(.*?)</(?:\w+:)?response>", found.text, re.S):
                href = re.search(r"<(?:\w+:)?href>([^<]*)<", response)
                assert href is not None
                privileges = set(re.findall(r"<(?:\w+:)?privilege>\s*<(?:\w+:)?([\w-]+)", response))
                granted[href.group(1).rstrip("/").rsplit("/", 1)[-1]] = privileges
            assert "read" in granted["remote"] and "write" not in granted["remote"], granted
            assert {"read", "write"} <= granted["mine"], granted
            assert client.put("/dav/cal/alice/mine/b.ics", content=event("b", "local")).status_code == 201
            refused = client.put("/dav/cal/alice/remote/b.ics", content=event("b", "local"))
            assert refused.status_code == 403 and "need-privileges" in refused.text


def test_caldav_client_edits_reach_the_remote_in_two_way_mode(served: Host, radicale: Peer) -> None:
    cal = radicale.new_calendar()
    cal.put("a.ics", event("a", "remote A"))
    sub = subscribe(served, cal.url, mode="two-way", auth=radicale.auth)
    assert sync(served, sub).report.pulled == 1
    with LiveServer(served) as server:
        url = server.url + "/dav/cal/alice/remote/"
        client = caldav.DAVClient(url=url, username="alice", password="password")
        calendar = client.calendar(url=url)
        calendar.save_event(event("b", "made in a CalDAV client").decode())
        existing = calendar.event_by_uid("a")
        existing.data = event("a", "edited in a CalDAV client").decode()
        existing.save()
    out = sync(served, sub)
    assert out.error is None, out.error
    assert out.report.pushed == 2
    remote = {name: summary_of(cal.get(name)) for name in cal.names()}
    assert sorted(remote.values()) == ["edited in a CalDAV client", "made in a CalDAV client"]
    settled = sync(served, sub)
    assert (settled.report.pulled, settled.report.pushed) == (0, 0)


def test_subscribing_to_teamcal_itself(tmp_path: Path, served: Host) -> None:
    """teamcal's own CalDAV server is a remote like any other (sync-collection, multiget, conditional PUTs)."""
    alice = served.store.principal("alice")
    source = served.writes.create_collection(alice, "source", "calendar", principal=None)
    for i in range(3):
        served.writes.put_object(source, f"s{i}.ics", event(f"s{i}", f"source {i}"), principal=None, source="caldav")
    follower = build_host(tmp_path / "follower")
    with LiveServer(served) as server:
        sub = subscribe(follower, server.url + "/dav/cal/alice/source/", mode="two-way", auth=("alice", "password"))
        first = sync(follower, sub)
        assert first.error is None, first.error
        assert first.report.pulled == 3
        served.writes.put_object(source, "s0.ics", event("s0", "changed at the source"), principal=None, source="caldav")
        follower_cal = follower.store.collection_by_id(sub.collection_id)
        follower.writes.put_object(follower_cal, "f.ics", event("f", "from the follower"), principal=None, source="caldav")
        second = sync(follower, sub)
        assert second.error is None, second.error
        assert (second.report.pulled, second.report.pushed) == (1, 1)
        assert served.store.resource(source.id, "f.ics") is not None
        assert summary_of(local_objects(follower, sub)["s0.ics"]) == "changed at the source"
        assert follower.store.collection_by_id(sub.collection_id) is not None
        assert records.get(follower.store, sub.id).capability == "sync-collection"
    follower.close()
