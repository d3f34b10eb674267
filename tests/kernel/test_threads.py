"""The store from many threads: each thread its own connection and its own transaction."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kernel.host import Host
from kernel.testing import add_user, event_object, make_host


@pytest.fixture
def host(tmp_path: Path) -> Host:
    h = make_host(tmp_path)
    yield h
    h.close()


def test_racing_writers_in_threads_all_land_with_one_change_each(host: Host) -> None:
    alice = add_user(host, "alice")
    cal = host.writes.create_collection(alice, "work", "calendar", principal=alice)

    def write(i: int) -> str:
        resource, created, _ = host.writes.put_object(cal, f"e{i}.ics", event_object(f"uid-{i}"), principal=alice)
        assert created
        return resource.name

    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(write, range(200)))
    assert sorted(names) == sorted(f"e{i}.ics" for i in range(200))
    assert host.store.count_resources(cal.id) == 200
    changes = host.store.changes_since(0, collection_id=cal.id)
    assert sorted(c.name for c in changes if c.name) == sorted(names)
    assert len({c.seq for c in changes}) == len(changes)


def test_a_thread_never_sees_or_joins_another_threads_open_transaction(host: Host) -> None:
    alice = add_user(host, "alice")
    cal = host.writes.create_collection(alice, "work", "calendar", principal=alice)
    inside = threading.Event()
    release = threading.Event()
    seen: dict[str, object] = {}

    def slow_writer() -> None:
        with host.writes.transaction():
            host.writes.put_object(cal, "a.ics", event_object("a"), principal=alice)
            inside.set()
            release.wait(10)
            raise RuntimeError("roll back")

    def reader() -> None:
        seen["active"] = host.store.transaction.active
        seen["resource"] = host.store.resource(cal.id, "a.ics")

    with ThreadPoolExecutor(2) as pool:
        writer = pool.submit(slow_writer)
        assert inside.wait(10)
        pool.submit(reader).result(10)
        release.set()
        with pytest.raises(RuntimeError):
            writer.result(10)
    assert seen == {"active": False, "resource": None}
    assert host.store.resource(cal.id, "a.ics") is None
    assert [c.name for c in host.store.changes_since(0, collection_id=cal.id) if c.name] == []


def test_changes_committed_in_a_worker_thread_reach_the_serving_loop(tmp_path: Path) -> None:
    import asyncio

    loops: list[asyncio.AbstractEventLoop] = []

    class Consumer:
        from kernel import hookimpl

        @hookimpl
        def changes_committed(self, host: Host, changes: list) -> object:
            async def note() -> None:
                loops.append(asyncio.get_running_loop())

            return note()

    host = make_host(tmp_path, plugins=[("consumer", Consumer())])
    alice = add_user(host, "alice")

    async def main() -> asyncio.AbstractEventLoop:
        await host.run(lambda: host.writes.create_collection(alice, "work", "calendar", principal=alice))
        await host.drain()
        for _ in range(100):
            if loops:
                break
            await asyncio.sleep(0.01)
        return asyncio.get_running_loop()

    serving = asyncio.run(main())
    host.close()
    assert loops == [serving]


@pytest.mark.sqlite_only
def test_memory_database_is_refused_with_one_line(tmp_path: Path) -> None:
    from kernel.testing import assert_config_error

    assert_config_error(
        "[kernel] database: ':memory:' cannot be shared", toml='enabled = []\n[kernel]\ndatabase = ":memory:"\n'
    )
