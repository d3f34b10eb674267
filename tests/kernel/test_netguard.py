"""The outbound address guard: IPv6 forms that carry IPv4, site-local and ULA ranges, every resolved address."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from kernel.netguard import AddressPolicy, GuardedTransport, Refused, embedded_ipv4

#: Each IPv6 form that carries 127.0.0.1, with the IPv4 address(es) it carries.
LOOPBACK_FORMS = {
    "::ffff:127.0.0.1": ["127.0.0.1"],  # IPv4-mapped
    "::7f00:1": ["127.0.0.1"],  # IPv4-compatible
    "::ffff:0:7f00:1": ["127.0.0.1"],  # IPv4-translated (SIIT)
    "64:ff9b::7f00:1": ["127.0.0.1"],  # NAT64 well-known prefix
    "2002:7f00:1::": ["127.0.0.1"],  # 6to4
    "2001:0:5db8:d822::80ff:fffe": ["93.184.216.34", "127.0.0.1"],  # Teredo: public server, loopback client
}


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def _refused(policy: AddressPolicy, address: str) -> str:
    with pytest.raises(Refused) as err:
        policy.check(_ip(address))
    return str(err.value)


@pytest.mark.parametrize("address", list(LOOPBACK_FORMS))
def test_every_form_carrying_ipv4_is_judged_by_its_ipv4(address: str) -> None:
    assert [str(a) for a in embedded_ipv4(_ip(address))] == LOOPBACK_FORMS[address]
    message = _refused(AddressPolicy(False), address)
    assert "carries the IPv4 address 127.0.0.1" in message and "loopback" in message
    AddressPolicy(False, allowed=["127.0.0.0/8"]).check(_ip(address))  # allowed exactly where 127.0.0.1 is
    AddressPolicy(True).check(_ip(address))
    assert "127.0.0.1 is in a denied network" in _refused(AddressPolicy(True, denied=["127.0.0.1/32"]), address)


@pytest.mark.parametrize(
    "address",
    ["::ffff:10.0.0.1", "::a00:1", "::ffff:0:a00:1", "64:ff9b::a00:1", "2002:a00:1::", "2001:0:5db8:d822::f5ff:fffe"],
)
def test_an_allowed_range_does_not_open_another_embedded_ipv4(address: str) -> None:
    """With only 127.0.0.0/8 allowed, the same forms carrying 10.0.0.1 stay refused."""
    assert "10.0.0.1 is a private address" in _refused(AddressPolicy(False, allowed=["127.0.0.0/8"]), address)


@pytest.mark.parametrize(
    "address", ["::ffff:93.184.216.34", "64:ff9b::5db8:d822", "2002:5db8:d822::1", "2001:0:5db8:d822::f7f7:f7f7"]
)
def test_forms_carrying_a_public_ipv4_are_public(address: str) -> None:
    AddressPolicy(False).check(_ip(address))


def test_local_use_nat64_checks_every_position_of_the_prefix_length() -> None:
    # 127.0.0.1 where a /48 prefix puts it (bits 48-63 and 72-87, around the u octet).
    address = "64:ff9b:1:7f00:0:100::"
    assert ipaddress.IPv4Address("127.0.0.1") in embedded_ipv4(_ip(address))
    assert "127.0.0.1" in _refused(AddressPolicy(True, denied=["127.0.0.0/8"]), address)
    assert "non-public" in _refused(AddressPolicy(False), "64:ff9b:1:5db8:d8:2200:5db8:d822")
    assert "0.0.0.0 is not a unicast address" in _refused(AddressPolicy(True), "64:ff9b:1::7f00:1")


@pytest.mark.parametrize(
    "address, kind",
    [("fec0::1", "site-local"), ("fd00::1", "private"), ("fc00::1", "private"), ("::1", "loopback"),
     ("fe80::1", "link-local"), ("100::1", "private")],
)
def test_site_local_and_unique_local_ranges_are_not_public(address: str, kind: str) -> None:
    assert f"a {kind} address" in _refused(AddressPolicy(False), address)
    AddressPolicy(True).check(_ip(address))
    AddressPolicy(False, allowed=[address + "/128"]).check(_ip(address))


def test_native_ipv6_and_the_special_addresses() -> None:
    assert embedded_ipv4(_ip("::1")) == [] and embedded_ipv4(_ip("2606:2800:220:1::1")) == []
    AddressPolicy(False).check(_ip("2606:2800:220:1:248:1893:25c8:1946"))
    for never in ["::", "ff02::1", "::ffff:224.0.0.1", "64:ff9b::e000:1", "::ffff:0.0.0.0"]:
        assert "not a unicast address" in _refused(AddressPolicy(True), never)
    assert "in a denied network" in _refused(AddressPolicy(True, denied=["::ffff:0:0/96"], allowed=["::/0"]),
                                              "::ffff:93.184.216.34")


class _Recorder(ThreadingHTTPServer):
    paths: list[tuple[str, str]]


@pytest.fixture
def http_server() -> Iterator[_Recorder]:
    """A plain HTTP server on 127.0.0.1 recording (path, Host header) of every request."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.server.paths.append((self.path, self.headers.get("Host", "")))  # type: ignore[attr-defined]
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = _Recorder(("127.0.0.1", 0), Handler)
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


