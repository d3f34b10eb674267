"""The rate limiter: any 60 seconds hold at most the budget, across limiters sharing the database."""

from __future__ import annotations

import asyncio
import random

from plugins.atlassian_export.ratelimit import WINDOW, RateLimiter

from .conftest import FakeClock, World


def window_peak(events: list[tuple[float, int]]) -> int:
    """The most units inside any half-open 60-second window (t - 60, t]."""
    return max(sum(n for u, n in events if t - WINDOW < u <= t) for t, _ in events)


def test_the_budget_holds_in_every_window(world: World) -> None:
    clock = FakeClock()
    limiter = RateLimiter(world.host.store, "objects", 1500, clock=clock, sleep=clock.sleep)
    rng = random.Random(7)
    events: list[tuple[float, int]] = []

    async def go() -> None:
        for _ in range(200):
            count = rng.randint(1, 100)
            await limiter.acquire(count)
            events.append((clock(), count))
            clock.now += rng.random() * 0.5  # a little work between requests

    asyncio.run(go())
    total = sum(n for _, n in events)
    assert window_peak(events) <= 1500
    minutes = (events[-1][0] - events[0][0]) / 60
    assert 1500 * (minutes - 1) <= total <= 1500 * (minutes + 1)  # the budget is used, not wasted
    assert clock.sleeps and all(s > 0 for s in clock.sleeps)


def test_two_limiters_on_one_database_share_a_bucket(world: World) -> None:
    clock = FakeClock()
    first = RateLimiter(world.host.store, "deletions", 500, clock=clock, sleep=clock.sleep)
    second = RateLimiter(world.host.store, "deletions", 500, clock=clock, sleep=clock.sleep)
    other = RateLimiter(world.host.store, "objects", 500, clock=clock, sleep=clock.sleep)

    async def go() -> list[float]:
        waits = []
        for limiter in (first, second, first, second, first, second):
            waits.append(await limiter.acquire(100))
        waits.append(await other.acquire(100))
        return waits

    waits = asyncio.run(go())
    assert waits[:5] == [0.0] * 5 and waits[5] == WINDOW and waits[6] == 0.0


def test_a_request_larger_than_the_budget_goes_alone(world: World) -> None:
    clock = FakeClock()
    limiter = RateLimiter(world.host.store, "small", 50, clock=clock, sleep=clock.sleep)

    async def go() -> tuple[float, float]:
        return await limiter.acquire(100), await limiter.acquire(1)

    assert asyncio.run(go()) == (0.0, WINDOW)
