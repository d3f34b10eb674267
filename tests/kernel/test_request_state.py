"""``host.request_state``: one value per HTTP request, shared by its worker threads, fresh outside requests."""

from __future__ import annotations

import threading

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

        return [Route("/twice", twice), Route("/stream", stream)]


def test_request_state_is_made_once_per_request_and_fresh_outside_one(tmp_path) -> None:
    plugin = Counter()
    host = make_host(tmp_path, plugins=[("counter", plugin)])
    with LiveServer(host) as server:
        assert httpx.get(server.url + "/twice").text == "value 1|value 1|True"
        assert httpx.get(server.url + "/twice").text == "value 2|value 2|True"  # the next request starts empty
        assert httpx.get(server.url + "/stream").text == "value 3|value 3"  # still the request's while it streams
        with httpx.Client(base_url=server.url) as client:  # one connection, two requests: two states
            assert [client.get("/twice").text for _ in range(2)] == ["value 4|value 4|True", "value 5|value 5|True"]
    # outside a request (a job, the CLI) every call makes the value
    assert host.request_state("counter.value", plugin.make) == ["value 6"]
    assert host.request_state("counter.value", plugin.make) == ["value 7"]
    host.close()
