"""The checks behind the hooks: each refusal names its limit and says why in one sentence."""

from __future__ import annotations

from kernel import CalendarOp, Collection, ObjectWrite, Principal, Rejected
from kernel.store import Store
from plugins.limits.counting import instance_count
from plugins.limits.effective import effective_limits
from plugins.limits.settings import Settings

CALDAV = "{urn:ietf:params:xml:ns:caldav}"
#: Namespace of teamcal's own preconditions (RFC 4791 has none for counts per account).
TEAMCAL = "{urn:teamcal}"

#: Too many calendars or objects is a quota: 507 Insufficient Storage, as RFC 4331 answers one.
QUOTA_STATUS = 507


def check_object(settings: Settings, tx: Store, write: ObjectWrite) -> None:
    """Size, attendees, instances and the account's object count of a calendar object write."""
    collection = write.collection
    if write.action == "delete" or collection.kind != "calendar" or write.data is None:
        return
    owner = collection.owner
    limits = effective_limits(settings, tx, owner)
    size = limits["max_icalendar_size"].value
    if len(write.data) > size:
        raise Rejected(
            413,
            CALDAV + "max-resource-size",
            f"The calendar object is {len(write.data)} bytes, over the limit of {size} bytes for {owner.name}.",
        )
    if write.info is not None:
        attendees = limits["max_attendees"].value
        if write.info.max_attendees > attendees:
            raise Rejected(
                403,
                CALDAV + "max-attendees-per-instance",
                f"An instance has {write.info.max_attendees} attendees, over the limit of {attendees}"
                f" for {owner.name}.",
            )
        instances = limits["max_recurrence_expansions"].value
        if write.calendar is not None and instance_count(write.calendar, write.info, instances) > instances:
            raise Rejected(
                403,
                CALDAV + "max-instances",
                f"The recurrence generates more than {instances} instances, the limit for {owner.name}.",
            )
    if write.action == "create":
        events = limits["max_events"].value
        held = tx.count_resources(owner_id=owner.id)
        if held >= events:
            raise Rejected(
                QUOTA_STATUS,
                TEAMCAL + "max-events",
                f"{owner.name} already holds {held} calendar objects, the limit is {events}.",
            )


def check_calendar(settings: Settings, tx: Store, op: CalendarOp) -> None:
    """The account's calendar count on create; both counts when collections move to another home."""
    if op.action == "create":
        if op.kind == "calendar":
            limits = effective_limits(settings, tx, op.owner)
            _check_calendars(tx, op.owner, 1, limits["max_calendars"].value)
        return
    target = op.changes.get("owner") if op.action == "update" else None
    if target is None or target == op.owner.name or op.collection is None:
        return
    owner = tx.principal(target)
    if owner is None:
        return
    tree = [op.collection, *tx.descendants(op.collection)]
    calendars = [c for c in tree if c.kind == "calendar"]
    if not calendars:
        return
    limits = effective_limits(settings, tx, owner)
    _check_calendars(tx, owner, len(calendars), limits["max_calendars"].value)
    moving = sum(tx.count_resources(c.id) for c in calendars)
    held = tx.count_resources(owner_id=owner.id)
    events = limits["max_events"].value
    if held + moving > events:
        raise Rejected(
            QUOTA_STATUS,
            TEAMCAL + "max-events",
            f"{owner.name} holds {held} calendar objects; {moving} more would pass the limit of {events}.",
        )


def _check_calendars(tx: Store, owner: Principal, adding: int, calendars: int) -> None:
    held = tx.count_collections(owner.id, kind="calendar")
    if held + adding > calendars:
        raise Rejected(
            QUOTA_STATUS,
            TEAMCAL + "max-calendars",
            f"{owner.name} already has {held} calendars, the limit is {calendars}.",
        )


def advertised(settings: Settings, store: Store, collection: Collection) -> dict[str, str]:
    """The RFC 4791 limit properties of a calendar collection, for its owner."""
    limits = effective_limits(settings, store, collection.owner)
    return {
        CALDAV + "max-resource-size": str(limits["max_icalendar_size"].value),
        CALDAV + "max-instances": str(limits["max_recurrence_expansions"].value),
        CALDAV + "max-attendees-per-instance": str(limits["max_attendees"].value),
    }
