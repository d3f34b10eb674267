"""The ``[caldav_server]`` table: the bounds the DAV server puts on what one request may ask for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kernel import Duration


class AtLeastOne(int):
    """A whole number of at least one, written as a TOML integer."""

    @classmethod
    def from_config(cls, value: Any) -> AtLeastOne:
        """Accept an integer of at least 1."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, got {value!r}")
        if value < 1:
            raise ValueError(f"must be at least 1, got {value}")
        return cls(value)


class LockTimeout(Duration):
    """A lock duration of at least one second ("1h", "600s", 3600)."""

    @classmethod
    def from_config(cls, value: Any) -> LockTimeout:
        """Parse like :class:`kernel.Duration` and refuse less than a second."""
        seconds = Duration.from_config(value)
        if seconds < 1:
            raise ValueError(f"must be at least 1 second, got {value!r}")
        return cls(seconds)


@dataclass
class Settings:
    """The ``[caldav_server]`` table."""

    max_lock_timeout: LockTimeout = field(
        default=LockTimeout(3600),
        metadata={"doc": "longest lock a client gets; longer requests and Timeout: Infinite get this"},
    )
    max_proppatch_properties: AtLeastOne = field(
        default=AtLeastOne(1000), metadata={"doc": "properties one PROPPATCH, MKCOL or MKCALENDAR may set or remove"}
    )
    max_expand_depth: AtLeastOne = field(
        default=AtLeastOne(8), metadata={"doc": "levels an expand-property report may expand (DAV:property within DAV:property)"}
    )
    max_expand_responses: AtLeastOne = field(
        default=AtLeastOne(1000), metadata={"doc": "resources one expand-property report may expand in all"}
    )
