"""Sign-in, sign-out and the server root for browsers.

The sign-in form's credentials go through the same path as a CalDAV client's:
``host.authenticate`` on a request carrying them as HTTP Basic, so every
``authenticate`` plugin (an LDAP one, say) covers the web too, and the kernel's
throttle counts failed sign-ins per client address and user name (429 past it)
exactly as failed Basic logins. The form is protected against login CSRF by a
random value in a SameSite cookie that it must repeat.
"""

from __future__ import annotations

import base64
import hmac
import secrets

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from kernel import Rejected, read_body
from plugins.web.endpoints import WEB, WebApp, parse_form
from plugins.web.sessions import COOKIE, LOGIN_COOKIE

#: Where a signed-in browser lands.
HOME = f"{WEB}/calendars"


def routes(app: WebApp) -> list[BaseRoute]:
    """GET / (to the calendars or the sign-in page), the sign-in form, sign-out."""
    host = app.host

    async def root(request: Request) -> Response:
        """GET /: to the calendars when signed in, else to the sign-in page."""
        session = await host.run(app.signed_in, request)
        return RedirectResponse(app.url(request, HOME if session else f"{WEB}/login"), 303)

    async def login_form(request: Request) -> Response:
        """GET: the sign-in form (a signed-in browser goes on where it was going)."""
        if await host.run(app.signed_in, request) is not None:
            return RedirectResponse(app.url(request, _next(request.query_params.get("next"))), 303)
        return _form(app, request, 200, "")

    async def login(request: Request) -> Response:
        """POST: check the credentials as HTTP Basic would be, then start a session."""
        try:
            form = parse_form(await read_body(request, app.settings.login_attempt_size))
        except Rejected as exc:
            return _form(app, request, exc.status, exc.message)
        except ValueError as exc:
            return _form(app, request, 400, str(exc))
        nonce, sent = request.cookies.get(LOGIN_COOKIE, ""), form.get("csrf", "")
        if not nonce or not hmac.compare_digest(nonce.encode(), sent.encode()):
            return _form(app, request, 403, "The sign-in form had expired. Please try again.")
        name, password = form.get("username", "").strip(), form.get("password", "")
        if not name or not password or ":" in name or len(name) > 256 or len(password) > 1024:
            return _form(app, request, 400, "Enter your user name and password.", name[:256], form.get("next"))
        try:
            principal = await host.authenticate(_with_basic(request, name, password))
        except HTTPException as exc:
            if exc.status_code != 429:
                raise
            answer = _form(app, request, 429, "Too many failed sign-ins. Wait a few minutes, then try again.", name, form.get("next"))
            answer.headers["Retry-After"] = (exc.headers or {}).get("Retry-After", "60")
            return answer
        if principal is None or principal.kind != "user":
            return _form(app, request, 401, "Wrong user name or password.", name, form.get("next"))
        cookie, _ = await host.run(app.sessions.create, principal)
        response = RedirectResponse(app.url(request, _next(form.get("next"))), 303)
        _set_cookie(app, request, response, COOKIE, cookie, int(app.sessions.lifetime))
        response.delete_cookie(LOGIN_COOKIE, path=app.url(request, WEB) or "/")
        return response

    async def logout(request: Request) -> Response:
        """POST: end the session (with its CSRF token) and forget the cookie."""
        try:
            form = parse_form(await read_body(request, app.settings.login_attempt_size))
        except (Rejected, ValueError):
            form = {}
        session = await host.run(app.sessions.current, request)
        if session is not None:
            if not hmac.compare_digest(form.get("csrf", "").encode(), session.csrf.encode()):
                return app.error(request, 403, "Sign-out needs the page's form: reload and try again.", as_json=False)
            await host.run(app.sessions.end, session)
        response = RedirectResponse(app.url(request, f"{WEB}/login"), 303)
        response.delete_cookie(COOKIE, path=app.url(request, "/") or "/")
        return response

    return [
        Route("/", root, methods=["GET"]),
        Route(f"{WEB}", root, methods=["GET"]),
        Route(f"{WEB}/login", login_form, methods=["GET"]),
        Route(f"{WEB}/login", login, methods=["POST"]),
        Route(f"{WEB}/logout", logout, methods=["POST"]),
    ]


def _next(target: str | None) -> str:
    """Where to go after signing in: a path of the web app, never another site."""
    if target and target.startswith(f"{WEB}/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


def _form(app: WebApp, request: Request, status: int, message: str, name: str = "", then: str | None = None) -> Response:
    """The sign-in page with a fresh login-CSRF value (in a cookie and in the form)."""
    nonce = secrets.token_urlsafe(24)
    response = app.render(
        request, "login.html", status, message=message, name=name, csrf=nonce,
        next=_next(then or request.query_params.get("next")), session=None,
    )
    _set_cookie(app, request, response, LOGIN_COOKIE, nonce, 3600, path=app.url(request, WEB) or "/")
    return response


def _set_cookie(
    app: WebApp, request: Request, response: Response, name: str, value: str, max_age: int, path: str | None = None
) -> None:
    """HttpOnly, SameSite=Lax, and Secure when the browser came over TLS (or the public URL is https)."""
    secure = request.url.scheme == "https" or app.host.base_url.startswith("https:")
    response.set_cookie(
        name, value, max_age=max_age, path=path or app.url(request, "/") or "/",
        httponly=True, samesite="lax", secure=secure,
    )


def _with_basic(request: Request, name: str, password: str) -> Request:
    """A copy of ``request`` (same client address) whose only header is Basic credentials."""
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    scope = dict(request.scope)
    scope["headers"] = [(b"authorization", f"Basic {token}".encode())]
    return Request(scope)

