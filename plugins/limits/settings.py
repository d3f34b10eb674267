"""The ``[limits]`` table: defaults, and per-account and per-group overrides."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from typing import Any

from kernel import ByteSize


class Count(int):
    """A whole number of things, zero or more, written as a TOML integer."""

    minimum = 0

    @classmethod
    def from_config(cls, value: Any) -> Count:
        """Accept an integer not below ``minimum``."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, got {value!r}")
        if value < cls.minimum:
            raise ValueError(f"must be at least {cls.minimum}, got {value}")
        return cls(value)


class PositiveCount(Count):
    """A whole number of at least one (RFC 4791 advertises these as integers greater than zero)."""

    minimum = 1


class Size(ByteSize):
    """A size of at least one byte: an integer or "512kb", "2mb", "900b"."""

    @classmethod
    def from_config(cls, value: Any) -> Size:
        """Parse like :class:`kernel.ByteSize` and refuse zero."""
        size = ByteSize.from_config(value)
        if size < 1:
            raise ValueError(f"must be at least 1 byte, got {value!r}")
        return cls(size)


class UtcDateTime(str):
    """A UTC date-time in the iCalendar form RFC 4791 advertises ("19000101T000000Z"), written
    as that string or as a TOML date-time (an offset is converted to UTC, none means UTC)."""

    @classmethod
    def from_config(cls, value: Any) -> UtcDateTime:
        """Accept "YYYYMMDDTHHMMSSZ", an ISO 8601 string, or a TOML date-time."""
        when = value
        if isinstance(value, str):
            text = value.strip()
            try:
                when = dt.datetime.strptime(text, "%Y%m%dT%H%M%SZ")
            except ValueError:
                try:
                    when = dt.datetime.fromisoformat(text)
                except ValueError:
                    raise ValueError(f'expected a UTC date-time such as "19000101T000000Z", got {value!r}') from None
        if isinstance(when, dt.date) and not isinstance(when, dt.datetime):
            when = dt.datetime(when.year, when.month, when.day)
        if not isinstance(when, dt.datetime):
            raise ValueError(f'expected a UTC date-time such as "19000101T000000Z", got {value!r}')
        if when.tzinfo is not None:
            when = when.astimezone(dt.UTC).replace(tzinfo=None)
        return cls(when.strftime("%Y%m%dT%H%M%SZ"))

    @property
    def epoch(self) -> int:
        """Seconds since the epoch (the unit of the kernel's instance index)."""
        moment = dt.datetime.strptime(self, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        return int((moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).total_seconds())


@dataclass
class Override:
    """``[limits.accounts.NAME]`` or ``[limits.groups.NAME]``: any subset of the limits."""

    max_icalendar_size: Size | None = field(default=None, metadata={"doc": "largest calendar object"})
    max_attendees: PositiveCount | None = field(default=None, metadata={"doc": "ATTENDEEs per instance"})
    max_recurrence_expansions: PositiveCount | None = field(
        default=None, metadata={"doc": "instances one object may expand to"}
    )
    max_calendars: Count | None = field(default=None, metadata={"doc": "calendars per account"})
    max_events: Count | None = field(default=None, metadata={"doc": "calendar objects per account"})
    max_property_size: Size | None = field(default=None, metadata={"doc": "largest dead property value"})
    max_properties_size: Size | None = field(
        default=None, metadata={"doc": "dead properties of one calendar, object, principal or home, in bytes"}
    )
    max_properties: Count | None = field(
        default=None, metadata={"doc": "dead properties of one calendar, object, principal or home"}
    )
    max_property_storage: Size | None = field(
        default=None, metadata={"doc": "dead properties over an account's calendars and objects, in bytes"}
    )

    def values(self) -> dict[str, int]:
        """The limits this override sets (those left out are absent)."""
        return {f.name: int(v) for f in fields(self) if (v := getattr(self, f.name)) is not None}


@dataclass
class Settings:
    """The ``[limits]`` table."""

    max_icalendar_size: Size = field(
        default=Size(512 * 1024), metadata={"doc": "largest calendar object resource (b, kb, mb)"}
    )
    max_attendees: PositiveCount = field(
        default=PositiveCount(20), metadata={"doc": "ATTENDEEs in any one instance (master or override)"}
    )
    max_recurrence_expansions: PositiveCount = field(
        default=PositiveCount(3000), metadata={"doc": "instances one calendar object may expand to"}
    )
    max_calendars: Count = field(default=Count(250), metadata={"doc": "calendars per account"})
    max_events: Count = field(default=Count(10000), metadata={"doc": "calendar objects per account"})
    max_property_size: Size = field(
        default=Size(64 * 1024), metadata={"doc": "largest dead property value (the stored XML element)"}
    )
    max_properties_size: Size = field(
        default=Size(1024 * 1024),
        metadata={"doc": "dead properties of one calendar, object, principal or home, in bytes"},
    )
    max_properties: Count = field(
        default=Count(1000), metadata={"doc": "dead properties of one calendar, object, principal or home"}
    )
    max_property_storage: Size = field(
        default=Size(16 * 1024 * 1024),
        metadata={"doc": "dead properties over all of an account's calendars and objects, in bytes"},
    )
    min_date_time: UtcDateTime | None = field(
        default=None,
        metadata={"doc": "earliest date or time a calendar object may hold (UTC, \"19000101T000000Z\"); none: no limit"},
    )
    max_date_time: UtcDateTime | None = field(
        default=None,
        metadata={"doc": "latest date or time a calendar object may hold (UTC, \"21000101T000000Z\"); none: no limit"},
    )
    accounts: dict[str, Override] = field(
        default_factory=dict, metadata={"doc": "per-account overrides: [limits.accounts.NAME]"}
    )
    groups: dict[str, Override] = field(
        default_factory=dict, metadata={"doc": "per-group overrides for members: [limits.groups.NAME]"}
    )


#: The limit keys, in the order they are shown.
KEYS: tuple[str, ...] = tuple(f.name for f in fields(Override))

#: The type of each limit (``from_config`` parses a TOML or command-line value).
TYPES: dict[str, type[Count | Size]] = {
    "max_icalendar_size": Size,
    "max_attendees": PositiveCount,
    "max_recurrence_expansions": PositiveCount,
    "max_calendars": Count,
    "max_events": Count,
    "max_property_size": Size,
    "max_properties_size": Size,
    "max_properties": Count,
    "max_property_storage": Size,
}
