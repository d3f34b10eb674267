"""The checks behind the hooks: each refusal names its limit and says why in one sentence."""

from __future__ import annotations

from collections.abc import Callable

from kernel import CalendarOp, Collection, ObjectWrite, Principal, PropertyWrite, Rejected, Store
from plugins.limits.counting import instance_count
from plugins.limits.dates import check_dates
from plugins.limits.effective import Limit
from plugins.limits.settings import Settings

#: An account's effective limits by key (``effective.effective_limits``, read once per request).
LimitsOf = Callable[[Principal], dict[str, Limit]]

CALDAV = "{urn:ietf:params:xml:ns:caldav}"
#: Namespace of teamcal's own preconditions (RFC 4791 has none for counts per account).
TEAMCAL = "{urn:teamcal}"

#: Too many calendars or objects is a quota: 507 Insufficient Storage, as RFC 4331 answers one.
QUOTA_STATUS = 507


def check_object(settings: Settings, tx: Store, write: ObjectWrite, limits_of: LimitsOf) -> None:
    """Size, attendees, instances and the account's object count of a calendar object write."""
    collection = write.collection
    if write.action == "delete" or collection.kind != "calendar" or write.data is None:
        return
    owner = collection.owner
    limits = limits_of(owner)
    size = limits["max_icalendar_size"].value
    if len(write.data) > size:
        raise Rejected(
            403,
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
        if write.calendar is not None:
            check_dates(settings, write.calendar, write.info, instances)
    if write.action == "create":  # checked with the write's rows (on PostgreSQL no round trip of its own)
        events = limits["max_events"].value
        count, values = tx.owner_count_statement(owner.id)
        tx.refuse_if((f"SELECT 1 WHERE ({count}) >= ?", (*values, events)), Rejected(
            QUOTA_STATUS,
            TEAMCAL + "max-events",
            f"{owner.name} holds as many calendar objects as the limit allows ({events}).",
        ))


def check_calendar(tx: Store, op: CalendarOp, limits_of: LimitsOf) -> None:
    """The account's calendar count on create; both counts and the dead-property storage when
    collections move to another home."""
    if op.action == "create":
        if op.kind == "calendar":
            limits = limits_of(op.owner)
            _check_calendars(tx, op.owner, 1, limits["max_calendars"].value)
        return
    target = op.changes.get("owner") if op.action == "update" else None
    if target is None or target == op.owner.name or op.collection is None:
        return
    owner = tx.principal(target)
    if owner is None:
        return
    tree = [op.collection, *tx.descendants(op.collection)]
    limits = limits_of(owner)
    moving_bytes = tx.tree_property_bytes([c.id for c in tree])
    _check_property_storage(tx, owner, moving_bytes, limits["max_property_storage"].value)
    calendars = [c for c in tree if c.kind == "calendar"]
    if not calendars:
        return
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


def check_properties(tx: Store, write: PropertyWrite, limits_of: LimitsOf) -> None:
    """Dead-property quotas of the owner: each value's size, the target's count and bytes, the
    account's bytes. Only growth is refused, so a target over a lowered limit can still shrink."""
    limits = limits_of(write.owner)
    owner = write.owner.name
    largest = limits["max_property_size"].value
    for name, value in write.changes.items():
        size = write.sizes.get(name, 0) if value is not None else 0
        if size > largest:
            raise Rejected(
                QUOTA_STATUS,
                TEAMCAL + "max-property-size",
                f"The property {name} is {size} bytes, over the limit of {largest} bytes for {owner}.",
            )
    count = limits["max_properties"].value
    if len(write.sizes) > max(count, len(write.previous)):
        raise Rejected(
            QUOTA_STATUS,
            TEAMCAL + "max-properties",
            f"This {write.scope} would hold {len(write.sizes)} dead properties, over the limit of {count} for {owner}.",
        )
    growth = write.growth
    if growth <= 0:
        return
    total, per_target = sum(write.sizes.values()), limits["max_properties_size"].value
    if total > per_target:
        raise Rejected(
            QUOTA_STATUS,
            TEAMCAL + "max-properties-size",
            f"The dead properties of this {write.scope} would take {total} bytes, over the limit of {per_target}"
            f" bytes for {owner}.",
        )
    if write.scope in ("collection", "resource"):
        _check_property_storage(tx, write.owner, growth, limits["max_property_storage"].value)


def _check_property_storage(tx: Store, owner: Principal, adding: int, limit: int) -> None:
    if adding <= 0:
        return
    held = tx.property_bytes(owner.id)
    if held + adding > limit:
        raise Rejected(
            QUOTA_STATUS,
            TEAMCAL + "max-property-storage",
            f"{owner.name} stores {held} bytes of dead properties; {adding} more would pass the limit of {limit}.",
        )


def _check_calendars(tx: Store, owner: Principal, adding: int, calendars: int) -> None:
    held = tx.count_collections(owner.id, kind="calendar")
    if held + adding > calendars:
        raise Rejected(
            QUOTA_STATUS,
            TEAMCAL + "max-calendars",
            f"{owner.name} already has {held} calendars, the limit is {calendars}.",
        )


def advertised(settings: Settings, collection: Collection, limits_of: LimitsOf) -> dict[str, str]:
    """The RFC 4791 limit properties of a calendar collection, for its owner."""
    limits = limits_of(collection.owner)
    found = {
        CALDAV + "max-resource-size": str(limits["max_icalendar_size"].value),
        CALDAV + "max-instances": str(limits["max_recurrence_expansions"].value),
        CALDAV + "max-attendees-per-instance": str(limits["max_attendees"].value),
    }
    if settings.min_date_time is not None:
        found[CALDAV + "min-date-time"] = str(settings.min_date_time)
    if settings.max_date_time is not None:
        found[CALDAV + "max-date-time"] = str(settings.max_date_time)
    return found
