"""Passwords, HTTP Basic, the authenticate hook, and 401 challenges."""

from __future__ import annotations

import base64
import hashlib
import os

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from kernel import hookimpl
from kernel.auth import parse_basic
from kernel.passwords import hash_password, verify_password
from kernel.testing import LiveServer, add_user, make_host


def scrypt_hash(password: str) -> str:
    """A hash in the form teamcal wrote before argon2id: ``scrypt$n$r$p$salt$hash`` (hex)."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${2**14}$8$1${salt.hex()}${digest.hex()}"


def test_hashes_are_salted_argon2id_and_legacy_scrypt_still_verifies() -> None:
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b and a.startswith("$argon2id$")
    assert verify_password("correct horse", a) and not verify_password("wrong", a)
    legacy = scrypt_hash("correct horse")
    assert verify_password("correct horse", legacy) and not verify_password("wrong", legacy)
    assert not verify_password("x", None) and not verify_password("x", "garbage") and not verify_password("x", "scrypt$1$2")


@pytest.mark.parametrize(
    "header, expected",
    [
        ("Basic " + base64.b64encode(b"alice:pw:with:colons").decode(), ("alice", "pw:with:colons")),
        ("basic " + base64.b64encode("jörg:pä".encode()).decode(), ("jörg", "pä")),
        ("Basic !!!notbase64", None),
        ("Bearer abc", None),
        ("Basic " + base64.b64encode(b"nocolon").decode(), None),
        ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), None),
        (None, None),
    ],
)
def test_parse_basic(header, expected) -> None:
    assert parse_basic(header) == expected


class WhoAmI:
    """A plugin with one authenticated route and a header-token scheme."""

    def __init__(self) -> None:
        self.accessed: list[str] = []

    @hookimpl
    def register_routes(self, host):
        """GET /whoami answers the principal's name."""

        async def whoami(request: Request) -> PlainTextResponse:
            principal = await host.require_principal(request)
            return PlainTextResponse(principal.name)

        return [Route("/whoami", whoami)]

    @hookimpl
    def authenticate(self, host, request):
        """X-Test-User: NAME authenticates as NAME (tests only)."""
        name = request.headers.get("x-test-user")
        return host.store.principal(name) if name else None

    @hookimpl
    def principal_accessed(self, host, principal):
        """Record who was seen."""
        self.accessed.append(principal.name)


def test_hook_authenticate_and_basic_under_uvicorn(tmp_path) -> None:
    plugin = WhoAmI()
    host = make_host(tmp_path, plugins=[("whoami", plugin)])
    add_user(host, "alice", "s3cret-pass")
    with LiveServer(host) as server:
        anonymous = httpx.get(server.url + "/whoami")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith('Basic realm="teamcal"')
        assert httpx.get(server.url + "/whoami", auth=("alice", "wrong")).status_code == 401
        assert httpx.get(server.url + "/whoami", auth=("nobody", "s3cret-pass")).status_code == 401
        with server.client("alice", "s3cret-pass") as c:
            assert c.get("/whoami").text == "alice"
            assert c.get("/whoami").text == "alice"  # second time from the credential cache
        assert httpx.get(server.url + "/whoami", headers={"X-Test-User": "alice"}).text == "alice"
        # a password change invalidates the cache at once
        with server.host.store.transaction():
            server.host.store.update_principal(host.store.principal("alice").id, password_hash=hash_password("new-password"))
        assert httpx.get(server.url + "/whoami", auth=("alice", "s3cret-pass")).status_code == 401
        assert httpx.get(server.url + "/whoami", auth=("alice", "new-password")).text == "alice"
    host.close()


def test_hook_principal_accessed(tmp_path) -> None:
    plugin = WhoAmI()
    host = make_host(tmp_path, plugins=[("whoami", plugin)])
    add_user(host, "bob")
    with LiveServer(host) as server:
        httpx.get(server.url + "/whoami", headers={"X-Test-User": "bob"})
        httpx.get(server.url + "/whoami")
    assert plugin.accessed == ["bob"]
    host.close()
