"""HTTP Basic authentication that an attacker cannot use to slow the server.

The kernel's ``authenticate`` implementation (:class:`BasicAuth`, a plain
first-result hook like any other) answers at once when the credentials were
verified recently from the same client address (the in-memory cache, for
``kernel.auth_cache`` seconds, keyed by a keyed hash of the password, never
the password itself). Otherwise it answers a :class:`PasswordCheck`, which
:meth:`kernel.Host.authenticate` completes through :class:`PasswordChecks`:

- a throttled client address or user name (see :mod:`kernel.throttle`; the
  ledger is in the store, shared by every node) gets 429 with Retry-After,
  without a password being checked;
- the password hash is verified in one of ``kernel.auth_threads`` dedicated
  worker threads (:class:`HashThreads`), never on the event loop, so checks
  cannot take the threads other work runs in nor the loop's CPU;
- unknown users are checked against a dummy hash, the same work as a known
  user, so names cannot be found by timing;
- a hash in an older scheme is replaced at the successful login
  (:mod:`kernel.passwords`), written in a transaction.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import math
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.exceptions import HTTPException

from kernel.hookspecs import hookimpl
from kernel.passwords import check_password
from kernel.throttle import LoginThrottle, StoreLedger, client_address
from kernel.types import Principal

if TYPE_CHECKING:
    from starlette.requests import Request

    from kernel.config import KernelSettings
    from kernel.host import Host
    from kernel.store import Store

T = TypeVar("T")

REALM = "teamcal"
CHALLENGE = f'Basic realm="{REALM}", charset="UTF-8"'


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic`` header, or None when absent or malformed."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep and user else None


class CredentialCache:
    """Remembers passwords verified from a client address for a while; forgets a user when
    their hash changes.

    The address is part of the key so that a throttled attacker cannot use the
    cache to confirm a guess of a logged-in user's password without a check.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._key = secrets.token_bytes(32)
        self._entries: dict[tuple[str, bytes], tuple[float, str, Principal]] = {}

    def _fingerprint(self, address: str, password: str) -> bytes:
        return hmac.new(self._key, f"{address}\0{password}".encode(), hashlib.sha256).digest()

    def get(self, name: str, address: str, password: str, stored_hash: str | None) -> Principal | None:
        """The cached principal, if this pair was verified recently from ``address`` against the same hash."""
        entry = self._entries.get((name, self._fingerprint(address, password)))
        if entry and entry[0] > time.monotonic() and entry[1] == stored_hash:
            return entry[2]
        return None

    def knows(self, name: str, address: str, password: str) -> bool:
        """Whether this pair was verified from ``address`` within the lifetime, whatever hash
        is stored now (:meth:`get` checks that)."""
        entry = self._entries.get((name, self._fingerprint(address, password)))
        return entry is not None and entry[0] > time.monotonic()

    def put(self, name: str, address: str, password: str, stored_hash: str, principal: Principal) -> None:
        """Remember a verified pair."""
        if len(self._entries) > 10_000:
            self._entries.clear()
        key = (name, self._fingerprint(address, password))
        self._entries[key] = (time.monotonic() + self.ttl, stored_hash, principal)


class HashThreads:
    """A few worker threads of their own for password hashing, created when first needed.

    Attackers' checks queue here, never in the general thread pool other work
    runs in. On Linux the threads run 10 nice levels below the server, so that
    hashing yields the CPU to request handling on small machines.
    """

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(max(1, threads), "teamcal-auth", initializer=_lower_priority)

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)`` in one of the threads, awaited."""
        return await asyncio.wrap_future(self._pool.submit(func, *args))

    def close(self) -> None:
        """Stop the threads; checks still queued are cancelled."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _lower_priority() -> None:
    """Lower this worker thread's CPU priority (Linux schedules each thread on its own)."""
    if sys.platform.startswith("linux"):
        tid = threading.get_native_id()
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + 10))


@dataclass(frozen=True)
class PasswordCheck:
    """A Basic login the cache could not answer: what :meth:`PasswordChecks.complete` verifies.

    ``principal`` and ``stored`` are None for a name that is not a user with a password.
    """

    name: str
    password: str
    address: str
    principal: Principal | None
    stored: str | None


class PasswordChecks:
    """One host's password checking: the cache, the failure throttle (in ``store``) and the
    hashing threads."""

    def __init__(self, settings: KernelSettings, store: Store) -> None:
        self.cache = CredentialCache(settings.auth_cache)
        window = float(settings.auth_failure_window)
        self.throttle = LoginThrottle(
            StoreLedger(store, "address", settings.auth_address_failures, window),
            StoreLedger(store, "user", settings.auth_user_failures, window),
        )
        self.threads = HashThreads(settings.auth_threads)

    def cached(self, request: Request, name: str, password: str, store: Store) -> Principal | PasswordCheck:
        """The principal when the cache knows these credentials, else the check to run."""
        address = client_address(request.scope.get("client"))
        principal, stored = store.principal_with_hash(name)  # one query: a round trip less on PostgreSQL
        if principal is not None and principal.kind != "user":
            principal, stored = None, None
        if principal is not None and stored and self.cache.get(name, address, password, stored) is not None:
            return principal
        return PasswordCheck(name, password, address, principal if stored else None, stored)

    def remembered(self, request: Request) -> bool:
        """Whether the request's Basic credentials are ones the cache knows from its address:
        work may be done for it before authentication has read the account (which still
        decides; this reads nothing)."""
        creds = parse_basic(request.headers.get("authorization"))
        if creds is None:
            return False
        return self.cache.knows(creds[0], client_address(request.scope.get("client")), creds[1])

    async def complete(self, check: PasswordCheck, host: Host) -> Principal | None:
        """Verify a login off the event loop; None when it fails.

        Raises HTTP 429 with Retry-After, without verifying, when the client
        address or the user name is throttled.
        """
        wait = await host.run(self.throttle.retry_after, check.address, check.name)
        if wait > 0:
            raise HTTPException(
                429,
                "Too many failed logins from this address or for this user; try again later.",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        ok, upgrade = await self.threads.run(check_password, check.password, check.stored)
        if not ok or check.principal is None or check.stored is None:
            await host.run(self.throttle.failed, check.address, check.name)
            return None
        stored = await host.run(self._succeeded, host.store, check, upgrade)
        self.cache.put(check.name, check.address, check.password, stored, check.principal)
        return check.principal

    def _succeeded(self, store: Store, check: PasswordCheck, upgrade: str | None) -> str:
        """In a worker thread: clear the user name's failures, store an upgraded hash unless the
        password changed meanwhile; the hash now stored."""
        assert check.principal is not None and check.stored is not None
        self.throttle.succeeded(check.name)
        if upgrade is None:
            return check.stored
        with store.transaction():
            replaced = store.replace_password_hash(check.principal.id, check.stored, upgrade)
        return upgrade if replaced else check.stored

    def close(self) -> None:
        """Stop the hashing threads."""
        self.threads.close()


class BasicAuth:
    """The kernel's own ``authenticate`` implementation: HTTP Basic against stored hashes."""

    @hookimpl(trylast=True)
    def authenticate(self, host: Host, request: Request) -> Principal | PasswordCheck | None:
        """Authenticate a request with HTTP Basic credentials.

        Answers the principal when the cache knows the credentials, else a
        :class:`PasswordCheck` that :meth:`kernel.Host.authenticate` completes
        off the event loop; None without Basic credentials.
        """
        creds = parse_basic(request.headers.get("authorization"))
        if creds is None:
            return None
        return host.passwords.cached(request, *creds, host.store)
