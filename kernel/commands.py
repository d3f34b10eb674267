"""The kernel's own sub-commands: serve, check, user, group, calendar, grant."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from kernel import accounts, maintenance, scaffold
from kernel.accounts import find_collection
from kernel.config import ConfigError
from kernel.passwords import hash_password
from kernel.types import Rejected

if TYPE_CHECKING:
    from kernel.host import Host
    from kernel.subcommands import Commands


def register(cli: Commands) -> None:
    """Declare the kernel's sub-commands."""
    cli.add("serve", "run the server", _serve_args, serve, resolve_secrets=True)
    cli.add(
        "check", "validate plugins.toml and the enabled plugins", lambda p: None, check, migrate=False,
        resolve_secrets=True,
    )
    cli.add("user", "add, remove, list users and set passwords", _user_args, user)
    cli.add("group", "manage groups (teams) and their members", _group_args, group)
    cli.add("calendar", "create, list and remove calendars", _calendar_args, calendar)
    cli.add("grant", "give, take back and list access to a calendar", _grant_args, grant)
    maintenance.register(cli)
    scaffold.register(cli)


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="listen address (default [kernel] host)")
    p.add_argument("--port", type=int, help="listen port (default [kernel] port)")


def serve(host: Host, args: argparse.Namespace) -> int:
    """Start uvicorn on the host's app (``[kernel] workers`` processes of it); on a fresh database,
    create a first admin and say how to log in."""
    import uvicorn

    from kernel.app import build_app
    from kernel.cli import generate_password
    from kernel.collector import tune_for_serving
    from kernel.workers import serve_workers

    if host.kernel.workers < 1:
        raise ConfigError(host.config.path, "kernel", "workers", f"must be 1 or more, got {host.kernel.workers}")
    if args.host:
        host.kernel.host = args.host
    if args.port:
        host.kernel.port = args.port
    tls_files = host.config.tls_files(host.kernel)
    password = generate_password()
    with host.store.transaction():  # checked holding the write lock: nodes may start at once
        first_run = not host.store.principals("user")
        if first_run:
            host.store.create_principal("admin", "user", password_hash=hash_password(password), is_admin=True)
    if first_run:
        print(
            f"teamcal: first run: created user 'admin' with password {password}\n"
            "         change it with: teamcal user passwd admin --password-stdin",
            file=sys.stderr,
        )
    if host.store.dialect != "sqlite" and not host.kernel.base_url:
        print(
            "teamcal: warning: [kernel] base_url is not set; on a shared database every node must hand out"
            " the same public URL (docs/deployment.md)",
            file=sys.stderr,
        )
    print(f"teamcal: serving {host.base_url}/ (CalDAV clients: {host.base_url}/.well-known/caldav)", file=sys.stderr)
    options: dict[str, Any] = {"host": host.kernel.host, "port": host.kernel.port, "log_level": host.kernel.log_level}
    if tls_files:
        options.update(ssl_certfile=tls_files[0], ssl_keyfile=tls_files[1])
    if host.kernel.workers > 1:
        serve_workers(host, host.kernel.workers, **options)
    else:
        app = build_app(host)
        tune_for_serving()
        uvicorn.run(app, lifespan="on", loop="auto", http="auto", **options)
    return 0


