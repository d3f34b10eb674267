"""The page context a plugin's page handler, panel or admin section receives.

It carries what the web app already did for the request (the session, the
parsed form, the CSRF check) and the answers a page gives: ``render`` (a whole
page in the web layout), ``fragment`` (HTML for a panel or section),
``redirect`` and ``flash`` (a message shown on the next page). Templates are
autoescaped, and they may extend the web app's ``base.html``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from starlette.responses import HTMLResponse, RedirectResponse, Response

from kernel.types import Rejected
from plugins.web.access import readable_calendar

if TYPE_CHECKING:
    from starlette.datastructures import QueryParams
    from starlette.requests import Request

    from kernel import Collection, Host, Principal
    from plugins.web.endpoints import WebApp
    from plugins.web.sessions import Session

#: The cookie that carries flash messages across a redirect (signed, short-lived).
FLASH_COOKIE = "teamcal_flash"
#: Kinds of flash messages (CSS classes of the web layout).
FLASH_KINDS = ("notice", "error")
#: Characters of flash text a redirect carries (a cookie holds about 4 KB, UTF-8 in base64).
_FLASH_MAX = 800


class PageContext:
    """One request to a plugin's page, after the web app's sign-in and CSRF checks."""

    def __init__(self, app: WebApp, request: Request, session: Session, form: dict[str, str] | None) -> None:
        self._app = app
        self.host: Host = app.host
        self.request = request
        self.session = session
        #: The POSTed form (urlencoded, its CSRF token checked), or {} for a GET.
        self.form: dict[str, str] = form or {}
        self._flashes: list[tuple[str, str]] = []

    @property
    def user(self) -> Principal:
        """The signed-in user."""
        return self.session.principal

    @property
    def csrf(self) -> str:
        """The session's CSRF token, for a hidden ``csrf`` field in every POST form."""
        return self.session.csrf

    @property
    def query(self) -> QueryParams:
        """The request's query parameters."""
        return self.request.query_params

    @property
    def path_params(self) -> dict[str, Any]:
        """The page path's parameters (``{id:int}`` and such)."""
        return self.request.path_params

    def url(self, path: str = "") -> str:
        """The address of a web app path (``/subscriptions``) as a link on this server."""
        return self._app.web_url(self.request, path)

    def calendar(self, collection_id: int) -> Collection:
        """The calendar with this id if the user may read it; else ``Rejected`` 404 (nothing revealed)."""
        return readable_calendar(self.host, self.user, collection_id)

    def privileges(self, collection: Collection) -> frozenset[str]:
        """The kernel privileges ("read", "write", "admin") the user holds on a calendar."""
        return self.host.privileges(self.user, collection)

    # -- answers ---------------------------------------------------------------------

    def render(self, template_dir: str | Path, name: str, *, status_code: int = 200, **variables: Any) -> HTMLResponse:
        """A whole page from ``template_dir/name``, autoescaped, in the web layout (it may
        ``{% extends "base.html" %}``), with the security headers. Besides ``variables`` the
        template sees ``session``, ``csrf``, ``web`` (the web app's address), ``menu`` and
        ``flashes``. ``status_code`` is the HTTP status (a form shown again with an error: 400)."""
        return self._app.page(
            self.request, self._app.plugin_templates(template_dir), name, status_code,
            {**variables, "session": self.session, "csrf": self.csrf}, self._flashes,
        )

    def fragment(self, template_dir: str | Path, name: str, **variables: Any) -> Markup:
        """HTML for a panel or admin section from ``template_dir/name``, autoescaped (with
        ``csrf`` and ``web`` available)."""
        template = self._app.plugin_templates(template_dir).get_template(name)
        return Markup(template.render({**variables, "csrf": self.csrf, "web": self.url(), "session": self.session}))

    def redirect(self, path: str = "") -> RedirectResponse:
        """303 to a web app path (``/subscriptions``), carrying the flashed messages."""
        return RedirectResponse(self.url(path), 303)

    def flash(self, message: str, kind: str = "notice") -> None:
        """A message (plain text, escaped) for the page this request ends on or, after a
        redirect, the next one. ``kind`` is "notice" or "error"."""
        if kind not in FLASH_KINDS:
            raise ValueError(f"flash kind is one of {FLASH_KINDS}")
        self._flashes.append((kind, str(message)))

    def fail(self, status: int, message: str) -> Rejected:
        """An error to ``raise``: the web app answers with an error page saying ``message``."""
        return Rejected(status, None, message)

    def finish(self, response: Response) -> Response:
        """Attach the flashes a redirect carries to the next page (the web app calls this)."""
        if self._flashes and 300 <= response.status_code < 400:
            value = self._app.sessions.sign(encode_flashes(self._flashes))
            response.set_cookie(
                FLASH_COOKIE, value, max_age=300, path=self.url() or "/", httponly=True, samesite="lax",
                secure=self.request.url.scheme == "https" or self.host.base_url.startswith("https:"),
            )
        return response


def encode_flashes(flashes: list[tuple[str, str]]) -> str:
    """Flash messages as a cookie-safe value (cut to fit a cookie)."""
    kept, size = [], 0
    for kind, text in flashes:
        text = text[:_FLASH_MAX]
        size += len(text)
        if size > _FLASH_MAX:
            break
        kept.append([kind, text])
    return base64.urlsafe_b64encode(json.dumps(kept, ensure_ascii=False).encode()).decode().rstrip("=")


def decode_flashes(value: str | None) -> list[tuple[str, str]]:
    """The flash messages of a verified cookie value ([] for anything unreadable)."""
    if not value:
        return []
    try:
        data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        return [(k, t) for k, t in data if k in FLASH_KINDS and isinstance(t, str)]
    except (ValueError, TypeError):
        return []
