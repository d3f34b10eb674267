"""The ``eventType`` of a VEVENT.

Atlassian publishes no list of values; the reference's example uses ``out_of_office``.
The first rule that applies wins:

1. the admin's ``category_event_types`` setting: the first CATEGORIES value (compared
   case-insensitively, surrounding spaces ignored) that has an entry gives its type;
2. ``out_of_office`` when ``X-MICROSOFT-CDO-BUSYSTATUS`` or
   ``X-MICROSOFT-CDO-INTENDEDSTATUS`` is ``OOF`` (Outlook / Exchange "Away");
3. ``out_of_office`` when a CATEGORIES value is one of :data:`OUT_OF_OFFICE_CATEGORIES`;
4. ``default``.
"""

from __future__ import annotations

from collections.abc import Mapping

import icalendar

DEFAULT = "default"
OUT_OF_OFFICE = "out_of_office"
OUT_OF_OFFICE_CATEGORIES = frozenset(
    {"leave", "vacation", "holiday", "holidays", "out of office", "out-of-office", "ooo", "pto", "time off"}
)
_BUSY_STATUS = ("X-MICROSOFT-CDO-BUSYSTATUS", "X-MICROSOFT-CDO-INTENDEDSTATUS")


def event_type(component: icalendar.Component, category_event_types: Mapping[str, str]) -> str:
    """The eventType of one VEVENT (see the module docstring for the rules)."""
    categories = categories_of(component)
    overrides = {key.strip().casefold(): value for key, value in category_event_types.items()}
    for category in categories:
        if category in overrides:
            return overrides[category]
    for name in _BUSY_STATUS:
        if str(component.get(name, "")).strip().upper() == "OOF":
            return OUT_OF_OFFICE
    if any(category in OUT_OF_OFFICE_CATEGORIES for category in categories):
        return OUT_OF_OFFICE
    return DEFAULT


def categories_of(component: icalendar.Component) -> list[str]:
    """All CATEGORIES values of a component, case-folded and stripped, in order, empty ones dropped."""
    props = component.get("CATEGORIES")
    if props is None:
        return []
    values: list[str] = []
    for prop in props if isinstance(props, list) else [props]:
        cats = getattr(prop, "cats", None)
        for value in cats if cats is not None else str(prop).split(","):
            text = str(value).strip().casefold()
            if text:
                values.append(text)
    return values
