"""Blocking work takes turns in the worker threads: one piece at a time, unless a piece runs long.

Python threads share one interpreter lock, and SQLite gives it up on every row it reads. Eight
requests worked on in eight threads at once on two cores hand the lock back and forth some
hundred times a request: measured with the benchmark's mixed load at 10,000 events, the
server spent 3.6 ms of CPU per operation that way against 2.2 ms when the pieces ran one at
a time, and answered a third fewer requests a second.

So each piece of blocking work (one :meth:`kernel.host.Host.run`, one streamed chunk of an
answer) waits for its turn, in the order the pieces asked. On SQLite one piece runs at a time;
on PostgreSQL two, since each of its statements waits on the network and another piece runs
meanwhile (``Backend.at_once``; one gave 11% fewer operations a second there, two 6% more
than unbounded threads). Past those, whenever every piece running has
run for longer than :data:`PATIENCE`, one more is let in: a long piece (a big listing, a write
waiting for another process's lock, a slow database server) delays the others by about that
much at most, and as many long pieces run side by side as there are, up to :data:`MOST`
threads. Work started from inside a piece (an ``async`` handler's own ``host.run``) runs at
once: it is part of a turn already taken.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from anyio import to_thread
from anyio.lowlevel import RunVar

T = TypeVar("T")

#: Seconds every running piece must have run before one more is let in.
PATIENCE = 0.02
#: Worker threads at most (anyio's default).
MOST = 40

_IN_TURN: contextvars.ContextVar[bool] = contextvars.ContextVar("teamcal_in_turn", default=False)
_TURNS: RunVar[Turns] = RunVar("teamcal_turns")


async def run(func: Callable[..., T], *args: Any, at_once: int | None = None) -> T:
    """Run ``func(*args)`` in a worker thread when its turn comes, and await it (the turns of
    the running event loop; what ``host.run`` does, for code without the host). ``at_once``:
    how many pieces start without waiting for the patience (``host.run`` passes its store
    backend's; None leaves it as it is, 1 at first)."""
    turns = current()
    if at_once is not None:
        turns.at_once = at_once
    return await turns.run(func, *args)


def current() -> Turns:
    """The turns of the running event loop (made on first use)."""
    try:
        return _TURNS.get()
    except LookupError:
        turns = Turns()
        _TURNS.set(turns)
        return turns


class Turns:
    """The turns of one event loop: used only from that loop, so it needs no lock."""

    def __init__(self, patience: float = PATIENCE, most: int = MOST, at_once: int = 1) -> None:
        """``at_once`` pieces start without waiting; past them, one more each time every
        running piece has run ``patience`` seconds, up to ``most`` threads."""
        self.patience = patience
        self.at_once = at_once
        self.most = most
        self._threads = anyio.CapacityLimiter(most)
        self._running: dict[int, float] = {}  # turn -> when it started (loop time)
        self._waiting: deque[asyncio.Future[int]] = deque()
        self._next = 0
        self._timer: asyncio.TimerHandle | None = None

    @property
    def running(self) -> int:
        """Pieces running now."""
        return len(self._running)

    @property
    def waiting(self) -> int:
        """Pieces waiting for their turn."""
        return len(self._waiting)

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run ``func(*args)`` in a worker thread when its turn comes."""
        if _IN_TURN.get():
            return await to_thread.run_sync(func, *args, limiter=self._threads)
        turn = await self._take()
        try:
            return await to_thread.run_sync(_in_turn, func, *args, limiter=self._threads)
        finally:
            self._give_back(turn)

    async def _take(self) -> int:
        loop = asyncio.get_running_loop()
        if not self._waiting and self._may_start(loop.time()):
            return self._start(loop.time())
        future: asyncio.Future[int] = loop.create_future()
        self._waiting.append(future)
        self._wake_later(loop)
        try:
            return await future
        except BaseException:
            if future.done() and not future.cancelled():
                self._give_back(future.result())  # let in and cancelled at once: not taken
            else:
                self._waiting.remove(future)
            raise

    def _may_start(self, now: float) -> bool:
        """Fewer than ``at_once`` pieces run, or every running one has run the patience."""
        if len(self._running) < self.at_once:
            return True
        return len(self._running) < self.most and now - max(self._running.values()) >= self.patience

    def _start(self, now: float) -> int:
        turn = self._next
        self._next += 1
        self._running[turn] = now
        return turn

    def _give_back(self, turn: int) -> None:
        del self._running[turn]
        self._wake()

    def _wake(self) -> None:
        """Let in the next waiting piece if it may start; else check again when it may."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._waiting:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._waiting and self._may_start(now):
            future = self._waiting.popleft()
            if not future.done():
                future.set_result(self._start(now))
        self._wake_later(loop)

    def _wake_later(self, loop: asyncio.AbstractEventLoop) -> None:
        """While pieces wait, look again once the youngest running one has run the patience."""
        if self._timer is not None or not self._waiting or not self._running:
            return
        youngest = max(self._running.values())
        self._timer = loop.call_at(youngest + self.patience, self._wake)


def _in_turn(func: Callable[..., T], *args: Any) -> T:
    """``func(*args)`` in the worker thread, marked as inside a turn (the mark stays in the
    thread's copy of the context, and in what it starts on the event loop)."""
    _IN_TURN.set(True)
    return func(*args)
