"""The ``[default_calendar]`` table, each value checked at start-up."""

from __future__ import annotations

import re
import string
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from kernel import Rejected, check_segment

#: Calendar components a calendar may be limited to (RFC 4791 supported-calendar-component-set).
COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {value!r}")
    return value


class HrefName(str):
    """The calendar's last path segment; empty turns auto-creation off."""

    @classmethod
    def from_config(cls, value: Any) -> HrefName:
        """Accept "" or one safe path segment."""
        text = _text(value)
        if text:
            try:
                check_segment(text)
            except Rejected:
                raise ValueError(f"must be one path segment without / or control characters, got {text!r}") from None
        return cls(text)


class NameTemplate(str):
    """A display name; ``{name}`` and ``{display_name}`` stand for the owner's."""

    _FIELDS = frozenset({"name", "display_name"})

    @classmethod
    def from_config(cls, value: Any) -> NameTemplate:
        """Accept text whose placeholders are only {name} and {display_name}."""
        text = _text(value)
        try:
            used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        except ValueError as exc:
            raise ValueError(f"has a bad placeholder ({exc}); write {{{{ and }}}} for braces") from None
        unknown = used - cls._FIELDS
        if unknown:
            raise ValueError(f"unknown placeholder {{{min(unknown)}}} (known: {{name}}, {{display_name}})")
        return cls(text)

    def render(self, name: str, display_name: str) -> str:
        """The display name for one owner."""
        return self.format(name=name, display_name=display_name)


class Color(str):
    """"" (clients choose) or a colour as #RRGGBB or #RRGGBBAA."""

    @classmethod
    def from_config(cls, value: Any) -> Color:
        """Accept "" or a hex colour."""
        text = _text(value)
        if text and not re.fullmatch(r"#[0-9A-Fa-f]{6}(?:[0-9A-Fa-f]{2})?", text):
            raise ValueError(f"must be a colour such as #1F6FEB or #1F6FEBFF, got {text!r}")
        return cls(text.upper())


class TimezoneName(str):
    """"" (none: clients use their own) or an IANA time zone name such as Europe/Berlin."""

    @classmethod
    def from_config(cls, value: Any) -> TimezoneName:
        """Accept "" or a zone the IANA database knows."""
        text = _text(value)
        if text:
            try:
                zoneinfo.ZoneInfo(text)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown IANA time zone {text!r} (for example Europe/Berlin or UTC)") from None
        return cls(text)


class Components(tuple):
    """A non-empty list of VEVENT, VTODO, VJOURNAL."""

    @classmethod
    def from_config(cls, value: Any) -> Components:
        """Accept a list of component names, in any case; duplicates are dropped."""
        if not isinstance(value, list) or not value:
            raise ValueError(f"must be a non-empty list such as [\"VEVENT\", \"VTODO\"], got {value!r}")
        names = [_text(v).upper() for v in value]
        wrong = [n for n in names if n not in COMPONENTS]
        if wrong:
            raise ValueError(f"unknown component {wrong[0]!r} (known: {', '.join(COMPONENTS)})")
        return cls(dict.fromkeys(names))


@dataclass
class Settings:
    """The ``[default_calendar]`` table."""

    href_name: HrefName = field(
        default=HrefName("default"), metadata={"doc": 'last URL segment of the calendar; "" turns auto-creation off'}
    )
    display_name: NameTemplate = field(
        default=NameTemplate("Team Calendar"),
        metadata={"doc": "name clients show; {name} and {display_name} are the account's"},
    )
    group_display_name: NameTemplate = field(
        default=NameTemplate("{display_name}"),
        metadata={"doc": "name of a group's default calendar (with for_groups); same placeholders"},
    )
    color: Color = field(default=Color(""), metadata={"doc": 'colour as #RRGGBB or #RRGGBBAA; "" lets clients choose'})
    timezone: TimezoneName = field(
        default=TimezoneName(""), metadata={"doc": 'IANA zone stored as the calendar-timezone; "" for none'}
    )
    components: Components = field(
        default=Components(("VEVENT", "VTODO")),
        metadata={"doc": "component types the calendar accepts (VEVENT, VTODO, VJOURNAL)"},
    )
    for_groups: bool = field(
        default=False, metadata={"doc": "also create one for each group a user belongs to, when the user connects"}
    )
