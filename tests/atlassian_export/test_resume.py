"""A push killed with SIGKILL mid-export resumes from its cursor with nothing lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from kernel.host import Host

from .conftest import NOW, ics, make_world
from .receiver import Receiver

EVENTS = 1000
BATCH = 25


def teamcal(config: Path, *args: str) -> subprocess.Popen[str]:
    """The real console entry point in a child process."""
    return subprocess.Popen(
        [sys.executable, "-m", "kernel.cli", "--config", str(config), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def query(config: Path, *statements: str) -> list[tuple]:
    """One row per statement, read through a host of its own (as a second process would)."""
    host = Host.from_config(config, migrate=False)
    try:
        return [tuple(host.store.execute(sql).fetchone()) for sql in statements]
    finally:
        host.close()


def test_a_killed_push_resumes_from_its_cursor(tmp_path: Path) -> None:
    with Receiver(delay=0.03) as receiver:
        world = make_world(tmp_path, endpoint=receiver.url, allow_insecure_endpoint=True, batch_size=BATCH)
        expected = set()
        for n in range(EVENTS):
            world.put(f"e{n}.ics", ics(f"e{n}", NOW + timedelta(hours=n)))
            expected.add(f"alice/work:e{n}")
        config = world.host.config.path
        world.host.close()

        first = teamcal(config, "export", "atlassian", "push")
        deadline = time.monotonic() + 60
        while len(receiver.received) < 12 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        assert first.returncode == -signal.SIGKILL
        before = {o["id"] for r in receiver.received for o in r.request["objects"]}
        (cursor,), (held,) = query(
            config,
            "SELECT cursor FROM atlassian_export_consumers WHERE name = 'push'",
            "SELECT count(*) FROM atlassian_export_objects",
        )
        assert cursor > 0 and 0 < held < EVENTS and held <= len(before)
        sent_before = len(receiver.received)

        second = teamcal(config, "export", "atlassian", "push")
        _, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        assert "up to date" in err

    assert {o["id"] for r in receiver.received for o in r.request["objects"]} == expected
    again = [o["id"] for r in receiver.received[sent_before:] for o in r.request["objects"]]
    assert len(again) == len(set(again))
    assert len(before & set(again)) <= 2 * BATCH  # at most the batch in flight is sent twice
    (cursor,), (head,), (held,) = query(
        config,
        "SELECT cursor FROM atlassian_export_consumers WHERE name = 'push'",
        "SELECT max(seq) FROM atlassian_export_journal",
        "SELECT count(*) FROM atlassian_export_objects",
    )
    assert cursor == head and held == EVENTS
