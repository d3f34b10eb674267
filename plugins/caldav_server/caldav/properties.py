"""CalDAV live properties (RFC 4791, 6638 principal properties, Apple and CalendarServer extensions).

A principal's calendar-home-set is its own home. Calendars of others it may
read (its groups' team calendars, calendars granted to it) appear in that
home as members named ``<owner>~<calendar>`` (see ``webdav.resolve``), the
way Apple's and Nextcloud's servers bind shared calendars: every client
finds them with the one listing it already does, and clients that read
only the first calendar-home-set href (the ``caldav`` library) miss nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kernel.ical import COMPONENTS
from plugins.caldav_server.caldav import timezones
from plugins.caldav_server.webdav import xml
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.properties import LiveProperty, href_property
from plugins.caldav_server.webdav.xml import Element, c, escape

if TYPE_CHECKING:
    from kernel import Collection
    from plugins.caldav_server.webdav.app import DavApp
    from plugins.caldav_server.webdav.context import DavContext
    from plugins.caldav_server.webdav.resolve import Target

APPLE = "{" + xml.APPLE + "}"
CALSERVER = "{" + xml.CALSERVER + "}"
COLLATIONS = ("i;ascii-casemap", "i;octet", "i;unicode-casemap")
VALID_DATA = c("valid-calendar-data")


def _calendar(t: Target) -> Collection | None:
    """The calendar collection a target is (None for anything else)."""
    if t.kind == "collection" and t.collection is not None and t.collection.kind == "calendar":
        return t.collection
    return None


def _home_set(ctx: DavContext, t: Target) -> list[str] | None:
    if t.kind != "principal" or t.owner is None:
        return None
    return [ctx.hrefs.home(t.owner)]


def _address_set(ctx: DavContext, t: Target) -> list[str] | None:
    if t.kind != "principal" or t.owner is None:
        return None
    found = [f"mailto:{t.owner.email}"] if t.owner.email else []
    return found + [ctx.hrefs.principal(t.owner)]


def _user_type(ctx: DavContext, t: Target) -> str | None:
    if t.kind != "principal" or t.owner is None:
        return None
    return "GROUP" if t.owner.kind == "group" else "INDIVIDUAL"


def _email_set(ctx: DavContext, t: Target) -> str | None:
    if t.kind != "principal" or t.owner is None:
        return None
    return f"<CS:email-address>{escape(t.owner.email)}</CS:email-address>" if t.owner.email else ""


def _description(ctx: DavContext, t: Target) -> str | None:
    cal = _calendar(t)
    return escape(cal.description) if cal and cal.description else None


def _timezone(ctx: DavContext, t: Target) -> str | None:
    cal = _calendar(t)
    if cal is None or not cal.timezone:
        return None
    return escape(timezones.as_vcalendar(cal.timezone))


def _components(ctx: DavContext, t: Target) -> str | None:
    cal = _calendar(t)
    if cal is None:
        return None
    return "".join(f'<C:comp name="{escape(name)}"/>' for name in cal.components or COMPONENTS)


def _calendar_data(ctx: DavContext, t: Target) -> str | None:
    if _calendar(t) is None:
        return None
    return '<C:calendar-data content-type="text/calendar" version="2.0"/>'


def _collations(ctx: DavContext, t: Target) -> str | None:
    if _calendar(t) is None:
        return None
    return "".join(f"<C:supported-collation>{name}</C:supported-collation>" for name in COLLATIONS)


def _color(ctx: DavContext, t: Target) -> str | None:
    cal = _calendar(t)
    return escape(cal.color) if cal and cal.color else None


def _order(ctx: DavContext, t: Target) -> str | None:
    cal = _calendar(t)
    return str(cal.sort_order) if cal and cal.sort_order is not None else None


def _transp(ctx: DavContext, t: Target) -> str | None:
    cal = _calendar(t)
    if cal is None:
        return None
    return "<C:transparent/>" if cal.transparent else "<C:opaque/>"


# -- setters: (value or None to remove, collection kind) -> attributes, or None when not live --------


def _text(value: Element | None) -> str | None:
    return (xml.child_text(value).strip() or None) if value is not None else None


def _set_description(value: Element | None, kind: str | None) -> dict[str, Any] | None:
    return {"description": _text(value)} if kind == "calendar" else None


def _set_timezone(value: Element | None, kind: str | None) -> dict[str, Any] | None:
    if kind != "calendar":
        return None
    text = _text(value)
    problem = None if text is None else timezones.refusal(text)
    if problem is not None:
        # RFC 4791 5.2.2 names valid-calendar-data, RFC 7809 valid-timezone: answer both
        raise DavError(403, f"calendar-timezone is refused. {problem}", VALID_DATA, also=(c("valid-timezone"),))
    return {"timezone": text}


def _set_timezone_id(value: Element | None, kind: str | None) -> dict[str, Any] | None:
    if kind != "calendar":
        return None
    text = _text(value)
    if text is not None and not timezones.is_known_id(text):
        raise DavError(403, f"{text!r} is not a known time zone.", c("valid-timezone"))
    return {"timezone": text}


def _timezone_id(ctx: DavContext, t: Target) -> str | None:
    cal = _calendar(t)
    if cal is None or not cal.timezone:
        return None
    tzid = timezones.tzid_of(cal.timezone)
    return escape(tzid) if tzid else None


def _set_components(value: Element | None, kind: str | None) -> dict[str, Any] | None:
    if kind != "calendar":
        return None
    names = tuple(dict.fromkeys((comp.get("name") or "").upper() for comp in (value if value is not None else ())))
    if not names or any(n not in COMPONENTS for n in names):
        raise DavError(403, f"Supported components are {', '.join(COMPONENTS)}.", c("supported-calendar-component"))
    return {"components": names}


def _set_color(value: Element | None, kind: str | None) -> dict[str, Any] | None:
    return {"color": _text(value)} if kind == "calendar" else None


def _set_order(value: Element | None, kind: str | None) -> dict[str, Any] | None:
    if kind != "calendar":
        return None
    text = _text(value)
    if text is None:
        return {"sort_order": None}
    try:
        return {"sort_order": int(float(text))}
    except (ValueError, OverflowError):
        raise DavError(409, "calendar-order must be a number.") from None


def _set_transp(value: Element | None, kind: str | None) -> dict[str, Any] | None:
    if kind != "calendar":
        return None
    if value is None:
        return {"transparent": False}
    return {"transparent": value.find(c("transparent")) is not None}


def _calendar_resourcetype(t: Target) -> str:
    return "<C:calendar/>" if _calendar(t) is not None else ""


def register(app: DavApp) -> None:
    """Add the CalDAV properties, resource type and privilege to the registry."""
    for prop in (
        href_property(c("calendar-home-set"), _home_set),
        href_property(c("calendar-user-address-set"), _address_set),
        LiveProperty(c("calendar-user-type"), _user_type, allprop=False),
        LiveProperty(CALSERVER + "email-address-set", _email_set, allprop=False),
        LiveProperty(c("calendar-description"), _description, setter=_set_description),
        LiveProperty(c("calendar-timezone"), _timezone, allprop=False, setter=_set_timezone),
        LiveProperty(c("calendar-timezone-id"), _timezone_id, allprop=False, setter=_set_timezone_id),
        LiveProperty(
            c("supported-calendar-component-set"), _components, allprop=False, setter=_set_components, create_only=True
        ),
        LiveProperty(c("supported-calendar-data"), _calendar_data, allprop=False),
        LiveProperty(c("supported-collation-set"), _collations, allprop=False),
        LiveProperty(APPLE + "calendar-color", _color, setter=_set_color),
        LiveProperty(APPLE + "calendar-order", _order, setter=_set_order),
        LiveProperty(c("schedule-calendar-transp"), _transp, setter=_set_transp),
    ):
        app.add_property(prop)
    app.resource_types.append(_calendar_resourcetype)
    app.extra_privileges.setdefault("read", []).append("<C:read-free-busy/>")
    app.searchable[c("calendar-user-address-set")] = "Calendar user address"
    app.searchable[CALSERVER + "email-address-set"] = "Email address"
