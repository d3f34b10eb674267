"""``host.request_state``: one value per HTTP request, shared by its worker threads, fresh outside requests."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

from kernel import hookimpl
from kernel.testing import LiveServer, make_host


class Counter:
    """Routes that ask for one request's state from several worker threads."""

    def __init__(self) -> None:
        self.made = 0
        self.lock = threading.Lock()
        #: what a task started by a request got after the request had ended
        self.later: list[str] = []

    def make(self) -> list[str]:
        with self.lock:
            self.made += 1
            return [f"value {self.made}"]

    @hookimpl
    def register_routes(self, host):
        """GET /twice asks in two worker threads; GET /stream asks again while its answer streams."""

        async def twice(request: Request) -> PlainTextResponse:
            first = await host.run(host.request_state, "counter.value", self.make)
            second = await host.run(host.request_state, "counter.value", self.make)
            return PlainTextResponse(f"{first[0]}|{second[0]}|{first is second}")

        async def stream(request: Request) -> StreamingResponse:
            first = await host.run(host.request_state, "counter.value", self.make)

            async def body():
                yield first[0] + "|"
                again = await host.run(host.request_state, "counter.value", self.make)
                yield again[0]

            return StreamingResponse(body())

        async def start(request: Request) -> PlainTextResponse:
            first = await host.run(host.request_state, "counter.value", self.make)

            async def after_the_answer() -> None:
                await asyncio.sleep(0.2)
                for _ in range(2):
                    self.later.append((await host.run(host.request_state, "counter.value", self.make))[0])

            tasks.add(asyncio.create_task(after_the_answer()))  # inherits the request's context
            return PlainTextResponse(first[0])

        tasks: set[asyncio.Task[None]] = set()
        return [Route("/twice", twice), Route("/stream", stream), Route("/start", start)]


def test_request_state_is_made_once_per_request_and_fresh_outside_one(tmp_path) -> None:
    plugin = Counter()
    host = make_host(tmp_path, plugins=[("counter", plugin)])
    with LiveServer(host) as server:
        assert httpx.get(server.url + "/twice").text == "value 1|value 1|True"
        assert httpx.get(server.url + "/twice").text == "value 2|value 2|True"  # the next request starts empty
        assert httpx.get(server.url + "/stream").text == "value 3|value 3"  # still the request's while it streams
        with httpx.Client(base_url=server.url) as client:  # one connection, two requests: two states
            assert [client.get("/twice").text for _ in range(2)] == ["value 4|value 4|True", "value 5|value 5|True"]
        # a task the request started, running on after its answer, no longer shares its state
        assert httpx.get(server.url + "/start").text == "value 6"
        deadline = time.monotonic() + 10
        while len(plugin.later) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert plugin.later == ["value 7", "value 8"]
    # outside a request (a job, the CLI) every call makes the value
    assert host.request_state("counter.value", plugin.make) == ["value 9"]
    assert host.request_state("counter.value", plugin.make) == ["value 10"]
    host.close()
