"""Measure a 2,000-event pull and a 10-change incremental sync against Radicale and Xandikos.

Not a test (pytest does not collect it): run ``python -m tests.caldav_subscription.measure [COUNT]``.
Prints wall time and HTTP requests of each sync.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from plugins.caldav_subscription import manage
from plugins.caldav_subscription.runs import sync_now

from .conftest import build_host, local_objects
from .peers import Peer, event, start_radicale, start_xandikos


def populate(peer: Peer, storage: Path, path: str, count: int) -> None:
    """Write ``count`` events straight into the peer's storage (HTTP PUTs get slower as a collection grows).

    Radicale's multifilesystem keeps one file per object; Xandikos keeps a git
    repository per collection, so the files are committed with git.
    """
    relative = path.strip("/")
    folder = storage / ("collections/collection-root" if peer.name == "radicale" else "data") / relative
    for i in range(count):
        (folder / f"e{i:05d}.ics").write_bytes(event(f"uid-{i}", f"event {i}", day=1 + i % 28))
    if peer.name == "xandikos":
        git = ["git", "-C", str(folder), "-c", "user.name=bench", "-c", "user.email=bench@example.org"]
        subprocess.run([*git, "add", "-A"], check=True, capture_output=True)
        subprocess.run([*git, "commit", "-q", "-m", "bench"], check=True, capture_output=True)
    # Let the peer build its caches once, as a server in use has them (not counted).
    peer.http.request("PROPFIND", path, headers={"Depth": "1"}, timeout=300)


def measure(peer: Peer, storage: Path, directory: Path, count: int) -> None:
    """One peer: populate, initial pull, ten remote changes, incremental sync, idle sync."""
    cal = peer.new_calendar("bench")
    started = time.perf_counter()
    populate(peer, storage, cal.path, count)
    print(f"{peer.name}: populated {count} events in {time.perf_counter() - started:.1f}s")
    host = build_host(directory, timeout='"60s"')
    username, password = peer.auth or (None, None)
    sub = asyncio.run(manage.create(host, None, calendar="alice/bench", url=cal.url, username=username, password=password))
    first = asyncio.run(sync_now(host, sub.id))
    assert first.error is None, first.error
    assert len(local_objects(host, sub)) == count
    print(f"{peer.name}: initial pull      {first.summary()}")
    for i in range(5):
        cal.put(f"e{i:05d}.ics", event(f"uid-{i}", f"changed {i}"))
    for i in range(3):
        cal.put(f"new{i}.ics", event(f"new-{i}", f"new {i}"))
    for i in range(5, 7):
        cal.delete(f"e{i:05d}.ics")
    inc = asyncio.run(sync_now(host, sub.id))
    assert inc.error is None, inc.error
    print(f"{peer.name}: 10-change sync    {inc.summary()}")
    idle = asyncio.run(sync_now(host, sub.id))
    print(f"{peer.name}: unchanged sync    {idle.summary()}")
    host.close()


def main() -> None:
    """Run both peers."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as tmp:
        for start in (start_radicale, start_xandikos):
            storage = Path(tmp) / start.__name__
            peer = start(storage)
            try:
                measure(peer, storage, Path(tmp) / (start.__name__ + "-host"), count)
            finally:
                peer.stop()


if __name__ == "__main__":
    main()
