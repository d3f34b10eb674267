"""Fixtures for the web app: a deployment under a real uvicorn, users and a team, signed-in browsers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kernel.testing import Deployment as LiveDeployment
from kernel.testing import LiveServer, add_group, add_user, free_port, make_host

PASSWORD = "password"
ENABLED = ["caldav_server", "web"]


class Deployment(LiveDeployment):
    """A running teamcal with the web plugin (kernel.testing's Deployment), and browsers on it."""

    def browser(self) -> httpx.Client:
        """A cookie-keeping client with no credentials, as a browser starts."""
        return httpx.Client(base_url=self.url, timeout=30)

    def signed_in(self, user: str, password: str = PASSWORD) -> Browser:
        """A browser signed in as ``user`` through the sign-in form."""
        client = self.browser()
        answer = sign_in(client, user, password)
        assert answer.status_code == 303, answer.text
        return Browser(client, csrf_of(client.get("/web/calendars").text))


@dataclass
class Browser:
    """A signed-in browser: its cookies and the session's CSRF token from a page."""

    client: httpx.Client
    csrf: str

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def form(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True) -> httpx.Response:
        """POST a form as a page would (with the CSRF token unless told not to)."""
        fields = dict(data or {})
        if csrf:
            fields["csrf"] = self.csrf
        return self.client.post(path, data=fields)

    def api(self, method: str, path: str, body: dict | None = None, *, csrf: bool = True) -> httpx.Response:
        """A JSON request as the page's script sends it."""
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        return self.client.request(method, path, json=body, headers=headers)


def make_deployment(
    directory: Path, extra: str = "", *, kernel: str = "", enabled: list[str] = ENABLED,
    plugins: Iterable[tuple[str, Any]] = (),
) -> Deployment:
    """A host with users alice, bob and carol, and a group ``team`` of alice (its admin) and bob
    (a plain member), served by a real uvicorn whose address is the public ``base_url``."""
    port = free_port()
    if "base_url" not in kernel:
        kernel += f'\nbase_url = "http://127.0.0.1:{port}"'
    host = make_host(directory, enabled, extra, kernel=kernel, plugins=plugins)
    add_user(host, "alice", PASSWORD, email="alice@example.com", display_name="Alice Liddell")
    add_user(host, "bob", PASSWORD, display_name="Bob Builder")
    add_user(host, "carol", PASSWORD)
    alice, bob = host.store.principal("alice"), host.store.principal("bob")
    assert alice is not None and bob is not None
    add_group(host, "team", [bob], admins=[alice])
    return Deployment(host, LiveServer(host, port=port))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, teamcal_backend: str) -> Iterator[Deployment]:
    """One deployment per test module; tests make their own uniquely named calendars."""
    with make_deployment(tmp_path_factory.mktemp("web")) as dep:
        yield dep


@pytest.fixture
def alice(deployment: Deployment) -> Iterator[Browser]:
    """Alice, signed in to the module's deployment."""
    with deployment.signed_in("alice") as browser:
        yield browser


@pytest.fixture
def bob(deployment: Deployment) -> Iterator[Browser]:
    """Bob, signed in to the module's deployment."""
    with deployment.signed_in("bob") as browser:
        yield browser


def login_csrf(client: httpx.Client) -> str:
    """Open the sign-in page; the login-CSRF value its form carries."""
    page = client.get("/web/login")
    assert page.status_code == 200
    return csrf_of(page.text)


def sign_in(client: httpx.Client, user: str, password: str, **extra: str) -> httpx.Response:
    """Fill in and send the sign-in form."""
    token = login_csrf(client)
    return client.post("/web/login", data={"csrf": token, "username": user, "password": password, **extra})


def csrf_of(page: str) -> str:
    """The CSRF token in a page's first form."""
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)
