"""Fixtures for subscription tests: real Radicale and Xandikos peers, a feed server, a teamcal host."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.host import Host
from kernel.testing import add_user, make_host
from plugins.caldav_subscription import manage, records
from plugins.caldav_subscription.records import Subscription
from plugins.caldav_subscription.runs import Outcome, sync_now

from .peers import FeedServer, Peer, peer_fixture, start_radicale, start_xandikos

#: Test defaults: peers run on 127.0.0.1, intervals and jitter may be tiny.
SETTINGS = {"allow_private_networks": "true", "min_interval": "0", "jitter": "0", "timeout": '"10s"'}
#: The ``[kernel]`` lines of test hosts: a key, so remote passwords can be stored (encrypted).
KERNEL = 'secret_key = "PGFf7Fl9wk77lQ4O0Dhwp8j5na5adSh733sfuJ3jsHQ="'


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """One Radicale for the session (tests use fresh calendars)."""
    yield from peer_fixture(start_radicale, tmp_path_factory.mktemp("radicale"))


@pytest.fixture(scope="session")
def xandikos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """One Xandikos for the session (tests use fresh calendars)."""
    yield from peer_fixture(start_xandikos, tmp_path_factory.mktemp("xandikos"))


@pytest.fixture(params=["radicale", "xandikos"])
def peer(request: pytest.FixtureRequest) -> Peer:
    """Each test using this runs against both peers."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    """A static feed server in a thread."""
    with FeedServer() as server:
        yield server


def build_host(
    directory: Path,
    enabled: tuple[str, ...] = ("caldav_subscription",),
    extra: str = "",
    kernel: str = KERNEL,
    **settings: str,
) -> Host:
    """A teamcal host with the plugin and user alice; ``settings`` override :data:`SETTINGS` (TOML values)."""
    directory.mkdir(parents=True, exist_ok=True)
    table = {**SETTINGS, **settings}
    toml = "[caldav_subscription]\n" + "".join(f"{k} = {v}\n" for k, v in table.items()) + extra
    host = make_host(directory, enabled, toml, kernel=kernel)
    add_user(host, "alice")
    return host


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    """A host with the default conflict policy."""
    h = build_host(tmp_path)
    yield h
    h.close()


def subscribe(
    host: Host, url: str, *, mode: str = "one-way", auth: tuple[str, str] | None = None, calendar: str = "alice/remote"
) -> Subscription:
    """Create a subscription as the CLI does."""
    username, password = auth or (None, None)
    return asyncio.run(
        manage.create(host, None, calendar=calendar, url=url, username=username, password=password, mode=mode)
    )


def sync(host: Host, sub: Subscription) -> Outcome:
    """Run one sync now and return its outcome."""
    return asyncio.run(sync_now(host, sub.id))


def local_objects(host: Host, sub: Subscription) -> dict[str, bytes]:
    """The local calendar's objects, name -> data."""
    fresh = records.get(host.store, sub.id) or sub
    return {r.name: bytes(d) for r, d in host.store.resources_with_data(fresh.collection_id)}
