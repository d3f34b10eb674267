"""The DAV application: registries of properties, reports and methods, and the request dispatcher.

The WebDAV layer fills the registries with RFC 4918 / 3744 / 5397 / 6578
pieces; the CalDAV layer and other plugins (through the ``dav_reports`` and
``dav_methods`` hooks) add theirs. Every request is authenticated, its URL
resolved, and handed to the method's handler; errors become 4xx answers.

Nothing but waiting happens on the event loop: resolving, the method's
``prepare`` and its handler run in a worker thread (``host.run``); only the
body is read on the loop, between the two, so a slow client holds no thread.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from anyio import from_thread
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse, Response

from kernel import CHALLENGE, PasswordCheck, Rejected, read_body
from plugins.caldav_server.webdav import deadprops
from plugins.caldav_server.webdav.context import DavContext
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.locks import Locks
from plugins.caldav_server.webdav.properties import LiveProperty
from plugins.caldav_server.webdav.resolve import (
    HOMES,
    PRINCIPALS,
    Hrefs,
    Target,
    header_href,
    relative_path,
    resolve,
    resolving_read,
    split_path,
)

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import Receive, Scope, Send

    from kernel import Collection, Host, Later, Principal

log = logging.getLogger("teamcal.caldav_server")

MethodHandler = Callable[[DavContext], "Response | Awaitable[Response]"]
ReportHandler = Callable[[DavContext, Any], "Response | Awaitable[Response]"]

#: The DAV root below the app's root path.
DAV_ROOT = "/dav"
#: Methods HTTP itself defines: one without a handler is a 405 (with Allow), any other a 501.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


def _always(target: Target) -> bool:
    return True


def call(handler: Callable[..., Any], *args: Any) -> Any:
    """Call a method or report handler from a worker thread.

    Plain functions run right here; an ``async def`` handler (a plugin's, from
    ``dav_methods`` or ``dav_reports``) is run on the event loop and waited for.
    """
    if inspect.iscoroutinefunction(handler):
        return from_thread.run(handler, *args)
    return handler(*args)


@dataclass(frozen=True)
class Method:
    """An HTTP method: its handler, where it belongs in the Allow header, and its prepare step.

    ``handler(ctx)`` runs in a worker thread after the body is read
    (``ctx.body``). ``prepare(ctx)``, when given, runs before the body is
    read: it may refuse the request or set ``ctx.body_limit`` and
    ``ctx.body_precondition`` (PUT asks the size limit there). With ``reads_content`` the
    URL's resource is resolved together with its content (``Target.data``, one statement:
    GET and HEAD send bytes and ETag of one version). With ``checks_locks`` the method
    checks the locks covering the URL (``Locks.check``), and they are read with the URL.
    With ``to_destination`` it also acts on the URL of its Destination header (COPY, MOVE):
    that URL is resolved and the locks covering it are checked, read with the request's URL.
    ``meanwhile(host, body)``, when given, is work on a body read before authentication that
    needs neither the store nor the request's target (PUT parses it): for credentials the
    server remembers it runs while the reads of authentication and the URL are on their way
    (``store.meanwhile``), and the handler finds it in ``ctx.meanwhile``.
    """

    handler: MethodHandler
    allowed: Callable[[Target], bool] = _always
    prepare: Callable[[DavContext], None] | None = None
    reads_content: bool = False
    checks_locks: bool = False
    to_destination: bool = False
    meanwhile: Callable[[Host, bytes], Any] | None = None


@dataclass(frozen=True)
class Report:
    """A REPORT: its handler and the targets whose DAV:supported-report-set lists it."""

    handler: ReportHandler
    applies: Callable[[Target], bool] = _always


@dataclass
class DavApp:
    """One host's DAV server: registries plus the Starlette endpoint."""

    host: Host
    properties: dict[str, LiveProperty] = field(default_factory=dict)
    reports: dict[str, Report] = field(default_factory=dict)
    methods: dict[str, Method] = field(default_factory=dict)
    #: Callables adding resourcetype children (XML) for a target.
    resource_types: list[Callable[[Target], str]] = field(default_factory=list)
    #: Privilege elements (XML) other layers add to each kernel privilege ("read" -> read-free-busy).
    extra_privileges: dict[str, list[str]] = field(default_factory=dict)
    #: Renderers of a collection for GET (first non-None answer wins; default: an HTML listing).
    collection_renderers: list[Callable[[DavContext, Target], Response | None]] = field(default_factory=list)
    #: Checks on a PUT before its body is read: (ctx, collection, Content-Type) -> None or raise DavError.
    put_checks: list[Callable[[DavContext, Collection, str | None], None]] = field(default_factory=list)
    #: The precondition an oversized PUT body names, per collection (first non-None wins).
    size_preconditions: list[Callable[[Collection], str | None]] = field(default_factory=list)
    #: DAV:resourcetype children an extended MKCOL may ask for, mapped to kernel collection kinds.
    collection_kinds: dict[str, str] = field(default_factory=dict)
    #: Principal properties principal-property-search advertises, with a description.
    searchable: dict[str, str] = field(default_factory=dict)
    #: Compliance classes for the DAV header.
    dav_classes: list[str] = field(default_factory=lambda: ["1", "2", "3", "access-control"])
    locks: Locks = field(init=False)

    def __post_init__(self) -> None:
        self.locks = Locks(self.host.store, int(self.host.settings("caldav_server").max_lock_timeout))

    def add_property(self, prop: LiveProperty) -> None:
        """Register a live property (replacing one of the same name)."""
        self.properties[prop.name] = prop

    def add_hooked(self) -> None:
        """Add the reports and methods other plugins offer through the hooks."""
        for answer in self.host.hook.dav_reports(host=self.host):
            for name, handler in (answer or {}).items():
                self.reports[name] = Report(handler)
        for answer in self.host.hook.dav_methods(host=self.host):
            for name, handler in (answer or {}).items():
                self.methods[name.upper()] = Method(handler)

    def allow(self, target: Target) -> list[str]:
        """The methods a target supports, for the Allow header."""
        return [name for name, method in self.methods.items() if method.allowed(target)]

    def hrefs(self, request: Request) -> Hrefs:
        """Href builder for a request (honouring the ASGI root_path behind a proxy)."""
        scope = request.scope
        return Hrefs(scope.get("app_root_path", scope.get("root_path", "")).rstrip("/") + DAV_ROOT)

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app mounted at the DAV root: every method reaches :meth:`endpoint`."""
        response = await self.endpoint(StarletteRequest(scope, receive))
        await response(scope, receive, send)

    async def endpoint(self, request: Request) -> Response:
        """Handle one request under the DAV root.

        The common request (credentials the server remembers, no body or a
        small one) takes one worker hop: the body is read first, then
        authentication, resolving, the method's prepare step and its handler
        run together. A password to verify is awaited on the loop (verified in
        threads of its own); a big or chunked body is read after the prepare
        step, so that an oversized one is refused early.
        """
        body: bytes | None = None
        if not _has_body(request):
            body = b""
        elif _small_body(request, int(self.host.kernel.max_body_size)):
            try:
                body = await read_body(request, int(self.host.kernel.max_body_size))
            except Rejected as exc:
                return _too_large(exc)
        answer = await self.host.run(self._begin, request, body)
        if isinstance(answer, PasswordCheck):
            principal = await self.host.passwords.complete(answer, self.host)
            if principal is None:
                return _challenge()
            await self.host.run(self.host.accessed, principal)
            answer = await self.host.run(self._as, request, principal, body)
        if isinstance(answer, Response):
            return answer
        ctx, method = answer
        try:
            ctx.body = await read_body(request, ctx.body_limit, ctx.body_precondition)
        except Rejected as exc:
            return _too_large(exc)
        ctx.body_late = True
        return await self.host.run(self._run, ctx, method)

    def _begin(self, request: Request, body: bytes | None) -> Response | PasswordCheck | tuple[DavContext, Method]:
        """In a worker: authenticate, then go on as :meth:`_as` (or say which password to verify).
        The reads resolving the URL (and its locks, for a method that checks them) are named
        ahead: on PostgreSQL they go with authentication's, one round trip for all."""
        try:
            work = self._meanwhile(request, body)
            with self.host.store.expecting(lambda: self._reads_ahead(request)), (
                    nullcontext() if work is None else self.host.store.meanwhile(work)) as later:
                answer = self.host.identify(request)
                if answer is None:
                    return _challenge()
                if isinstance(answer, PasswordCheck):
                    return answer
                return self._as(request, answer, body, later)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an answer (a lost database: 503)
            return _failure(request, None, exc)

    def _meanwhile(self, request: Request, body: bytes | None) -> Callable[[], Any] | None:
        """The method's work on a body already read, for credentials the server remembers (an
        unknown caller's body waits for its password to be verified, and its access)."""
        method = self.methods.get(request.method)
        if not body or method is None or method.meanwhile is None or not self.host.passwords.remembered(request):
            return None
        return functools.partial(method.meanwhile, self.host, body)

    def _reads_ahead(self, request: Request) -> list[tuple[str, Any]]:
        """The statements :meth:`_prepare` will run for this request's URL, as far as the URL
        alone tells (a path into a home), and those plugins name (``dav_reads_ahead``)."""
        method = self.methods.get(request.method)
        hrefs = self.hrefs(request)
        root = hrefs.root.encode("utf-8")
        raw = _raw_path(request)
        if method is None or not raw.startswith(root + b"/"):
            return []
        try:
            segments = split_path(raw[len(root) :])
            below = raw[len(root) :].decode("utf-8").rstrip("/")
            # the Destination's path as copymove resolves it, without its leading slash
            destination = _destination_path(request, hrefs) if method.to_destination else None
            moved_to = split_path(destination) if destination else []
        except (DavError, UnicodeDecodeError):
            return []
        reads = [resolving_read(self.host.store, segments, with_data=method.reads_content)]
        locked = [below] if method.checks_locks else []
        if destination:
            reads.append(resolving_read(self.host.store, moved_to))
            locked.append("/" + destination.decode("utf-8").rstrip("/"))
        if locked:
            reads.append(self.locks.covering_statement(locked))
        if request.method == "PUT":  # a new object's row id, taken before its transaction (put_object)
            reads.append(self.host.store.new_resource_id_statement())
        if request.method == "PROPFIND" and len(segments) == 2 and segments[0] in (HOMES, PRINCIPALS):
            # the dead properties of a principal or a home, where a live one asked for is not found
            scope = "home" if segments[0] == HOMES else "principal"
            reads.append(deadprops.owner_statement(self.host, segments[1], scope))
        if len(segments) > 1 and segments[0] == HOMES:
            if request.method == "PROPFIND" and request.headers.get("depth") == "1":
                # the member collections of the home or collection listed (propfind.members);
                # read again if the account's first access finds what another process made
                parent = "/".join(segments[2:])
                reads.append(self.host.store.collections_statement(segments[1], parent=parent))
                if not parent:  # a home lists the calendars its owner reaches too (shared_into_home)
                    reads += self.host.store.reach_statements(segments[1])
            for answer in self.host.hook.dav_reads_ahead(host=self.host, method=request.method, owner=segments[1],
                                                         path=segments[2:]):
                reads += answer or []
        return [read for read in reads if read is not None]

    def _as(
        self, request: Request, principal: Principal, body: bytes | None, later: Later[Any] | None = None
    ) -> Response | tuple[DavContext, Method]:
        """In a worker: prepare, and with the body already read run the method too (``later``:
        its ``meanwhile`` work on that body); else the prepared context, whose body the loop
        reads next."""
        prepared = self._prepare(request, principal)
        if isinstance(prepared, Response) or body is None:
            return prepared
        ctx, method = prepared
        ctx.meanwhile = later
        if len(body) > ctx.body_limit:
            exc = Rejected(413, ctx.body_precondition, f"The body is over the limit of {ctx.body_limit} bytes.")
            return _too_large(exc)
        ctx.body = body
        return self._run(ctx, method)

    def _prepare(self, request: Request, principal: Principal) -> tuple[DavContext, Method] | Response:
        """Resolve the URL, find the method, build the context and run the method's prepare step."""
        hrefs = self.hrefs(request)
        ctx: DavContext | None = None
        try:
            raw = _raw_path(request)
            root = hrefs.root.encode("utf-8")
            server_root = root[: -len(DAV_ROOT)]
            method = self.methods.get(request.method)
            if raw.rstrip(b"/") == server_root:
                target = Target("root", server_root.decode("utf-8") + "/")
            elif raw.startswith(root):
                reads = method is not None and method.reads_content
                target = resolve(self.host.store, hrefs, split_path(raw[len(root) :]), principal, with_data=reads)
            else:
                raise DavError(404, "Not found.")
            if method is None:
                if request.method in HTTP_METHODS:
                    allow = ", ".join(self.allow(target))
                    raise DavError(405, f"{request.method} is not allowed here.", headers={"Allow": allow})
                raise DavError(501, f"{request.method} is not implemented.")
            ctx = DavContext(self, request, principal, target, hrefs)
            if method.prepare is not None:
                method.prepare(ctx)
            return ctx, method
        except Exception as exc:  # noqa: BLE001 - every failure becomes an answer
            return _failure(request, ctx, exc)

    def _run(self, ctx: DavContext, method: Method) -> Response:
        """Run a method's handler on a prepared context."""
        try:
            response: Response = call(method.handler, ctx)
            return response
        except Exception as exc:  # noqa: BLE001 - every failure becomes an answer
            return _failure(ctx.request, ctx, exc)


