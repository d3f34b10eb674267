"""Throttling failed logins, per client address and per user name.

A key (a client address, a user name) is throttled once its last ``limit``
failed logins all fall within ``window`` seconds, until the oldest of them
leaves the window: a sliding window that lets ``limit`` guesses through per
window and then answers without checking a password. The defaults
(``[kernel]`` settings) are 20 failures per address and 10 per user name in
10 minutes; a limit of 0 switches that key off.

The ledger is in memory, one per server process, behind the small
:class:`FailureLedger` interface (record a failure, how long a key is
throttled, clear a key), so that deployments of several nodes can keep it in
the shared store, as ARCHITECTURE.md plans for rate ledgers, without
touching its callers.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict, deque
from typing import Protocol

#: The address key of a request whose ASGI scope names no client (in-process test transports).
UNKNOWN_ADDRESS = "unknown"
#: User-name keys are cut to this length (principal names have at most 64 characters),
#: so that long made-up names cannot fill memory.
_NAME_KEY = 128


class FailureLedger(Protocol):
    """Where failed logins are counted (in memory today; the shared store for several nodes)."""

    def record_failure(self, key: str, now: float) -> None:
        """Count one failed login for ``key`` at time ``now`` (monotonic seconds)."""

    def throttled_for(self, key: str, now: float) -> float:
        """Seconds until ``key`` may try again; 0 when it is not throttled."""

    def clear(self, key: str) -> None:
        """Forget the failures of ``key`` (after a successful login)."""


class MemoryLedger:
    """A :class:`FailureLedger` in this process's memory, holding at most ``max_keys`` keys
    (the least recently failed are forgotten first) and ``limit`` times per key."""

    def __init__(self, limit: int, window: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def record_failure(self, key: str, now: float) -> None:
        """Count one failed login for ``key``."""
        if self.limit <= 0:
            return
        with self._lock:
            times = self._failures.pop(key, None) or deque(maxlen=self.limit)
            times.append(now)
            self._failures[key] = times
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def throttled_for(self, key: str, now: float) -> float:
        """Seconds until the oldest of the last ``limit`` failures leaves the window (0: not throttled)."""
        with self._lock:
            times = self._failures.get(key)
            if times is None or len(times) < self.limit:
                return 0.0
            return max(0.0, times[0] + self.window - now)

    def clear(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            self._failures.pop(key, None)


class LoginThrottle:
    """The two ledgers a login is checked against: its client address and its user name.

    A success clears the user name's failures, not the address's: an attacker
    who owns an account cannot reset his address's count by logging in.
    """

    def __init__(self, by_address: FailureLedger, by_user: FailureLedger) -> None:
        self.by_address = by_address
        self.by_user = by_user

    def retry_after(self, address: str, user: str) -> float:
        """Seconds until a login for ``user`` from ``address`` may be checked (0: now)."""
        now = time.monotonic()
        return max(self.by_address.throttled_for(address, now), self.by_user.throttled_for(user[:_NAME_KEY], now))

    def failed(self, address: str, user: str) -> None:
        """Count a failed login against both keys."""
        now = time.monotonic()
        self.by_address.record_failure(address, now)
        self.by_user.record_failure(user[:_NAME_KEY], now)

    def succeeded(self, user: str) -> None:
        """A login for ``user`` succeeded: forget its failures."""
        self.by_user.clear(user[:_NAME_KEY])


def client_address(client: tuple[str, int] | list | None) -> str:
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
