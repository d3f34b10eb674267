"""Passwords (salted scrypt) and HTTP Basic authentication.

Verifying a scrypt hash takes tens of milliseconds by design, so a verified
(name, password) pair is remembered in memory for ``kernel.auth_cache``
seconds, keyed by a keyed hash of the password, never the password itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from typing import TYPE_CHECKING

from kernel.hookspecs import hookimpl
from kernel.types import Principal

if TYPE_CHECKING:
    from starlette.requests import Request

    from kernel.host import Host

_N, _R, _P = 2**14, 8, 1
REALM = "teamcal"
CHALLENGE = f'Basic realm="{REALM}", charset="UTF-8"'


def hash_password(password: str) -> str:
    """A salted scrypt hash in the form ``scrypt$n$r$p$salt$hash`` (hex)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str | None) -> bool:
    """True when ``password`` matches a hash made by :func:`hash_password`."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(computed.hex(), digest)


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic`` header, or None when absent or malformed."""
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep and user else None


class CredentialCache:
    """Remembers verified passwords for a while; forgets a user when their hash changes."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._key = secrets.token_bytes(32)
        self._entries: dict[tuple[str, bytes], tuple[float, str, Principal]] = {}

    def _fingerprint(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode(), hashlib.sha256).digest()

    def get(self, name: str, password: str, stored_hash: str | None) -> Principal | None:
        """The cached principal, if this pair was verified recently against the same hash."""
        entry = self._entries.get((name, self._fingerprint(password)))
        if entry and entry[0] > time.monotonic() and entry[1] == stored_hash:
            return entry[2]
        return None

    def put(self, name: str, password: str, stored_hash: str, principal: Principal) -> None:
        """Remember a verified pair."""
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[(name, self._fingerprint(password))] = (time.monotonic() + self.ttl, stored_hash, principal)


class BasicAuth:
    """The kernel's own ``authenticate`` implementation: HTTP Basic against stored hashes."""

    @hookimpl(trylast=True)
    def authenticate(self, host: Host, request: Request) -> Principal | None:
        """Authenticate a request with HTTP Basic credentials."""
        creds = parse_basic(request.headers.get("authorization"))
        if creds is None:
            return None
        name, password = creds
        principal = host.store.principal(name)
        if principal is None or principal.kind != "user":
            return None
        stored = host.store.password_hash(principal.id)
        cached = host.credentials.get(name, password, stored)
        if cached is not None:
            return principal
        if stored and verify_password(password, stored):
            host.credentials.put(name, password, stored, principal)
            return principal
        return None
