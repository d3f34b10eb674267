"""Expansion plans stored with their objects: written with them, read instead of planning,
ignored when stale or unreadable, filled in by the backfill job, gone with their object."""

from __future__ import annotations

import asyncio
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from kernel.budget import Budget
from kernel.host import Host
from kernel.testing import add_user, asgi_client, make_host
from kernel.testing.dav import CALDAV
from plugins.caldav_server.caldav import expansion, stored_plans
from plugins.caldav_server.caldav.calendar_data import CalendarDataRequest
from plugins.caldav_server.caldav.timerange import TimeRange
from tests.caldav_server.conftest import PASSWORD
from tests.caldav_server.ical_samples import BERLIN_VTIMEZONE, component, ics, parsed, rfc_object
from tests.caldav_server.test_expand_index import objects

SERIES = ics(component("DTSTART;TZID=Europe/Berlin:20240101T100000", "DTEND;TZID=Europe/Berlin:20240101T110000",
                       "RRULE:FREQ=DAILY;COUNT=20", "SUMMARY:stand-up", uid="series"),
             component("RECURRENCE-ID;TZID=Europe/Berlin:20240103T100000", "DTSTART;TZID=Europe/Berlin:20240103T120000",
                       "DTEND;TZID=Europe/Berlin:20240103T130000", "SUMMARY:moved", uid="series"),
             timezone=BERLIN_VTIMEZONE)
SINGLE = ics(component("DTSTART:20240104T100000Z", "DTEND:20240104T110000Z", "SUMMARY:single", uid="single"))
# a day with hours: its instances take the general path (no plan, stored as such)
GENERAL = ics(component("DTSTART;VALUE=DATE:20240102", "DURATION:P1DT2H", "RRULE:FREQ=DAILY;COUNT=3", uid="general"))
EXPAND_WEEK = (
    f'<C:calendar-query xmlns:D="DAV:" xmlns:C="{CALDAV}"><D:prop><D:getetag/><C:calendar-data>'
    '<C:expand start="20240101T000000Z" end="20240108T000000Z"/></C:calendar-data></D:prop>'
    '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
    '<C:time-range start="20240101T000000Z" end="20240108T000000Z"/></C:comp-filter></C:comp-filter></C:filter>'
    "</C:calendar-query>"
).encode()


@pytest.fixture
def host(tmp_path: Path, teamcal_backend: str) -> Iterator[Host]:
    """A host whose alice has a calendar ``cal`` holding SERIES, SINGLE and GENERAL."""
    host = make_host(tmp_path, ["caldav_server"])
    alice = add_user(host, "alice", PASSWORD)
    cal = host.writes.create_collection(alice, "cal", "calendar", principal=alice)
    for name, data in (("series.ics", SERIES), ("single.ics", SINGLE), ("general.ics", GENERAL)):
        host.writes.put_object(cal, name, data, principal=alice)
    try:
        yield host
    finally:
        host.close()


def rows(host: Host) -> dict[str, tuple[str, int, str]]:
    """The plan rows by resource name: (etag, format, plan)."""
    found = host.store.execute(
        "SELECT r.name, p.etag, p.format, p.plan FROM caldav_server_plans p JOIN resources r ON r.id = p.resource_id"
    ).fetchall()
    return {name: (etag, fmt, plan) for name, etag, fmt, plan in found}


def report(host: Host) -> str:
    """alice's expanded first week of 2024, with what the plan cache holds."""
    async def run() -> str:
        async with asgi_client(host, "alice", PASSWORD) as client:
            response = await client.request("REPORT", "/dav/cal/alice/cal/", content=EXPAND_WEEK,
                                            headers={"Depth": "1"})
            assert response.status_code == 207, response.text
            return response.text

    return asyncio.run(run())


def expand_week(host: Host) -> str:
    """alice's expanded first week of 2024, with the in-memory plan cache emptied first."""
    expansion.forget_all()
    return report(host)


