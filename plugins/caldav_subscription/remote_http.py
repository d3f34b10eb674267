"""One HTTP conversation with a remote: guarded addresses, redirects, size caps, credentials.

Redirects are followed here, one request at a time, so that the address guard
sees every hop; credentials go only to hosts the user named (or that the
authenticated remote itself pointed to), never downgraded from https to http.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Self

import httpx

from kernel.netguard import (
    AddressPolicy,
    GuardedTransport,
    Refused,
    check_url,
)
from plugins.caldav_subscription.settings import Settings

REDIRECTS = (301, 302, 303, 307, 308)


class RemoteError(Exception):
    """The remote could not be used: unreachable, slow, an error status, too large or unreadable."""


@dataclass(frozen=True)
class Reply:
    """A complete response: status, headers, body, and the URL that answered (after redirects)."""

    status: int
    headers: httpx.Headers
    body: bytes
    url: httpx.URL


class BasicThenDigest(httpx.Auth):
    """HTTP Basic sent up front; switches to Digest when the remote challenges with it."""

    def __init__(self, username: str, password: str) -> None:
        self._basic = httpx.BasicAuth(username, password)
        self._digest = httpx.DigestAuth(username, password)
        self._digest_only = False

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Try Basic; on a Digest challenge answer it (and use Digest from then on)."""
        if self._digest_only:
            yield from self._digest.auth_flow(request)
            return
        basic = next(self._basic.auth_flow(request))
        response = yield basic
        challenges = [h.lower() for h in response.headers.get_list("www-authenticate")]
        if response.status_code != 401 or not any(c.startswith("digest") for c in challenges):
            return
        self._digest_only = True
        del request.headers["authorization"]
        flow = self._digest.auth_flow(request)
        next(flow)
        try:
            retry = flow.send(response)
        except StopIteration:
            return
        response = yield retry
        try:
            flow.send(response)
        except StopIteration:
            pass


class RemoteClient:
    """An httpx AsyncClient bound to one subscription's URL, credentials and limits.

    ``requests`` counts HTTP requests sent (every hop and auth retry).
    Use as an async context manager.
    """

    def __init__(self, settings: Settings, base_url: str, username: str | None, password: str | None) -> None:
        self.settings = settings
        base = check_url(base_url)
        self._trusted = {(base.host, base.scheme)}
        self._auth = BasicThenDigest(username or "", password or "") if (username or password) else None
        policy = AddressPolicy(settings.allow_private_networks, settings.denied_networks, settings.allowed_networks)
        self._transport = GuardedTransport(policy)
        self._client = httpx.AsyncClient(
            transport=self._transport,
            timeout=httpx.Timeout(float(settings.timeout)),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": settings.user_agent},
        )

    @property
    def requests(self) -> int:
        """HTTP requests sent so far."""
        return self._transport.sent

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._client.aclose()

    def trust(self, url: str | httpx.URL) -> None:
        """Send credentials to this URL's host too (a host the authenticated remote pointed to).

        Never over plain http once the conversation started on https.
        """
        parsed = check_url(url)
        if parsed.scheme == "http" and any(scheme == "https" for _, scheme in self._trusted):
            return
        self._trusted.add((parsed.host, parsed.scheme))

    def _credentials_for(self, url: httpx.URL) -> httpx.Auth | None:
        if self._auth is None:
            return None
        same = (url.host, url.scheme) in self._trusted
        upgraded = url.scheme == "https" and (url.host, "http") in self._trusted
        return self._auth if same or upgraded else None

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        """Send one request, following up to ``max_redirects`` redirects; read at most ``max_document_size``.

        Raises :class:`RemoteError` (or :class:`Refused` from the address guard).
        """
        limit = int(self.settings.max_document_size)
        current = check_url(url)
        for _ in range(self.settings.max_redirects + 1):
            try:
                async with asyncio.timeout(float(self.settings.timeout)):
                    status, reply_headers, data = await self._send(method, current, headers, body, limit)
            except TimeoutError:
                raise RemoteError(f"{method} {_show(current)}: no complete answer within {self.settings.timeout:g}s") from None
            except httpx.TimeoutException:
                raise RemoteError(f"{method} {_show(current)}: timed out") from None
            except httpx.HTTPError as exc:
                raise RemoteError(f"{method} {_show(current)}: {type(exc).__name__}: {exc}") from None
            if status in REDIRECTS and reply_headers.get("location"):
                try:
                    current = check_url(current.join(reply_headers["location"]))
                except Refused as exc:
                    raise Refused(f"redirect from {_show(current)} refused: {exc}") from None
                if status == 303 or (status in (301, 302) and method == "POST"):
                    method, body = "GET", None
                continue
            return Reply(status, reply_headers, data, current)
        raise RemoteError(f"{method} {_show(url)}: more than {self.settings.max_redirects} redirects")

    async def _send(
        self, method: str, url: httpx.URL, headers: dict[str, str] | None, body: bytes | None, limit: int
    ) -> tuple[int, httpx.Headers, bytes]:
        request = self._client.build_request(method, url, headers=headers, content=body)
        response = await self._client.send(request, auth=self._credentials_for(url), stream=True)
        try:
            if response.status_code in REDIRECTS:
                return response.status_code, response.headers, b""
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > limit:
                raise RemoteError(f"{method} {_show(url)}: the answer is {length} bytes, over the limit of {limit}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise RemoteError(f"{method} {_show(url)}: the answer is over the limit of {limit} bytes")
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)
        finally:
            await response.aclose()


def _show(url: Any) -> str:
    """A URL for messages, without any user:password part."""
    parsed = httpx.URL(str(url))
    return str(parsed.copy_with(username=None, password=None)) if parsed.userinfo else str(parsed)
