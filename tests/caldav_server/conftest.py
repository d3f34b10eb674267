"""Fixtures for the CalDAV server: a deployment under a real uvicorn, users, a team, raw clients.

The DAV helpers (mkcalendar, propfind, parse_multistatus, ...) are the public ones of
``kernel.testing.dav``; the deployment is ``kernel.testing.Deployment``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kernel.testing import Deployment, add_group, add_user, make_host

__all__ = ["PASSWORD", "Deployment", "make_deployment"]

PASSWORD = "password"


def make_deployment(
    directory: Path, extra: str = "", plugins: tuple = (), *, kernel: str = "", enabled: tuple[str, ...] = ()
) -> Deployment:
    """A host with users alice (alice@example.com), bob and carol, and a group ``team`` of
    alice (its admin) and bob (a plain member), served by a real uvicorn; ``kernel`` holds
    more ``[kernel]`` lines, ``enabled`` names plugins to enable besides caldav_server."""
    host = make_host(directory, ["caldav_server", *enabled], extra, plugins=plugins, kernel=kernel)
    alice = add_user(host, "alice", PASSWORD, email="alice@example.com", display_name="Alice Liddell")
    bob = add_user(host, "bob", PASSWORD, email="bob@example.com", display_name="Bob Builder")
    add_user(host, "carol", PASSWORD)
    add_group(host, "team", [bob], admins=[alice])
    return Deployment(host)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, teamcal_backend: str) -> Iterator[Deployment]:
    """One deployment per test module; tests make their own uniquely named calendars."""
    with make_deployment(tmp_path_factory.mktemp("caldav")) as dep:
        yield dep


@pytest.fixture
def alice(deployment: Deployment) -> Iterator[httpx.Client]:
    """alice's raw client."""
    with deployment.client("alice") as client:
        yield client


@pytest.fixture
def bob(deployment: Deployment) -> Iterator[httpx.Client]:
    """bob's raw client."""
    with deployment.client("bob") as client:
        yield client
