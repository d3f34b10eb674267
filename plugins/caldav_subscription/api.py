"""The JSON API under /api/subscriptions: users manage their own subscriptions, admins all.

GET    /api/subscriptions                 list (yours; everything for admins)
POST   /api/subscriptions                 {calendar, url, username?, password?, mode?, interval?} -> 201
POST   /api/subscriptions/discover        {url, username?, password?} -> {calendars: [...]}
GET    /api/subscriptions/{id}            settings, status, recent conflicts
PATCH  /api/subscriptions/{id}            {interval?, username?, password?, paused?}
DELETE /api/subscriptions/{id}            end it (the calendar stays)
POST   /api/subscriptions/{id}/pause|resume|sync

Credentials go in, never out (and are stored encrypted: without ``[kernel] secret_key``
a request that would store them gets 400). A subscription that is not yours is a 404.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kernel import MissingKey, Principal, Rejected, read_body
from plugins.caldav_subscription import manage, records
from plugins.caldav_subscription.runs import Busy, sync_now

if TYPE_CHECKING:
    from kernel import Host

MAX_JSON = 64 * 1024
Handler = Callable[[Request], Awaitable[Response]]


def routes(host: Host) -> list[Route]:
    """The API's routes, bound to ``host``."""

    def endpoint(func: Callable[[Request, Principal], Awaitable[Response]]) -> Handler:
        async def handle(request: Request) -> Response:
            principal = await host.require_principal(request)
            try:
                return await func(request, principal)
            except Rejected as exc:
                return _error(exc.status, exc.message)
            except MissingKey as exc:
                return _error(400, exc.public)

        return handle

    async def collection(request: Request, principal: Principal) -> Response:
        if request.method == "GET":
            return JSONResponse(await host.run(_listing, host, principal))
        body = await _json(request, {"calendar", "url", "username", "password", "mode", "interval"})
        sub = await manage.create(
            host,
            principal,
            calendar=_text(body, "calendar", required=True),
            url=_text(body, "url", required=True),
            username=_text(body, "username"),
            password=_text(body, "password"),
            mode=_text(body, "mode") or "one-way",
            interval=manage.parse_interval(body["interval"]) if body.get("interval") is not None else None,
        )
        return JSONResponse(await host.run(manage.describe, host, sub), status_code=201)

    async def discover(request: Request, principal: Principal) -> Response:
        body = await _json(request, {"url", "username", "password"})
        found = await manage.find_calendars(
            host, _text(body, "url", required=True), _text(body, "username"), _text(body, "password")
        )
        return JSONResponse({"calendars": [c.public() for c in found]})

    async def one(request: Request, principal: Principal) -> Response:
        body = await _json(request, {"interval", "username", "password", "paused"}) if request.method == "PATCH" else {}
        subscription_id = request.path_params["id"]
        if request.method == "DELETE":
            await host.run(_delete, host, principal, subscription_id)
            return Response(status_code=204)
        return JSONResponse(await host.run(_change, host, principal, subscription_id, body))

    async def action(request: Request, principal: Principal) -> Response:
        name = request.path_params["action"]
        subscription_id = request.path_params["id"]
        if name in ("pause", "resume"):
            return JSONResponse(await host.run(_pause, host, principal, subscription_id, name == "pause"))
        sub = await host.run(manage.get_visible, host, principal, subscription_id)
        if name != "sync":
            raise Rejected(404, None, f"No action {name!r}: use pause, resume or sync.")
        try:
            outcome = await sync_now(host, sub.id)
        except Busy:
            raise Rejected(409, None, "A sync of this subscription is already running.") from None
        except LookupError:
            raise Rejected(404, None, f"No subscription {sub.id}.") from None
        return JSONResponse(outcome.public(), status_code=200 if outcome.error is None else 502)

    return [
        Route("/api/subscriptions", endpoint(collection), methods=["GET", "POST"]),
        Route("/api/subscriptions/discover", endpoint(discover), methods=["POST"]),
        Route("/api/subscriptions/{id:int}", endpoint(one), methods=["GET", "PATCH", "DELETE"]),
        Route("/api/subscriptions/{id:int}/{action}", endpoint(action), methods=["POST"]),
    ]


def _listing(host: Host, principal: Principal) -> dict[str, Any]:
    """GET /api/subscriptions (in a worker thread)."""
    return {"subscriptions": manage.describe_all(host, manage.listing(host, principal))}


def _delete(host: Host, principal: Principal, subscription_id: int) -> None:
    """DELETE /api/subscriptions/{id} (in a worker thread)."""
    records.delete(host.store, manage.get_visible(host, principal, subscription_id).id)


def _change(host: Host, principal: Principal, subscription_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """GET or PATCH /api/subscriptions/{id} (in a worker thread); ``body`` is empty for GET."""
    sub = manage.get_visible(host, principal, subscription_id)
    if "paused" in body:
        if not isinstance(body["paused"], bool):
            raise Rejected(400, None, "paused must be true or false.")
        sub = manage.set_paused(host, sub, body["paused"])
    if body:
        sub = manage.change(
            host,
            sub,
            interval=manage.parse_interval(body["interval"]) if body.get("interval") is not None else None,
            username=_text(body, "username") if "username" in body else None,
            password=_text(body, "password") if "password" in body else None,
        )
    return manage.describe(host, sub)


def _pause(host: Host, principal: Principal, subscription_id: int, paused: bool) -> dict[str, Any]:
    """POST /api/subscriptions/{id}/pause|resume (in a worker thread)."""
    sub = manage.get_visible(host, principal, subscription_id)
    return manage.describe(host, manage.set_paused(host, sub, paused))


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json(request: Request, allowed: set[str]) -> dict[str, Any]:
    """The request's JSON object; 400 for anything else or an unknown key, 413 past 64 KiB."""
    raw = await read_body(request, MAX_JSON)
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise Rejected(400, None, "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise Rejected(400, None, "The body must be a JSON object.")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise Rejected(400, None, f"Unknown field {unknown[0]!r} (known: {', '.join(sorted(allowed))}).")
    return body


def _text(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise Rejected(400, None, f"{key} is required.")
        return None
    if not isinstance(value, str) or len(value) > 4096:
        raise Rejected(400, None, f"{key} must be a string.")
    return value
