"""State that lives for one HTTP request (``Host.request_state``).

Several hooks of one request often need the same derived value: the limits
plugin reads an account's effective limits to cap the body before it is read,
and again to validate the object inside the write transaction. The kernel
gives every HTTP request an empty mapping, carried by a context variable into
each worker thread the request runs in (``host.run`` copies the context), so
the second hook finds what the first one computed. Outside a request (jobs,
the CLI, tests calling the store) there is no such mapping and every call
computes afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from starlette.types import ASGIApp, Receive, Scope, Send

T = TypeVar("T")

class _State(dict[str, Any]):
    """One request's values; closed when its answer has been sent."""

    open = True


_current: ContextVar[_State | None] = ContextVar("teamcal_request_state", default=None)


def request_state(key: str, factory: Callable[[], T]) -> T:
    """``factory()``'s result, made on the first call for ``key`` in the current HTTP request
    and returned to every later one in it; made on every call outside a request (also in a
    task the request started that runs on after its answer)."""
    state = _current.get()
    if state is None or not state.open:
        return factory()
    if key not in state:
        state[key] = factory()
    value: T = state[key]
    return value


def request_state_known(key: str) -> bool:
    """Whether the current HTTP request holds a value for ``key`` already (False outside one)."""
    state = _current.get()
    return state is not None and state.open and key in state


class RequestState:
    """ASGI middleware: each HTTP request starts with an empty state, dropped when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on inside a fresh state."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = _State()
        token = _current.set(state)
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)
            state.open = False
            state.clear()
