"""The scheduler under a real server lifespan: due runs, intervals, backoff, leases, clean stop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Callable

import pytest

from kernel.host import Host
from kernel.testing import LiveServer
from plugins.caldav_subscription import manage, records
from plugins.caldav_subscription.runs import Busy, sync_now

from .conftest import build_host, local_objects, subscribe
from .mini_dav import MiniDav
from .peers import FeedServer, event
from .test_feeds import feed


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until ``condition()`` holds (bounded)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


@pytest.fixture
def fast_host(tmp_path: Path) -> Host:
    host = build_host(tmp_path, tick='"0.1s"')
    yield host
    host.close()


def test_due_subscriptions_run_and_follow_their_interval(fast_host: Host, feeds: FeedServer) -> None:
    url = feeds.publish("/team.ics", feed())
    sub = subscribe(fast_host, url)
    paused = subscribe(fast_host, url, calendar="alice/paused")
    manage.set_paused(fast_host, paused, True)
    records.update(fast_host.store, sub.id, interval=0.5)
    with LiveServer(fast_host):
        wait_for(lambda: records.get(fast_host.store, sub.id).last_success is not None)
        assert len(local_objects(fast_host, sub)) == 2
        feeds.publish("/team.ics", feed().replace(b"SUMMARY:Offsite", b"SUMMARY:Offsite moved"))
        wait_for(lambda: b"Offsite moved" in local_objects(fast_host, sub).get("offsite@example.com.ics", b""))
    assert records.get(fast_host.store, paused.id).last_attempt is None
    assert local_objects(fast_host, paused) == {}


def test_failures_back_off(fast_host: Host) -> None:
    with MiniDav() as mini:
        sub = subscribe(fast_host, mini.url)
        records.update(fast_host.store, sub.id, interval=0.2)
        mini.fault = "error"
        with LiveServer(fast_host):
            wait_for(lambda: records.get(fast_host.store, sub.id).failures >= 3)
            s = records.get(fast_host.store, sub.id)
            assert s.next_run - s.last_error_at == pytest.approx(0.2 * 2 ** (s.failures - 1), abs=0.05)
            mini.fault = None
            wait_for(lambda: records.get(fast_host.store, sub.id).failures == 0, timeout=15)
        attempts = len([r for r in mini.requests if r[0] == "PROPFIND"])
        assert 4 <= attempts < 20


def test_a_held_lease_keeps_others_out(fast_host: Host, feeds: FeedServer) -> None:
    url = feeds.publish("/team.ics", feed())
    sub = subscribe(fast_host, url)
    assert records.acquire_lease(fast_host.store, sub.id, "another-process", 60)
    with pytest.raises(Busy):
        asyncio.run(sync_now(fast_host, sub.id))
    with LiveServer(fast_host):
        time.sleep(0.6)
        assert records.get(fast_host.store, sub.id).last_attempt is None
        records.release_lease(fast_host.store, sub.id, "another-process")
        wait_for(lambda: records.get(fast_host.store, sub.id).last_success is not None)
    # An expired lease (a crashed process) is taken over.
    assert records.acquire_lease(fast_host.store, sub.id, "crashed", -1)
    assert records.acquire_lease(fast_host.store, sub.id, "next", 60)


def test_hook_register_jobs_and_shutdown_stop_a_running_sync_cleanly(fast_host: Host) -> None:
    with MiniDav() as mini:
        mini.put("a.ics", event("a"))
        sub = subscribe(fast_host, mini.url)
        mini.delay = 8
        server = LiveServer(fast_host)
        with server:
            wait_for(lambda: records.get(fast_host.store, sub.id).lease_owner is not None)
            stopped = time.monotonic()
        assert time.monotonic() - stopped < 5
        s = records.get(fast_host.store, sub.id)
        assert s.lease_owner is None and s.lease_until is None
        assert local_objects(fast_host, sub) == {}
        mini.delay = 0


def test_two_syncs_of_one_subscription_never_overlap(fast_host: Host) -> None:
    with MiniDav() as mini:
        mini.put("a.ics", event("a"))
        sub = subscribe(fast_host, mini.url)
        mini.delay = 0.3

        async def both() -> list[object]:
            return await asyncio.gather(sync_now(fast_host, sub.id), sync_now(fast_host, sub.id), return_exceptions=True)

        results = asyncio.run(both())
        assert sum(isinstance(r, Busy) for r in results) == 1
        assert [r.report.pulled for r in results if not isinstance(r, Busy)] == [1]
        assert records.get(fast_host.store, sub.id).lease_owner is None
