"""Users make and revoke their own feed URLs in the web app's Subscribe dialog.

The web plugin asks for this provider through its ``web_extend`` hook and calls it
for a calendar the signed-in user may read; it never imports this plugin. A
user's feed names him (``principal_id``): only he lists and revokes it here, and
it opens the calendar only while he may still read it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel.types import Rejected
from plugins.caldav_server.feeds import tokens
from plugins.caldav_server.feeds.route import feed_url

if TYPE_CHECKING:
    from kernel import Collection, Host, Principal

#: Active feed URLs one user may hold of one calendar.
MAX_PER_CALENDAR = 10


class SelfServiceFeeds:
    """The feed provider the web app's Subscribe dialog uses (methods run in worker threads)."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def feeds(self, principal: Principal, collection: Collection) -> list[tokens.Feed]:
        """The user's active feeds of this calendar, oldest first."""
        return [
            f for f in tokens.feeds(self.host.store, collection.id, principal.id) if f.revoked is None
        ]

    def create(self, principal: Principal, collection: Collection) -> str:
        """A new feed of a calendar the user may read: its public URL (on ``base_url``), shown once."""
        if collection.kind != "calendar" or "read" not in self.host.privileges(principal, collection):
            raise Rejected(404, None, "No such calendar.")
        if len(self.feeds(principal, collection)) >= MAX_PER_CALENDAR:
            raise Rejected(409, None, f"You have {MAX_PER_CALENDAR} feed URLs of this calendar: revoke one first.")
        _, token = tokens.create(self.host.store, collection, f"web:{principal.name}", principal.id)
        return feed_url(self.host.base_url, token)

    def revoke(self, principal: Principal, collection: Collection, feed_id: int) -> bool:
        """Revoke one of the user's feeds of this calendar; False when he has no such active feed."""
        if not any(f.id == feed_id for f in self.feeds(principal, collection)):
            return False
        return tokens.revoke(self.host.store, feed_id) is not None
