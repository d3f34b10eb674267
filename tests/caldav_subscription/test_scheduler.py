"""The scheduler under a real server lifespan: due runs, intervals, backoff, leases, clean stop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kernel.host import Host
from kernel.leases import Leases
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
    other = Leases(fast_host.store, "another-process")
    assert other.acquire(records.lease_name(sub.id), 60)
    with pytest.raises(Busy):
        asyncio.run(sync_now(fast_host, sub.id))
    assert manage.describe(fast_host, sub)["status"]["running"] is True
    with LiveServer(fast_host):
        time.sleep(0.6)
        assert records.get(fast_host.store, sub.id).last_attempt is None
        other.release(records.lease_name(sub.id))
        wait_for(lambda: records.get(fast_host.store, sub.id).last_success is not None)
    assert manage.describe(fast_host, sub)["status"]["running"] is False
    # An expired lease (a crashed process) is taken over.
    assert Leases(fast_host.store, "crashed").acquire(records.lease_name(sub.id), -1)
    outcome = asyncio.run(sync_now(fast_host, sub.id))
    assert outcome.error is None


def held(host: Host, sub: records.Subscription) -> bool:
    """Does a sync hold the subscription's lease?"""
    return host.leases.holder(records.lease_name(sub.id)) is not None


def test_hook_register_jobs_and_shutdown_stop_a_running_sync_cleanly(fast_host: Host) -> None:
    with MiniDav() as mini:
        mini.put("a.ics", event("a"))
        sub = subscribe(fast_host, mini.url)
        mini.delay = 8
        server = LiveServer(fast_host)
        with server:
            wait_for(lambda: held(fast_host, sub))
            stopped = time.monotonic()
        assert time.monotonic() - stopped < 5
        assert not held(fast_host, sub)
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
        assert not held(fast_host, sub)


def test_no_store_work_on_the_event_loop(fast_host: Host, feeds: FeedServer) -> None:
    """The API, the scheduler and two-way syncs read and write the store in worker threads only."""
    url = feeds.publish("/team.ics", feed())
    on_loop: list[str] = []
    with MiniDav() as mini, LiveServer(fast_host) as server:
        mini.put("a.ics", event("a"))
        loop_thread = server._thread.ident

        def trace(sql: str) -> None:
            if threading.get_ident() == loop_thread:
                on_loop.append(sql)

        server.host.store.connections.set_tracer(trace)
        with server.client("alice") as alice:
            made = alice.post("/api/subscriptions", json={"calendar": "alice/feed", "url": url})
            assert made.status_code == 201, made.text
            two_way = alice.post("/api/subscriptions", json={"calendar": "alice/dav", "url": mini.url, "mode": "two-way"})
            assert two_way.status_code == 201, two_way.text
            sub_id = two_way.json()["id"]
            for new in (made.json()["id"], sub_id):  # the scheduler syncs both at once, then in an hour
                wait_for(lambda new=new: records.get(fast_host.store, new).last_success is not None)
            wait_for(lambda: not held(fast_host, records.get(fast_host.store, sub_id)))
            assert alice.post(f"/api/subscriptions/{sub_id}/sync").status_code == 200
            calendar = fast_host.store.collection(fast_host.store.principal("alice").id, "dav")
            fast_host.writes.put_object(calendar, "b.ics", event("b"), principal=None)
            assert alice.post(f"/api/subscriptions/{sub_id}/sync").json()["counts"]["pushed"] == 1
            assert alice.get("/api/subscriptions").status_code == 200
            assert alice.patch(f"/api/subscriptions/{sub_id}", json={"interval": "1h"}).status_code == 200
            assert alice.post(f"/api/subscriptions/{sub_id}/pause").json()["paused"] is True
            assert alice.delete(f"/api/subscriptions/{sub_id}").status_code == 204
        server.host.store.connections.set_tracer(None)
    assert on_loop == []


def test_run_job_ticks_the_hosts_one_scheduler(tmp_path: Path, feeds: FeedServer) -> None:
    """kernel.testing.run_job runs the scheduler's job once, now: due subscriptions sync before it
    returns, paused ones do not; each host has its own scheduler in host.state, the same one on
    every call (and after a shutdown, it ticks again)."""
    from kernel.testing import app_client, run_job
    from plugins.caldav_subscription import SCHEDULER, scheduler_of

    first, second = build_host(tmp_path / "a"), build_host(tmp_path / "b")
    url = feeds.publish("/team.ics", feed())
    sub, paused = subscribe(first, url), subscribe(first, url, calendar="alice/paused")
    manage.set_paused(first, paused, True)
    assert run_job(first, "caldav_subscription") is None
    assert len(local_objects(first, sub)) == 2 and records.get(first.store, sub.id).last_success is not None
    assert records.get(first.store, paused.id).last_attempt is None
    assert scheduler_of(first) is first.state(SCHEDULER, list) is scheduler_of(first)
    assert scheduler_of(second) is not scheduler_of(first) and scheduler_of(first).running == {}
    with app_client(first):  # startup, then shutdown stops the scheduler
        pass
    records.update(first.store, sub.id, next_run=0)
    feeds.publish("/team.ics", feed().replace(b"SUMMARY:Offsite", b"SUMMARY:Offsite moved"))
    run_job(first, "caldav_subscription")
    assert b"Offsite moved" in local_objects(first, sub)["offsite@example.com.ics"]
    first.close()
    second.close()
