"""The admin console's first page: server health, the periodic jobs' runs, and the sections other
plugins add (``plugins.web.extensions``).

Health is what the kernel measures for ``/metrics``: the database size
(``store.database_bytes``), the store backend, how long this process has run, and
each job's last run and outcome from the shared schedule (``host.jobs.status()``),
so every node shows the same job history.
"""

from __future__ import annotations

import importlib.metadata as metadata
import time
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, Route

from plugins.web.admin import ADMIN, Console
from plugins.web.context import PageContext

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from plugins.web.sessions import Session


def routes(console: Console) -> list[BaseRoute]:
    """``GET /web/admin``."""
    host = console.host
    started = host.state("web.started", time.time)

    def server(request: Request, session: Session, status: int = 200, **context: Any) -> Response:
        """Health, jobs, and the extra sections."""
        store = host.store
        health: dict[str, Any] = {
            "version": _version(),
            "backend": "PostgreSQL" if store.dialect == "postgresql" else "SQLite",
            "database": store.path,
            "size": store.database_bytes(),
            "uptime": time.time() - started,
            "users": len(store.principals("user")),
            "groups": len(store.principals("group")),
            "base_url": host.base_url,
        }
        extra = console.app.extensions.admin_sections(PageContext(console.app, request, session, None))
        return console.render(
            request, session, "admin_server.html", "", status, health=health, jobs=host.jobs.status(),
            extra=extra, uptime=duration(health["uptime"]), **context,
        )

    return [
        Route(ADMIN, console.page(server), methods=["GET"]),
        Route(f"{ADMIN}/", console.page(server), methods=["GET"]),
    ]


def duration(seconds: float) -> str:
    """A running time for people: "3 d 4 h", "2 h 5 min", "40 s"."""
    s = int(seconds)
    days, hours, minutes = s // 86400, s % 86400 // 3600, s % 3600 // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{s} s"


def _version() -> str:
    try:
        return metadata.version("teamcal")
    except metadata.PackageNotFoundError:
        return "(not installed)"
