"""Limits on what clients may store: object size, attendees, recurrences, calendars and objects per
account, and quotas on dead properties (per value, per target, per account).

Enforced through the kernel's write pipeline, so they hold for every way data
gets in (CalDAV, subscriptions, imports). Defaults come from ``[limits]``;
``[limits.accounts.NAME]``, ``[limits.groups.NAME]`` and `teamcal limits set`
override them per account or group. With the CalDAV server on, calendar
collections advertise the effective limits (RFC 4791 section 5.2.5 to 5.2.9).
"""

from __future__ import annotations

from typing import Any

from kernel import CalendarOp, Collection, Host, ObjectWrite, Principal, PropertyWrite, Resource, Store, hookimpl
from plugins.limits import admin_section, commands, enforcement
from plugins.limits.effective import Limit, effective_limits, overrides_read
from plugins.limits.overrides import migrations
from plugins.limits.settings import Settings

#: The sub-commands it adds, read without importing it: while it is disabled they say how to enable it.
COMMANDS = ("limits",)


@hookimpl
def register_settings() -> dict[str, type]:
    """Declare the ``[limits]`` table."""
    return {"limits": Settings}


@hookimpl
def register_migrations(host: Host) -> Any:
    """The ``limits_overrides`` table behind `teamcal limits set`."""
    return migrations


@hookimpl
def register_commands(cli: Any) -> None:
    """Add `teamcal limits set|show|clear`."""
    commands.register(cli)


def limits_of(host: Host, store: Store) -> enforcement.LimitsOf:
    """An account's effective limits, read from ``store`` once per HTTP request: a PUT asks for
    them before its body is read (the size cap) and again inside its write (validation), and a
    listing of a home's calendars once per calendar. The values are the administrator's
    settings, so a request may use them as it found them at its start."""

    def read(owner: Principal) -> dict[str, Limit]:
        return host.request_state(_limits_key(owner), lambda: effective_limits(host.settings("limits"), store, owner))

    return read


def _limits_key(owner: Principal) -> str:
    """Where a request keeps an owner's effective limits (``host.request_state``)."""
    return f"limits.effective:{owner.id}"


@hookimpl
def object_size_limit(host: Host, principal: Principal | None, collection: Collection) -> int | None:
    """The owner's max_icalendar_size for calendar collections, asked before a body is read."""
    if collection.kind != "calendar":
        return None
    return limits_of(host, host.store)(collection.owner)["max_icalendar_size"].value


@hookimpl(optionalhook=True)
def dav_reads_ahead(host: Host, method: str, owner: str, path: list[str]) -> list[tuple[str, Any]] | None:
    """A PUT asks for the owner's size limit before its body is read, and a PROPFIND of a
    calendar or of a home may ask for the limits a calendar advertises (``dav_properties``):
    the owner's overrides are read with the request's account."""
    if not (method == "PUT" and path) and not (method == "PROPFIND" and len(path) <= 1):
        return None
    return [host.store.groups_and_rows_statement(*overrides_read(owner))]


@hookimpl(optionalhook=True)
def dav_properties_ahead(host: Host, principal: Principal, collections: list[Collection]) -> None:
    """A listing's calendars advertise their owners' limits (``dav_properties``): the limits of
    all the owners not read yet are read at once (on PostgreSQL one round trip for all)."""
    owners = {c.owner.id: c.owner for c in collections if c.kind == "calendar"}
    missing = [owner for owner in owners.values() if not host.request_state_known(_limits_key(owner))]
    if len(missing) < 2:
        return
    read = limits_of(host, host.store)
    with host.store.expecting(lambda: [host.store.groups_and_rows_statement(*overrides_read(o.name)) for o in missing]):
        for owner in missing:
            read(owner)


@hookimpl
def object_reads_ahead(host: Host, collection: Collection, deleting: bool) -> list[tuple[str, Any]] | None:
    """A calendar object's write reads the owner's limits, unless the request already has
    them (a PUT read them ahead of its body): the read rides with the write's first round
    trip. The owner's object count (max_events) is not read: it is checked with the write's
    rows (``store.refuse_if``). A delete reads nothing."""
    if deleting or collection.kind != "calendar" or host.request_state_known(_limits_key(collection.owner)):
        return None
    return [host.store.groups_and_rows_statement(*overrides_read(collection.owner.name))]


@hookimpl
def validate_object(host: Host, tx: Store, write: ObjectWrite) -> None:
    """Refuse oversized objects, too many attendees or instances, and objects past the account's count."""
    enforcement.check_object(host.settings("limits"), tx, write, limits_of(host, tx))


@hookimpl
def validate_calendar(host: Host, tx: Store, op: CalendarOp) -> None:
    """Refuse calendars past the account's max_calendars (also when moved in from another home)."""
    enforcement.check_calendar(tx, op, limits_of(host, tx))


@hookimpl
def validate_properties(host: Host, tx: Store, write: PropertyWrite) -> None:
    """Refuse dead properties past the owner's quotas (value size, count and bytes per target, account bytes)."""
    enforcement.check_properties(tx, write, limits_of(host, tx))


@hookimpl(optionalhook=True)
def dav_properties(
    host: Host, principal: Principal, collection: Collection | None, resource: Resource | None
) -> dict[str, str] | None:
    """CALDAV:max-resource-size (the size a PUT is refused over: this plugin's limit or the
    kernel's body cap, whichever is smaller), max-instances, max-attendees-per-instance and,
    when set, min-date-time and max-date-time on calendar collections."""
    if collection is None or resource is not None or collection.kind != "calendar":
        return None
    found = enforcement.advertised(host.settings("limits"), collection, limits_of(host, host.store))
    found[enforcement.CALDAV + "max-resource-size"] = str(host.object_size_limit(principal, collection))
    return found


@hookimpl(optionalhook=True)
def web_extend(host: Host, web: Any) -> None:
    """The limits section of the web app's admin console: each account's effective limits,
    their source and the stored overrides."""
    web.add_admin_section("Limits", admin_section.render)
