"""Service discovery outside the DAV root: /.well-known/caldav (RFC 6764) and the server root.

``/.well-known/caldav`` redirects an authenticated user to their principal
and anyone else to the DAV root, which answers DAV:current-user-principal
once credentials come: 301 for GET and HEAD, 308 for everything else, since
HTTP libraries drop the body of a PROPFIND they re-send after a 301 (the
``caldav`` library would then ask for allprop). ``/.well-known/carddav`` is
a 404: there is no CardDAV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import PlainTextResponse, RedirectResponse, Response

from plugins.caldav_server.webdav.resolve import Hrefs

#: Methods clients use on /.well-known/caldav (Apple and DAVx5 send PROPFIND).
METHODS = ["GET", "HEAD", "OPTIONS", "PROPFIND", "REPORT"]

if TYPE_CHECKING:
    from starlette.requests import Request

    from kernel import Host


def well_known(host: Host, root: str):
    """The endpoint of /.well-known/caldav."""

    async def endpoint(request: Request) -> Response:
        scope = request.scope
        hrefs = Hrefs(scope.get("app_root_path", scope.get("root_path", "")).rstrip("/") + root)
        principal = await host.authenticate(request)
        location = hrefs.principal(principal) if principal else hrefs.base()
        return RedirectResponse(location, status_code=301 if request.method in ("GET", "HEAD") else 308)

    return endpoint


async def no_carddav(request: Request) -> Response:
    """The endpoint of /.well-known/carddav."""
    return PlainTextResponse("This server has no CardDAV.\n", 404)
