"""What every page and JSON endpoint of the web app shares: the session, CSRF, bodies, answers.

An endpoint is a plain function ``handler(request, session, body)`` run in a
worker thread (``host.run``) after its body was read on the event loop: the
session lookup, the CSRF check and the handler's store work take one hop. A
request without a live session gets the sign-in page (pages) or 401 (JSON); a
write without the session's CSRF token gets 403, before the handler runs. A
``Rejected`` raised by the write pipeline (limits, privileges, validation)
becomes an answer with its status and message, never a 500.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

import jinja2
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from kernel.app import read_body
from kernel.types import Rejected
from plugins.web.context import FLASH_COOKIE, decode_flashes
from plugins.web.extensions import WebExtensions
from plugins.web.sessions import Session, Sessions

if TYPE_CHECKING:
    from starlette.requests import Request

    from kernel import Host

#: Where the web app lives below the server root.
WEB = "/web"
#: Largest form or JSON body a web endpoint reads.
BODY_LIMIT = 256 * 1024
#: The header JSON writes carry the session's CSRF token in.
CSRF_HEADER = "x-csrf-token"

#: Sent with every page: scripts and styles only from this server (FullCalendar inserts
#: its own style elements, with its icon font as a data: URL), no framing, forms only to
#: this server.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
        " font-src 'self' data:;"
        " object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

Handler = Callable[["Request", Session, Any], Response]


TEMPLATES = Path(__file__).parent / "templates"


class WebApp:
    """One host's web app: sessions, templates, what plugins added, and the endpoint wrapper."""

    def __init__(self, host: Host, extensions: WebExtensions | None = None) -> None:
        self.host = host
        self.settings = host.settings("web")
        self.sessions = Sessions(host, float(self.settings.session_lifetime))
        self.extensions = extensions or WebExtensions()
        self._own_loader = jinja2.FileSystemLoader(TEMPLATES)
        self.templates = _environment(self._own_loader)
        self._plugin_templates: dict[Path, jinja2.Environment] = {}
        self._lock = threading.Lock()

    def plugin_templates(self, directory: str | Path) -> jinja2.Environment:
        """The autoescaping environment of a plugin's template directory (the web app's own
        templates, ``base.html`` among them, are found after the plugin's)."""
        key = Path(directory).resolve()
        with self._lock:
            env = self._plugin_templates.get(key)
            if env is None:
                loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(key), self._own_loader])
                env = self._plugin_templates[key] = _environment(loader)
            return env

    # -- answers ---------------------------------------------------------------------

    def url(self, request: Request, path: str) -> str:
        """An absolute path on this server (honouring the ASGI root_path behind a proxy)."""
        return request.scope.get("root_path", "").rstrip("/") + path

    def web_url(self, request: Request, path: str = "") -> str:
        """The address of a web app path (``/calendars``) on this server."""
        return self.url(request, WEB + path)

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        """A page from ``templates/``, escaped, with the security headers."""
        return self.page(request, self.templates, template, status, context)

    def page(
        self, request: Request, env: jinja2.Environment, template: str, status_code: int,
        variables: dict[str, Any], pending: list[tuple[str, str]] | None = None,
    ) -> HTMLResponse:
        """A page of ``env`` with ``variables``, escaped, with the security headers, the menu for
        the signed-in user, and the flash messages: ``pending`` ones and those a redirect left in
        a cookie (which this page consumes)."""
        session: Session | None = variables.get("session")
        carried = decode_flashes(self.sessions.unsign(request.cookies.get(FLASH_COOKIE), 4096))
        web = self.url(request, WEB)
        menu = [(item.title, web + item.url) for item in self.extensions.menu(session.principal if session else None)]
        text = env.get_template(template).render(
            {**variables, "root": self.url(request, ""), "web": web, "menu": menu,
             "flashes": carried + list(pending or [])}
        )
        response = HTMLResponse(text, status_code, headers=SECURITY_HEADERS)
        if FLASH_COOKIE in request.cookies:
            response.delete_cookie(FLASH_COOKIE, path=web or "/")
        return response

    def error(self, request: Request, status: int, message: str, *, as_json: bool, session: Session | None = None):
        """A refusal as JSON ``{"error": message}`` or as a page saying what happened."""
        if as_json:
            return JSONResponse({"error": message}, status, headers={"Cache-Control": "no-store"})
        return self.render(request, "error.html", status, message=message, code=status, session=session)

    def to_sign_in(self, request: Request) -> Response:
        """303 to the sign-in page, which comes back here afterwards."""
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(self.url(request, f"{WEB}/login?next={quote(target, safe='')}"), 303)

    # -- endpoints -------------------------------------------------------------------

    def endpoint(self, handler: Handler, *, write: bool = False, as_json: bool = False) -> Callable[..., Any]:
        """An async Starlette endpoint running ``handler`` for a signed-in browser.

        Writes (``write=True``) read a body first: an urlencoded form (its
        ``csrf`` field must hold the session's token) or, for JSON endpoints, a
        JSON document (with the token in the ``X-CSRF-Token`` header).
        """

        async def run(request: Request) -> Response:
            """Read a write's body on the loop, then do the rest in one worker hop."""
            body: Any = None
            if write:
                try:
                    raw = await read_body(request, BODY_LIMIT)
                except Rejected as exc:
                    return self.error(request, exc.status, exc.message, as_json=as_json)
                body = raw
            return await self.host.run(self._handle, handler, request, body, write, as_json)

        return run

    def _handle(self, handler: Handler, request: Request, raw: bytes | None, write: bool, as_json: bool) -> Response:
        checked = self.check(request, raw, write, as_json)
        if isinstance(checked, Response):
            return checked
        session, body = checked
        try:
            return handler(request, session, body)
        except Rejected as exc:
            return self.error(request, exc.status, exc.message, as_json=as_json, session=session)

    def check(
        self, request: Request, raw: bytes | None, write: bool, as_json: bool
    ) -> tuple[Session, Any] | Response:
        """In a worker thread: the session and the parsed body of a request, or the answer
        refusing it (sign-in redirect or 401, 400 for a bad body, 403 without the CSRF token)."""
        session = self.signed_in(request)
        if session is None:
            if as_json:
                return self.error(request, 401, "Sign in first.", as_json=True)
            return self.to_sign_in(request)
        body: Any = None
        if write:
            assert raw is not None
            try:
                body, token = self._parse(request, raw, as_json)
            except ValueError as exc:
                return self.error(request, 400, str(exc), as_json=as_json, session=session)
            if not token or not hmac.compare_digest(token.encode(), session.csrf.encode()):
                return self.error(
                    request, 403, "The form is out of date (missing or wrong CSRF token): reload the page and try again.",
                    as_json=as_json, session=session,
                )
        return session, body

    def _parse(self, request: Request, raw: bytes, as_json: bool) -> tuple[Any, str | None]:
        """The body and the CSRF token it came with; ValueError for a body of the wrong kind."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if as_json:
            if raw and media != "application/json":
                raise ValueError("Send the request as application/json.")
            try:
                body = json.loads(raw) if raw else {}
            except (ValueError, UnicodeDecodeError, RecursionError):
                raise ValueError("The request body is not valid JSON.") from None
            if not isinstance(body, dict):
                raise ValueError("The request body must be a JSON object.")
            return body, request.headers.get(CSRF_HEADER)
        if raw and media != "application/x-www-form-urlencoded":
            raise ValueError("Send the form as application/x-www-form-urlencoded.")
        form = parse_form(raw)
        return form, form.get("csrf")

    def signed_in(self, request: Request) -> Session | None:
        """In a worker thread: the request's live session, after ``principal_accessed`` for its user."""
        session = self.sessions.current(request)
        if session is not None:
            self.host.accessed(session.principal)
        return session


def _environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)


def parse_form(raw: bytes) -> dict[str, str]:
    """An urlencoded form as a dict (the last value of a repeated field); ValueError when it is not text."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("The form is not UTF-8 text.") from None
    return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=200))