def forbid_planning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make planning at query time fail the test."""
    def planned(*_: object) -> None:
        raise AssertionError("planned at query time")

    monkeypatch.setattr(expansion, "_text_plan", planned)
    monkeypatch.setattr(expansion, "_make_plan", planned)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=objects())
def test_a_stored_plan_reads_back_as_the_plan_it_was(data: bytes) -> None:
    plan = expansion.plan_for(data, lambda: parsed(data))
    assert expansion.plan_from_text(expansion.plan_text(plan)) == plan


@pytest.mark.parametrize("name", [f"abcd{i}" for i in range(1, 9)])
def test_the_rfc_examples_plans_read_back(name: str) -> None:
    data = rfc_object(name)
    plan = expansion.plan_for(data, lambda: parsed(data))
    assert expansion.plan_from_text(expansion.plan_text(plan)) == plan


#: The plans and plan columns of the RFC 4791 examples, SERIES, SINGLE and GENERAL under each
#: plan format: a change to how objects are planned, or to which of them expand to themselves,
#: changes it, and must raise ``expansion.PLAN_FORMAT`` too, or rows stored before the change
#: would be read as if made by it.
PLANS_OF_FORMAT = {
    1: "14ddde50b4f2b3ab8ce04596ca578cbb3c5149202c861630b42158ef8a03d12e",
    2: "789b6be4d63b86fd563f51284baf220373850027eb3fcb2d8f60d1450f6868af",  # runs between separators
    3: "d5d43a9a93d4b190b5f745be21978812ced53f88b8f1fb3eeee8fa928066c56b",  # escaped as element content
}


def test_plans_change_only_with_their_format() -> None:
    objects_ = [rfc_object(f"abcd{i}") for i in range(1, 9)] + [SERIES, SINGLE, GENERAL]
    text = "\n".join(f"{stored_plans.plan_column(d, lambda d=d: parsed(d))}"
                     f" {expansion.plan_text(expansion.plan_for(d, lambda d=d: parsed(d)))}" for d in objects_)
    assert PLANS_OF_FORMAT.get(expansion.PLAN_FORMAT) == hashlib.sha256(text.encode()).hexdigest(), (
        "plans are made differently now: raise expansion.PLAN_FORMAT and record the new digest here")


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", '["a", true, null, {}]', '[["h", "t"], true, null, {}]',
                                  '[["h", "t"], false, ["VEVENT", ["a"], 3, -1, "utc", "utc"], {}]',
                                  '[["h", "t"], false, ["VALARM", ["a"], 0, -1, "utc", "utc"], {}]',
                                  '[["h", "t"], false, ["VEVENT", ["a"], 0, -1, "local", "utc"], {}]',
                                  '[["h", "t"], false, ["VEVENT", [1], 0, -1, "utc", "utc"], {}]'])
def test_text_that_is_not_a_plan_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        expansion.plan_from_text(text)


def _fields(*fields: str) -> str:
    return "\x1e" + "\x1f".join(fields)


TEMPLATE = ("VEVENT", "0", "-1", "utc", "utc", "1", "a")


@pytest.mark.parametrize("text", [
    _fields(), _fields("h", "t", "1"), _fields("h", "t", "1", "1"),  # too short, no template
    _fields("h", "t", "2", "1", "", *TEMPLATE),  # neither recurring nor not
    _fields("h", "t", "1", "x", "", *TEMPLATE), _fields("h", "t", "1", "0"),  # no count, no component
    _fields("h", "t", "1", "1", "", "VEVENT", "1", "-1", "utc", "utc", "1", "a"),  # slot past the runs
    _fields("h", "t", "1", "1", "", "VALARM", "0", "-1", "utc", "utc", "1", "a"),
    _fields("h", "t", "1", "1", "", "VEVENT", "0", "-1", "local", "utc", "1", "a"),
    _fields("h", "t", "1", "1", "", "VEVENT", "0", "-1", "utc", "utc", "3", "a"),  # runs missing
    _fields("h", "t", "1", "1", "", *TEMPLATE, "left over"),
    _fields("h", "t", "1", "2", "", *TEMPLATE, "", *TEMPLATE),  # two masters
])
def test_fields_that_are_not_a_plan_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        expansion.plan_from_text(text)


def test_a_plan_whose_text_holds_a_separator_is_written_as_json() -> None:
    """Plans are written as fields between control characters; one whose text holds one of
    them (iCalendar text may, though it should not) is written as JSON, and reads back."""
    for odd in ("\x1f", "\x1e"):
        data = SERIES.replace(b"SUMMARY:", f"SUMMARY:a{odd}b ".encode(), 1)
        plan = expansion.plan_for(data, lambda data=data: parsed(data))
        assert plan is not None and odd in "".join(plan.master.written)
        text = expansion.plan_text(plan)
        assert text.startswith("[") and expansion.plan_from_text(text) == plan
    plan = expansion.plan_for(SERIES, lambda: parsed(SERIES))
    assert expansion.plan_text(plan).startswith("\x1e") and expansion.plan_text(None) == "null"


def test_writes_store_the_plan_of_what_they_stored(host: Host) -> None:
    stored = rows(host)
    resources = {r.name: r for r in host.store.resources(host.store.collection(
        host.store.principal("alice").id, "cal").id)}
    assert set(stored) == {"series.ics", "single.ics", "general.ics"}
    for name, (etag, fmt, _) in stored.items():
        assert etag == resources[name].etag and fmt == expansion.PLAN_FORMAT
    assert stored["single.ics"][2] == stored_plans.SELF
    assert stored["general.ics"][2] == "null"
    assert expansion.plan_from_text(stored["series.ics"][2]) == expansion.plan_for(SERIES, lambda: parsed(SERIES))


def test_expand_reads_stored_plans_and_answers_as_planning_does(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    planned_here = expand_week(host)
    # 7 days of the series (one moved), the single event and the 3 days of the general one
    assert planned_here.count("BEGIN:VEVENT") == 11
    with monkeypatch.context() as patch:
        forbid_planning(patch)
        assert expand_week(host) == planned_here


def test_expand_learns_from_stored_rows_which_objects_expand_to_themselves(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked: list[bytes] = []
    real = expansion.expands_to_itself
    monkeypatch.setattr(expansion, "expands_to_itself", lambda data: looked.append(data) or real(data))
    answer = expand_week(host)
    assert "SUMMARY:single" in answer and looked == []
    # a row of other content is not believed: the single event's text is looked at instead
    with host.store.transaction():
        host.store.execute("UPDATE caldav_server_plans SET etag = '\"other\"' WHERE resource_id ="
                           " (SELECT id FROM resources WHERE name = 'single.ics')")
    assert expand_week(host) == answer and looked == [SINGLE]


def test_expand_answers_the_same_when_the_plan_cache_holds_one_entry(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    roomy = expand_week(host)
    monkeypatch.setattr(expansion, "PLAN_CACHE_BYTES", 1)  # each entry evicts the one before
    assert expand_week(host) == roomy
    assert len(expansion._known) == 1


def test_stale_or_unreadable_rows_are_not_read(host: Host, monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    expected = expand_week(host)
    series = host.store.execute("SELECT id FROM resources WHERE name = 'series.ics'").fetchone()[0]
    good = rows(host)["series.ics"][2]
    # a plan of other content (a wrong ETag) or of another format is never used: the object is planned anew
    for column, value in (("etag", '"other"'), ("format", expansion.PLAN_FORMAT + 1)):
        with host.store.transaction():
            host.store.execute(f"UPDATE caldav_server_plans SET {column} = ?, plan = ? WHERE resource_id = ?",
                               (value, good.replace("stand-up", "WRONG"), series))
        assert expand_week(host) == expected
        with host.store.transaction():
            host.store.execute("UPDATE caldav_server_plans SET etag = (SELECT etag FROM resources WHERE id = ?),"
                               " format = ?, plan = ? WHERE resource_id = ?",
                               (series, expansion.PLAN_FORMAT, good, series))
    with host.store.transaction():
        host.store.execute("UPDATE caldav_server_plans SET plan = ? WHERE resource_id = ?", ('["broken"', series))
    with caplog.at_level("WARNING", logger="teamcal.caldav_server.plans"):
        assert expand_week(host) == expected
    assert "unreadable" in caplog.text
    # the stale rows above were not what answered: with planning forbidden the same rows would fail
    with monkeypatch.context() as patch:
        forbid_planning(patch)
        with pytest.raises(Exception):  # noqa: B017 - the REPORT fails on the forbidden planning
            expand_week(host)


def test_replace_and_delete_keep_rows_in_step(host: Host) -> None:
    alice = host.store.principal("alice")
    cal = host.store.collection(alice.id, "cal")
    changed = SERIES.replace(b"SUMMARY:stand-up", b"SUMMARY:retro")
    resource = host.writes.put_object(cal, "series.ics", changed, principal=alice).resource
    etag, _, text = rows(host)["series.ics"]
    assert etag == resource.etag and "retro" in text and "stand-up" not in text
    host.writes.delete_object(cal, "single.ics", principal=alice)
    assert "single.ics" not in rows(host)
    # a write rolled back after the object was stored leaves neither the object nor its plan
    with pytest.raises(RuntimeError), host.writes.transaction():
        host.writes.put_object(cal, "late.ics", SINGLE.replace(b"UID:single", b"UID:late"), principal=alice)
        raise RuntimeError("after the write")
    assert "late.ics" not in rows(host)
    host.writes.delete_collection(cal, principal=alice)
    assert rows(host) == {}


def test_backfill_plans_what_has_no_current_plan(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    before = rows(host)
    with host.store.transaction():
        host.store.execute("DELETE FROM caldav_server_plans WHERE resource_id IN"
                           " (SELECT id FROM resources WHERE name = 'series.ics')")
        host.store.execute("UPDATE caldav_server_plans SET format = 0 WHERE resource_id IN"
                           " (SELECT id FROM resources WHERE name = 'single.ics')")
        host.store.execute("UPDATE caldav_server_plans SET etag = '\"old\"' WHERE resource_id IN"
                           " (SELECT id FROM resources WHERE name = 'general.ics')")
    assert stored_plans.backfill(host.store) == 3
    assert rows(host) == before
    assert stored_plans.backfill(host.store) == 0  # nothing left: a second run plans nothing
    with monkeypatch.context() as patch:
        forbid_planning(patch)
        assert expand_week(host).count("BEGIN:VEVENT") == 11


def test_after_a_whole_pass_the_backfill_looks_only_at_what_the_feed_names(host: Host) -> None:
    """A run with ``progress`` looks at every object until one has seen them all; later runs
    look only at objects a change since names (one written by a node without the plugin:
    here its plan row is taken away after the write). An object that lost its plan without
    a change is left to the next process's first run, and to expansion meanwhile."""
    alice = host.store.principal("alice")
    cal = host.store.collection(alice.id, "cal")

    def drop(name: str) -> None:
        with host.store.transaction():
            host.store.execute("DELETE FROM caldav_server_plans WHERE resource_id IN"
                               " (SELECT id FROM resources WHERE name = ?)", (name,))

    progress = stored_plans.Progress()
    drop("series.ics")
    assert stored_plans.backfill(host.store, progress) == 1  # the whole pass
    assert progress.seen == host.store.latest_seq()
    drop("single.ics")  # no change names it
    host.writes.put_object(cal, "late.ics", SINGLE.replace(b"UID:single", b"UID:late"), principal=alice)
    host.writes.put_object(cal, "series.ics", SERIES.replace(b"stand-up", b"retro"), principal=alice)
    drop("late.ics")
    drop("series.ics")
    assert stored_plans.backfill(host.store, progress) == 2
    assert set(rows(host)) == {"series.ics", "general.ics", "late.ics"} and "retro" in rows(host)["series.ics"][2]
    assert stored_plans.backfill(host.store, progress) == 0
    assert stored_plans.backfill(host.store, stored_plans.Progress()) == 1  # a new process looks at all
    assert "single.ics" in rows(host)


