"""The calendar view keeps what it read of each object by ETag: a range shown again parses
nothing, an edited object is read anew, the readings stay within their budget, and a
recurring one expanded by many requests at once answers each of them right."""

from __future__ import annotations

import datetime as dt
import sys
import threading
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kernel import FLOATING, Budget, Instance, make_etag
from plugins.web import readings
from plugins.web.readings import Readings
from tests.web.conftest import Browser, Deployment
from tests.web.test_events_api import ALL_DAY, MARCH, WEEKLY, calendar, put

UID = "3e0a5a4c-readings"
BERLIN = ZoneInfo("Europe/Berlin")
#: Where MARCH starts, in epoch seconds.
MARCH_START = int(dt.datetime(2026, 3, 16, tzinfo=BERLIN).timestamp())
#: The four weeks after MARCH.
APRIL = "/web/api/events?start=2026-04-13T00:00:00%2B02:00&end=2026-05-11T00:00:00%2B02:00&tz=Europe/Berlin"


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many objects the view parses (``read_calendar`` calls, the served host's included:
    its server runs in this process)."""
    calls: list[int] = []
    original: Callable[..., Any] = readings.read_calendar

    def counted(data: bytes, budget: Budget | None = None) -> Any:
        calls.append(len(data))
        return original(data, budget)

    monkeypatch.setattr(readings, "read_calendar", counted)
    return calls


@pytest.fixture
def texts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many objects the view reads from their text (``event_text`` calls that could)."""
    calls: list[int] = []
    original: Callable[..., Any] = readings.event_text

    def counted(data: bytes) -> Any:
        found = original(data)
        if found is not None:
            calls.append(len(data))
        return found

    monkeypatch.setattr(readings, "event_text", counted)
    return calls


def test_a_range_shown_again_parses_nothing_and_an_edit_is_read_anew(
    deployment: Deployment, alice: Browser, parses: list[int], texts: list[int]
) -> None:
    """The series with an override is parsed once; the single event is never parsed, only
    its text read once, and again when it changes."""
    cal = calendar(deployment, "alice")
    put(deployment, cal, WEEKLY, "weekly.ics")
    put(deployment, cal, ALL_DAY, "offsite.ics")
    url = MARCH + f"&calendars={cal.id}"
    first = alice.client.get(url).json()["events"]
    assert (len(parses), len(texts), len(first)) == (1, 1, 4)
    again = alice.client.get(url).json()["events"]
    assert again == first and (len(parses), len(texts)) == (1, 1)
    # another range holding the same series: expanded there, not parsed again
    later = alice.client.get(APRIL + f"&calendars={cal.id}").json()["events"]
    assert {e["title"] for e in later} == {"standup"} and len(later) == 4 and len(parses) == 1
    put(deployment, cal, ALL_DAY.replace("SUMMARY:offsite", "SUMMARY:offsite (moved)"), "offsite.ics")
    edited = alice.client.get(url).json()["events"]
    assert (len(parses), len(texts)) == (1, 2)
    assert sorted(e["title"] for e in edited) == sorted(
        "offsite (moved)" if e["title"] == "offsite" else e["title"] for e in first
    )


def test_readings_stay_within_their_budget_dropping_the_least_recently_used() -> None:
    bodies = [ALL_DAY.format(uid=f"u{i}").encode() for i in range(5)]
    kept = Readings(capacity=3 * readings._SINGLE_BYTES)
    for body in bodies[:3]:
        kept.of(make_etag(body), body, Budget(), None)
    kept.of(make_etag(bodies[0]), bodies[0], Budget(), None)  # used again: the newest
    kept.of(make_etag(bodies[3]), bodies[3], Budget(), None)
    assert len(kept) == 3
    assert list(kept._kept) == [make_etag(b) for b in (bodies[2], bodies[0], bodies[3])]
    weekly = WEEKLY.format(uid=UID).encode()
    kept.of(make_etag(weekly), weekly, Budget(), None)  # a parsed series counts its text many times over
    assert list(kept._kept) == [make_etag(weekly)]


def test_a_reading_from_text_is_parsed_where_the_index_stops_short() -> None:
    """An object kept as read from its text is parsed when a range has no index rows for it
    (the index stops before the range ends), and then kept as parsed, counted once."""
    body = ALL_DAY.format(uid="t").encode()
    kept = Readings()
    row = Instance(MARCH_START, MARCH_START + 2 * 86400, FLOATING)
    assert kept.of(make_etag(body), body, Budget(), [row]).text is not None
    parsed = kept.of(make_etag(body), body, Budget(), None)
    assert parsed.text is None and [s.title for s in parsed.single] == ["offsite"]
    assert kept.of(make_etag(body), body, Budget(), [row]) is parsed  # what was parsed serves both
    assert (len(kept), kept._held) == (1, readings._SINGLE_BYTES)


def test_a_series_expanded_by_many_requests_at_once_answers_each_right() -> None:
    weekly = WEEKLY.format(uid=UID).encode()
    reading = Readings().of(make_etag(weekly), weekly, Budget(), None)
    week = 7 * 86400
    windows = [(MARCH_START + k * week, MARCH_START + (k + 3) * week) for k in range(8)]
    alone = [reading.spans(low, high, BERLIN, Budget(), None) for low, high in windows]
    assert [s.title for s in alone[1]].count("standup (moved)") == 1  # 7 April, moved
    answers: dict[tuple[int, int], list[Any]] = {}
    failures: list[BaseException] = []

    def expand(thread: int) -> None:
        try:
            for round_ in range(20):
                low, high = windows[(thread + round_) % len(windows)]
                got = reading.spans(low, high, BERLIN, Budget(), None)
                assert got == alone[windows.index((low, high))]
                answers[(thread, round_)] = got
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=expand, args=(i,)) for i in range(6)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch often, as they would in the middle of an expansion
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(interval)
    assert not failures, failures
    assert len(answers) == 6 * 20
