"""The cycle collector tuned for serving: what start-up made is frozen, the youngest
generation is collected less often, and cycles made afterwards are still collected."""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

import kernel.app
from kernel import commands, workers
from kernel.collector import YOUNG_THRESHOLD
from kernel.host import Host

PROBE = """
import gc, weakref
from kernel.collector import tune_for_serving
before = gc.get_threshold()
tune_for_serving()
class Node: pass
a, b = Node(), Node()
a.other, b.other = b, a
alive = weakref.ref(a)
del a, b
gc.collect()
print(before, gc.get_threshold(), gc.get_freeze_count() > 1000, gc.isenabled(), alive() is None)
"""


def test_tuning_freezes_start_up_and_keeps_collecting_cycles() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == [
        "(700,", "10,", "10)", f"({YOUNG_THRESHOLD},", "10,", "10)", "True", "True", "True",
    ], done.stdout


@pytest.fixture
def restored_collector() -> Iterator[list[tuple[Any, ...]]]:
    """What the collector looked like when the server would have started; the test process's
    collector put back afterwards."""
    seen: list[tuple[Any, ...]] = []
    threshold = gc.get_threshold()
    yield seen
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_serve_tunes_the_collector_before_it_serves(
    host: Host, monkeypatch: pytest.MonkeyPatch, restored_collector: list[tuple[Any, ...]]
) -> None:
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: restored_collector.append(
        (gc.get_threshold()[0], gc.get_freeze_count())))
    assert commands.serve(host, argparse.Namespace(host=None, port=None)) == 0
    ((young, frozen),) = restored_collector
    assert young == YOUNG_THRESHOLD and frozen > 0


def test_a_worker_process_tunes_its_collector(
    host: Host, monkeypatch: pytest.MonkeyPatch, restored_collector: list[tuple[Any, ...]]
) -> None:
    monkeypatch.setenv(workers.WORKER_ENV, f'{{"config": "{host.config.path}", "host": "127.0.0.1", "port": 1}}')
    assert gc.get_threshold()[0] != YOUNG_THRESHOLD
    built: list[Host] = []
    monkeypatch.setattr(kernel.app, "build_app", lambda served, **_: built.append(served) or "the app")
    assert workers.worker_app() == "the app"
    built[0].close()
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD and gc.get_freeze_count() > 0
