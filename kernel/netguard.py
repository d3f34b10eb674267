"""Which remote addresses outbound requests may reach, enforced on every connection.

Every plugin that contacts a URL it did not choose itself (subscriptions, the
Atlassian push) sends through :class:`GuardedTransport`, an httpx transport: for
each request (so for each redirect hop, when redirects are followed one request
at a time) it resolves the host, refuses the request when any resolved address
is forbidden by an :class:`AddressPolicy`, and connects to the address it
checked (the URL is rewritten to the IP; Host header and TLS server name keep
the original name) so a second DNS answer cannot swap in another address.

An IPv6 address that carries an IPv4 address (IPv4-mapped, -compatible and
-translated forms, NAT64, 6to4, Teredo) is judged by the IPv4 address it
carries, with the same policy: ``::ffff:127.0.0.1`` and ``64:ff9b::7f00:1`` are
loopback wherever 127.0.0.1 is.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Resolves a host name and port to its addresses; :func:`resolve` asks the system.
Resolver = Callable[[str, int], Awaitable[list[Address]]]

ALLOWED_SCHEMES = ("http", "https")

#: IPv6 ranges whose low 32 bits are an IPv4 address (RFC 4291 2.5.5, RFC 2765, RFC 6052).
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
#: The local-use NAT64 prefix (RFC 8215): where the IPv4 address sits depends on the
#: prefix length the operator chose, so every RFC 6052 position that fits is checked.
_NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
_NAT64_LOCAL_LENGTHS = (48, 56, 64, 96)
#: Ranges Python's ``is_global`` calls global but that are no public unicast space.
_NOT_PUBLIC = (ipaddress.ip_network("fec0::/10"), ipaddress.ip_network("fc00::/7"))


class Refused(Exception):
    """A URL or address an outbound request is not allowed to reach."""


class NetworkRange(str):
    """An address range in CIDR notation ("10.0.0.0/8", "fd00::/8"), checked at start-up.

    A settings type: plugins use it for lists of networks in their tables.
    """

    @classmethod
    def from_config(cls, value: Any) -> NetworkRange:
        """Accept a string that ``ipaddress.ip_network`` understands."""
        if not isinstance(value, str):
            raise ValueError(f"expected a network such as 10.0.0.0/8, got {value!r}")
        try:
            return cls(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError as exc:
            raise ValueError(f"not a network: {exc}") from None


def embedded_ipv4(address: Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries; empty for IPv4 and native IPv6 addresses.

    IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d`` (not ``::`` or
    ``::1``), IPv4-translated ``::ffff:0:a.b.c.d``, NAT64 ``64:ff9b::/96`` and
    ``64:ff9b:1::/48`` (every position), 6to4 ``2002::/16`` and Teredo
    ``2001::/32`` (server and client).
    """
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    value = int(address)
    low = ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in _IPV4_TRANSLATED or address in _NAT64_WELL_KNOWN:
        return [low]
    if address in _IPV4_COMPATIBLE:
        return [low] if value > 1 else []
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    if address in _NAT64_LOCAL_USE:
        return [_rfc6052_ipv4(value, length) for length in _NAT64_LOCAL_LENGTHS]
    return []


def _rfc6052_ipv4(value: int, prefix_length: int) -> ipaddress.IPv4Address:
    """The IPv4 address at the RFC 6052 position for ``prefix_length``, skipping bits 64-71 (the u octet)."""
    without_u = ((value >> 64) << 56) | (value & ((1 << 56) - 1))
    start = prefix_length if prefix_length <= 64 else prefix_length - 8
    return ipaddress.IPv4Address((without_u >> (120 - start - 32)) & 0xFFFFFFFF)


class AddressPolicy:
    """Decides whether an address may be contacted.

    Public (globally routable) unicast addresses always may; private,
    loopback, link-local, site-local, shared and reserved ones only with
    ``allow_private`` or when they lie in an ``allowed`` range; multicast,
    unspecified and ``denied`` ranges never. An IPv6 address carrying an IPv4
    address may be contacted only when that IPv4 address may.
    """

    def __init__(self, allow_private: bool, denied: Iterable[str] = (), allowed: Iterable[str] = ()) -> None:
        self.allow_private = allow_private
        self.denied: list[Network] = [ipaddress.ip_network(n, strict=False) for n in denied]
        self.allowed: list[Network] = [ipaddress.ip_network(n, strict=False) for n in allowed]

    def check(self, address: Address) -> None:
        """Raise :class:`Refused` unless ``address`` may be contacted."""
        if address.is_multicast or address.is_unspecified:
            raise Refused(f"{address} is not a unicast address")
        if any(address in net for net in self.denied):
            raise Refused(f"{address} is in a denied network")
        carried = embedded_ipv4(address)
        for inner in carried:
            try:
                self.check(inner)
            except Refused as exc:
                raise Refused(f"{address} carries the IPv4 address {inner}: {exc}") from None
        if carried:
            if address in _NAT64_LOCAL_USE:
                self._require_private(address)
            return
        if any(address in net for net in self.allowed) or _is_public(address):
            return
        self._require_private(address)

    def _require_private(self, address: Address) -> None:
        if not self.allow_private and not any(address in net for net in self.allowed):
            raise Refused(f"{address} is a {_describe(address)} address (allow_private_networks is off)")


def _is_public(address: Address) -> bool:
    return address.is_global and not address.is_reserved and not any(address in net for net in _NOT_PUBLIC)


def _describe(address: Address) -> str:
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"
    if address.is_private:
        return "private"
    return "non-public"


def check_url(url: str | httpx.URL) -> httpx.URL:
    """Parse a URL and refuse anything but absolute http(s) URLs with a host."""
    try:
        parsed = httpx.URL(str(url))
    except (httpx.InvalidURL, ValueError) as exc:
        raise Refused(f"not a valid URL: {exc}") from None
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise Refused(f"only http and https URLs are allowed, not {parsed.scheme or 'a relative URL'!r}")
    if not parsed.host:
        raise Refused("the URL has no host")
    return parsed


def literal_address(host: str) -> Address | None:
    """The address a host part names literally (``127.0.0.1``, ``::1``), or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[Address]:
    """Every address the system resolver gives for ``host``."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpx.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
    found: list[Address] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise httpx.ConnectError(f"{host} has no address")
    return found


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that checks and pins the destination address of every request.

    ``resolver`` answers name lookups (the system's by default; tests give their
    own). ``sent`` counts the requests that passed the check and went on the wire.
    """

    def __init__(self, policy: AddressPolicy, resolver: Resolver = resolve) -> None:
        self.policy = policy
        self.resolver = resolver
        self.sent = 0
        # One pool per host name, so a TLS connection made for one name is never reused for another.
        self._pools: dict[str, httpx.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Resolve, check every address, pin the first, send."""
        url = check_url(request.url)
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        literal = literal_address(host)
        addresses = [literal] if literal is not None else await self.resolver(host, port)
        if not addresses:
            raise httpx.ConnectError(f"{host} has no address")
        for address in addresses:
            self.policy.check(address)
        request.url = url.copy_with(host=str(addresses[0]))
        request.extensions = {**request.extensions, "sni_hostname": host}
        pool = self._pools.get(host)
        if pool is None:
            pool = self._pools[host] = httpx.AsyncHTTPTransport(retries=0)
        self.sent += 1
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        """Close every pool."""
        for pool in self._pools.values():
            await pool.aclose()
        self._pools.clear()
