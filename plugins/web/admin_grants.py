"""The admin console's grants: every grant of the server, give one, take one back.

Calendars are written ``OWNER/NAME`` and grantees by name (or ``everyone``), as with
``teamcal grant``; the changes are ``kernel.accounts.set_grant``, recorded as a change
of the calendar by the write pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, Route

from kernel import accounts
from kernel.types import PRIVILEGES, Rejected
from plugins.web.admin import ADMIN, Console, field

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from plugins.web.sessions import Session

DONE = {"granted": "Grant given.", "revoked": "Grant taken back."}


def routes(console: Console) -> list[BaseRoute]:
    """The grants page and its two forms."""
    host = console.host

    def grants(request: Request, session: Session, status: int = 200, **context: Any) -> Response:
        """The grants page."""
        return console.render(
            request, session, "admin_grants.html", "/grants", status,
            grants=accounts.all_grants(host), calendars=accounts.all_calendars(host),
            names=[accounts.EVERYONE_NAME, *(p.name for p in host.store.principals())],
            privileges=PRIVILEGES, notice=DONE.get(request.query_params.get("done", "")), **context,
        )

    def give(request: Request, session: Session, form: dict[str, str]) -> str:
        collection = accounts.find_collection(host, field(form, "calendar", "calendar (OWNER/NAME)", limit=1000))
        privilege = form.get("privilege", "")
        if privilege not in PRIVILEGES:
            raise Rejected(400, None, "Choose the access to give: read, write or admin.")
        accounts.set_grant(host, collection, field(form, "grantee", "grantee", limit=64), privilege)
        return "granted"

    def take_back(request: Request, session: Session, form: dict[str, str]) -> str:
        collection = accounts.find_collection(host, field(form, "calendar", "calendar (OWNER/NAME)", limit=1000))
        accounts.set_grant(host, collection, field(form, "grantee", "grantee", limit=64), None)
        return "revoked"

    return [
        Route(f"{ADMIN}/grants", console.page(grants), methods=["GET"]),
        Route(f"{ADMIN}/grants/new", console.form(give, grants, "/grants"), methods=["POST"]),
        Route(f"{ADMIN}/grants/remove", console.form(take_back, grants, "/grants"), methods=["POST"]),
    ]
