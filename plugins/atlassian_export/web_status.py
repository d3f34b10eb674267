"""The export's status in the web app's admin console (through the web plugin's ``web_extend`` hook).

Shows what ``teamcal export atlassian status`` and ``rejected`` print: the change
feed and journal cursors, each consumer's (push, pull) cursor, backlog, last
success and last error, and the latest rejections. Only server admins see it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import commands, state
from .context import Deployment

if TYPE_CHECKING:
    from markupsafe import Markup

    from kernel.host import Host

TEMPLATES = Path(__file__).parent / "templates"
PAGE = "/atlassian-export"
#: Rejections shown (newest first).
REJECTIONS = 20


def install(host: Host, web: Any) -> None:
    """An admin page and an admin console section."""
    web.add_page(PAGE, "Atlassian export", page, admin=True)
    web.add_admin_section("Atlassian export", section)


def report(host: Host) -> dict[str, Any]:
    """The status report and the latest rejections, with times as text (in a worker thread)."""
    deployment = Deployment.from_host(host)
    found = commands.status(deployment)
    rejected = state.rejected(deployment.store, None, REJECTIONS)
    for consumer in found["consumers"].values():
        for key in ("last_success_at", "last_error_at", "not_before"):
            consumer[key + "_text"] = commands.when(consumer[key]) if consumer[key] else None
    for row in rejected:
        row["at_text"] = commands.when(row["at"])
    found["last_refresh_text"] = commands.when(found["last_refresh"])
    found["now"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return {"status": found, "rejected": rejected}


def section(ctx: Any) -> Markup:
    """The admin console's section."""
    return ctx.fragment(TEMPLATES, "export_status.html", **report(ctx.host))


def page(ctx: Any) -> Any:
    """The admin page: the same status on a page of its own."""
    return ctx.render(TEMPLATES, "export_page.html", **report(ctx.host))
