"""The admin console's users and groups: list, add, reset a password, make admin, remove; groups,
their members and group admins. Every change is a ``kernel.accounts`` function, as on the command line.

Users and groups are named in addresses by their id, so any name is safe in a URL. An
admin cannot take his own admin role or remove his own account here (he would lock
himself out); another admin or ``teamcal user`` can.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, Route

from kernel import Principal, Rejected, accounts
from plugins.web.admin import ADMIN, Console, field, optional

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from plugins.web.sessions import Session

#: Notices a finished change shows (fixed text: nothing from the request is reflected).
DONE = {
    "added": "User added: they can sign in now.",
    "password": "Password changed: the user's browsers are signed out.",
    "admin": "The user is now a server admin.",
    "unadmin": "The user is no longer a server admin.",
    "removed": "Removed, with their calendars.",
    "group": "Group created.",
    "member": "Member added.",
    "unmember": "Member removed.",
    "groupadmin": "The member is now a group admin.",
    "ungroupadmin": "The member is no longer a group admin.",
}


def routes(console: Console) -> list[BaseRoute]:
    """The users and groups pages, their forms and the removal confirmations."""
    host = console.host

    def principal(request: Request, kind: str) -> Principal:
        found = by_id(request.path_params["id"])
        if found is None or found.kind != kind:
            raise Rejected(404, None, f"That {kind} no longer exists: reload the list.")
        return found

    def by_id(principal_id: int) -> Principal | None:
        """The principal with this id; None also for ids no database column holds."""
        return host.store.principal_by_id(principal_id) if 0 < principal_id < 2**63 else None

    # -- users -------------------------------------------------------------------

    def users(request: Request, session: Session, status: int = 200, **context: Any) -> Response:
        """The users page."""
        store = host.store
        groups = store.every_groups_of()  # one statement, however many users
        rows = [(u, [g.name for g in groups.get(u.id, ())]) for u in store.principals("user")]
        return console.render(
            request, session, "admin_users.html", "/users", status, users=rows,
            notice=DONE.get(request.query_params.get("done", "")), **context,
        )

    def add_user(request: Request, session: Session, form: dict[str, str]) -> str:
        password = form.get("password", "")
        if password != form.get("password2", password):
            raise Rejected(400, None, "The two passwords differ: type the same password twice.")
        accounts.add_user(
            host, field(form, "name", "user name", limit=64), password, admin=form.get("admin") == "on",
            email=optional(form, "email", "email address"), display_name=optional(form, "display_name", "full name"),
        )
        return "added"

    def set_password(request: Request, session: Session, form: dict[str, str]) -> str:
        accounts.set_password(host, principal(request, "user"), form.get("password", ""))
        return "password"

    def set_admin(request: Request, session: Session, form: dict[str, str]) -> str:
        user = principal(request, "user")
        make = form.get("admin") == "1"
        if not make and user.id == session.principal.id:
            raise Rejected(409, None, "You cannot take your own admin role: ask another server admin.")
        accounts.set_server_admin(host, user, make)
        return "admin" if make else "unadmin"

    def confirm_remove(kind: str) -> Any:
        def view(request: Request, session: Session) -> Response:
            found = principal(request, kind)
            count = host.store.count_collections(found.id, "calendar")
            return console.render(
                request, session, "admin_remove.html", "/users" if kind == "user" else "/groups",
                target=found, calendars=count,
            )

        return view

    def remove(kind: str) -> Any:
        def action(request: Request, session: Session, form: dict[str, str]) -> str:
            found = principal(request, kind)
            if found.id == session.principal.id:
                raise Rejected(409, None, "You cannot remove your own account: ask another server admin.")
            accounts.remove_principal(host, found, by=session.principal, source="web")
            return "removed"

        return action

    # -- groups ------------------------------------------------------------------

    def groups(request: Request, session: Session, status: int = 200, **context: Any) -> Response:
        """The groups page: each group with its members (group admins marked)."""
        store = host.store
        members = store.every_membership()  # one statement, however many groups
        rows = [(g, members.get(g.id, [])) for g in store.principals("group")]
        return console.render(
            request, session, "admin_groups.html", "/groups", status, groups=rows,
            names=[p.name for p in store.principals()], notice=DONE.get(request.query_params.get("done", "")),
            **context,
        )

    def add_group(request: Request, session: Session, form: dict[str, str]) -> str:
        accounts.add_group(
            host, field(form, "name", "group name", limit=64), optional(form, "display_name", "display name")
        )
        return "group"

    def add_member(request: Request, session: Session, form: dict[str, str]) -> str:
        group = principal(request, "group")
        member = accounts.find_principal(host, field(form, "member", "member's name", limit=64))
        accounts.add_member(host, group, member, admin=form.get("admin") == "on")
        return "member"

    def change_member(request: Request, session: Session, form: dict[str, str]) -> str:
        group = principal(request, "group")
        member = by_id(_int(form.get("member", "")))
        if member is None:
            raise Rejected(404, None, "That member no longer exists: reload the list.")
        change = form.get("change", "")
        if change == "remove":
            accounts.remove_member(host, group, member)
            return "unmember"
        if change not in ("admin", "unadmin"):
            raise Rejected(400, None, "Choose what to change: remove, admin or unadmin.")
        accounts.set_group_admin(host, group, member, change == "admin")
        return "groupadmin" if change == "admin" else "ungroupadmin"

    return [
        Route(f"{ADMIN}/users", console.page(users), methods=["GET"]),
        Route(f"{ADMIN}/users/new", console.form(add_user, users, "/users"), methods=["POST"]),
        Route(f"{ADMIN}/users/{{id:int}}/password", console.form(set_password, users, "/users"), methods=["POST"]),
        Route(f"{ADMIN}/users/{{id:int}}/admin", console.form(set_admin, users, "/users"), methods=["POST"]),
        Route(f"{ADMIN}/users/{{id:int}}/remove", console.page(confirm_remove("user")), methods=["GET"]),
        Route(f"{ADMIN}/users/{{id:int}}/remove", console.form(remove("user"), users, "/users"), methods=["POST"]),
        Route(f"{ADMIN}/groups", console.page(groups), methods=["GET"]),
        Route(f"{ADMIN}/groups/new", console.form(add_group, groups, "/groups"), methods=["POST"]),
        Route(f"{ADMIN}/groups/{{id:int}}/members", console.form(add_member, groups, "/groups"), methods=["POST"]),
        Route(f"{ADMIN}/groups/{{id:int}}/member", console.form(change_member, groups, "/groups"), methods=["POST"]),
        Route(f"{ADMIN}/groups/{{id:int}}/remove", console.page(confirm_remove("group")), methods=["GET"]),
        Route(f"{ADMIN}/groups/{{id:int}}/remove", console.form(remove("group"), groups, "/groups"), methods=["POST"]),
    ]


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise Rejected(400, None, "The form named no member: reload the page and try again.") from None
