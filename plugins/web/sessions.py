"""Browser sessions: created at sign-in, kept on the server, named by a signed cookie.

The cookie holds a random session id and an HMAC of it under the deployment's
signing key (``web_keys``, encrypted with ``[kernel] secret_key`` when one is
set). The ``web_sessions`` table keeps only the id's SHA-256, the principal, the
session's CSRF token, its expiry, and a fingerprint of the principal's password
hash at sign-in: a session ends at its expiry, at logout, when the account is
removed (the row cascades) or when its password changes. Everything here runs in
worker threads (it reads the store).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kernel import UnreadableSecret

if TYPE_CHECKING:
    from starlette.requests import Request

    from kernel import Host, Principal

log = logging.getLogger("teamcal.web")

#: The session cookie's name.
COOKIE = "teamcal_session"
#: The pre-sign-in cookie whose value the sign-in form must repeat (login CSRF).
LOGIN_COOKIE = "teamcal_login"
_KEY_NAME = "cookie-signing"


@dataclass(frozen=True)
class Session:
    """A signed-in browser: who it is, its CSRF token, and when it ends."""

    id_hash: str
    principal: Principal
    csrf: str
    expires: float


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("ascii", "replace")).hexdigest()


def _password_mark(stored_hash: str | None) -> str:
    return _hash(stored_hash or "")[:32]


class Sessions:
    """One host's sessions and cookie signing."""

    def __init__(self, host: Host, lifetime: float) -> None:
        self.host = host
        self.lifetime = lifetime
        self._key: bytes | None = None

    # -- the signing key ------------------------------------------------------------

    def key(self) -> bytes:
        """The cookie-signing key, made on first use and shared by every process on the store."""
        if self._key is None:
            self._key = self._load_key()
        return self._key

    def _load_key(self) -> bytes:
        store, box = self.host.store, self.host.secrets
        fresh = secrets.token_urlsafe(32)
        with store.transaction():
            store.execute(
                "INSERT INTO web_keys (name, value, created) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (_KEY_NAME, box.encrypt(fresh) if box.available else fresh, time.time()),
            )
            stored = store.execute("SELECT value FROM web_keys WHERE name = ?", (_KEY_NAME,)).fetchone()[0]
            try:
                return box.decrypt(stored).encode()
            except UnreadableSecret:
                log.warning("teamcal: the web sign-in key cannot be decrypted; made a new one (browsers sign in again)")
                store.execute(
                    "UPDATE web_keys SET value = ?, created = ? WHERE name = ?",
                    (box.encrypt(fresh) if box.available else fresh, time.time(), _KEY_NAME),
                )
                return fresh.encode()

    def sign(self, value: str) -> str:
        """``value`` with its signature, as a cookie value."""
        mac = hmac.new(self.key(), value.encode(), hashlib.sha256).digest()
        return f"{value}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    def unsign(self, cookie: str | None, max_length: int = 200) -> str | None:
        """The value of a cookie (at most ``max_length`` characters) whose signature holds, else None."""
        if not cookie or "." not in cookie or len(cookie) > max_length:
            return None
        value, _, _ = cookie.rpartition(".")
        return value if hmac.compare_digest(self.sign(value).encode(), cookie.encode("utf-8", "replace")) else None

    # -- sessions -------------------------------------------------------------------

    def create(self, principal: Principal) -> tuple[str, Session]:
        """A new session for ``principal``: the cookie value (shown only to the browser) and the session."""
        sid = secrets.token_urlsafe(32)
        now = time.time()
        session = Session(_hash(sid), principal, secrets.token_urlsafe(32), now + self.lifetime)
        store = self.host.store
        with store.transaction():
            mark = _password_mark(store.password_hash(principal.id))
            store.execute(
                "INSERT INTO web_sessions (id_hash, principal_id, csrf, password_mark, created, expires)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (session.id_hash, principal.id, session.csrf, mark, now, session.expires),
            )
        return self.sign(sid), session

    def current(self, request: Request) -> Session | None:
        """The live session a request's cookie names, or None (no cookie, bad signature, ended)."""
        sid = self.unsign(request.cookies.get(COOKIE))
        if sid is None:
            return None
        found = self.host.store.principal_and_row(  # one round trip for the session and its user
            "web_sessions", ("csrf", "password_mark", "expires"), id_hash=_hash(sid)
        )
        if found is None:
            return None
        principal, stored, (csrf, mark, expires) = found
        if expires <= time.time() or principal.kind != "user":
            return None
        if not hmac.compare_digest(mark, _password_mark(stored)):
            return None
        return Session(_hash(sid), principal, csrf, expires)

    def end(self, session: Session) -> None:
        """Sign a session out for good."""
        with self.host.store.transaction():
            self.host.store.execute("DELETE FROM web_sessions WHERE id_hash = ?", (session.id_hash,))


def purge(host: Host) -> int:
    """Delete ended sessions (the hourly job); returns how many."""
    with host.store.transaction():
        return int(host.store.execute("DELETE FROM web_sessions WHERE expires <= ?", (time.time(),)).rowcount)
