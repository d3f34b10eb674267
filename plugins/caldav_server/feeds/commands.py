"""``teamcal feed create | list | revoke``: manage the secret ICS feed URLs of calendars."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from kernel import Rejected, find_collection
from plugins.caldav_server.feeds import tokens
from plugins.caldav_server.feeds.route import feed_url
from plugins.caldav_server.webdav.core_properties import iso_date

if TYPE_CHECKING:
    from kernel import Commands, Host


def register(cli: Commands) -> None:
    """Declare ``teamcal feed``."""
    cli.add("feed", "secret read-only ICS feed URLs of calendars, for subscribe-only apps", _arguments, run)


def _arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("create", help="make a feed URL for a calendar (shown once)").add_argument(
        "calendar", help="OWNER/NAME"
    )
    sub.add_parser("list", help="list feeds (ids, never tokens), of one calendar or all").add_argument(
        "calendar", nargs="?", help="OWNER/NAME"
    )
    sub.add_parser("revoke", help="make a feed URL stop working, for good").add_argument("id", type=int)


def run(host: Host, args: argparse.Namespace) -> int:
    """teamcal feed create|list|revoke."""
    store = host.store
    if args.action == "create":
        collection = find_collection(host, args.calendar)
        if collection.kind != "calendar":
            raise Rejected(400, None, f"{args.calendar} is not a calendar.")
        feed, token = tokens.create(store, collection, f"cli:{_os_user()}")
        print(feed_url(host.base_url, token))
        print(
            f"teamcal: feed {feed.id} of {args.calendar}: anyone with this URL can read the calendar's events and "
            f"tasks. It is shown only now; revoke it with: teamcal feed revoke {feed.id}",
            file=sys.stderr,
        )
        return 0
    if args.action == "list":
        collection_id = find_collection(host, args.calendar).id if args.calendar else None
        for feed in tokens.feeds(store, collection_id):
            calendar = store.collection_by_id(feed.collection_id)
            name = f"{calendar.owner.name}/{calendar.path}" if calendar else "?"
            state = f"revoked {iso_date(feed.revoked)}" if feed.revoked is not None else "active"
            print(f"{feed.id}\t{name}\tcreated {iso_date(feed.created)}\t{feed.created_by or ''}\t{state}")
        return 0
    revoked = tokens.revoke(store, args.id)
    if revoked is None:
        raise Rejected(404, None, f"No feed with id {args.id} (see teamcal feed list).")
    print(f"feed {revoked.id} revoked at {iso_date(revoked.revoked or 0)}")
    return 0


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
