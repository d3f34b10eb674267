"""What a third-party plugin may add to the DAV server (the ``dav_extend`` hook's argument).

A thin, stable face over the server's registries: plugins add through these
methods and never reach into ``DavApp`` itself, so its internals may change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from plugins.caldav_server.webdav.app import Method, Report
from plugins.caldav_server.webdav.properties import LiveProperty

if TYPE_CHECKING:
    from starlette.responses import Response

    from kernel import Collection
    from plugins.caldav_server.webdav.app import DavApp
    from plugins.caldav_server.webdav.context import DavContext
    from plugins.caldav_server.webdav.resolve import Target


class DavExtensions:
    """The registries of one host's DAV server, as plugins may extend them."""

    def __init__(self, app: DavApp) -> None:
        self._app = app

    def add_property(self, name: str, get: Callable[[DavContext, Target], str | None], *,
                     allprop: bool = False) -> None:
        """A live property ``{namespace}name``: ``get(ctx, target)`` returns its XML content
        (escaped text or elements) or None where it does not apply."""
        self._app.add_property(LiveProperty(name, get, allprop=allprop))

    def add_report(self, name: str, handler: Callable[..., Response],
                   applies: Callable[[Target], bool] | None = None) -> None:
        """A REPORT whose root element is ``name``: ``handler(ctx, body) -> Response``, offered
        (in DAV:supported-report-set) on the targets ``applies`` accepts (all when None)."""
        self._app.reports[name] = Report(handler) if applies is None else Report(handler, applies)

    def add_method(self, name: str, handler: Callable[..., Response]) -> None:
        """An HTTP method on /dav URLs (replacing a built-in one of that name): ``handler(ctx) -> Response``."""
        self._app.methods[name.upper()] = Method(handler)

    def add_resource_type(self, resource_type: Callable[[Target], str]) -> None:
        """``resource_type(target)`` returns DAV:resourcetype children (XML, may be empty) for a collection."""
        self._app.resource_types.append(resource_type)

    def add_put_check(self, check: Callable[[DavContext, Collection, str | None], None]) -> None:
        """``check(ctx, collection, content_type)`` runs before a PUT's body is read, and for
        a resource copied or moved into ``collection`` (with the source's content type); it
        raises ``kernel.Rejected`` (status and precondition element) to refuse the request."""
        self._app.put_checks.append(check)

    def add_collection_renderer(self, render: Callable[[DavContext, Target], Response | None]) -> None:
        """``render(ctx, target)`` answers a GET on a collection, or returns None to let the
        next renderer (finally the built-in HTML listing) answer."""
        self._app.collection_renderers.insert(0, render)

    def add_compliance_class(self, name: str) -> None:
        """A compliance class for the DAV header of OPTIONS answers (RFC 4918 10.1)."""
        if name not in self._app.dav_classes:
            self._app.dav_classes.append(name)

    def add_privilege(self, kernel_privilege: str, element: str) -> None:
        """A privilege element implied by a kernel privilege ("read", "write" or "admin") in
        DAV:current-user-privilege-set: XML declaring its own namespace
        (``<X:review xmlns:X="urn:example"/>``)."""
        self._app.extra_privileges.setdefault(kernel_privilege, []).append(element)
