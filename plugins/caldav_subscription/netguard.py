"""Which remote addresses a subscription may reach, enforced on every connection.

The guard is an httpx transport: for each request (so for each redirect hop,
since redirects are followed one request at a time) it resolves the host,
refuses the request when any resolved address is forbidden, and connects to
the address it checked (the URL is rewritten to the IP; Host header and TLS
server name keep the original name) so a second DNS answer cannot swap in
another address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Iterable

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = ("http", "https")


class Refused(Exception):
    """A URL or address the subscription is not allowed to reach."""


class AddressPolicy:
    """Decides whether an address may be contacted.

    Public (globally routable) unicast addresses always may; private,
    loopback, link-local, shared and reserved ones only with
    ``allow_private``; multicast, unspecified and ``denied`` ranges never.
    """

    def __init__(self, allow_private: bool, denied: Iterable[str] = ()) -> None:
        self.allow_private = allow_private
        self.denied: list[Network] = [ipaddress.ip_network(n, strict=False) for n in denied]

    def check(self, address: Address) -> None:
        """Raise :class:`Refused` unless ``address`` may be contacted."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_multicast or address.is_unspecified:
            raise Refused(f"{address} is not a unicast address")
        if any(address in net for net in self.denied):
            raise Refused(f"{address} is in a denied network")
        if not address.is_global and not self.allow_private:
            raise Refused(f"{address} is a {_describe(address)} address (allow_private_networks is off)")


def _describe(address: Address) -> str:
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
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


async def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to (a literal IP resolves to itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
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

    ``sent`` counts the requests that passed the check and went on the wire.
    """

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self.sent = 0
        # One pool per host name, so a TLS connection made for one name is never reused for another.
        self._pools: dict[str, httpx.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Resolve, check, pin, send."""
        url = check_url(request.url)
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await resolve(host, port)
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
