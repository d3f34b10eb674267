"""A remote that dies, stalls or talks garbage never costs local data; the error is recorded."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.host import Host
from plugins.caldav_subscription import engine, records
from plugins.caldav_subscription.runs import sync_now

from .conftest import build_host, local_objects, subscribe, sync
from .mini_dav import MiniDav
from .peers import Peer, event, start_radicale


@pytest.fixture
def own_radicale(tmp_path: Path) -> Iterator[Peer]:
    """A Radicale this test may kill."""
    peer = start_radicale(tmp_path / "radicale")
    yield peer
    peer.stop()


def test_remote_killed_mid_sync_then_recovers(
    host: Host, own_radicale: Peer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "MULTIGET_BATCH", 4)
    cal = own_radicale.new_calendar()
    for i in range(12):
        cal.put(f"e{i:02d}.ics", event(f"u{i}", f"event {i}", day=1 + i))
    sub = subscribe(host, cal.url, auth=own_radicale.auth)
    port = int(own_radicale.url.rsplit(":", 1)[1])

    killed: list[int] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "pulled" and done == 4 and not killed:
            os.kill(own_radicale.proc.pid, signal.SIGKILL)
            own_radicale.proc.wait(timeout=10)
            killed.append(done)

    import asyncio

    out = asyncio.run(sync_now(host, sub.id, progress=progress))
    assert killed and out.error is not None
    assert out.error.startswith("REPORT ")  # the second multiget found nobody listening
    # What was pulled before the crash is stored whole; nothing else happened.
    assert sorted(local_objects(host, sub)) == [f"e{i:02d}.ics" for i in range(4)]
    status = records.get(host.store, sub.id)
    assert status.failures == 1 and status.last_error == out.error and status.last_success is None
    assert status.sync_token is None and host.leases.holder(records.lease_name(sub.id)) is None

    restarted = start_radicale(tmp_path / "radicale", port=port)
    try:
        again = sync(host, sub)
        assert again.error is None, again.error
        assert again.report.pulled == 8
        assert len(local_objects(host, sub)) == 12
        assert records.get(host.store, sub.id).failures == 0
        # Down after a complete sync: everything stays, nothing is taken for deleted.
        restarted.stop()
        down = sync(host, sub)
        assert down.error is not None and len(local_objects(host, sub)) == 12
    finally:
        restarted.stop()


@pytest.mark.parametrize(
    "fault, message",
    [
        ("garbage", "not well-formed XML"),
        ("bomb", "not well-formed XML"),
        ("html", "unexpected status 200"),
        ("error", "unexpected status 500"),
        ("huge", "over the limit"),
    ],
)
def test_garbage_answers_leave_local_data_alone(tmp_path: Path, fault: str, message: str) -> None:
    host = build_host(tmp_path, max_document_size='"1mb"')
    with MiniDav() as mini:
        for i in range(3):
            mini.put(f"e{i}.ics", event(f"u{i}", f"event {i}"))
        sub = subscribe(host, mini.url, mode="two-way")
        assert sync(host, sub).report.pulled == 3
        before = local_objects(host, sub)
        seq = host.store.latest_seq()
        mini.fault = fault
        mini.ctag += 1
        out = sync(host, sub)
        assert out.error is not None and message in out.error, out.error
        assert local_objects(host, sub) == before and host.store.latest_seq() == seq
        status = records.get(host.store, sub.id)
        assert status.failures == 1 and message in (status.last_error or "")
        mini.fault = None
        assert sync(host, sub).error is None
        assert records.get(host.store, sub.id).failures == 0
    host.close()


def test_slow_remote_times_out(tmp_path: Path) -> None:
    host = build_host(tmp_path, timeout='"0.5s"')
    with MiniDav() as mini:
        mini.put("a.ics", event("a"))
        sub = subscribe(host, mini.url)
        mini.delay = 3
        started = time.monotonic()
        out = sync(host, sub)
        assert time.monotonic() - started < 2.5
        assert out.error is not None and "within 0.5s" in out.error
        mini.delay = 0
    host.close()


def test_backoff_grows_after_failures(tmp_path: Path) -> None:
    host = build_host(tmp_path)
    with MiniDav() as mini:
        sub = subscribe(host, mini.url)
        records.update(host.store, sub.id, interval=60.0)
        mini.fault = "error"
        delays = []
        for _ in range(3):
            sync(host, sub)
            s = records.get(host.store, sub.id)
            delays.append(round(s.next_run - s.last_error_at))
        assert delays == [60, 120, 240]
        mini.fault = None
        sync(host, sub)
        s = records.get(host.store, sub.id)
        assert s.failures == 0 and round(s.next_run - s.last_success) == 60
    host.close()
