"""Discovery from a server, principal, home or calendar URL on real peers."""

from __future__ import annotations

import asyncio

import pytest

from kernel.host import Host
from kernel.types import Rejected
from plugins.caldav_subscription import manage

from .peers import Peer


def find(host: Host, url: str, peer: Peer) -> list[str]:
    username, password = peer.auth or (None, None)
    return [c.url for c in asyncio.run(manage.find_calendars(host, url, username, password))]


def test_discovery_from_any_starting_point(host: Host, peer: Peer) -> None:
    cal = peer.new_calendar("found")
    for start in (peer.url, peer.url + "/", peer.url + "/alice/", peer.url + peer.home, cal.url):
        urls = find(host, start, peer)
        assert cal.url in urls, (start, urls)
    assert not any("contacts" in u or "addressbook" in u for u in find(host, peer.url, peer))


def test_discovery_reports_read_only_and_components(host: Host, radicale: Peer) -> None:
    cal = radicale.new_calendar("props")
    found = {c.url: c for c in asyncio.run(manage.find_calendars(host, radicale.url, "alice", "alice-pw"))}
    assert found[cal.url].read_only is False
    assert "VEVENT" in found[cal.url].components


def test_discovery_failures(host: Host, radicale: Peer) -> None:
    with pytest.raises(Rejected) as err:
        asyncio.run(manage.find_calendars(host, radicale.url, "alice", "wrong"))
    assert err.value.status == 502 and "401" in err.value.message
    with pytest.raises(Rejected) as err:
        asyncio.run(manage.find_calendars(host, "http://127.0.0.1:9/", None, None))
    assert err.value.status == 502
