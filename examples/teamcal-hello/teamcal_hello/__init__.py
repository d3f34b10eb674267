"""Greets users at /hello and refuses events with forbidden words (an example plugin)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from kernel import Column, HostAPI, Migrations, Migrator, ObjectWrite, Rejected, Table, hookimpl


@dataclass
class Settings:
    """The ``[hello]`` table."""

    greeting: str = field(default="Hello", metadata={"doc": "the word /hello starts with"})
    forbidden_words: list[str] = field(
        default_factory=list, metadata={"doc": "events whose SUMMARY contains one of these are refused"}
    )


migrations = Migrations("hello")


@migrations()
def m001_visits(m: Migrator) -> None:
    """How often each user was greeted."""
    m.create_table(Table(
        "hello_visits",
        (Column("principal_id", "int", primary_key=True, references="principals(id)", on_delete="cascade"),
         Column("visits", "int", default=0)),
    ))


@hookimpl
def register_migrations(host: HostAPI) -> Migrations:
    """The plugin's one table, on SQLite or PostgreSQL alike."""
    return migrations


@hookimpl
def register_settings() -> dict[str, type]:
    """Declare the [hello] table."""
    return {"hello": Settings}


@hookimpl
def register_routes(host: HostAPI) -> list[Route]:
    """GET /hello and GET /hello/stats."""

    def greet(principal_id: int) -> tuple[int, int]:
        """Count this visit and the user's calendars (store work: run off the event loop)."""
        with host.store.transaction():
            visits = host.store.execute(
                "INSERT INTO hello_visits (principal_id, visits) VALUES (:id, 1) ON CONFLICT (principal_id)"
                " DO UPDATE SET visits = hello_visits.visits + 1 RETURNING visits",
                {"id": principal_id},
            ).fetchone()[0]
        return visits, host.store.count_collections(principal_id, kind="calendar")

    async def hello(request: Request) -> PlainTextResponse:
        principal = await host.require_principal(request)
        visits, count = await host.run(greet, principal.id)
        greeting = host.settings("hello").greeting
        return PlainTextResponse(
            f"{greeting}, {principal.display_name}! You have {count} calendars (visit {visits})."
        )

    async def stats(request: Request) -> JSONResponse:
        await host.require_principal(request)
        row = await host.run(lambda: host.store.execute("SELECT coalesce(sum(visits), 0) FROM hello_visits").fetchone())
        return JSONResponse({"visits": int(row[0])})

    return [Route("/hello", hello), Route("/hello/stats", stats)]


@hookimpl
def validate_object(host: HostAPI, tx: Any, write: ObjectWrite) -> None:
    """Refuse events whose SUMMARY contains a forbidden word."""
    words = [w.lower() for w in host.settings("hello").forbidden_words]
    if not words or write.calendar is None:
        return
    for component in write.calendar.walk():
        summary = str(component.get("SUMMARY", "")).lower()
        for word in words:
            if word in summary:
                raise Rejected(403, "{urn:teamcal:hello}forbidden-word", f"The word {word!r} is not allowed here.")
