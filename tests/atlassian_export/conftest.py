"""Fixtures for the export's delivery tests: a host with the plugin, events, a fake clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from kernel import Collection, Principal
from kernel.host import Host
from kernel.testing import add_user, make_host
from plugins.atlassian_export.context import Deployment

HERE = Path(__file__).parent
SCHEMA = json.loads((HERE / "calendar_event.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
#: A fixed "now" for mapping windows: the default window is 2025-02-08 .. 2025-09-06.
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def toml(**settings: object) -> str:
    """An ``[atlassian_export]`` table from keyword settings (Python values written as TOML)."""
    lines = ["[atlassian_export]"]
    for key, value in settings.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, str):
            lines.append(f"{key} = {json.dumps(value)}")
        elif isinstance(value, dict):
            inner = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items())
            lines.append(f"{key} = {{{inner}}}")
        else:
            lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def ics(uid: str, start: datetime = NOW + timedelta(days=1), *, summary: str | None = None, rrule: str = "",
        exdates: tuple[datetime, ...] = (), extra: str = "") -> bytes:
    """One VEVENT of an hour (a weekly series with ``rrule``) as a calendar object resource."""
    def stamp(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//teamcal tests//EN", "BEGIN:VEVENT", f"UID:{uid}",
             "DTSTAMP:20250101T000000Z", f"DTSTART:{stamp(start)}", f"DTEND:{stamp(start + timedelta(hours=1))}",
             f"SUMMARY:{summary if summary is not None else 'Event ' + uid}"]
    if rrule:
        lines.append(f"RRULE:{rrule}")
    lines += [f"EXDATE:{stamp(d)}" for d in exdates]
    lines += [line for line in extra.splitlines() if line]
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines).encode()


@dataclass
class World:
    """A host with the export enabled, user alice and her calendar "work"."""

    host: Host
    alice: Principal
    calendar: Collection
    names: dict[str, str] = field(default_factory=dict)

    @property
    def deployment(self) -> Deployment:
        """A fresh deployment view (new caches) of the host."""
        return Deployment.from_host(self.host)

    def put(self, name: str, data: bytes, calendar: Collection | None = None) -> None:
        """Store (create or replace) an event as alice."""
        self.host.writes.put_object(calendar or self.calendar, name, data, principal=self.alice)

    def delete(self, name: str, calendar: Collection | None = None) -> None:
        """Delete an event as alice."""
        self.host.writes.delete_object(calendar or self.calendar, name, principal=self.alice)


def make_world(directory: Path, enabled: tuple[str, ...] = ("atlassian_export",), extra: str = "",
               **settings: object) -> World:
    """A fresh :class:`World` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    host = make_host(directory, enabled, toml(**settings) + extra)
    alice = add_user(host, "alice")
    calendar = host.writes.create_collection(alice, "work", "calendar", principal=alice, attrs={"display_name": "Work"})
    return World(host, alice, calendar)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """The default world (default settings)."""
    w = make_world(tmp_path)
    yield w
    w.host.close()


def validate(objects: list[dict]) -> None:
    """Every object matches the reference-derived JSON Schema."""
    for obj in objects:
        errors = sorted(VALIDATOR.iter_errors(obj), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


class FakeClock:
    """Wall-clock seconds that move only when the code under test sleeps."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Advance the clock instead of waiting."""
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds
