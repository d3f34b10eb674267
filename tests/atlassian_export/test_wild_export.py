"""The wild corpus (tests/data/wild/) as the export sees it: each event object, repaired and
stored by the kernel, maps to `atlassian:calendar-event` objects that validate."""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kernel import ingest
from kernel.ical import parse_object
from kernel.icaltext import read_calendar
from plugins.atlassian_export.mapping import MappingSettings, map_object
from tests.atlassian_export.test_mapping import CTX, validate

WILD = Path(__file__).resolve().parents[1] / "data" / "wild"
CORPUS = tomllib.loads((WILD / "corpus.toml").read_text())
EVENTS = sorted(name for name, spec in CORPUS.items() if spec["component"] == "VEVENT")


@pytest.mark.parametrize("name", EVENTS)
@pytest.mark.filterwarnings("ignore:Timezone .* is a globally unique TZID")
def test_wild_event_exports(name: str) -> None:
    spec = CORPUS[name]
    out = ingest.repair((WILD / f"{name}.ics").read_bytes())
    parse_object(out.data, calendar=out.calendar)  # what the kernel accepts and stores
    start = datetime.fromisoformat(spec["start"].replace("Z", "+00:00"))
    now = start.replace(hour=12, minute=0, second=0, tzinfo=UTC)
    objects = map_object(read_calendar(out.data), dataclasses.replace(CTX, calendar_key="alice/wild"),
                         MappingSettings(), now)
    assert objects, name
    validate(objects)
    starts = {datetime.fromisoformat(o["atlassian:calendar-event"]["eventStartTime"]) for o in objects}
    assert start in starts, sorted(starts)  # the intended time, as the kernel repaired it
