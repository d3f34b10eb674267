"""Subscriptions: a local calendar follows a remote CalDAV calendar or ICS feed, one-way or two-way."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kernel import Collection, Job, ObjectWrite, Principal, Rejected, SecretColumn, hookimpl
from plugins.caldav_subscription import api, commands, records, web_pages
from plugins.caldav_subscription.access import NEED_PRIVILEGES, narrowing_suspended
from plugins.caldav_subscription.reconcile import SOURCE
from plugins.caldav_subscription.scheduler import Scheduler
from plugins.caldav_subscription.schema import migrations
from plugins.caldav_subscription.settings import Settings

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from kernel import Host, Store

__all__ = ["Settings"]

#: The host's scheduler lives in its plugin state (``host.state``), one per host.
SCHEDULER = "caldav_subscription.scheduler"


#: The sub-commands it adds, read without importing it: while it is disabled they say how to enable it.
COMMANDS = ("subscription",)


@hookimpl
def register_settings() -> dict[str, type]:
    """The ``[caldav_subscription]`` table."""
    return {"caldav_subscription": Settings}


@hookimpl
def register_migrations(host: Host) -> Any:
    """Subscriptions, tracked items and conflicts tables."""
    return migrations


@hookimpl
def register_secret_columns() -> Iterable[SecretColumn]:
    """Remote usernames and passwords are stored encrypted."""
    return [SecretColumn(records.SUBSCRIPTIONS, "id", column) for column in records.CREDENTIALS]


@hookimpl
def register_commands(cli: Any) -> None:
    """`teamcal subscription ...`."""
    commands.register(cli)


@hookimpl
def register_routes(host: Host) -> Iterable[BaseRoute]:
    """The JSON API under /api/subscriptions."""
    return api.routes(host)


@hookimpl(optionalhook=True)
def web_extend(host: Host, web: Any) -> None:
    """The web app's Subscriptions page and a panel on each subscribed calendar's page."""
    web_pages.install(host, web)


@hookimpl
def register_jobs(host: Host) -> Iterable[Job]:
    """The scheduler: every ``tick`` seconds, start the subscriptions that are due."""
    settings: Settings = host.settings("caldav_subscription")
    return [Job("caldav_subscription", float(settings.tick), scheduler_of(host).tick)]


def scheduler_of(host: Host) -> Scheduler:
    """The host's scheduler, made on first use."""
    settings: Settings = host.settings("caldav_subscription")
    return host.state(SCHEDULER, lambda: Scheduler(host, settings.max_concurrent_syncs))


@hookimpl
async def shutdown(host: Host) -> None:
    """Stop running syncs cleanly (they give their leases back)."""
    await scheduler_of(host).stop()


@hookimpl
def calendar_privileges(
    host: Host, principal: Principal, calendar: Collection, privileges: frozenset[str]
) -> Iterable[str] | None:
    """A calendar fed by a one-way subscription is read-only to everyone. A request reads which
    calendars of a home are one-way once, as it finds them first (a listing of the home asks
    for each calendar); what a write may do is checked again under its lock (validate_object)."""
    if narrowing_suspended():
        return None
    owner = calendar.owner
    one_way = host.request_state(
        f"caldav_subscription.one_way:{owner.id}", lambda: records.one_way_in_home(host.store, owner.name)
    )
    return {"read"} if calendar.id in one_way else None


@hookimpl(optionalhook=True)
def dav_reads_ahead(host: Host, method: str, owner: str, path: list[str]) -> list[tuple[str, Any]] | None:
    """A DAV request in a home asks which of its calendars are one-way (their privileges): the
    read goes with the request's account."""
    return [records.one_way_in_home_statement(host.store, owner)]


@hookimpl
def validate_object(host: Host, tx: Store, write: ObjectWrite) -> None:
    """Only the subscription itself writes into a one-way calendar, whichever way a write comes
    in: checked under the write lock, sent with the write's rows (``store.refuse_if``)."""
    if write.source != SOURCE:
        tx.refuse_if(records.one_way_statement(write.collection.id), Rejected(
            403,
            NEED_PRIVILEGES,
            "This calendar follows a remote calendar one-way and is read-only here; change the remote instead.",
        ))
