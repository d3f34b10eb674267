"""The admin console: what every page of it shares, and its routes.

For server admins only: a signed-out browser goes to the sign-in page, a signed-in
user who is not a server admin gets 403 with a page saying so. Every form needs the
session's CSRF token (checked by :class:`plugins.web.endpoints.WebApp` before
anything runs). A refused change (a taken name, a short password) shows the section
again with the reason above the forms and the typed values kept; a change that worked
redirects to the section with a fixed notice (never text from the request) and is
logged (logger ``teamcal.web.admin``: who, which form, what happened).

The sections live in ``admin_accounts`` (users, groups), ``admin_grants``,
``admin_plugins`` and ``admin_server`` (health, jobs, and the sections other plugins
add); each changes things only through the kernel's functions (``kernel.accounts``,
``kernel.enabling``), the ones the command line uses.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from kernel.types import Rejected
from plugins.web.endpoints import WEB, WebApp

if TYPE_CHECKING:
    from starlette.requests import Request

    from plugins.web.sessions import Session

log = logging.getLogger("teamcal.web.admin")

#: Where the console lives.
ADMIN = f"{WEB}/admin"
#: The console's sections, as its navigation lists them: (path below ADMIN, title).
SECTIONS = (("", "Server"), ("/users", "Users"), ("/groups", "Groups"), ("/grants", "Grants"), ("/plugins", "Plugins"))

View = Callable[..., Response]
Action = Callable[["Request", "Session", dict[str, str]], str]


class Console:
    """The admin console of one web app: access checks, pages, forms and their answers."""

    def __init__(self, app: WebApp) -> None:
        self.app = app
        self.host = app.host
        app.templates.filters.setdefault("when", when)
        app.templates.filters.setdefault("size", human_size)

    @staticmethod
    def require_admin(session: Session) -> None:
        """403 for anyone but a server admin."""
        if not session.principal.is_admin:
            raise Rejected(
                403, None,
                "The admin console is for server admins only. Ask one of them if you need an account,"
                " a group or access to a calendar changed.",
            )

    def render(
        self, request: Request, session: Session, template: str, section: str, status: int = 200, **context: Any
    ) -> Response:
        """A console page: ``template`` with the navigation (the console's sections, then the admin
        pages plugins add through ``web_extend``), the notice of a finished change, and
        ``error``/``form`` (the refusal and the typed values) when given."""
        context.setdefault("error", None)
        context.setdefault("notice", None)
        context.setdefault("form", {})
        return self.app.render(
            request, template, status, session=session, sections=SECTIONS, current=section, admin=ADMIN,
            plugin_pages=[(page.path, page.title) for page in self.app.extensions.admin_pages()], **context,
        )

    def page(self, view: View) -> Callable[..., Any]:
        """GET: ``view(request, session)`` for server admins."""

        def handler(request: Request, session: Session, body: Any) -> Response:
            self.require_admin(session)
            return view(request, session)

        return self.app.endpoint(handler)

    def form(self, action: Action, view: View, back: str) -> Callable[..., Any]:
        """POST: ``action(request, session, form)`` for server admins; it returns the notice key,
        the answer is a 303 to ``back`` showing it. A refusal shows ``view`` with the reason."""

        def handler(request: Request, session: Session, form: dict[str, str]) -> Response:
            self.require_admin(session)
            try:
                done = action(request, session, form)
            except Rejected as exc:
                return view(request, session, status=exc.status, error=exc.message, form=form)
            log.info("admin console: %s: POST %s: %s", session.principal.name, request.url.path, done)
            return RedirectResponse(self.app.url(request, f"{ADMIN}{back}?done={done}"), 303)

        return self.app.endpoint(handler, write=True)


def routes(app: WebApp) -> list[BaseRoute]:
    """Every page and form of the console."""
    from plugins.web import admin_accounts, admin_grants, admin_plugins, admin_server

    console = Console(app)
    return [
        *admin_server.routes(console),
        *admin_accounts.routes(console),
        *admin_grants.routes(console),
        *admin_plugins.routes(console),
    ]


def field(form: dict[str, str], name: str, what: str, *, limit: int = 200) -> str:
    """A required one-line text field, stripped; 400 saying what to fill in."""
    value = form.get(name, "").strip()
    if not value:
        raise Rejected(400, None, f"Fill in the {what}.")
    if len(value) > limit or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise Rejected(400, None, f"The {what} has at most {limit} characters and no control characters.")
    return value


def optional(form: dict[str, str], name: str, what: str, *, limit: int = 200) -> str | None:
    """An optional one-line text field: None when left empty."""
    return field(form, name, what, limit=limit) if form.get(name, "").strip() else None


def when(seconds: float | None) -> str:
    """A time stamp as the console shows it (UTC, to the minute), or a dash."""
    if not seconds:
        return "–"
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def human_size(size: int | None) -> str:
    """A byte count for people (KiB, MiB, GiB)."""
    if size is None:
        return "–"
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"
