"""An in-process client: the host's app with its lifespan, called from synchronous tests.

:func:`app_client` returns an :class:`AppClient`, an ``httpx.Client`` whose requests go
straight to the ASGI app (no socket) on an event loop in a thread of its own. It is used
as a context manager, which runs the app's lifespan: the ``startup`` hooks on entering,
the ``shutdown`` hooks on leaving, as ``teamcal serve`` does. Jobs (``register_jobs``) do
not run in the background unless asked for (``jobs=True``); run one when the test says
so with :func:`kernel.testing.run_job`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import anyio
import anyio.from_thread
import httpx

from kernel.host import Host

#: Seconds the lifespan's startup or shutdown may take before the client gives up.
LIFESPAN_TIMEOUT = 60.0


class _PortalTransport(httpx.BaseTransport):
    """Passes each request to an ASGI app on the portal's event loop."""

    def __init__(self, portal: Callable[[], anyio.from_thread.BlockingPortal], app: Any, raise_app_exceptions: bool):
        self._portal = portal
        self._inner = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send the request through the app and return the whole answer."""
        body = request.read()
        inner = httpx.Request(request.method, request.url, headers=request.headers, content=body)

        async def call() -> httpx.Response:
            answer = await self._inner.handle_async_request(inner)
            content = await answer.aread()
            return httpx.Response(answer.status_code, headers=answer.headers, content=content, request=request)

        return self._portal().call(call)


class AppClient(httpx.Client):
    """A synchronous httpx client on a host's app, in-process, used as a context manager:
    ``with app_client(host, "alice") as http: http.get("/api/hello")``.

    Entering starts an event loop in a thread and the app's lifespan (``startup`` hooks);
    leaving runs the ``shutdown`` hooks and stops the loop.
    """

    def __init__(
        self,
        host: Host,
        user: str | None = None,
        password: str = "password",
        *,
        jobs: bool = False,
        raise_app_exceptions: bool = True,
        **kw: Any,
    ) -> None:
        from kernel.app import build_app

        self.host = host
        self.app = build_app(host, jobs=jobs)
        self._stack = contextlib.ExitStack()
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._lifespan: _Lifespan | None = None
        auth = (user, password) if user else None
        super().__init__(
            transport=_PortalTransport(self._get_portal, self.app, raise_app_exceptions),
            base_url="http://testserver",
            auth=auth,
            **kw,
        )

    def _get_portal(self) -> anyio.from_thread.BlockingPortal:
        if self._portal is None:
            raise RuntimeError("use the client as a context manager: with app_client(host, user) as http: ...")
        return self._portal

    def as_user(self, user: str | None, password: str = "password") -> AppClient:
        """Send the next requests as ``user`` (None: no credentials); returns the client."""
        self.auth = (user, password) if user else None  # type: ignore[assignment]
        return self

    def __enter__(self) -> AppClient:
        super().__enter__()
        try:
            self._portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal())
            self._lifespan = _Lifespan(self._portal, self.app)
            self._lifespan.start()
        except BaseException:
            if self._lifespan is not None:
                self._lifespan.abort()
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._lifespan is not None:
                self._lifespan.stop()
        finally:
            self._lifespan = None
            super().__exit__(*exc)
            self._stack.close()
            self._portal = None



class _Lifespan:
    """Speaks the ASGI lifespan protocol to an app on a portal's loop."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, app: Any) -> None:
        self.portal = portal
        self.app = app
        self.to_app, self.app_inbox = portal.call(_streams)
        self.app_outbox, self.from_app = portal.call(_streams)
        self.task: Any = None

    def start(self) -> None:
        """Run the app's lifespan until startup completes; raise if it failed."""
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self.task = self.portal.start_task_soon(self.app, scope, self.app_inbox.receive, self.app_outbox.send)
        self._step("startup")

    def stop(self) -> None:
        """Send shutdown and wait until the app completed it."""
        self._step("shutdown")
        self.task.result(timeout=LIFESPAN_TIMEOUT)

    def abort(self) -> None:
        """Cancel the lifespan task (after a failed startup), so that the loop can stop."""
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def _step(self, phase: str) -> None:
        async def exchange() -> dict[str, Any]:
            await self.to_app.send({"type": f"lifespan.{phase}"})
            with anyio.fail_after(LIFESPAN_TIMEOUT):
                message: dict[str, Any] = await self.from_app.receive()
                return message

        try:
            answer = self.portal.call(exchange)
        except (anyio.EndOfStream, anyio.ClosedResourceError, TimeoutError):
            if self.task.done():
                self.task.result()  # the app's own error
            raise RuntimeError(f"the app did not answer lifespan.{phase}") from None
        if answer["type"] != f"lifespan.{phase}.complete":
            raise RuntimeError(f"lifespan {phase} failed: {answer.get('message', '')}")


async def _streams() -> tuple[Any, Any]:
    """A (send, receive) pair of an unbounded in-memory channel, made on the portal's loop."""
    return anyio.create_memory_object_stream(float("inf"))


def app_client(
    host: Host,
    user: str | None = None,
    password: str = "password",
    *,
    jobs: bool = False,
    raise_app_exceptions: bool = True,
    **kw: Any,
) -> AppClient:
    """A synchronous in-process client on ``host``'s app acting as ``user`` (HTTP Basic).

    Use it as a context manager, which runs the lifespan (``startup`` and ``shutdown``
    hooks; background jobs too with ``jobs=True``). An exception escaping the app is
    raised in the test unless ``raise_app_exceptions=False`` (then it is a 500). More
    keyword arguments go to ``httpx.Client`` (``headers``, ``follow_redirects``, ...).
    """
    return AppClient(host, user, password, jobs=jobs, raise_app_exceptions=raise_app_exceptions, **kw)
