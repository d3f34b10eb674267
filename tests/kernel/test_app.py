"""The app: the body cap, the lifespan (startup, jobs, shutdown), read_body."""

from __future__ import annotations

import asyncio
import time

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from kernel import Job, Rejected, hookimpl
from kernel.app import read_body
from kernel.testing import LiveServer, make_host


class Lifecycle:
    """Records lifespan events; offers an echo route reading bodies with a 1000-byte limit."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.ticks = 0

    @hookimpl
    def startup(self, host):
        """Note the start (as a coroutine, which the kernel awaits)."""

        async def started() -> None:
            self.events.append("startup")

        return started()

    @hookimpl
    def shutdown(self, host):
        """Note the stop."""
        self.events.append("shutdown")

    @hookimpl
    def register_jobs(self, host):
        """A fast job that counts its runs, and one that always fails."""

        def tick(h) -> None:
            self.ticks += 1

        def broken(h) -> None:
            raise RuntimeError("a failing job must not stop the server")

        return [Job("tick", 0.05, tick), Job("broken", 0.05, broken)]

    @hookimpl
    def register_routes(self, host):
        """POST /echo returns the body's length, refusing more than 1000 bytes."""

        async def echo(request: Request) -> PlainTextResponse:
            try:
                body = await read_body(request, 1000, "{urn:test}too-big")
            except Rejected as exc:
                return PlainTextResponse(f"{exc.precondition} {exc.message}", exc.status)
            return PlainTextResponse(str(len(body)))

        return [Route("/echo", echo, methods=["POST"])]


def test_hook_startup_shutdown_and_register_jobs(tmp_path) -> None:
    plugin = Lifecycle()
    host = make_host(tmp_path, plugins=[("life", plugin)])
    with LiveServer(host) as server:
        deadline = time.monotonic() + 10
        while plugin.ticks < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert httpx.get(server.url + "/nothing-here").status_code == 404
    assert plugin.events == ["startup", "shutdown"]
    assert plugin.ticks >= 3
    host.close()


def test_hook_register_routes_and_body_limits(tmp_path) -> None:
    plugin = Lifecycle()
    host = make_host(tmp_path, plugins=[("life", plugin)], kernel='max_body_size = "4kb"')
    with LiveServer(host) as server:
        assert httpx.post(server.url + "/echo", content=b"x" * 1000).text == "1000"
        over = httpx.post(server.url + "/echo", content=b"x" * 1001)
        assert over.status_code == 413 and over.text.startswith("{urn:test}too-big")

        def chunks(n: int):
            for _ in range(n):
                yield b"y" * 500

        streamed = httpx.post(server.url + "/echo", content=chunks(3))  # chunked, no Content-Length
        assert streamed.status_code == 413
        capped = httpx.post(server.url + "/echo", content=b"z" * 5000)  # over the kernel's 4kb cap
        assert capped.status_code == 413 and "server's limit of 4096 bytes" in capped.text
        unrouted = httpx.post(server.url + "/nothing", content=chunks(20))  # no route reads the body
        assert unrouted.status_code == 404
    host.close()


class Says:
    """A plugin answering ``/who`` (and ``/<word>``) with its word."""

    def __init__(self, word: str) -> None:
        self.word = word

    @hookimpl
    def register_routes(self, host):
        def who(request: Request) -> PlainTextResponse:
            return PlainTextResponse(self.word)

        return [Route("/who", who), Route(f"/{self.word}", who)]


def test_hook_register_routes_are_tried_in_plugin_order(tmp_path) -> None:
    """Two plugins with the same path: the one enabled first answers; both answer their own."""
    host = make_host(tmp_path, plugins=[("first", Says("first")), ("second", Says("second"))])
    with LiveServer(host) as server:
        assert httpx.get(server.url + "/who").text == "first"
        assert httpx.get(server.url + "/second").text == "second"
    host.close()


class CapReaders:
    """Routes that read bodies as large as the kernel's cap, and answer a refusal like the DAV
    server does: Rejected as its status, anything else as a 500."""

    @hookimpl
    def register_routes(self, host):
        """POST /at-cap with read_body; POST /raw with request.body()."""

        async def answer(request: Request, read) -> PlainTextResponse:
            try:
                body = await read(request)
            except Rejected as exc:
                return PlainTextResponse(f"{exc.precondition} {exc.message}", exc.status)
            except Exception:  # noqa: BLE001 - what a handler's bug answers
                return PlainTextResponse("Internal server error.", 500)
            return PlainTextResponse(str(len(body)))

        async def at_cap(request: Request) -> PlainTextResponse:
            return await answer(request, lambda r: read_body(r, int(host.kernel.max_body_size), "{urn:test}too-big"))

        async def raw(request: Request) -> PlainTextResponse:
            return await answer(request, lambda r: r.body())

        return [Route("/at-cap", at_cap, methods=["POST"]), Route("/raw", raw, methods=["POST"])]


def test_a_chunked_body_over_the_cap_is_413_with_the_readers_precondition(tmp_path) -> None:
    host = make_host(tmp_path, plugins=[("readers", CapReaders())], kernel='max_body_size = "4kb"')

    def chunks(n: int):
        for _ in range(n):
            yield b"y" * 1000

    with LiveServer(host) as server:
        assert httpx.post(server.url + "/at-cap", content=chunks(4)).text == "4000"
        over = httpx.post(server.url + "/at-cap", content=chunks(5))  # chunked, no Content-Length
        assert over.status_code == 413
        assert over.text == "{urn:test}too-big The request body is over the server's limit of 4096 bytes."
        raw = httpx.post(server.url + "/raw", content=chunks(50))
        assert raw.status_code == 413 and "server's limit of 4096 bytes" in raw.text
    host.close()


def test_read_body_in_process(tmp_path) -> None:
    plugin = Lifecycle()
    host = make_host(tmp_path, plugins=[("life", plugin)])
    from kernel.testing import asgi_client

    async def go() -> None:
        async with asgi_client(host) as client:
            assert (await client.post("/echo", content=b"abc")).text == "3"
            assert (await client.post("/echo", content=b"a" * 2000)).status_code == 413

    asyncio.run(go())
    host.close()


def test_bad_content_length_is_400(tmp_path) -> None:
    import socket

    host = make_host(tmp_path, plugins=[("life", Lifecycle())])
    with LiveServer(host) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
            reply = s.recv(1000)
        assert reply.split(b" ")[1] in (b"400",)
    host.close()
