"""The DAV application: registries of properties, reports and methods, and the request dispatcher.

The WebDAV layer fills the registries with RFC 4918 / 3744 / 5397 / 6578
pieces; the CalDAV layer and other plugins (through the ``dav_reports`` and
``dav_methods`` hooks) add theirs. Every request is authenticated, its URL
resolved, and handed to the method's handler; errors become 4xx answers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse, Response

from kernel.types import Rejected
from plugins.caldav_server.webdav.context import DavContext
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.locks import Locks
from plugins.caldav_server.webdav.properties import LiveProperty
from plugins.caldav_server.webdav.resolve import Hrefs, Target, resolve, split_path

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import Receive, Scope, Send

    from kernel import Collection, Host

log = logging.getLogger("teamcal.caldav_server")

MethodHandler = Callable[[DavContext], Awaitable[Response]]
ReportHandler = Callable[[DavContext, Any], Awaitable[Response]]

#: The DAV root below the app's root path.
DAV_ROOT = "/dav"
#: Methods HTTP itself defines: one without a handler is a 405 (with Allow), any other a 501.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


def _always(target: Target) -> bool:
    return True


@dataclass(frozen=True)
class Method:
    """An HTTP method: its handler and where it belongs in the Allow header."""

    handler: MethodHandler
    allowed: Callable[[Target], bool] = _always


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
        self.locks = Locks(self.host.store)

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
        """Handle one request under the DAV root."""
        principal = await self.host.require_principal(request)
        hrefs = self.hrefs(request)
        ctx: DavContext | None = None
        try:
            raw = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
            raw = raw.split(b"?", 1)[0]
            root = hrefs.root.encode("utf-8")
            server_root = root[: -len(DAV_ROOT)]
            if raw.rstrip(b"/") == server_root:
                target = Target("root", server_root.decode("utf-8") + "/")
            elif raw.startswith(root):
                target = resolve(self.host.store, hrefs, split_path(raw[len(root) :]))
            else:
                raise DavError(404, "Not found.")
            method = self.methods.get(request.method)
            if method is None:
                if request.method in HTTP_METHODS:
                    allow = ", ".join(self.allow(target))
                    raise DavError(405, f"{request.method} is not allowed here.", headers={"Allow": allow})
                raise DavError(501, f"{request.method} is not implemented.")
            ctx = DavContext(self, request, principal, target, hrefs)
            return await method.handler(ctx)
        except DavError as exc:
            return exc.response()
        except Rejected as exc:
            if ctx is None:
                return DavError(exc.status, exc.message, exc.precondition).response()
            return ctx.rejected(exc).response()
        except Exception:  # noqa: BLE001 - a bug answers 500 and is logged, never leaks details
            log.exception("%s %s failed", request.method, request.url.path)
            return PlainTextResponse("Internal server error.\n", 500)