#: Bodies up to this size (by Content-Length) are read before authentication and the
#: method's checks, so that the request takes one worker hop; bigger or chunked bodies
#: are read after them, within the limit they set.
SMALL_BODY = 256 * 1024


def _raw_path(request: Request) -> bytes:
    """The request's path as sent (percent-encoded), without its query."""
    raw: bytes = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    return raw.split(b"?", 1)[0]


def _destination_path(request: Request, hrefs: Hrefs) -> bytes | None:
    """The percent-encoded path below the DAV root of the request's Destination header, as
    ``copymove.destination`` resolves it; None without one or with one outside the root."""
    header = header_href(request.headers.get("destination", ""))
    return relative_path(hrefs, header) if header else None


def _small_body(request: Request, cap: int) -> bool:
    """Does the request announce a body of at most :data:`SMALL_BODY` bytes and within the
    kernel's ``cap``? (One over the cap is refused after the method's prepare step, which
    names the precondition, CALDAV:max-resource-size for a calendar.)"""
    length = request.headers.get("content-length", "").strip()
    return (
        length.isdigit() and int(length) <= min(SMALL_BODY, cap) and "transfer-encoding" not in request.headers
    )


def _too_large(exc: Rejected) -> Response:
    """An oversized body: 413, or, when a precondition names the limit (a calendar's
    CALDAV:max-resource-size), 403 with it, as RFC 4791 1.3 answers every precondition."""
    return DavError(403 if exc.precondition else exc.status, exc.message, exc.precondition).response()


def _challenge() -> Response:
    """401 with the Basic challenge (what ``host.require_principal`` answers)."""
    return PlainTextResponse("Authentication required.", 401, headers={"WWW-Authenticate": CHALLENGE})


def _has_body(request: Request) -> bool:
    """Does the request carry a body (a non-zero Content-Length, or chunked)?"""
    headers = request.headers
    length = headers.get("content-length")
    return (length is not None and length.strip() != "0") or "transfer-encoding" in headers


def _failure(request: Request, ctx: DavContext | None, exc: Exception) -> Response:
    """The answer to a refused or failed request: DAV errors and kernel refusals with their
    status (a database that dropped the connection: 503 with Retry-After), anything else a
    logged 500 that leaks no detail."""
    if isinstance(exc, DavError):
        return exc.response()
    if isinstance(exc, Rejected):
        error = DavError(exc.status, exc.message, exc.precondition) if ctx is None else ctx.rejected(exc)
        response = error.response()
        if exc.status == 503:  # unavailable for a moment (RFC 9110 10.2.3): the client may retry
            response.headers["Retry-After"] = "1"
        return response
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return PlainTextResponse("Internal server error.\n", 500)
