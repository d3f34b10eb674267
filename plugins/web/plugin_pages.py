"""Mounting the pages other plugins add (``web.add_page``): sign-in, CSRF, admin gate, context.

Each page gets the web app's checks before its handler runs: a signed-out browser
is sent to the sign-in page, a POST without the session's CSRF token gets 403, an
admin page answers 403 to anyone but a server admin. A ``Rejected`` the handler
raises becomes an error page with its status and message.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, Route

from kernel.app import read_body
from kernel.types import Rejected
from plugins.web.context import PageContext
from plugins.web.endpoints import BODY_LIMIT, WEB, WebApp

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from plugins.web.extensions import Page

ADMIN_ONLY = "Only server administrators may open this page."


def routes(app: WebApp) -> list[BaseRoute]:
    """One route per page a plugin added."""
    return [Route(WEB + page.path, _endpoint(app, page), methods=sorted(page.methods)) for page in app.extensions.pages]


def _endpoint(app: WebApp, page: Page) -> Any:
    host = app.host
    is_async = inspect.iscoroutinefunction(page.handler)

    def prepare(request: Request, raw: bytes | None) -> PageContext | Response:
        """In a worker thread: the checks, then the page context."""
        checked = app.check(request, raw, raw is not None, False)
        if not isinstance(checked, tuple):
            return checked
        session, form = checked
        if page.admin and not session.principal.is_admin:
            return app.error(request, 403, ADMIN_ONLY, as_json=False, session=session)
        return PageContext(app, request, session, form)

    def call(ctx: PageContext) -> Response:
        """In a worker thread: the handler, its refusal as an error page."""
        try:
            return ctx.finish(page.handler(ctx))
        except Rejected as exc:
            return app.error(ctx.request, exc.status, exc.message, as_json=False, session=ctx.session)

    def prepare_and_call(request: Request, raw: bytes | None) -> Response:
        ctx = prepare(request, raw)
        return call(ctx) if isinstance(ctx, PageContext) else ctx

    async def run(request: Request) -> Response:
        raw: bytes | None = None
        if request.method == "POST":
            try:
                raw = await read_body(request, BODY_LIMIT)
            except Rejected as exc:
                return app.error(request, exc.status, exc.message, as_json=False)
        if not is_async:
            return await host.run(prepare_and_call, request, raw)
        ctx = await host.run(prepare, request, raw)
        if not isinstance(ctx, PageContext):
            return ctx
        try:
            return ctx.finish(await page.handler(ctx))
        except Rejected as exc:
            return app.error(request, exc.status, exc.message, as_json=False, session=ctx.session)

    run.__name__ = f"web_page_{page.plugin}"
    return run
