"""Request bodies: ``setObjects`` and ``deleteObjectsByExternalId``, at most 100 items each.

A ``setObjects`` request holds objects of one calendar only and tags them with
``properties: {"calendarId": "<owner>/<path>"}``, so that a connector can later
remove a whole calendar with one ``deleteObjectsByProperties``.
"""

from __future__ import annotations

from .mapping import OBJECT_TYPE
from .settings import MAX_BATCH

NORMAL = "NORMAL"
BACKFILL = "BACKFILL"
CALENDAR_PROPERTY = "calendarId"


def set_objects_requests(
    upserts: list[tuple[str, dict]], *, size: int = MAX_BATCH, backfill: bool = False
) -> list[dict]:
    """``setObjects`` requests for (calendar key, object) pairs: grouped by calendar, ``size`` objects at most."""
    size = max(1, min(size, MAX_BATCH))
    by_calendar: dict[str, list[dict]] = {}
    for key, obj in upserts:
        by_calendar.setdefault(key, []).append(obj)
    requests = []
    for key, objects in by_calendar.items():
        for i in range(0, len(objects), size):
            requests.append({
                "objects": objects[i : i + size],
                "operationType": BACKFILL if backfill else NORMAL,
                "properties": {CALENDAR_PROPERTY: key},
            })
    return requests


def delete_requests(object_ids: list[str], *, size: int = MAX_BATCH) -> list[dict]:
    """``deleteObjectsByExternalId`` requests, ``size`` ids at most each."""
    size = max(1, min(size, MAX_BATCH))
    return [
        {"objectType": OBJECT_TYPE, "externalIds": object_ids[i : i + size]} for i in range(0, len(object_ids), size)
    ]
