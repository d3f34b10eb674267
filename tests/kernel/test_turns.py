"""Blocking work takes turns (kernel.turns): one piece at a time, one more when all run long."""

from __future__ import annotations

import threading
import time

import anyio
from anyio import from_thread

from kernel import turns
from kernel.turns import Turns

#: A patience no test waits for: pieces then only ever run one at a time (or ``at_once``).
FOREVER = 3600.0


class Overlap:
    """Counts the pieces running at once, from their threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.order: list[int] = []

    def piece(self, number: int, seconds: float = 0.005) -> int:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.order.append(number)
        time.sleep(seconds)  # gives the interpreter up, as a statement does
        with self.lock:
            self.now -= 1
        return number


def test_pieces_run_one_at_a_time_in_the_order_they_asked() -> None:
    overlap = Overlap()
    results: list[int] = []

    async def main() -> None:
        line = Turns(patience=FOREVER)

        async def one(number: int) -> None:
            results.append(await line.run(overlap.piece, number))

        async with anyio.create_task_group() as group:
            for number in range(6):
                group.start_soon(one, number)
                await anyio.sleep(0)  # they ask in this order
        assert line.running == 0 and line.waiting == 0

    anyio.run(main)
    assert overlap.most == 1
    assert overlap.order == list(range(6)) and sorted(results) == list(range(6))


def test_at_once_pieces_run_side_by_side() -> None:
    overlap = Overlap()

    async def main() -> None:
        line = Turns(patience=FOREVER, at_once=2)
        async with anyio.create_task_group() as group:
            for number in range(6):
                group.start_soon(line.run, overlap.piece, number, 0.05)

    anyio.run(main)
    assert overlap.most == 2


def test_a_piece_that_runs_long_lets_the_next_one_in() -> None:
    """The first piece waits for the second (as a write waits for a lock another request
    holds): with one piece at a time and no patience this would never end."""
    second_ran = threading.Event()

    def first() -> bool:
        return second_ran.wait(timeout=10)

    async def main() -> tuple[bool, None]:
        line = Turns(patience=0.05)
        out: list[object] = [None, None]

        async def run_first() -> None:
            out[0] = await line.run(first)

        async def run_second() -> None:
            out[1] = await line.run(second_ran.set)

        async with anyio.create_task_group() as group:
            group.start_soon(run_first)
            await anyio.sleep(0)
            group.start_soon(run_second)
        return out[0], out[1]  # type: ignore[return-value]

    assert anyio.run(main) == (True, None)


def test_a_piece_cancelled_while_it_waits_gives_up_its_place() -> None:
    overlap = Overlap()

    async def main() -> None:
        line = Turns(patience=FOREVER)
        release = threading.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(line.run, release.wait, 10)
            await anyio.sleep(0.01)
            with anyio.move_on_after(0.05):
                await line.run(overlap.piece, 1)  # waits behind the first, then gives up
            assert line.waiting == 0
            release.set()
        assert await line.run(overlap.piece, 2) == 2
        assert line.running == 0 and line.waiting == 0

    anyio.run(main)
    assert overlap.order == [2]


def test_work_started_inside_a_piece_runs_at_once() -> None:
    """An ``async`` handler run from a worker thread (``from_thread.run``) calls ``host.run``:
    that work belongs to the turn already taken, so it does not wait behind it."""

    line = Turns(patience=FOREVER)

    async def inner() -> str:
        with anyio.fail_after(5):  # waiting behind the outer piece would never end
            return await line.run(lambda: "inner ran")

    def outer() -> str:
        return from_thread.run(inner)

    async def main() -> str:
        return await line.run(outer)

    assert anyio.run(main) == "inner ran"


def test_host_run_takes_turns_at_its_backends_pace(teamcal_host) -> None:  # type: ignore[no-untyped-def]
    """``host.run`` gives the loop's turns its backend's ``at_once``: SQLite runs one piece at
    a time, PostgreSQL two (its statements wait on the network)."""

    async def main() -> tuple[int, int]:
        assert await teamcal_host.run(sum, [1, 2]) == 3
        return turns.current().at_once, teamcal_host.store.backend.at_once

    assert anyio.run(main) == ({"sqlite": 1, "postgresql": 2}[teamcal_host.store.dialect],) * 2
