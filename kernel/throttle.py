"""Throttling failed logins, per client address and per user name, shared by every node.

A key (a client address, a user name) is throttled once its last ``limit``
failed logins all fall within ``window`` seconds, until the oldest of them
leaves the window: a sliding window that lets ``limit`` guesses through per
window and then answers without checking a password. The defaults
(``[kernel]`` settings) are 20 failures per address and 10 per user name in
10 minutes; a limit of 0 switches that key off.

The ledger is the kernel table ``auth_failures`` (one row per failure, at
wall-clock time), so every process and node on the database counts the same
failures: an attacker spreading guesses over the nodes behind a load balancer
gains nothing. Rows older than the window are deleted as new failures come.
"""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kernel.store import Store

#: The address key of a request whose ASGI scope names no client (in-process test transports).
UNKNOWN_ADDRESS = "unknown"
#: User-name keys are cut to this length (principal names have at most 64 characters),
#: so that long made-up names cannot fill the table.
_NAME_KEY = 128


class StoreLedger:
    """Failed logins of one kind of key ("address" or "user") in the store's ``auth_failures``."""

    def __init__(self, store: Store, kind: str, limit: int, window: float) -> None:
        self.store = store
        self.kind = kind
        self.limit = limit
        self.window = window

    def _key(self, key: str) -> str:
        return f"{self.kind}:{key}"

    def record_failure(self, key: str, now: float) -> None:
        """Count one failed login for ``key`` at ``now`` (seconds since the epoch); forget expired ones."""
        if self.limit <= 0:
            return
        with self.store.transaction():
            self.store.execute("DELETE FROM auth_failures WHERE at < ?", (now - self.window,))
            self.store.execute("INSERT INTO auth_failures (key, at) VALUES (?, ?)", (self._key(key), now))

    def throttled_for(self, key: str, now: float) -> float:
        """Seconds until the oldest of the last ``limit`` failures leaves the window (0: not throttled)."""
        if self.limit <= 0:
            return 0.0
        rows = self.store.execute(
            "SELECT at FROM auth_failures WHERE key = ? AND at > ? ORDER BY at DESC LIMIT ?",
            (self._key(key), now - self.window, self.limit),
        ).fetchall()
        if len(rows) < self.limit:
            return 0.0
        oldest: float = rows[-1][0]
        return max(0.0, oldest + self.window - now)

    def clear(self, key: str) -> None:
        """Forget ``key``'s failures (a write only when there are some)."""
        found = self.store.execute("SELECT 1 FROM auth_failures WHERE key = ? LIMIT 1", (self._key(key),)).fetchone()
        if found is not None:
            with self.store.transaction():
                self.store.execute("DELETE FROM auth_failures WHERE key = ?", (self._key(key),))


class LoginThrottle:
    """The two ledgers a login is checked against: its client address and its user name.

    Their methods read and write the store: call them from worker threads. A success clears the user name's failures, not the address's: an attacker
    who owns an account cannot reset his address's count by logging in.
    """

    def __init__(self, by_address: StoreLedger, by_user: StoreLedger) -> None:
        self.by_address = by_address
        self.by_user = by_user

    def retry_after(self, address: str, user: str) -> float:
        """Seconds until a login for ``user`` from ``address`` may be checked (0: now)."""
        now = time.time()
        return max(self.by_address.throttled_for(address, now), self.by_user.throttled_for(user[:_NAME_KEY], now))

    def failed(self, address: str, user: str) -> None:
        """Count a failed login against both keys."""
        now = time.time()
        with self.by_address.store.transaction():
            self.by_address.record_failure(address, now)
            self.by_user.record_failure(user[:_NAME_KEY], now)

    def succeeded(self, user: str) -> None:
        """A login for ``user`` succeeded: forget its failures."""
        self.by_user.clear(user[:_NAME_KEY])


def client_address(client: tuple[str, int] | list[Any] | None) -> str:
    """The throttling key of an ASGI ``scope["client"]``.

    IPv4 addresses as they are (IPv4-mapped IPv6 ones too); IPv6 addresses by
    their /64 network, which one subscriber usually holds whole; anything
    else (a Unix socket) as given; a missing client (in-process transports)
    is :data:`UNKNOWN_ADDRESS`, one shared key.
    """
    host = client[0] if client else None
    if not host:
        return UNKNOWN_ADDRESS
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return str(host)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
