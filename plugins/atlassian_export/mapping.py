"""One calendar object resource as Atlassian Teamwork Graph ``atlassian:calendar-event`` objects.

Pure functions: no database, no HTTP. The delivery layer passes the parsed
iCalendar object, an :class:`EventContext` (what the store knows) and the
plugin's :class:`MappingSettings`; it gets back plain JSON-ready dicts.

What is exported:

* a single VEVENT: one object; a recurring VEVENT (RRULE or RDATE): the series
  first, then one object per occurrence that overlaps the window
  ``[now - window_past_days, now + window_future_days)``, at most
  ``max_occurrences``, in start order; EXDATE'd occurrences and overrides with
  ``STATUS:CANCELLED`` are absent;
* overrides stored without their master (an invitation to one instance): each one
  as an occurrence, whatever its date (at most ``max_occurrences``);
* nothing for a cancelled event (``STATUS:CANCELLED``) or for a resource without a
  VEVENT (VTODO, VJOURNAL): such resources are not calendar events, and returning
  no ids lets the caller delete whatever was exported before.

Data that cannot be mapped raises :class:`MappingError`; optional properties that
are broken are left out instead.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, unquote, urlsplit

import icalendar
import recurring_ical_events

from .event_type import event_type
from .video import find_recording, find_video_meeting, is_http_url, urls_in

SCHEMA_VERSION = "1.0"
OBJECT_TYPE = "atlassian:calendar-event"
CONTAINER_TYPE = "atlassian:space"
CHILD_ASSOCIATION = "ExternalCalendarEventHasChildExternalCalendarEvent"
UNTITLED = "(no title)"
MAX_EXPANSION_STEPS = 250_000

_RSVP = {"ACCEPTED": "accepted", "DECLINED": "declined", "DELEGATED": "declined", "TENTATIVE": "tentatively_accepted"}
_NOT_RESPONDED = "not_responded"
_OPTIONAL_ROLES = {"OPT-PARTICIPANT", "NON-PARTICIPANT"}
_NOT_PEOPLE = {"ROOM", "RESOURCE"}
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_PERIOD_SECONDS = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600, "DAILY": 86400,
                   "WEEKLY": 7 * 86400, "MONTHLY": 28 * 86400, "YEARLY": 365 * 86400}
_SINGLETONS = ("UID", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "SEQUENCE", "STATUS")
_EXPANDING_PARTS = ("BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH")


class MappingError(ValueError):
    """The calendar object cannot be mapped: no DTSTART or UID, inconsistent times, an unusable rule."""


@dataclass(frozen=True)
class EventContext:
    """Everything the mapping needs that is not in the iCalendar text."""

    calendar_key: str
    calendar_name: str
    event_url: str
    created_at: float
    modified_at: float
    created_by: str | None
    modified_by: str | None
    sequence: int
    permissions: list[dict]
    max_attendees: int | None


@dataclass(frozen=True)
class MappingSettings:
    """How far recurring series are expanded, and the admin's CATEGORIES -> eventType table."""

    window_past_days: int = 30
    window_future_days: int = 180
    max_occurrences: int = 3000
    category_event_types: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("window_past_days", "window_future_days", "max_occurrences"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, not {value!r}")
        for key, value in self.category_event_types.items():
            if not isinstance(key, str) or not key.strip() or not isinstance(value, str) or not value.strip():
                raise ValueError(f"category_event_types needs non-empty strings, not {key!r} = {value!r}")


@dataclass(frozen=True)
class _Item:
    """One object to export: its component, id, span and place in a series."""

    component: icalendar.Component
    object_id: str
    recurrence: str | None
    series_id: str | None
    span: tuple[str, str, bool]


def external_id(calendar_key: str, uid: str, recurrence_id: str | None = None) -> str:
    """Stable object id: calendar + UID (+ recurrence id in UTC basic format), ``:``-separated.

    Each part is percent-encoded (``:`` and ``%`` included) so that no two inputs share an id.
    """
    parts = [calendar_key, uid] if recurrence_id is None else [calendar_key, uid, recurrence_id]
    return ":".join(quote(part, safe="/@+") for part in parts)


def recurrence_key(value: date | datetime) -> str:
    """A RECURRENCE-ID as an id part: ``20250311T090000Z`` (in UTC), or ``20250311`` for a date."""
    if isinstance(value, datetime):
        v = _instant(value).astimezone(UTC)
        return f"{v.year:04d}{v.month:02d}{v.day:02d}T{v.hour:02d}{v.minute:02d}{v.second:02d}Z"
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def rfc3339(value: date | datetime) -> str:
    """An RFC 3339 instant with offset, to the second.

    Aware times keep their own offset; floating times and dates are taken as UTC
    (a date as its midnight); offsets with seconds (historic local mean time) become UTC.
    """
    moment = _instant(value)
    offset = moment.utcoffset()
    if offset is None or offset.total_seconds() % 60:
        moment = moment.astimezone(UTC)
    return moment.replace(microsecond=0).isoformat()


def map_object(calendar: icalendar.Calendar, ctx: EventContext, settings: MappingSettings, now: datetime) -> list[dict]:
    """All Teamwork Graph objects for one calendar object resource.

    The series (or single event) first, then one object per occurrence inside the
    window for recurring events.
    """
    with _mapping_errors():
        items = _plan(calendar, ctx, settings, now)
        is_series = bool(items) and items[0].recurrence is None and items[0].series_id is not None
        children = [item.object_id for item in items[1:]] if is_series else []
        return [_map_item(item, ctx, settings, children if i == 0 else []) for i, item in enumerate(items)]


def object_ids(calendar: icalendar.Calendar, ctx: EventContext, settings: MappingSettings, now: datetime) -> list[str]:
    """The ids map_object would produce, without building the objects.

    Used to compute deletions: ids exported before but absent now (EXDATE'd occurrences).
    """
    with _mapping_errors():
        return [item.object_id for item in _plan(calendar, ctx, settings, now)]


@contextmanager
def _mapping_errors() -> Iterator[None]:
    """Turn the value errors of icalendar, recurring-ical-events and datetime into MappingError."""
    try:
        yield
    except MappingError:
        raise
    except (ValueError, OverflowError) as exc:
        raise MappingError(f"cannot map calendar object: {exc}") from exc


def _plan(calendar: icalendar.Calendar, ctx: EventContext, settings: MappingSettings, now: datetime) -> list[_Item]:
    """Which objects one resource becomes, in export order."""
    events = calendar.walk("VEVENT")
    if not events:
        return []
    for event in events:
        for name in _SINGLETONS:
            if isinstance(event.get(name), list):
                raise MappingError(f"a VEVENT has more than one {name}")
    uids = {str(event.get("UID", "")).strip() for event in events}
    if "" in uids or len(uids) > 1:
        raise MappingError(f"a calendar object needs exactly one non-empty UID, found {sorted(uids)!r}")
    uid = uids.pop()
    series_id = external_id(ctx.calendar_key, uid)
    masters = [event for event in events if "RECURRENCE-ID" not in event]
    if len(masters) > 1:
        raise MappingError(f"UID {uid!r}: more than one VEVENT without RECURRENCE-ID")
    if not masters:
        orphans = [_occurrence(event, ctx.calendar_key, uid, series_id) for event in events if not _cancelled(event)]
        return sorted(orphans, key=lambda item: item.object_id)[: settings.max_occurrences]
    master = masters[0]
    if _cancelled(master):
        return []
    if "RRULE" not in master and "RDATE" not in master:
        return [_Item(master, series_id, None, None, _span(master))]
    items = [_Item(master, series_id, None, series_id, _span(master))]
    seen = {series_id}
    if settings.max_occurrences == 0:
        return items
    for occurrence in _expand(calendar, master, settings, now):
        item = _occurrence(occurrence, ctx.calendar_key, uid, series_id)
        if item.object_id not in seen:
            seen.add(item.object_id)
            items.append(item)
            if len(items) > settings.max_occurrences:
                break
    return items


def _occurrence(component: icalendar.Component, calendar_key: str, uid: str, series_id: str) -> _Item:
    prop = component.get("RECURRENCE-ID")
    if not isinstance(prop, icalendar.vDDDTypes) or not isinstance(prop.dt, date):
        raise MappingError(f"UID {uid!r}: an instance has an unusable RECURRENCE-ID")
    key = recurrence_key(prop.dt)
    return _Item(component, external_id(calendar_key, uid, key), key, series_id, _span(component))


def _expand(
    calendar: icalendar.Calendar, master: icalendar.Component, settings: MappingSettings, now: datetime
) -> Iterator[icalendar.Component]:
    """The occurrences overlapping the window, in start order, cancelled instances left out.

    The window is queried in chunks of doubling length (1, 2, 4 ... days), so that a
    caller that stops at ``max_occurrences`` stops the expansion too; an occurrence
    spanning two chunks comes twice and is dropped by the caller's id check.
    """
    now = _instant(now)
    chunk_start = now - timedelta(days=settings.window_past_days)
    window_end = now + timedelta(days=settings.window_future_days)
    _check_expansion_cost(master, window_end)
    span = timedelta(days=1)
    try:
        query = recurring_ical_events.of(calendar)
        while chunk_start < window_end:
            chunk_end = min(chunk_start + span, window_end)
            for occurrence in sorted(query.between(chunk_start, chunk_end), key=lambda o: _instant(o.start)):
                if not _cancelled(occurrence):
                    yield occurrence
            chunk_start, span = chunk_end, span * 2
    except (AttributeError, TypeError, KeyError, IndexError, OSError) as exc:  # the libraries trust well-formed input
        raise MappingError(f"recurrence expansion failed: {exc!r}") from exc


def _check_expansion_cost(master: icalendar.Component, window_end: datetime) -> None:
    """Refuse rules whose expansion up to the window's end would take too many steps (FREQ=SECONDLY since 1970)."""
    start = _instant(_start(master))
    for rule in _props(master, "RRULE"):
        if not isinstance(rule, icalendar.vRecur):
            raise MappingError(f"RRULE cannot be parsed: {str(rule)!r}")
        freq = str((rule.get("FREQ") or [""])[0]).upper()
        if freq not in _PERIOD_SECONDS:
            raise MappingError(f"RRULE has no valid FREQ: {rule.to_ical().decode()!r}")
        interval = int((rule.get("INTERVAL") or [1])[0])
        if interval < 1:
            raise MappingError(f"RRULE INTERVAL must be positive: {rule.to_ical().decode()!r}")
        until = (rule.get("UNTIL") or [None])[0]
        stop = window_end if until is None else min(window_end, _instant(until))
        steps = max(0.0, (stop - start).total_seconds()) / (_PERIOD_SECONDS[freq] * interval)
        if "COUNT" in rule and not any(part in rule for part in _EXPANDING_PARTS):
            steps = min(steps, int(rule["COUNT"][0]))
        for part in _EXPANDING_PARTS:
            steps *= max(1, len(rule.get(part) or []))
        if steps > MAX_EXPANSION_STEPS:
            raise MappingError(f"RRULE too dense to expand up to {window_end:%Y-%m-%d}: {rule.to_ical().decode()!r}")


def _map_item(item: _Item, ctx: EventContext, settings: MappingSettings, children: list[str]) -> dict:
    """The Teamwork Graph object for one planned item."""
    c = item.component
    start, end, all_day = item.span
    block: dict = {"eventStartTime": start, "eventEndTime": end, "isAllDayEvent": all_day,
                   "isRecurringEvent": item.series_id is not None}
    if item.series_id is not None:
        block["recurringEventId"] = item.series_id
    attendees = _attendees(c)
    if attendees:
        block["attendees"] = attendees
        block["attendeeCount"] = len(attendees)
    if ctx.max_attendees is not None:
        block["exceedsMaxAttendees"] = len(attendees) > ctx.max_attendees
    location = _location(c)
    if location:
        block["location"] = location
    video = find_video_meeting(c)
    if video is not None:
        block["videoMeetingUrl"], block["videoMeetingProvider"] = video
    recording = find_recording(c)
    if recording is not None:
        block["recordingUrl"] = recording
    block["eventType"] = event_type(c, settings.category_event_types)
    attachments = _attachments(c)
    if attachments:
        block["attachments"] = attachments

    untitled = f"{UNTITLED} – {ctx.calendar_name.strip()}" if ctx.calendar_name.strip() else UNTITLED
    obj: dict = {"schemaVersion": SCHEMA_VERSION, "id": item.object_id, "updateSequenceNumber": ctx.sequence,
                 "displayName": _text(c, "SUMMARY") or untitled}
    description = _text(c, "DESCRIPTION")
    if description:
        obj["description"] = description
    obj["url"] = ctx.event_url if item.recurrence is None else f"{ctx.event_url}#{item.recurrence}"
    obj["createdAt"] = _prop_time(c, "CREATED") or _store_time(ctx.created_at, "created_at")
    if ctx.created_by:
        obj["createdBy"] = {"externalId": ctx.created_by}
    obj["lastUpdatedAt"] = _prop_time(c, "LAST-MODIFIED") or _store_time(ctx.modified_at, "modified_at")
    if ctx.modified_by:
        obj["lastUpdatedBy"] = {"externalId": ctx.modified_by}
    organizer = next(iter(_props(c, "ORGANIZER")), None)
    owner = _user(organizer) if organizer is not None else {}
    if owner:
        obj["owners"] = [{key: owner[key] for key in ("email", "externalId") if key in owner}]
    obj["permissions"] = copy.deepcopy(ctx.permissions)
    obj["containerKey"] = {"type": CONTAINER_TYPE, "value": {"entityId": ctx.calendar_key}}
    if children:
        obj["associations"] = [{"associationType": CHILD_ASSOCIATION, "values": list(children)}]
    obj[OBJECT_TYPE] = block
    return obj


def _span(component: icalendar.Component) -> tuple[str, str, bool]:
    """(eventStartTime, eventEndTime, isAllDayEvent): DTEND, else DTSTART + DURATION, else RFC 5545's default."""
    for name, kind in (("DTEND", date), ("DURATION", timedelta)):
        prop = component.get(name)
        if prop is not None and not isinstance(getattr(prop, "dt", None), kind):
            raise MappingError(f"unusable {name}: {str(prop)!r}")
    start = _start(component)
    end = component.end
    if isinstance(end, datetime) != isinstance(start, datetime):
        raise MappingError(f"DTEND does not have the type of DTSTART: {end!r}")
    if _instant(end) < _instant(start):
        raise MappingError(f"event ends ({end}) before it starts ({start})")
    return rfc3339(start), rfc3339(end), not isinstance(start, datetime)


def _start(component: icalendar.Component) -> date:
    prop = component.get("DTSTART")
    if prop is None:
        raise MappingError(f"VEVENT {str(component.get('UID', ''))!r} has no DTSTART")
    if not isinstance(prop.dt, date):
        raise MappingError(f"DTSTART is not a date or date-time: {str(prop)!r}")
    return component.start


def _attendees(component: icalendar.Component) -> list[dict]:
    """ATTENDEEs as nested attendee objects; rooms and resources left out, duplicates dropped."""
    result, seen = [], set()
    for prop in _props(component, "ATTENDEE"):
        params = getattr(prop, "params", {})
        if str(params.get("CUTYPE", "")).upper() in _NOT_PEOPLE:
            continue
        user = _user(prop)
        key = (user.get("email") or user.get("externalId") or "").casefold()
        if not key or key in seen:
            continue
        seen.add(key)
        result.append({"user": user,
                       "isOptional": str(params.get("ROLE", "")).upper() in _OPTIONAL_ROLES,
                       "rsvpStatus": _RSVP.get(str(params.get("PARTSTAT", "")).upper(), _NOT_RESPONDED)})
    return result


def _user(prop: object) -> dict:
    """A calendar user: email from a mailto: address or the EMAIL parameter, else the address as externalId; CN as name."""
    address = str(prop).strip()
    params = getattr(prop, "params", {})
    email = address[7:] if address.lower().startswith("mailto:") else str(params.get("EMAIL", ""))
    email = unquote(email).strip().lower()
    user: dict = {}
    if "@" in email and not any(ch.isspace() for ch in email):
        user["email"] = email
    elif address and not address.lower().startswith("mailto:"):
        user["externalId"] = address
    name = str(params.get("CN", "")).strip()
    if user and name:
        user["name"] = name
    return user


def _location(component: icalendar.Component) -> dict:
    """LOCATION (first line as name, the rest as address; a bare URL as url), Apple's structured location, GEO."""
    prop = next(iter(_props(component, "LOCATION")), None)
    text = str(prop).strip() if prop is not None else ""
    apple = next(iter(_props(component, "X-APPLE-STRUCTURED-LOCATION")), None)
    apple_params = getattr(apple, "params", {})
    location: dict = {}
    if is_http_url(text):
        location["url"], text = text, ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    name = str(apple_params.get("X-TITLE", "")).strip() or (lines[0] if lines else "")
    if name:
        location["name"] = name
    address = re.sub(r"\s*(\\n|\n)\s*", ", ", str(apple_params.get("X-ADDRESS", ""))).strip(", ")
    address = address or ", ".join(lines[1:])
    if address:
        location["address"] = address
    if "url" not in location:
        altrep = str(getattr(prop, "params", {}).get("ALTREP", "")).strip()
        url = altrep if is_http_url(altrep) else next(urls_in(text), "")
        if url:
            location["url"] = url
    coordinates = _coordinates(component.get("GEO"), apple)
    if coordinates:
        location["coordinates"] = coordinates
    return location


def _coordinates(geo: object, apple: object) -> str | None:
    """"lat,lon" from GEO, else from Apple's ``geo:`` URI; out-of-range values ignored."""
    if isinstance(geo, icalendar.vGeo):
        lat, lon = geo.latitude, geo.longitude
    elif apple is not None and str(apple).lower().startswith("geo:"):
        try:
            lat, lon = (float(part) for part in str(apple)[4:].split(";")[0].split(",")[:2])
        except ValueError:
            return None
    else:
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return None
    return f"{lat!r},{lon!r}"


def _attachments(component: icalendar.Component) -> list[dict]:
    """ATTACH by http(s) URI; inline binary (VALUE=BINARY / ENCODING=BASE64), cid: and other schemes skipped."""
    result, seen = [], set()
    for prop in _props(component, "ATTACH"):
        params = getattr(prop, "params", {})
        if isinstance(prop, icalendar.vBinary) or "ENCODING" in params or str(params.get("VALUE", "")).upper() == "BINARY":
            continue
        url = str(prop).strip()
        if not is_http_url(url) or url in seen:
            continue
        seen.add(url)
        attachment = {"name": _attachment_name(params, url), "url": url}
        mime = str(params.get("FMTTYPE", "")).strip().lower()
        if _MIME.fullmatch(mime):
            attachment["mimeType"] = mime
        size = str(params.get("SIZE", "")).strip()
        if size.isascii() and size.isdigit():
            attachment["byteSize"] = int(size)
        result.append(attachment)
    return result


def _attachment_name(params: dict, url: str) -> str:
    for key in ("FILENAME", "X-FILENAME", "X-APPLE-FILENAME", "LABEL"):
        name = str(params.get(key, "")).strip()
        if name:
            return name
    parts = urlsplit(url)
    return unquote(parts.path.rstrip("/").rsplit("/", 1)[-1]).strip() or parts.hostname or url


def _text(component: icalendar.Component, name: str) -> str:
    prop = next(iter(_props(component, name)), None)
    return str(prop).strip() if prop is not None else ""


def _prop_time(component: icalendar.Component, name: str) -> str | None:
    """A date-time property as RFC 3339, or None when absent or broken."""
    prop = next(iter(_props(component, name)), None)
    if not isinstance(prop, icalendar.vDDDTypes) or not isinstance(prop.dt, date):
        return None
    return rfc3339(prop.dt)


def _store_time(epoch: float, what: str) -> str:
    try:
        return rfc3339(datetime.fromtimestamp(epoch, UTC))
    except (ValueError, OverflowError, OSError, TypeError) as exc:
        raise MappingError(f"{what} is not a usable epoch time: {epoch!r}") from exc


def _cancelled(component: icalendar.Component) -> bool:
    return str(component.get("STATUS", "")).strip().upper() == "CANCELLED"


def _instant(value: date | datetime) -> datetime:
    """An aware datetime: floating times as UTC, dates as their UTC midnight."""
    if isinstance(value, datetime):
        return value if value.utcoffset() is not None else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _props(component: icalendar.Component, name: str) -> list:
    value = component.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
