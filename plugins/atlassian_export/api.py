"""``GET /api/atlassian/objects?cursor=N&limit=M``: the pull API for a Forge connector.

Authenticated as an admin (HTTP Basic), or with ``Authorization: Bearer <token>``
matching the ``pull_token`` setting. Answers
``{"requests": [setObjects ...], "deletions": [deleteObjectsByExternalId ...], "cursor": N2, "more": bool}``;
see :mod:`plugins.atlassian_export.pull` for the acknowledgement protocol.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kernel import CHALLENGE

from .context import Deployment
from .pull import UnknownCursor, page

if TYPE_CHECKING:
    from kernel import Host

PATH = "/api/atlassian/objects"
BEARER_CHALLENGE = 'Bearer realm="teamcal"'


def routes(host: Host) -> list[Route]:
    """The pull route, bound to ``host``."""

    async def objects(request: Request) -> Response:
        denied = await _authorize(host, request)
        if denied is not None:
            return denied
        settings = host.settings("atlassian_export")
        try:
            cursor = _integer(request, "cursor", None, 0, 2**62)
            limit = _integer(request, "limit", int(settings.pull_page), 1, int(settings.pull_max_page))
        except ValueError as exc:
            return _error(400, str(exc))
        try:
            body = await host.run(_page, host, cursor, limit)
        except UnknownCursor as exc:
            return _error(409, str(exc))
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return [Route(PATH, objects, methods=["GET"])]


def _page(host: Host, cursor: int | None, limit: int) -> dict:
    """One page (this runs in a worker thread, on its own store connection)."""
    return page(Deployment.from_host(host), cursor, limit, datetime.now(UTC))


async def _authorize(host: Host, request: Request) -> Response | None:
    """None when the request may pull; else the 401 or 403 answer."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        expected = str(host.settings("atlassian_export").pull_token)
        given = header[7:].strip()
        if expected and hmac.compare_digest(given.encode(), expected.encode()):
            return None
        return _error(401, "Invalid bearer token.", {"WWW-Authenticate": f'{BEARER_CHALLENGE}, error="invalid_token"'})
    principal = await host.authenticate(request)
    if principal is None:
        return _error(401, "Authentication required: an admin account or the pull token.",
                      {"WWW-Authenticate": f"{CHALLENGE}, {BEARER_CHALLENGE}"})
    if not principal.is_admin:
        return _error(403, "Only admins (or the pull token) may read the Atlassian export.")
    return None


def _integer(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {raw[:40]!r}")
    return int(raw)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)
