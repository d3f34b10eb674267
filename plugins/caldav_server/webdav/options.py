"""OPTIONS: the DAV compliance classes and the methods the target allows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

if TYPE_CHECKING:
    from plugins.caldav_server.webdav.context import DavContext


def options(ctx: DavContext) -> Response:
    """Answer with DAV and Allow headers and no body."""
    target = ctx.target
    ctx.require("read")
    headers = {
        "DAV": ", ".join(ctx.app.dav_classes),
        "Allow": ", ".join(ctx.app.allow(target)),
        "MS-Author-Via": "DAV",
    }
    return Response(status_code=200, headers=headers)
