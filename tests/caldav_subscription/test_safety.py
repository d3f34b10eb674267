"""The address guard (after DNS, on every redirect), schemes, redirect limits, credentials on redirects."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from kernel.host import Host
from kernel.netguard import AddressPolicy, Refused
from kernel.testing import LiveServer, add_user, latency_during
from kernel.types import Rejected
from plugins.caldav_subscription import manage, records

from .conftest import build_host, local_objects, subscribe, sync
from .mini_dav import MiniDav
from .peers import FeedServer, Peer, event


def _guarded_host(tmp_path: Path, **settings: str) -> Host:
    return build_host(tmp_path, allow_private_networks="false", **settings)


@pytest.mark.parametrize(
    "host_part",
    ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0", "[::7f00:1]", "[::ffff:0:7f00:1]",
     "[64:ff9b::7f00:1]", "[64:ff9b:1::7f00:1]", "[2002:7f00:1::]", "[2001:0:5db8:d822::80ff:fffe]", "[fec0::1]",
     "[fd00::1]"],
)
def test_private_addresses_are_refused_by_default(tmp_path: Path, radicale: Peer, host_part: str) -> None:
    host = _guarded_host(tmp_path)
    port = radicale.url.rsplit(":", 1)[1]
    with pytest.raises(Rejected) as err:
        subscribe(host, f"http://{host_part}:{port}/alice/", auth=radicale.auth)
    assert err.value.status == 400
    assert "Refused" in err.value.message and "address" in err.value.message
    assert host.store.collection("alice", "remote") is None
    host.close()


#: Cloud metadata and this machine, in every IPv6 form that carries an IPv4 address, and the IPv6 private ranges.
INTERNAL = [
    "http://[::ffff:169.254.169.254]/latest/meta-data/", "http://[::a9fe:a9fe]/latest/meta-data/",
    "http://[::ffff:0:a9fe:a9fe]/", "http://[64:ff9b::a9fe:a9fe]/", "http://[64:ff9b:1::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::1]/", "http://[2001:0:5db8:d822::5601:5601]/", "http://[::7f00:1]:5232/",
    "http://[fec0::1]/", "http://[fd00::1]/",
]


def test_a_user_cannot_reach_internal_addresses_through_the_api(tmp_path: Path) -> None:
    host = _guarded_host(tmp_path)
    add_user(host, "bob")
    with LiveServer(host) as server:

        def attack() -> list[httpx.Response]:
            with server.client("alice") as client:
                return [client.post("/api/subscriptions", json={"calendar": "alice/x", "url": u}) for u in INTERNAL]

        def probe() -> None:
            with server.client("bob") as client:
                assert client.get("/api/subscriptions").status_code == 200

        answers, took = latency_during(attack, probe)
    assert [a.status_code for a in answers] == [400] * len(INTERNAL)
    assert all("Refused" in a.json()["error"] for a in answers), [a.json() for a in answers]
    assert max(took) < 1.0
    assert records.all_subscriptions(host.store) == [] and host.store.collection("alice", "x") is None
    host.close()


def test_a_stored_subscription_is_refused_once_the_setting_is_off(tmp_path: Path, radicale: Peer) -> None:
    cal = radicale.new_calendar()
    cal.put("a.ics", event("a"))
    open_host = build_host(tmp_path)
    sub = subscribe(open_host, cal.url, auth=radicale.auth)
    open_host.close()
    (tmp_path / "plugins.toml").write_text(
        (tmp_path / "plugins.toml").read_text().replace("allow_private_networks = true", "allow_private_networks = false")
    )
    guarded = Host.from_config(tmp_path / "plugins.toml")
    out = sync(guarded, sub)
    assert out.error is not None and "loopback" in out.error and out.requests == 0
    assert records.get(guarded.store, sub.id).failures == 1
    guarded.close()


def test_the_allowed_ranges_apply_to_the_ipv4_an_ipv6_address_carries(tmp_path: Path, radicale: Peer) -> None:
    cal = radicale.new_calendar()
    cal.put("a.ics", event("a"))
    host = _guarded_host(tmp_path, allowed_networks='["127.0.0.1/32"]')
    mapped = cal.url.replace("127.0.0.1", "[::ffff:127.0.0.1]")
    sub = subscribe(host, mapped, auth=radicale.auth)
    assert sync(host, sub).error is None and len(local_objects(host, sub)) == 1
    with pytest.raises(Rejected) as err:
        subscribe(host, cal.url.replace("127.0.0.1", "[::ffff:127.0.0.2]"), auth=radicale.auth, calendar="alice/b")
    assert "carries the IPv4 address 127.0.0.2: 127.0.0.2 is a loopback address" in err.value.message
    host.close()


@pytest.mark.parametrize(
    "target", ["127.0.0.2", "[::ffff:127.0.0.2]", "[::7f00:2]", "[64:ff9b::7f00:2]", "[2002:7f00:2::]"]
)
def test_every_redirect_hop_is_checked(tmp_path: Path, target: str) -> None:
    """Also where the hop names the denied IPv4 address inside an IPv6 address."""
    host = build_host(tmp_path, denied_networks='["127.0.0.2/32"]')
    with MiniDav() as mini:
        mini.put("a.ics", event("a"))
        sub = subscribe(host, mini.url)
        assert sync(host, sub).error is None
        mini.redirects["/cal/"] = f"http://{target}:{mini.port}/cal/"
        mini.ctag += 1
        out = sync(host, sub)
        assert out.error is not None and "127.0.0.2 is in a denied network" in out.error
        assert len(local_objects(host, sub)) == 1
        mini.redirects["/cal/"] = "file:///etc/passwd"
        out = sync(host, sub)
        assert out.error is not None and "only http and https" in out.error
    host.close()


def test_redirect_limit(tmp_path: Path) -> None:
    host = build_host(tmp_path, max_redirects="2")
    with MiniDav() as mini:
        for i in range(5):
            mini.redirects[f"/hop{i}"] = f"/hop{i + 1}"
        mini.redirects["/hop3"] = "/cal/"
        with pytest.raises(Rejected) as err:
            asyncio.run(manage.create(host, None, calendar="alice/r", url=mini.url.replace("/cal/", "/hop0")))
        assert "more than 2 redirects" in err.value.message
        sub = asyncio.run(manage.create(host, None, calendar="alice/r", url=mini.url.replace("/cal/", "/hop2")))
        assert sub.kind == "caldav" and sub.url == mini.url
        assert sync(host, sub).error is None
    host.close()


@pytest.mark.parametrize("url", ["ftp://example.org/cal.ics", "file:///etc/passwd", "javascript:alert(1)", "/relative", ""])
def test_only_http_and_https(host: Host, url: str) -> None:
    with pytest.raises(Rejected) as err:
        asyncio.run(manage.create(host, None, calendar="alice/x", url=url))
    assert err.value.status == 400


def test_credentials_do_not_follow_a_redirect_to_another_host(host: Host, feeds: FeedServer) -> None:
    from .test_feeds import feed

    feeds.publish("/real.ics", feed())
    feeds.redirects["/moved.ics"] = f"http://localhost:{feeds.port}/real.ics"
    sub = subscribe(host, feeds.url + "/moved.ics", auth=("joe", "secret"))
    assert sync(host, sub).error is None
    by_path = {}
    for _method, path, headers in feeds.requests:
        by_path.setdefault(path, []).append(headers.get("Authorization"))
    assert all(by_path["/moved.ics"]) and not any(by_path["/real.ics"])


def test_address_policy() -> None:
    import ipaddress

    strict = AddressPolicy(False)
    strict.check(ipaddress.ip_address("93.184.216.34"))
    strict.check(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"))
    for bad in ["10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.169.254", "100.64.0.1",
                "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "224.0.0.1", "0.0.0.0"]:
        with pytest.raises(Refused):
            strict.check(ipaddress.ip_address(bad))
    relaxed = AddressPolicy(True, ["169.254.0.0/16"])
    relaxed.check(ipaddress.ip_address("10.1.2.3"))
    with pytest.raises(Refused):
        relaxed.check(ipaddress.ip_address("169.254.169.254"))
    with pytest.raises(Refused):
        relaxed.check(ipaddress.ip_address("ff02::1"))


def test_digest_challenge_is_answered(host: Host) -> None:
    with MiniDav() as mini:
        mini.digest = ("joe", "s3cret")
        mini.put("a.ics", event("a"))
        sub = subscribe(host, mini.url, auth=("joe", "s3cret"))
        out = sync(host, sub)
        assert out.error is None, out.error
        assert out.report.pulled == 1
        with pytest.raises(Rejected) as err:
            subscribe(host, mini.url, auth=("joe", "wrong"), calendar="alice/other")
        assert "refused the credentials" in err.value.message
