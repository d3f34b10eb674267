"""The Starlette app: routes from plugins and the operations endpoints, a body cap, request metrics,
each request's own state, and the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel import introspection, operations
from kernel.jobs import Job, run_job
from kernel.names import CONTROL
from kernel.operations import Metrics, RequestMetrics
from kernel.request_state import RequestState
from kernel.types import Rejected

if TYPE_CHECKING:
    from kernel.host import Host

log = logging.getLogger("teamcal")


class BodyTooLarge(Rejected):
    """Raised by the body cap's receive() once a streamed body passes the server's limit.

    A ``Rejected(413)``, so that whatever reads the body (``read_body``, or a
    handler's own ``await request.body()``) answers 413 as it answers any
    refusal; the cap answers 413 itself when nothing else did.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, None, _over(limit))


class BodyCap:
    """ASGI middleware: refuse bodies over ``limit`` bytes, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a counting receive()."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = False
                    await PlainTextResponse("Bad Content-Length.", 400)(scope, receive, send)
                    return
                if too_big:
                    await _too_large(self.limit)(scope, receive, send)
                    return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _too_large(self.limit)(scope, receive, send)


class PathGuard:
    """ASGI middleware: a request whose path holds a control character (a percent-encoded
    newline, say) gets a 400 before routing.

    Starlette matches routes with ``.``, which stops at a newline, so such a path would
    otherwise fall past every mount and answer 404 instead of the 400 other control
    characters get.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request, or pass it on."""
        if scope["type"] == "http" and CONTROL.search(scope["path"]):
            await PlainTextResponse("Control characters are not allowed in paths.", 400)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _over(limit: int) -> str:
    return f"The request body is over the server's limit of {limit} bytes."


def _too_large(limit: int) -> Response:
    return PlainTextResponse(_over(limit), 413)


def build_app(host: Host, *, owns_host: bool = False, jobs: bool = True) -> ASGIApp:
    """The ASGI app of a host: every plugin's routes, the operations and introspection
    endpoints, the kernel's lifespan, the body cap, the path guard, request metrics.

    With ``owns_host`` the lifespan closes the host when it ends (a worker process's app);
    without ``jobs`` it starts no periodic jobs (tests run them with ``kernel.testing.run_job``).
    """
    metrics = Metrics(host)
    routes: list[Any] = operations.routes(host, metrics) + introspection.routes(host)
    # pluggy calls the last registered plugin first; routes are tried in plugins.toml's order
    # (the CalDAV mount before a later plugin's pages, so DAV requests match at once)
    for result in reversed(host.hook.register_routes(host=host)):
        routes.extend(result or [])

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        host.loop = asyncio.get_running_loop()
        await _call_all(host.hook.startup(host=host))
        stop = asyncio.Event()
        periodic: list[Job] = (
            [job for result in host.hook.register_jobs(host=host) for job in (result or [])] if jobs else []
        )
        tasks = [asyncio.create_task(run_job(host, job, stop), name=job.name) for job in periodic]
        if host.hook.changes_committed.get_hookimpls():
            tasks.append(asyncio.create_task(host.feed.run(stop), name="feed follower"))
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                try:
                    await asyncio.wait_for(task, timeout=10)
                except (TimeoutError, asyncio.CancelledError):
                    task.cancel()
                except Exception:
                    log.exception("job %s failed while stopping", task.get_name())
            await host.drain()
            await _call_all(host.hook.shutdown(host=host))
            if owns_host:
                host.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.host = host
    return RequestMetrics(PathGuard(BodyCap(RequestState(app), host.kernel.max_body_size)), metrics)


async def _call_all(results: list[Any]) -> None:
    for result in results:
        if inspect.isawaitable(result):
            await result


async def read_body(request: Request, limit: int, precondition: str | None = None) -> bytes:
    """Read a request body, refusing it as soon as it passes ``limit`` bytes.

    Raises ``Rejected(413, precondition, ...)``, also when the server's own
    cap (:class:`BodyCap`) stops a chunked body first; never holds more than
    ``limit`` bytes plus one chunk in memory.
    """
    message = f"The body is over the limit of {limit} bytes."
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise Rejected(413, precondition, message)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Rejected(413, precondition, message)
            chunks.append(chunk)
    except BodyTooLarge as exc:
        raise Rejected(413, precondition, exc.message) from None
    return b"".join(chunks)
