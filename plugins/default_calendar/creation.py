"""Creating the default calendar of an owner that has none, exactly once."""

from __future__ import annotations

import datetime
import logging
import time
from typing import Any

import icalendar

from kernel import Host, Principal, Rejected
from plugins.default_calendar.settings import Settings

log = logging.getLogger("teamcal.default_calendar")

#: Seconds a checked principal is not checked again.
REMEMBER_SECONDS = 30.0

#: The host state key of the memo: principal id -> monotonic time until which it needs no check.
_CHECKED = "default_calendar.checked"


def ensure_defaults(host: Host, principal: Principal, settings: Settings) -> None:
    """Give ``principal`` (and with ``for_groups`` its groups) a default calendar where none exists.

    The common case costs one dictionary lookup: a principal checked in the
    last :data:`REMEMBER_SECONDS` is not checked again; otherwise one indexed
    count per owner.
    """
    now = time.monotonic()
    memo: dict[int, float] = host.state(_CHECKED, dict)
    if memo.get(principal.id, 0.0) > now:
        return
    owners = [principal]
    if settings.for_groups:
        owners += host.store.groups_of(principal.id)
    for owner in owners:
        if host.store.count_collections(owner.id, kind="calendar") == 0:
            _create(host, owner, principal, settings)
    memo[principal.id] = now + REMEMBER_SECONDS


def _create(host: Host, owner: Principal, actor: Principal, settings: Settings) -> None:
    """Create the calendar unless one appeared meanwhile.

    The count is repeated inside the write transaction, which SQLite
    serialises across threads and processes, so concurrent first requests
    make one calendar; a loser that still collides on the path (405) is done
    too. Any other refusal (a limit, say) is logged: the request goes on.
    """
    try:
        with host.writes.transaction():
            if host.store.count_collections(owner.id, kind="calendar"):
                return
            host.writes.create_collection(
                owner,
                settings.href_name,
                "calendar",
                # a group's calendar is made by the plugin itself, whether the member
                # whose request noticed it is missing may create calendars there or not
                principal=actor if actor.id == owner.id else None,
                attrs=calendar_attributes(owner, settings),
                source="default_calendar",
            )
    except Rejected as exc:
        existing = host.store.collection(owner.id, settings.href_name) if exc.status == 405 else None
        if existing is None or existing.kind != "calendar":
            log.warning("no default calendar for %s: %s", owner.name, exc.message)
        return
    log.info("created default calendar %s/%s", owner.name, settings.href_name)


def calendar_attributes(owner: Principal, settings: Settings) -> dict[str, Any]:
    """The collection attributes of ``owner``'s default calendar."""
    template = settings.group_display_name if owner.kind == "group" else settings.display_name
    attrs: dict[str, Any] = {
        "display_name": template.render(owner.name, owner.display_name),
        "components": tuple(settings.components),
    }
    if settings.color:
        attrs["color"] = str(settings.color)
    if settings.timezone:
        attrs["timezone"] = timezone_calendar(settings.timezone)
    return attrs


def timezone_calendar(tzid: str) -> str:
    """An iCalendar object holding one VTIMEZONE for ``tzid`` (RFC 4791 calendar-timezone)."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//teamcal//default_calendar//EN")
    calendar.add("version", "2.0")
    calendar.add_component(icalendar.Timezone.from_tzid(tzid, last_date=datetime.date(2100, 1, 1)))
    return calendar.to_ical().decode("utf-8")