def test_a_backfill_stopped_by_its_time_looks_at_everything_again(host: Host) -> None:
    with host.store.transaction():
        host.store.execute("DELETE FROM caldav_server_plans")
    progress = stored_plans.Progress()
    assert stored_plans.backfill(host.store, progress, seconds=0) == 0
    assert progress.seen is None
    assert stored_plans.backfill(host.store, progress) == 3 and progress.seen is not None


def test_backfill_leaves_an_object_replaced_while_it_was_planned(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = host.store.principal("alice")
    cal = host.store.collection(alice.id, "cal")
    with host.store.transaction():
        host.store.execute("DELETE FROM caldav_server_plans")
    real = stored_plans.plan_column

    def replaced_meanwhile(data: bytes, calendar):  # type: ignore[no-untyped-def]
        text = real(data, calendar)
        if b"UID:series" in data and b"stand-up" in data:  # a client replaces it while the job plans it
            host.writes.put_object(cal, "series.ics", SERIES.replace(b"stand-up", b"retro"), principal=alice)
        return text

    monkeypatch.setattr(stored_plans, "plan_column", replaced_meanwhile)
    assert stored_plans.backfill(host.store) == 2  # single and general; the series kept its writer's row
    etag, _, text = rows(host)["series.ics"]
    assert etag == host.store.resource(cal.id, "series.ics").etag and "retro" in text


def test_the_plugin_runs_the_backfill_as_a_job(host: Host) -> None:
    jobs = {job.name: job for result in host.hook.register_jobs(host=host) for job in result or ()}
    with host.store.transaction():
        host.store.execute("DELETE FROM caldav_server_plans")
    assert jobs["caldav_server.plans"].func(host) == 3
    assert set(rows(host)) == {"series.ics", "single.ics", "general.ics"}


def test_writes_store_plans_without_keeping_them_in_memory(host: Host) -> None:
    """A server whose clients never expand holds no plans: only expanded reports fill the cache."""
    expansion.forget_all()
    alice = host.store.principal("alice")
    cal = host.store.collection(alice.id, "cal")
    stored = host.writes.put_object(cal, "series.ics", SERIES.replace(b"stand-up", b"retro"), principal=alice)
    assert "retro" in rows(host)["series.ics"][2]
    assert expansion.plans_wanted([stored.resource.etag]) == {stored.resource.etag} and len(expansion._known) == 0


def test_text_a_report_writes_from_a_plan_reads_back_as_the_objects_own(host: Host) -> None:
    """Plans hold their text escaped for the answer (``&``, ``<``, ``>``, and each carriage
    return as ``&#13;``): an expanded series whose text holds them reads back from the XML,
    from a stored plan and from one in memory, as the plan's iCalendar text, CRLF line ends
    and all."""
    alice = host.store.principal("alice")
    cal = host.store.collection(alice.id, "cal")
    odd = SERIES.replace(b"SUMMARY:stand-up", b"SUMMARY:R&D <sync> & review > all").replace(
        b"SUMMARY:moved", b"SUMMARY:moved &amp; &#13; as typed")
    stored = host.writes.put_object(cal, "series.ics", odd, principal=alice).resource
    week = TimeRange(1704067200, 1704672000)
    plain = CalendarDataRequest(expand=week).render(odd, parsed(odd), None, budget=Budget(),
                                                    instances=host.store.instances(stored.id), etag=stored.etag)
    answers = []
    for cold in (True, False):  # from the stored plan, then from the one in memory
        if cold:
            expansion.forget_all()
        found = [e.text for e in ET.fromstring(report(host)).iter(f"{{{CALDAV}}}calendar-data")
                 if e.text and "UID:series" in e.text]
        answers.append(found)
    assert answers[0] == answers[1] == [plain]
    assert "SUMMARY:R&D <sync> & review > all\r\n" in plain and "SUMMARY:moved &amp; &#13; as typed\r\n" in plain
    assert "\n" not in plain.replace("\r\n", "") and plain.count("BEGIN:VEVENT") == 7