def check(host: Host, args: argparse.Namespace) -> int:
    """Config, plugins and every secret loaded: check the TLS files and the pending migrations, then say so."""
    host.config.tls_files(host.kernel)
    host.try_migrations()
    print(f"{host.config.path}: ok; plugins: {', '.join(host.config.enabled) or 'none'}")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    """The new password: from standard input with --password-stdin, else asked for twice on the terminal."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        import getpass

        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Again: ") != password:
            raise Rejected(400, None, "The passwords differ.")
    else:
        raise Rejected(
            400, None, "No terminal to ask for the password on: give it on standard input with --password-stdin."
        )
    accounts.check_password(password)
    return password


def _user_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin (default: ask on the terminal)"
    )
    add.add_argument("--admin", action="store_true", help="may reach every calendar")
    add.add_argument("--email")
    add.add_argument("--display-name")
    pw = sub.add_parser("passwd", help="set a user's password")
    pw.add_argument("name")
    pw.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin (default: ask on the terminal)"
    )
    sub.add_parser("remove", help="delete a user and their home").add_argument("name")
    sub.add_parser("add-admin", help="make a user a server admin").add_argument("name")
    sub.add_parser("remove-admin", help="take the server-admin role back").add_argument("name")
    sub.add_parser("list", help="list users")


def user(host: Host, args: argparse.Namespace) -> int:
    """teamcal user add|passwd|remove|add-admin|remove-admin|list."""
    store = host.store
    if args.action == "list":
        for p in store.principals("user"):
            print(f"{p.name}\t{p.display_name}\t{p.email or ''}\t{'admin' if p.is_admin else ''}".rstrip())
        return 0
    if args.action == "add":
        password = _read_password(args)
        accounts.add_user(
            host, args.name, password, admin=args.admin, email=args.email, display_name=args.display_name
        )
        print(f"user {args.name} created")
        return 0
    found = accounts.find_principal(host, args.name, "user")
    if args.action == "passwd":
        accounts.set_password(host, found, _read_password(args))
        print(f"password of {args.name} changed")
    elif args.action in ("add-admin", "remove-admin"):
        accounts.set_server_admin(host, found, args.action == "add-admin")
        print(f"{args.name} {'is now' if args.action == 'add-admin' else 'is no longer'} a server admin")
    else:
        accounts.remove_principal(host, found, source="cli")
        print(f"user {args.name} removed")
    return 0


def _group_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="create a group")
    add.add_argument("name")
    add.add_argument("--display-name")
    sub.add_parser("remove", help="delete a group and its calendars").add_argument("name")
    for action, text in (
        ("add-member", "add a member to a group (with --admin, as a group admin)"),
        ("remove-member", "remove a member from a group"),
        ("add-admin", "make a member a group admin"),
        ("remove-admin", "take the group-admin role back (the member stays)"),
    ):
        sp = sub.add_parser(action, help=text)
        sp.add_argument("group")
        sp.add_argument("user")
        if action == "add-member":
            sp.add_argument(
                "--admin", action="store_true", help="may create, delete, move and rename the group's calendars"
            )
    sub.add_parser("list", help="list groups and members (admins marked)")


def group(host: Host, args: argparse.Namespace) -> int:
    """teamcal group add|remove|add-member|remove-member|add-admin|remove-admin|list."""
    store = host.store
    if args.action == "list":
        every = store.every_membership()  # one statement, however many groups
        for g in store.principals("group"):
            members = ", ".join(m.name + (" (admin)" if admin else "") for m, admin in every.get(g.id, []))
            print(f"{g.name}\t{members}")
        return 0
    if args.action == "add":
        accounts.add_group(host, args.name, args.display_name)
        print(f"group {args.name} created")
        return 0
    if args.action == "remove":
        accounts.remove_principal(host, accounts.find_principal(host, args.name, "group"), source="cli")
        print(f"group {args.name} removed")
        return 0
    g = accounts.find_principal(host, args.group, "group")
    member = accounts.find_principal(host, args.user)
    if args.action == "add-member":
        accounts.add_member(host, g, member, admin=args.admin)
        done = "added to" if not args.admin else "added as an admin to"
    elif args.action == "remove-member":
        accounts.remove_member(host, g, member)
        done = "removed from"
    else:
        accounts.set_group_admin(host, g, member, args.action == "add-admin")
        done = "is now an admin of" if args.action == "add-admin" else "is no longer an admin of"
    print(f"{args.user} {done} {args.group}")
    return 0


def _calendar_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="create a calendar (OWNER/NAME; a group owner makes a team calendar)")
    add.add_argument("calendar")
    add.add_argument("--display-name")
    add.add_argument("--color")
    sub.add_parser("list", help="list an owner's calendars").add_argument("owner")
    sub.add_parser("remove", help="delete a calendar and its events").add_argument("calendar")


def calendar(host: Host, args: argparse.Namespace) -> int:
    """teamcal calendar add|list|remove."""
    if args.action == "list":
        owner = _principal(host, args.owner, None)
        for c in host.store.collections(owner.id, parent=None):
            count = host.store.count_resources(c.id)
            print(f"{owner.name}/{c.path}\t{c.kind}\t{c.display_name or ''}\t{count} objects")
        return 0
    if args.action == "add":
        owner_name, _, path = args.calendar.partition("/")
        owner = _principal(host, owner_name, None)
        attrs: dict[str, Any] = {"display_name": args.display_name or path}
        if args.color:
            attrs["color"] = args.color
        host.writes.create_collection(owner, path, "calendar", principal=None, attrs=attrs, source="cli")
        print(f"calendar {args.calendar} created")
        return 0
    host.writes.delete_collection(find_collection(host, args.calendar), principal=None, source="cli")
    print(f"calendar {args.calendar} removed")
    return 0


def _grant_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="give GRANTEE (a user, a group or 'everyone') a privilege")
    add.add_argument("calendar", help="OWNER/NAME")
    add.add_argument("grantee")
    add.add_argument("privilege", choices=("read", "write", "admin"))
    rm = sub.add_parser("remove", help="take a grant back")
    rm.add_argument("calendar")
    rm.add_argument("grantee")
    sub.add_parser("list", help="list the grants of a calendar").add_argument("calendar")


def grant(host: Host, args: argparse.Namespace) -> int:
    """teamcal grant add|remove|list."""
    collection = find_collection(host, args.calendar)
    if args.action == "list":
        for name, held in accounts.grants(host, collection):
            print(f"{name}\t{held}")
        return 0
    privilege = args.privilege if args.action == "add" else None
    accounts.set_grant(host, collection, args.grantee, privilege)
    print(f"{args.calendar}: {args.grantee} {args.privilege if args.action == 'add' else 'revoked'}")
    return 0


def _principal(host: Host, name: str, kind: str | None) -> Any:
    return accounts.find_principal(host, name, kind)
