"""A push killed with SIGKILL mid-export resumes from its cursor with nothing lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

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


def test_a_killed_push_resumes_from_its_cursor(tmp_path: Path) -> None:
    with Receiver(delay=0.03) as receiver:
        world = make_world(tmp_path, endpoint=receiver.url, allow_insecure_endpoint=True, batch_size=BATCH)
        expected = set()
        for n in range(EVENTS):
            world.put(f"e{n}.ics", ics(f"e{n}", NOW + timedelta(hours=n)))
            expected.add(f"alice/work:e{n}")
        config = world.host.config.path
        database = tmp_path / "teamcal.sqlite3"
        world.host.close()

        first = teamcal(config, "export", "atlassian", "push")
        deadline = time.monotonic() + 60
        while len(receiver.received) < 12 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        assert first.returncode == -signal.SIGKILL
        before = {o["id"] for r in receiver.received for o in r.request["objects"]}
        with sqlite3.connect(database) as db:
            (cursor,) = db.execute("SELECT cursor FROM atlassian_export_consumers WHERE name = 'push'").fetchone()
            (held,) = db.execute("SELECT count(*) FROM atlassian_export_objects").fetchone()
        assert 0 < cursor and 0 < held < EVENTS and held <= len(before)
        sent_before = len(receiver.received)

        second = teamcal(config, "export", "atlassian", "push")
        _, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        assert "up to date" in err

    assert {o["id"] for r in receiver.received for o in r.request["objects"]} == expected
    again = [o["id"] for r in receiver.received[sent_before:] for o in r.request["objects"]]
    assert len(again) == len(set(again))
    assert len(before & set(again)) <= 2 * BATCH  # at most the batch in flight is sent twice
    with sqlite3.connect(database) as db:
        (cursor,) = db.execute("SELECT cursor FROM atlassian_export_consumers WHERE name = 'push'").fetchone()
        (head,) = db.execute("SELECT max(seq) FROM atlassian_export_journal").fetchone()
        (held,) = db.execute("SELECT count(*) FROM atlassian_export_objects").fetchone()
    assert cursor == head and held == EVENTS
