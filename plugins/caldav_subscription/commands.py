"""`teamcal subscription add|list|show|pause|resume|remove|sync|discover`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TYPE_CHECKING, Any

from kernel import Rejected
from plugins.caldav_subscription import manage, records
from plugins.caldav_subscription.runs import Busy, sync_now

if TYPE_CHECKING:
    from kernel import Commands, Host


def register(cli: Commands) -> None:
    """Declare `teamcal subscription`."""
    cli.add("subscription", "follow remote CalDAV calendars and ICS feeds", _configure, run)


def _configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="subscribe a local calendar (created when missing) to a remote one")
    add.add_argument("--calendar", required=True, help="the local calendar, OWNER/NAME")
    add.add_argument("--url", required=True, help="the remote calendar collection or ICS feed")
    add.add_argument("--username")
    add.add_argument("--password-stdin", action="store_true", help="read the remote password from stdin")
    add.add_argument("--mode", choices=manage.MODES, default="one-way")
    add.add_argument("--interval", help="poll interval such as 15m or 1h (default [caldav_subscription] default_interval)")
    sub.add_parser("list", help="list subscriptions and their state")
    for action, text in (
        ("show", "show a subscription's settings, status and recent conflicts"),
        ("pause", "stop syncing a subscription"),
        ("resume", "sync a paused subscription again"),
        ("remove", "end a subscription (the local calendar and its events stay)"),
    ):
        sub.add_parser(action, help=text).add_argument("id", type=int)
    sync = sub.add_parser("sync", help="sync now, in the foreground")
    sync.add_argument("id", type=int, nargs="?")
    sync.add_argument("--all", action="store_true", help="every subscription that is not paused")
    disc = sub.add_parser("discover", help="list the calendars behind a server URL")
    disc.add_argument("url")
    disc.add_argument("--username")
    disc.add_argument("--password-stdin", action="store_true", help="read the remote password from stdin")


def run(host: Host, args: argparse.Namespace) -> int:
    """Dispatch one `teamcal subscription` action."""
    action = args.action
    if action == "add":
        username, password = _credentials(args)
        interval = manage.parse_interval(args.interval) if args.interval else None
        sub = asyncio.run(
            manage.create(
                host, None, calendar=args.calendar, url=args.url, username=username,
                password=password, mode=args.mode, interval=interval,
            )
        )
        print(sub.id)
        print(
            f"{manage.calendar_name(host, sub.collection_id)} follows {sub.url} ({sub.kind}, {sub.mode});"
            f" first sync: `teamcal subscription sync {sub.id}` or the running server",
            file=sys.stderr,
        )
        return 0
    if action == "list":
        return _list(host)
    if action == "discover":
        username, password = _credentials(args)
        found = asyncio.run(manage.find_calendars(host, args.url, username, password))
        for cal in found:
            flags = ",".join(cal.components) + (" read-only" if cal.read_only else "")
            print(f"{cal.url}\t{cal.display_name or ''}\t{flags}")
        if not found:
            print("no calendars found", file=sys.stderr)
            return 1
        return 0
    if action == "sync":
        return _sync(host, args)
    sub = manage.get_visible(host, None, args.id)
    if action == "show":
        _show(manage.describe(host, sub))
    elif action in ("pause", "resume"):
        manage.set_paused(host, sub, action == "pause")
        print(f"subscription {sub.id} {'paused' if action == 'pause' else 'resumed'}")
    else:
        records.delete(host.store, sub.id)
        print(f"subscription {sub.id} removed; {manage.calendar_name(host, sub.collection_id)} is an ordinary calendar now")
    return 0


def _credentials(args: argparse.Namespace) -> tuple[str | None, str | None]:
    if args.password_stdin and not args.username:
        raise Rejected(400, None, "--password-stdin needs --username.")
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
    return args.username, password


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"


def _list(host: Host) -> int:
    subs = manage.listing(host, None)
    for sub, shown in zip(subs, manage.describe_all(host, subs), strict=True):
        print(
            f"{sub.id}\t{shown['calendar']}\t{sub.mode}\t{sub.kind}\t{shown['status']['state']}"
            f"\tlast success {_when(sub.last_success)}\t{sub.url}"
        )
    if not subs:
        print("no subscriptions", file=sys.stderr)
    return 0


def _show(info: dict[str, Any]) -> None:
    status = info.pop("status")
    for key, value in info.items():
        print(f"{key}: {value}")
    for key in ("state", "sync_method", "consecutive_failures", "last_requests", "conflicts_total"):
        print(f"{key}: {status[key]}")
    for key in ("last_attempt", "last_success", "last_error_at", "next_run"):
        print(f"{key}: {_when(status[key])}")
    print(f"last_error: {status['last_error'] or '-'}")
    print("last_counts: " + ", ".join(f"{k} {v}" for k, v in status["counts"].items()))
    for entry in status["not_stored"]:
        print(f"not stored: {entry['object']}: {entry['reason']}")
    for c in status["recent_conflicts"]:
        print(f"conflict: {_when(c['at'])} {c['name']} {c['kind']} -> {c['winner']} ({c['policy']})")


def _sync(host: Host, args: argparse.Namespace) -> int:
    if args.all == (args.id is not None):
        raise Rejected(400, None, "Give a subscription id or --all.")
    ids = [s.id for s in manage.listing(host, None) if not s.paused] if args.all else [args.id]
    if args.id is not None:
        manage.get_visible(host, None, args.id)
    failed = 0

    def progress(stage: str, done: int, total: int) -> None:
        print(f"  {stage} {done}/{total}", file=sys.stderr, flush=True)

    for subscription_id in ids:
        try:
            outcome = asyncio.run(sync_now(host, subscription_id, progress=progress))
        except Busy:
            print(f"subscription {subscription_id}: a sync is already running", file=sys.stderr)
            failed += 1
            continue
        print(outcome.summary(), flush=True)
        failed += outcome.error is not None
    return 1 if failed else 0