#: A DNS of our own: what each test name resolves to.
ZONE = {
    "good.test": ["127.0.0.1", "::ffff:127.0.0.1"],
    "mixed.test": ["127.0.0.1", "::ffff:10.0.0.1"],
    "nat64.test": ["64:ff9b::a00:1"],
    "sixtofour.test": ["2002:a9fe:a9fe::"],
    "sitelocal.test": ["127.0.0.1", "fec0::1"],
}


async def _zone_resolver(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return [ipaddress.ip_address(a) for a in ZONE[host]]


def _get(url: str, policy: AddressPolicy) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = GuardedTransport(policy, resolver=_zone_resolver)
        async with httpx.AsyncClient(transport=transport, timeout=5) as client:
            return await client.get(url)

    return asyncio.run(run())


@pytest.mark.parametrize(
    "name, reason",
    [("mixed.test", "10.0.0.1 is a private address"), ("nat64.test", "10.0.0.1 is a private address"),
     ("sixtofour.test", "169.254.169.254 is a link-local address"), ("sitelocal.test", "fec0::1 is a site-local")],
)
def test_every_resolved_address_is_checked(http_server: _Recorder, name: str, reason: str) -> None:
    port = http_server.server_address[1]
    policy = AddressPolicy(False, allowed=["127.0.0.0/8"])
    with pytest.raises(Refused, match=reason):
        _get(f"http://{name}:{port}/x", policy)
    assert http_server.paths == []


def test_a_name_whose_addresses_all_pass_is_reached_on_the_checked_address(http_server: _Recorder) -> None:
    port = http_server.server_address[1]
    answer = _get(f"http://good.test:{port}/x", AddressPolicy(False, allowed=["127.0.0.0/8"]))
    assert answer.status_code == 200 and http_server.paths == [("/x", f"good.test:{port}")]
    with pytest.raises(Refused, match="loopback"):
        _get(f"http://good.test:{port}/y", AddressPolicy(False))
    assert len(http_server.paths) == 1


def test_a_literal_embedded_address_is_connected_to_when_its_ipv4_is_allowed(http_server: _Recorder) -> None:
    port = http_server.server_address[1]
    answer = _get(f"http://[::ffff:127.0.0.1]:{port}/m", AddressPolicy(False, allowed=["127.0.0.1/32"]))
    assert answer.status_code == 200 and http_server.paths[-1][0] == "/m"
    with pytest.raises(Refused):
        _get(f"http://[::ffff:127.0.0.1]:{port}/n", AddressPolicy(False, allowed=["::ffff:127.0.0.1/128"]))
    assert [p for p, _ in http_server.paths] == ["/m"]
