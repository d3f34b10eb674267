"""Greets users at /hello and refuses events with forbidden words (an example plugin)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from kernel import Host, ObjectWrite, Rejected, hookimpl


@dataclass
class Settings:
    """The ``[hello]`` table."""

    greeting: str = field(default="Hello", metadata={"doc": "the word /hello starts with"})
    forbidden_words: list[str] = field(
        default_factory=list, metadata={"doc": "events whose SUMMARY contains one of these are refused"}
    )


_committed: dict[int, int] = {}


@hookimpl
def register_settings() -> dict[str, type]:
    """Declare the [hello] table."""
    return {"hello": Settings}


@hookimpl
def register_routes(host: Host) -> list[Route]:
    """GET /hello and GET /hello/stats."""

    async def hello(request: Request) -> PlainTextResponse:
        principal = await host.require_principal(request)
        count = host.store.count_collections(principal.id, kind="calendar")
        greeting = host.settings("hello").greeting
        return PlainTextResponse(f"{greeting}, {principal.display_name}! You have {count} calendars.")

    async def stats(request: Request) -> JSONResponse:
        await host.require_principal(request)
        return JSONResponse({"committed": _committed.get(id(host), 0)})

    return [Route("/hello", hello), Route("/hello/stats", stats)]


@hookimpl
def validate_object(host: Host, tx: Any, write: ObjectWrite) -> None:
    """Refuse events whose SUMMARY contains a forbidden word."""
    words = [w.lower() for w in host.settings("hello").forbidden_words]
    if not words or write.calendar is None:
        return
    for component in write.calendar.walk():
        summary = str(component.get("SUMMARY", "")).lower()
        for word in words:
            if word in summary:
                raise Rejected(403, "{urn:teamcal:hello}forbidden-word", f"The word {word!r} is not allowed here.")


@hookimpl
def changes_committed(host: Host, changes: list[Any]) -> None:
    """Count committed changes per host."""
    _committed[id(host)] = _committed.get(id(host), 0) + len(changes)
