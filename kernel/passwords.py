"""Password hashes: argon2id for new ones; the older salted scrypt ones still verify.

New hashes are argon2id (argon2-cffi) with OWASP's recommended minimum
parameters (19 MiB of memory, 2 passes, 1 lane): about 35 ms on one core, the
same order as the scrypt hashes (2**14, 8, 1) teamcal wrote before. A scrypt
hash is replaced by an argon2id one at the user's next successful login
(:func:`check_password` returns the replacement), and so is an argon2id hash
made with weaker parameters than today's.

Every function here is CPU-bound and blocking: the server calls them in the
worker threads of :class:`kernel.auth.PasswordChecks`, never on the event loop.
"""

from __future__ import annotations

import functools
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_ARGON2 = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    """A new salted argon2id hash (PHC string ``$argon2id$v=19$m=...,t=...,p=...$salt$hash``)."""
    return _ARGON2.hash(password)


def verify_password(password: str, stored: str | None) -> bool:
    """True when ``password`` matches ``stored``, an argon2id or a legacy scrypt hash."""
    if not stored:
        return False
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return _ARGON2.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _verify_scrypt(password: str, stored: str) -> bool:
    """Check a hash in the legacy form ``scrypt$n$r$p$salt$hash`` (hex)."""
    try:
        _, n, r, p, salt, digest = stored.split("$")
        computed = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(computed.hex(), digest)


def needs_upgrade(stored: str) -> bool:
    """True for a hash that should be replaced at the next successful login (scrypt, weaker argon2)."""
    if stored.startswith("scrypt$"):
        return True
    try:
        return _ARGON2.check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, made once per process: what unknown users are checked against."""
    import secrets

    return hash_password(secrets.token_urlsafe(16))


def check_password(password: str, stored: str | None) -> tuple[bool, str | None]:
    """Verify a login: (does it match, a replacement hash to store or None).

    Without a stored hash (unknown user, group, account without password) the
    password is verified against a dummy argon2id hash and fails, so unknown
    and known names cost the same work and cannot be told apart by timing.
    """
    dummy = _dummy_hash()  # made before the first check of any kind, so no first check costs more
    if not stored:
        verify_password(password, dummy)
        return False, None
    if not verify_password(password, stored):
        return False, None
    return True, hash_password(password) if needs_upgrade(stored) else None
