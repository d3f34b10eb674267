"""calendar-query filters (RFC 4791 9.7, 9.9): parsing, index plans and evaluation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import xml.etree.ElementTree as ET
from zoneinfo import ZoneInfo

import icalendar
import pytest
from caldav.collection import Calendar as CaldavCalendar
from caldav.lib.vcal import create_ical
from caldav.search import CalDAVSearcher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from kernel.budget import Budget, OverBudget, default_limits
from kernel.ical import occurs_in, overlaps, parse_object
from plugins.caldav_server.caldav import collations
from plugins.caldav_server.caldav.filters import (
    CALDAV,
    MAX_DEPTH,
    MAX_NODES,
    CompFilter,
    QueryError,
    TimeRange,
    parse_filter,
)
from plugins.caldav_server.caldav.instances import ObjectTimes
from tests.caldav_server.ical_samples import (
    BERLIN_VTIMEZONE,
    comp,
    component,
    dated,
    filter_element,
    ics,
    parsed,
    rfc_objects,
    time_range,
    ts,
    vcalendar,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC = dt.UTC
VALID_FILTER = CALDAV + "valid-filter"


def query(inner: str = "") -> CompFilter:
    """A filter: comp-filter VCALENDAR around ``inner``."""
    return parse_filter(filter_element(vcalendar(inner)))


def matching(flt: CompFilter, objects: dict[str, icalendar.Calendar], tz=None) -> set[str]:
    return {name for name, cal in objects.items() if flt.matches(cal, tz)}


def one(inner: str, data: bytes, tz=None) -> bool:
    """Whether the filter VCALENDAR > ``inner`` matches one object."""
    return query(inner).matches(parsed(data), tz)


def refused(xml: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse_filter(filter_element(xml))
    return caught.value


@pytest.fixture(scope="module")
def appendix_b() -> dict[str, icalendar.Calendar]:
    return rfc_objects()


# --- RFC 4791 7.8 examples on the Appendix B calendar ---------------------------------


def test_7_8_1_events_in_a_time_range_include_a_recurring_one(appendix_b):
    flt = query(comp("VEVENT", time_range("20060104T000000Z", "20060105T000000Z")))
    assert matching(flt, appendix_b) == {"abcd2", "abcd3"}


def test_7_8_2_and_7_8_3_ranges_find_the_recurring_event(appendix_b):
    flt = query(comp("VEVENT", time_range("20060103T000000Z", "20060105T000000Z")))
    assert matching(flt, appendix_b) == {"abcd2", "abcd3"}


def test_7_8_4_vfreebusy_by_time_range(appendix_b):
    assert matching(query(comp("VFREEBUSY", time_range("20060102T000000Z", "20060103T000000Z"))),
                    appendix_b) == {"abcd8"}
    assert matching(query(comp("VFREEBUSY", time_range("20060109T000000Z", "20060110T000000Z"))),
                    appendix_b) == set()


def test_7_8_5_todos_by_alarm_time_range():
    # The data shown in the 7.8.5 response: the alarm triggers at 16:50Z.
    task = ics(component("DUE;TZID=US/Eastern:20060106T120000", "SUMMARY:Task #2", name="VTODO",
                         children="BEGIN:VALARM\nACTION:AUDIO\nTRIGGER;RELATED=START:-PT10M\nEND:VALARM\n"))
    alarm = comp("VTODO", comp("VALARM", time_range("20060106T100000Z", "20060107T100000Z")))
    assert one(alarm, task)
    assert not one(comp("VTODO", comp("VALARM", time_range("20060106T165100Z", "20060107T100000Z"))), task)
    assert one(comp("VTODO", comp("VALARM", time_range("20060106T165000Z", "20060106T165001Z"))), task)


def test_7_8_6_event_by_uid(appendix_b):
    uid = "DC6C50A017428C5216A2F1CD@example.com"
    octet = query(comp("VEVENT", f'<C:prop-filter name="UID"><C:text-match collation="i;octet">{uid}'
                                 "</C:text-match></C:prop-filter>"))
    assert matching(octet, appendix_b) == {"abcd3"}
    lower = query(comp("VEVENT", f'<C:prop-filter name="UID"><C:text-match collation="i;octet">{uid.lower()}'
                                 "</C:text-match></C:prop-filter>"))
    assert matching(lower, appendix_b) == set()


def test_7_8_7_events_by_partstat(appendix_b):
    def partstat(who: str, status: str) -> CompFilter:
        return query(comp("VEVENT", (
            '<C:prop-filter name="ATTENDEE">'
            f'<C:text-match collation="i;ascii-casemap">{who}</C:text-match>'
            f'<C:param-filter name="PARTSTAT"><C:text-match collation="i;ascii-casemap">{status}'
            "</C:text-match></C:param-filter></C:prop-filter>")))

    assert matching(partstat("mailto:lisa@example.com", "NEEDS-ACTION"), appendix_b) == {"abcd3"}
    # the parameter must hold on the same ATTENDEE property
    assert matching(partstat("mailto:lisa@example.com", "ACCEPTED"), appendix_b) == set()
    assert matching(partstat("mailto:cyrus@example.com", "accepted"), appendix_b) == {"abcd3"}


def test_7_8_8_events_only(appendix_b):
    flt = query(comp("VEVENT"))
    assert matching(flt, appendix_b) == {"abcd1", "abcd2", "abcd3"}
    assert flt.index_plan() == ("VEVENT", None, True)


def test_7_8_9_pending_todos(appendix_b):
    flt = query(comp("VTODO", (
        '<C:prop-filter name="COMPLETED"><C:is-not-defined/></C:prop-filter>'
        '<C:prop-filter name="STATUS"><C:text-match negate-condition="yes">CANCELLED</C:text-match>'
        "</C:prop-filter>")))
    assert matching(flt, appendix_b) == {"abcd4", "abcd5"}


def test_7_8_10_non_standard_properties_are_supported(appendix_b):
    flt = query(comp("VEVENT", '<C:prop-filter name="X-ABC-GUID"><C:text-match>ABC</C:text-match>'
                               "</C:prop-filter>"))
    assert matching(flt, appendix_b) == set()  # "ABC" is not in E1CX5Dr-0007ym-Hz@example.com
    flt = query(comp("VEVENT", '<C:prop-filter name="X-ABC-GUID"><C:text-match>e1cx5dr</C:text-match>'
                               "</C:prop-filter>"))
    assert matching(flt, appendix_b) == {"abcd3"}


def test_appendix_b_whole_collection(appendix_b):
    flt = query()
    assert matching(flt, appendix_b) == set(appendix_b)
    assert flt.index_plan() == (None, None, True)


# --- RFC 4791 9.9: one row of each table at its edges -------------------------------------

ROWS = [
    # VEVENT: DTEND
    ("VEVENT", ["DTSTART:20240110T100000Z", "DTEND:20240110T110000Z"], "20240110T110000Z", None, False),
    ("VEVENT", ["DTSTART:20240110T100000Z", "DTEND:20240110T110000Z"], "20240110T105959Z", None, True),
    ("VEVENT", ["DTSTART:20240110T100000Z", "DTEND:20240110T110000Z"], None, "20240110T100000Z", False),
    ("VEVENT", ["DTSTART:20240110T100000Z", "DTEND:20240110T110000Z"], None, "20240110T100001Z", True),
    # VEVENT: DURATION > 0
    ("VEVENT", ["DTSTART:20240110T100000Z", "DURATION:PT1H"], "20240110T110000Z", None, False),
    ("VEVENT", ["DTSTART:20240110T100000Z", "DURATION:PT1H"], "20240110T105959Z", None, True),
    # VEVENT: DURATION = 0 and DATE-TIME without end: (start <= DTSTART AND end > DTSTART)
    ("VEVENT", ["DTSTART:20240110T100000Z", "DURATION:PT0S"], "20240110T100000Z", "20240110T100001Z", True),
    ("VEVENT", ["DTSTART:20240110T100000Z", "DURATION:PT0S"], "20240110T100001Z", None, False),
    ("VEVENT", ["DTSTART:20240110T100000Z"], "20240110T100000Z", None, True),
    ("VEVENT", ["DTSTART:20240110T100000Z"], None, "20240110T100000Z", False),
    # VEVENT: DATE without end lasts a day
    ("VEVENT", ["DTSTART;VALUE=DATE:20240110"], "20240110T235959Z", None, True),
    ("VEVENT", ["DTSTART;VALUE=DATE:20240110"], "20240111T000000Z", None, False),
    ("VEVENT", ["DTSTART;VALUE=DATE:20240110"], None, "20240110T000000Z", False),
    # VTODO row 1: DTSTART + DURATION
    ("VTODO", ["DTSTART:20240110T100000Z", "DURATION:PT1H"], "20240110T110000Z", None, True),
    ("VTODO", ["DTSTART:20240110T100000Z", "DURATION:PT1H"], "20240110T110001Z", None, False),
    ("VTODO", ["DTSTART:20240110T100000Z", "DURATION:PT1H"], None, "20240110T100000Z", False),
    ("VTODO", ["DTSTART:20240110T100000Z", "DURATION:PT1H"], None, "20240110T100001Z", True),
    # VTODO row 2: DTSTART + DUE
    ("VTODO", ["DTSTART:20240110T100000Z", "DUE:20240110T110000Z"], "20240110T110000Z", None, False),
    ("VTODO", ["DTSTART:20240110T100000Z", "DUE:20240110T110000Z"], "20240110T105959Z", None, True),
    ("VTODO", ["DTSTART:20240110T100000Z", "DUE:20240110T110000Z"], None, "20240110T100000Z", False),
    ("VTODO", ["DTSTART:20240110T100000Z", "DUE:20240110T100000Z"], None, "20240110T100000Z", True),
    ("VTODO", ["DTSTART:20240110T100000Z", "DUE:20240110T100000Z"], "20240110T100000Z", None, True),
    # VTODO row 3: DTSTART only
    ("VTODO", ["DTSTART:20240110T100000Z"], "20240110T100000Z", None, True),
    ("VTODO", ["DTSTART:20240110T100000Z"], "20240110T100001Z", None, False),
    ("VTODO", ["DTSTART:20240110T100000Z"], None, "20240110T100000Z", False),
    # VTODO row 4: DUE only
    ("VTODO", ["DUE:20240110T110000Z"], "20240110T110000Z", None, False),
    ("VTODO", ["DUE:20240110T110000Z"], "20240110T105959Z", None, True),
    ("VTODO", ["DUE:20240110T110000Z"], None, "20240110T110000Z", True),
    ("VTODO", ["DUE:20240110T110000Z"], None, "20240110T105959Z", False),
    # VTODO row 5: COMPLETED and CREATED
    ("VTODO", ["CREATED:20240110T090000Z", "COMPLETED:20240110T120000Z"], "20240110T120000Z", None, True),
    ("VTODO", ["CREATED:20240110T090000Z", "COMPLETED:20240110T120000Z"], "20240110T120001Z", None, False),
    ("VTODO", ["CREATED:20240110T090000Z", "COMPLETED:20240110T120000Z"], None, "20240110T090000Z", True),
    ("VTODO", ["CREATED:20240110T090000Z", "COMPLETED:20240110T120000Z"], None, "20240110T085959Z", False),
    # VTODO row 6: COMPLETED only
    ("VTODO", ["COMPLETED:20240110T120000Z"], "20240110T120000Z", None, True),
    ("VTODO", ["COMPLETED:20240110T120000Z"], None, "20240110T120000Z", True),
    ("VTODO", ["COMPLETED:20240110T120000Z"], "20240110T120001Z", None, False),
    ("VTODO", ["COMPLETED:20240110T120000Z"], None, "20240110T115959Z", False),
    # VTODO row 7: CREATED only
    ("VTODO", ["CREATED:20240110T090000Z"], None, "20240110T090000Z", False),
    ("VTODO", ["CREATED:20240110T090000Z"], None, "20240110T090001Z", True),
    ("VTODO", ["CREATED:20240110T090000Z"], "20990101T000000Z", None, True),
    # VTODO row 8: none of them
    ("VTODO", [], "19700101T000000Z", "19700101T000001Z", True),
    ("VTODO", [], "20990101T000000Z", None, True),
    # VJOURNAL
    ("VJOURNAL", ["DTSTART:20240110T100000Z"], "20240110T100000Z", None, True),
    ("VJOURNAL", ["DTSTART:20240110T100000Z"], None, "20240110T100000Z", False),
    ("VJOURNAL", ["DTSTART;VALUE=DATE:20240110"], "20240110T235959Z", None, True),
    ("VJOURNAL", ["DTSTART;VALUE=DATE:20240110"], "20240111T000000Z", None, False),
    ("VJOURNAL", [], "19700101T000000Z", None, False),
    # VFREEBUSY with DTSTART and DTEND: (start <= DTEND AND end > DTSTART)
    ("VFREEBUSY", ["DTSTART:20240110T100000Z", "DTEND:20240110T110000Z"], "20240110T110000Z", None, True),
    ("VFREEBUSY", ["DTSTART:20240110T100000Z", "DTEND:20240110T110000Z"], "20240110T110001Z", None, False),
    ("VFREEBUSY", ["DTSTART:20240110T100000Z", "DTEND:20240110T110000Z"], None, "20240110T100000Z", False),
    # VFREEBUSY with FREEBUSY only: (start < period end AND end > period start), any period
    ("VFREEBUSY", ["FREEBUSY:20240110T100000Z/PT1H,20240111T100000Z/PT1H"], "20240110T110000Z",
     "20240111T100000Z", False),
    ("VFREEBUSY", ["FREEBUSY:20240110T100000Z/PT1H,20240111T100000Z/PT1H"], "20240110T110000Z",
     "20240111T100001Z", True),
    ("VFREEBUSY", ["FREEBUSY;FBTYPE=FREE:20240110T100000Z/20240110T110000Z"], "20240110T105959Z", None, True),
    ("VFREEBUSY", ["COMMENT:nothing"], "19700101T000000Z", None, False),
]


@pytest.mark.parametrize(("name", "lines", "start", "end", "expected"), ROWS)
def test_9_9_component_rows(name, lines, start, end, expected):
    data = ics(component(*lines, name=name))
    assert one(comp(name, time_range(start, end)), data) is expected


ALARMED = ics(component(
    "DTSTART:20240110T100000Z", "DTEND:20240110T110000Z",
    children=("BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:a\nTRIGGER:-PT15M\nEND:VALARM\n"
              "BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:b\nTRIGGER;RELATED=END:PT5M\nREPEAT:2\n"
              "DURATION:PT10M\nEND:VALARM\n")))


@pytest.mark.parametrize(("start", "end", "expected"), [
    ("20240110T094500Z", "20240110T094501Z", True),   # (start <= trigger) ...
    ("20240110T094501Z", "20240110T095000Z", False),
    ("20240110T094000Z", "20240110T094500Z", False),  # ... AND (end > trigger)
    ("20240110T110500Z", "20240110T110501Z", True),   # RELATED=END + 5 minutes
    ("20240110T112500Z", "20240110T112501Z", True),   # its second repetition
    ("20240110T112501Z", "20240110T120000Z", False),  # nothing after the last repetition
    ("20240110T111000Z", "20240110T111400Z", False),  # between repetitions
])
def test_9_9_valarm_triggers_and_repetitions(start, end, expected):
    assert one(comp("VEVENT", comp("VALARM", time_range(start, end))), ALARMED) is expected


def test_9_9_absolute_alarm_trigger():
    data = ics(component("DTSTART:20240110T100000Z", children=(
        "BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:x\nTRIGGER;VALUE=DATE-TIME:20240109T080000Z\nEND:VALARM\n")))
    assert one(comp("VEVENT", comp("VALARM", time_range("20240109T080000Z", "20240109T080001Z"))), data)
    assert not one(comp("VEVENT", comp("VALARM", time_range("20240110T080000Z", "20240110T090001Z"))), data)


def test_9_9_alarms_of_a_recurring_event_trigger_for_every_instance():
    data = ics(component("DTSTART;TZID=Europe/Berlin:20240101T090000", "DURATION:PT1H", "RRULE:FREQ=DAILY",
                         children="BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:x\nTRIGGER:-PT10M\nEND:VALARM\n"),
               timezone=BERLIN_VTIMEZONE)
    # 2030-07-01 09:00 CEST is 07:00Z: the alarm triggers at 06:50Z
    assert one(comp("VEVENT", comp("VALARM", time_range("20300701T065000Z", "20300701T065001Z"))), data)
    assert not one(comp("VEVENT", comp("VALARM", time_range("20300701T065001Z", "20300701T070000Z"))), data)


@pytest.mark.parametrize(("prop", "start", "end", "expected"), [
    ("DTSTAMP", "20240101T000000Z", "20240101T000001Z", True),
    ("DTSTAMP", "20231231T000000Z", "20240101T000000Z", False),
    ("LAST-MODIFIED", "20240105T120000Z", "20240105T120001Z", True),
    ("CREATED", "20240105T000000Z", None, False),
    ("DTSTART", "20240110T100000Z", None, True),
    ("DTSTART", "20240110T100001Z", None, False),
    ("DTEND", "20240110T110000Z", "20240110T110001Z", True),  # effective DTEND = DTSTART + DURATION
    ("DTEND", "20240110T110001Z", None, False),
])
def test_9_9_property_rows(prop, start, end, expected):
    data = ics(component("DTSTART:20240110T100000Z", "DURATION:PT1H", "LAST-MODIFIED:20240105T120000Z",
                         "CREATED:20240104T000000Z"))
    inner = comp("VEVENT", f'<C:prop-filter name="{prop}">{time_range(start, end)}</C:prop-filter>')
    assert one(inner, data) is expected


def test_9_9_effective_due_and_completed_of_a_todo():
    data = ics(component("DTSTART:20240110T100000Z", "DURATION:PT2H", "COMPLETED:20240110T113000Z",
                         name="VTODO"))
    due = comp("VTODO", f'<C:prop-filter name="DUE">{time_range("20240110T120000Z", "20240110T120001Z")}'
                        "</C:prop-filter>")
    assert one(due, data)
    done = comp("VTODO", f'<C:prop-filter name="COMPLETED">{time_range("20240110T110000Z", "20240110T120000Z")}'
                         "</C:prop-filter>")
    assert one(done, data)


# --- collations (RFC 4790, RFC 4791 7.5, RFC 5051) ----------------------------------------


def summary_match(summary: str, needle: str, collation: str | None = None, **attrs: str) -> bool:
    coll = "" if collation is None else f' collation="{collation}"'
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    data = ics(component("DTSTART:20240110T100000Z", f"SUMMARY:{summary}"))
    return one(comp("VEVENT", f'<C:prop-filter name="SUMMARY"><C:text-match{coll}{extra}>{needle}'
                              "</C:text-match></C:prop-filter>"), data)


@pytest.mark.parametrize(("collation", "summary", "needle", "expected"), [
    (None, "Simple event", "SIMPLE", True),               # i;ascii-casemap is the default
    ("default", "Simple event", "simple E", True),
    ("i;ascii-casemap", "Simple event", "sImPlE", True),
    ("i;ascii-casemap", "Überweisung", "übER", False),    # only ASCII letters fold
    ("i;ascii-casemap", "Überweisung", "ÜbER", True),
    ("i;octet", "Simple event", "Simple", True),
    ("i;octet", "Simple event", "simple", False),
    ("i;octet", "Überweisung", "Über", True),
    ("i;unicode-casemap", "Überweisung", "übER", True),
    ("i;unicode-casemap", "Café crème", "CAFE\u0301", True),  # composed vs decomposed é
    ("i;unicode-casemap", "ΣΟΦΊΑ", "σοφία", True),
    ("i;unicode-casemap", "Ǆemal", "ǆ", True),                # titlecase digraph
    ("i;unicode-casemap", "ﬁnal", "FI", True),                # compatibility decomposition
    ("i;unicode-casemap", "Straße", "STRASSE", False),        # no multi-character case mappings
    ("i;unicode-casemap", "plain ascii", "ASCII", True),
])
def test_collations(collation, summary, needle, expected):
    assert summary_match(summary, needle, collation) is expected


@pytest.mark.parametrize("name", ["i;basic", "i;*", "en;unicode-casemap"])
def test_unknown_collation_is_refused_with_supported_collation(name):
    error = refused(vcalendar(comp("VEVENT", f'<C:prop-filter name="SUMMARY"><C:text-match collation="{name}">'
                                             "x</C:text-match></C:prop-filter>")))
    assert (error.status, error.precondition) == (403, CALDAV + "supported-collation")


def test_supported_collations_are_advertised():
    assert set(collations.SUPPORTED) == {"i;ascii-casemap", "i;octet", "i;unicode-casemap"}
    for name in collations.SUPPORTED:
        assert collations.fold_for(name)("a") in ("a", "A")


# --- text-match: negate-condition, match-type, lists, several properties ------------------------


def test_negate_condition():
    assert summary_match("Budget review", "lunch", negate_condition="yes")
    assert not summary_match("Budget review", "REVIEW", negate_condition="yes")
    assert summary_match("Budget review", "review", negate_condition="no")


def test_negated_text_match_needs_the_property():
    data = ics(component("DTSTART:20240110T100000Z"))
    assert not one(comp("VEVENT", '<C:prop-filter name="STATUS"><C:text-match negate-condition="yes">'
                                  "CANCELLED</C:text-match></C:prop-filter>"), data)


@pytest.mark.parametrize(("match_type", "needle", "expected"), [
    ("equals", "budget review", True),
    ("equals", "budget", False),
    ("starts-with", "BUDGET", True),
    ("starts-with", "review", False),
    ("ends-with", "review", True),
    ("contains", "get rev", True),
])
def test_match_type(match_type, needle, expected):
    assert summary_match("Budget review", needle, match_type=match_type) is expected


def test_text_match_ignores_surrounding_white_space():
    assert summary_match("Budget review", "\n      review\n   ")


def test_categories_match_as_a_whole_and_item_by_item():
    data = ics(component("DTSTART:20240110T100000Z", "CATEGORIES:hands,feet", "CATEGORIES:head"))

    def cat(needle: str, **attrs: str) -> bool:
        extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
        return one(comp("VEVENT", f'<C:prop-filter name="CATEGORIES"><C:text-match{extra}>{needle}'
                                  "</C:text-match></C:prop-filter>"), data)

    assert cat("hands") and cat("head") and cat("hands,feet")
    assert cat("feet", match_type="equals")
    assert not cat("toes")
    assert not cat("h", negate_condition="yes", match_type="starts-with")  # every CATEGORIES does
    assert cat("hand", negate_condition="yes")  # the second CATEGORIES (head) does not


def test_negation_with_several_properties_needs_one_that_does_not_match():
    data = ics(component("DTSTART:20240110T100000Z", "ATTENDEE:mailto:a@example.com",
                         "ATTENDEE:mailto:b@example.com"))
    flt = '<C:prop-filter name="ATTENDEE"><C:text-match negate-condition="yes">{}</C:text-match></C:prop-filter>'
    assert one(comp("VEVENT", flt.format("a@example.com")), data)
    assert not one(comp("VEVENT", flt.format("example.com")), data)


def test_empty_prop_filter_tests_existence_and_param_filters():
    data = ics(component("DTSTART:20240110T100000Z", "ATTENDEE;ROLE=CHAIR:mailto:a@example.com",
                         "ATTENDEE:mailto:b@example.com"))
    assert one(comp("VEVENT", '<C:prop-filter name="ATTENDEE"/>'), data)
    assert not one(comp("VEVENT", '<C:prop-filter name="LOCATION"/>'), data)
    assert one(comp("VEVENT", '<C:prop-filter name="ATTENDEE"><C:param-filter name="ROLE"/></C:prop-filter>'), data)
    assert not one(comp("VEVENT", '<C:prop-filter name="ATTENDEE"><C:param-filter name="RSVP"/></C:prop-filter>'),
                   data)


def test_param_filter_on_a_list_parameter():
    data = ics(component("DTSTART:20240110T100000Z",
                         'ATTENDEE;MEMBER="mailto:x@example.com","mailto:team@example.com":mailto:a@example.com'))
    inner = comp("VEVENT", '<C:prop-filter name="ATTENDEE"><C:param-filter name="MEMBER">'
                           "<C:text-match>TEAM@</C:text-match></C:param-filter></C:prop-filter>")
    assert one(inner, data)


# --- is-not-defined on components, properties and parameters ----------------------------------


def test_is_not_defined_on_a_component():
    with_alarm = ics(component("DTSTART:20240110T100000Z", children=(
        "BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:x\nTRIGGER:-PT5M\nEND:VALARM\n")))
    without = ics(component("DTSTART:20240110T100000Z"))
    no_alarm = comp("VEVENT", comp("VALARM", "<C:is-not-defined/>"))
    assert not one(no_alarm, with_alarm)
    assert one(no_alarm, without)
    no_todo = comp("VTODO", "<C:is-not-defined/>")
    assert one(no_todo, without)
    assert not one(no_todo, ics(component("SUMMARY:t", name="VTODO")))


def test_is_not_defined_on_a_property():
    done = ics(component("COMPLETED:20240110T100000Z", "STATUS:COMPLETED", name="VTODO"))
    open_ = ics(component("STATUS:NEEDS-ACTION", name="VTODO", uid="uid-2"))
    flt = comp("VTODO", '<C:prop-filter name="COMPLETED"><C:is-not-defined/></C:prop-filter>')
    assert not one(flt, done)
    assert one(flt, open_)


def test_is_not_defined_on_a_parameter():
    data = ics(component("DTSTART:20240110T100000Z", "ATTENDEE;ROLE=CHAIR:mailto:a@example.com"))
    no_role = comp("VEVENT", '<C:prop-filter name="ATTENDEE"><C:param-filter name="ROLE"><C:is-not-defined/>'
                             "</C:param-filter></C:prop-filter>")
    no_rsvp = no_role.replace("ROLE", "RSVP")
    assert not one(no_role, data)
    assert one(no_rsvp, data)


# --- nested filters, masters and overrides --------------------------------------------------------


def test_conditions_hold_on_the_component_that_owns_the_instance(appendix_b):
    bis = '<C:prop-filter name="SUMMARY"><C:text-match>bis</C:text-match></C:prop-filter>'
    on_the_4th = query(comp("VEVENT", time_range("20060104T000000Z", "20060105T000000Z") + bis))
    on_the_3rd = query(comp("VEVENT", time_range("20060103T000000Z", "20060104T000000Z") + bis))
    assert matching(on_the_4th, appendix_b) == {"abcd2"}
    assert matching(on_the_3rd, appendix_b) == set()


def test_nested_alarm_with_property_filter():
    data = ics(component("DTSTART:20240110T100000Z", children=(
        "BEGIN:VALARM\nACTION:EMAIL\nDESCRIPTION:x\nSUMMARY:y\nATTENDEE:mailto:a@example.com\n"
        "TRIGGER:-PT5M\nEND:VALARM\n")))
    action = '<C:prop-filter name="ACTION"><C:text-match>{}</C:text-match></C:prop-filter>'
    assert one(comp("VEVENT", comp("VALARM", action.format("email"))), data)
    assert not one(comp("VEVENT", comp("VALARM", action.format("display"))), data)
    both = comp("VALARM", time_range("20240110T095500Z", "20240110T095600Z") + action.format("EMAIL"))
    assert one(comp("VEVENT", both), data)


def test_several_comp_filters_must_all_match():
    data = ics(component("DTSTART:20240110T100000Z", "SUMMARY:Budget"))
    assert one(comp("VEVENT") + comp("VTODO", "<C:is-not-defined/>"), data)
    assert not one(comp("VEVENT") + comp("VTODO"), data)


def test_prop_filters_on_the_calendar_object_look_at_its_components_too():
    data = ics(component("DTSTART:20240110T100000Z", "SUMMARY:Budget"))
    assert one('<C:prop-filter name="VERSION"><C:text-match>2.0</C:text-match></C:prop-filter>', data)
    assert one('<C:prop-filter name="SUMMARY"><C:text-match>budget</C:text-match></C:prop-filter>', data)
    assert one('<C:prop-filter name="METHOD"><C:is-not-defined/></C:prop-filter>', data)
    assert not one('<C:prop-filter name="SUMMARY"><C:is-not-defined/></C:prop-filter>', data)


def test_text_match_on_a_date_compares_its_icalendar_text():
    data = ics(component("DTSTART;TZID=Europe/Berlin:20240110T100000"), timezone=BERLIN_VTIMEZONE)
    assert one(comp("VEVENT", '<C:prop-filter name="DTSTART"><C:text-match>20240110T1000</C:text-match>'
                              '<C:param-filter name="TZID"><C:text-match>berlin</C:text-match></C:param-filter>'
                              "</C:prop-filter>"), data)


# --- what clients send -------------------------------------------------------------------------------

TASKS = {
    "done": ics(component("COMPLETED:20240110T100000Z", "STATUS:COMPLETED", "SUMMARY:a", name="VTODO", uid="a")),
    "open": ics(component("STATUS:NEEDS-ACTION", "SUMMARY:b", name="VTODO", uid="b")),
    "plain": ics(component("SUMMARY:c", name="VTODO", uid="c")),
    "cancelled": ics(component("STATUS:CANCELLED", "SUMMARY:d", name="VTODO", uid="d")),
    "in-process": ics(component("STATUS:IN-PROCESS", "PERCENT-COMPLETE:30", "SUMMARY:e", name="VTODO", uid="e")),
    "event": ics(component("DTSTART:20240110T100000Z", "SUMMARY:f", uid="f")),
}


def test_thunderbird_hides_completed_tasks():
    flt = query(comp("VTODO", '<C:prop-filter name="COMPLETED"><C:is-not-defined/></C:prop-filter>'))
    objects = {k: parsed(v) for k, v in TASKS.items()}
    assert matching(flt, objects) == {"open", "plain", "cancelled", "in-process"}
    assert flt.index_plan() == ("VTODO", None, False)


def caldav_filter(hacks: str | None = None, server_expand: bool = False, **search) -> ET.Element:
    """The CALDAV:filter the caldav library (3.6) sends for ``calendar.search(**search)``."""
    searcher = CalDAVSearcher()
    CaldavCalendar._populate_searcher(None, searcher, search, False)
    xml, _ = searcher.build_search_xml_query(server_expand=server_expand, _hacks=hacks)
    root = ET.fromstring(etree.tostring(xml.xmlelement() if hasattr(xml, "xmlelement") else xml))
    return root.find(CALDAV + "filter")


def test_caldav_library_pending_task_queries():
    objects = {k: parsed(v) for k, v in TASKS.items()}
    found: set[str] = set()
    for hacks in ("ignore_completed1", "ignore_completed2", "ignore_completed3"):
        found |= matching(parse_filter(caldav_filter(hacks, todo=True, include_completed=True)), objects)
    assert found == {"open", "plain", "in-process"}


# The fixtures caldav-server-tester 1.7.0 stores (PrepareCalendar), made by the caldav library.
BASE = 2027


def csc_fixtures() -> dict[str, icalendar.Calendar]:
    utc = UTC
    specs = {
        "csc_simple_event1": dict(summary="simple event with a start time and an end time",
                                  dtstart=dt.datetime(BASE, 1, 1, 12, tzinfo=utc),
                                  dtend=dt.datetime(BASE, 1, 1, 13, tzinfo=utc)),
        "csc_simple_event2": dict(summary="event with a start time but no end time",
                                  dtstart=dt.datetime(BASE, 1, 2, 12, tzinfo=utc)),
        "csc_simple_event3": dict(summary="event with a start date but no end date", dtstart=dt.date(BASE, 1, 3)),
        "csc_simple_event4": dict(summary="event with a start date and end date", dtstart=dt.date(BASE, 1, 4),
                                  dtend=dt.date(BASE, 1, 6)),
        "csc_event_with_categories": dict(summary="event with categories", categories="hands,feet,head",
                                          dtstart=dt.datetime(BASE, 1, 7, 12), dtend=dt.datetime(BASE, 1, 7, 13)),
        "csc_event_with_class": dict(summary="event with confidential class", class_="CONFIDENTIAL",
                                     dtstart=dt.datetime(BASE, 1, 16, 12, tzinfo=utc),
                                     dtend=dt.datetime(BASE, 1, 16, 13, tzinfo=utc)),
        "csc_event_with_duration": dict(summary="event with duration instead of dtend",
                                        dtstart=dt.datetime(BASE, 1, 17, 12, tzinfo=utc),
                                        duration=dt.timedelta(hours=1)),
        "csc_event_with_alarm": dict(summary="event with alarm", dtstart=dt.datetime(BASE, 1, 10, 8, tzinfo=utc),
                                     dtend=dt.datetime(BASE, 1, 10, 9, tzinfo=utc),
                                     alarm_trigger=dt.timedelta(minutes=-15), alarm_action="DISPLAY"),
        "csc_monthly_recurring_event": dict(summary="monthly recurring event", rrule={"FREQ": "MONTHLY"},
                                            dtstart=dt.datetime(BASE, 1, 12, 12, tzinfo=utc),
                                            dtend=dt.datetime(BASE, 1, 12, 13, tzinfo=utc)),
        "csc_monthly_recurring_allday_event": dict(summary="monthly recurring all-day event",
                                                   rrule={"FREQ": "MONTHLY"}, dtstart=dt.date(BASE, 2, 1)),
        "csc_olddate_event": dict(summary="old-date probe event (year 2000)",
                                  dtstart=dt.datetime(2000, 1, 1, 12, tzinfo=utc),
                                  dtend=dt.datetime(2000, 1, 1, 13, tzinfo=utc)),
    }
    tasks = {
        "csc_simple_task1": dict(summary="task with a dtstart", dtstart=dt.date(BASE, 1, 7)),
        "csc_simple_task2": dict(summary="task with a due date", due=dt.date(BASE, 1, 8)),
        "csc_simple_task3": dict(summary="task with a dtstart time and due time",
                                 dtstart=dt.datetime(BASE, 1, 9, 12, tzinfo=utc),
                                 due=dt.datetime(BASE, 1, 9, 13, tzinfo=utc)),
        "csc_task_with_duration": dict(summary="task with dtstart and duration (no due)",
                                       dtstart=dt.datetime(BASE, 1, 18, 12, tzinfo=utc),
                                       duration=dt.timedelta(hours=2)),
        "csc_monthly_recurring_task": dict(summary="monthly recurring task", rrule={"FREQ": "MONTHLY"},
                                           dtstart=dt.datetime(BASE, 1, 12, 12, tzinfo=utc),
                                           due=dt.datetime(BASE, 1, 12, 13, tzinfo=utc)),
        "csc_olddate_task": dict(summary="old-date probe task (year 2000)",
                                 dtstart=dt.datetime(2000, 1, 9, 12, tzinfo=utc),
                                 due=dt.datetime(2000, 1, 9, 13, tzinfo=utc)),
    }
    objects = {uid: create_ical(objtype="VEVENT", uid=uid, **kw) for uid, kw in specs.items()}
    objects |= {uid: create_ical(objtype="VTODO", uid=uid, **kw) for uid, kw in tasks.items()}
    objects["csc_monthly_recurring_with_exception"] = (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//tobixen//Caldav-Server-Tester//en_DK\nBEGIN:VEVENT\n"
        f"UID:csc_monthly_recurring_with_exception\nDTSTART:{BASE}0113T120000Z\nDTEND:{BASE}0113T130000Z\n"
        "DTSTAMP:20240429T181103Z\nRRULE:FREQ=MONTHLY\nSUMMARY:Monthly recurring with exception\nEND:VEVENT\n"
        f"BEGIN:VEVENT\nUID:csc_monthly_recurring_with_exception\nRECURRENCE-ID:{BASE}0213T120000Z\n"
        f"DTSTART:{BASE}0213T120000Z\nDTEND:{BASE}0213T130000Z\nDTSTAMP:20240429T181103Z\n"
        "SUMMARY:February recurrence with different summary\nEND:VEVENT\nEND:VCALENDAR\n")
    return {uid: parsed(text.replace("\r\n", "\n").replace("\n", "\r\n").encode())
            for uid, text in objects.items()}


@pytest.fixture(scope="module")
def tester() -> dict[str, icalendar.Calendar]:
    return csc_fixtures()


def found(tester, **search) -> set[str]:
    return matching(parse_filter(caldav_filter(**search)), tester)


def test_tester_text_searches(tester):
    searcher = CalDAVSearcher(event=True)
    searcher.add_property_filter("SUMMARY", "Simple", case_sensitive=True)
    sensitive = searcher.build_search_xml_query()[0]
    searcher = CalDAVSearcher(event=True)
    searcher.add_property_filter("SUMMARY", "SIMPLE", case_sensitive=False)
    insensitive = searcher.build_search_xml_query()[0]

    def run(xml) -> set[str]:
        root = ET.fromstring(etree.tostring(xml.xmlelement()))
        return matching(parse_filter(root.find(CALDAV + "filter")), tester)

    assert run(sensitive) == set()                     # search.text.case-sensitive
    assert run(insensitive) == {"csc_simple_event1"}   # search.text.case-insensitive
    assert found(tester, event=True, summary="simple event") == {"csc_simple_event1"}  # substring
    assert found(tester, event=True, category="hands") == {"csc_event_with_categories"}


def test_tester_combined_and_comp_type_searches(tester):
    assert found(tester, category="hands", event=True, start=dt.datetime(BASE, 1, 1, 11, tzinfo=UTC),
                 end=dt.datetime(BASE, 1, 13, 14, tzinfo=UTC)) == {"csc_event_with_categories"}
    assert found(tester, category="hands", event=True, start=dt.datetime(BASE, 1, 1, 9, tzinfo=UTC),
                 end=dt.datetime(BASE, 1, 6, 14, tzinfo=UTC)) == set()
    events = found(tester, event=True)
    todos = found(tester, todo=True, include_completed=True)
    assert all(tester[u].subcomponents[0].name == "VEVENT" for u in events)
    assert all(tester[u].subcomponents[0].name == "VTODO" for u in todos)
    assert events | todos == set(tester) == found(tester)  # comp-type optional, unlimited range


def test_tester_comp_type_less_time_range_and_categories(tester):
    flt = parse_filter(caldav_filter(start=dt.datetime(BASE, 1, 16, tzinfo=UTC),
                                     end=dt.datetime(BASE, 1, 17, tzinfo=UTC)))
    assert flt.index_plan()[2] is True
    assert matching(flt, tester) == {"csc_event_with_class"}
    assert found(tester, category="hands") == {"csc_event_with_categories"}


def test_tester_time_range_searches(tester):
    def span(*args: int) -> dict:
        return dict(start=dt.datetime(*args[:4], tzinfo=UTC), end=dt.datetime(*args[4:], tzinfo=UTC))

    assert found(tester, event=True, **span(2000, 1, 1, 0, 2000, 1, 2, 0)) == {"csc_olddate_event"}
    assert found(tester, todo=True, include_completed=True, **span(2000, 1, 9, 0, 2000, 1, 10, 0)) == {
        "csc_olddate_task"}
    assert "csc_simple_task2" in found(tester, todo=True, include_completed=True, **span(BASE, 1, 1, 0, BASE, 1, 31, 0))
    duration_a = found(tester, todo=True, include_completed=True, **span(BASE, 1, 18, 13, BASE, 1, 18, 15))
    duration_b = found(tester, todo=True, include_completed=True, **span(BASE, 1, 18, 11, BASE, 1, 18, 13))
    assert "csc_task_with_duration" in duration_a & duration_b and "csc_simple_task3" not in duration_a
    ev_a = found(tester, event=True, **span(BASE, 1, 17, 12, BASE, 1, 17, 14))
    assert "csc_event_with_duration" in ev_a and "csc_simple_event1" not in ev_a
    assert not {"csc_simple_task3", "csc_task_with_duration"} & found(
        tester, todo=True, include_completed=True, end=dt.datetime(BASE, 1, 1, tzinfo=UTC))
    assert "csc_simple_task3" in found(tester, todo=True, include_completed=True,
                                       start=dt.datetime(BASE, 1, 9, tzinfo=UTC))
    assert found(tester, event=True, **span(BASE, 1, 12, 0, BASE, 1, 13, 0)) == {"csc_monthly_recurring_event"}
    assert found(tester, event=True, **span(BASE, 3, 1, 0, BASE, 3, 2, 0)) == {"csc_monthly_recurring_allday_event"}
    assert found(tester, event=True, **span(BASE + 45, 3, 12, 0, BASE + 45, 3, 13, 0)) == {
        "csc_monthly_recurring_event"}
    assert found(tester, todo=True, include_completed=True, **span(BASE, 2, 12, 0, BASE, 2, 13, 0)) == {
        "csc_monthly_recurring_task"}
    assert found(tester, event=True, **span(BASE, 2, 13, 11, BASE, 2, 13, 13)) == {
        "csc_monthly_recurring_with_exception"}


def test_tester_alarm_and_is_not_defined_searches(tester):
    alarm = dict(event=True, alarm_start=dt.datetime(BASE, 1, 10, 7, 40, tzinfo=UTC))
    assert found(tester, alarm_end=dt.datetime(BASE, 1, 10, 7, 55, tzinfo=UTC), **alarm) == {"csc_event_with_alarm"}
    assert found(tester, event=True, alarm_start=dt.datetime(BASE, 1, 10, 8, tzinfo=UTC),
                 alarm_end=dt.datetime(BASE, 1, 10, 8, 15, tzinfo=UTC)) == set()
    no_category = found(tester, event=True, no_category=True)
    assert "csc_event_with_categories" not in no_category and no_category
    no_class = found(tester, event=True, no_class=True)
    assert "csc_event_with_class" not in no_class and no_class
    no_dtend = found(tester, event=True, no_dtend=True)
    assert "csc_event_with_duration" in no_dtend and "csc_simple_event1" not in no_dtend


# --- time zones ---------------------------------------------------------------------------------


def test_event_in_a_vtimezone_zone():
    data = ics(component("DTSTART;TZID=Europe/Berlin:20240701T100000", "DTEND;TZID=Europe/Berlin:20240701T110000"),
               timezone=BERLIN_VTIMEZONE)
    assert one(comp("VEVENT", time_range("20240701T080000Z", "20240701T080001Z")), data)
    assert not one(comp("VEVENT", time_range("20240701T090000Z", "20240701T100000Z")), data)
    winter = ics(component("DTSTART;TZID=Europe/Berlin:20240110T100000", "DURATION:PT1H"),
                 timezone=BERLIN_VTIMEZONE)
    assert one(comp("VEVENT", time_range("20240110T095959Z", "20240110T100000Z")), winter)


@pytest.mark.parametrize(("tz", "utc_start", "expected"), [
    (None, "20240701T100000Z", True),
    (BERLIN, "20240701T080000Z", True),
    (BERLIN, "20240701T100000Z", False),
    (NEW_YORK, "20240701T140000Z", True),
])
def test_floating_time_is_read_in_the_query_zone(tz, utc_start, expected):
    data = ics(component("DTSTART:20240701T100000", "DTEND:20240701T103000"))
    assert one(comp("VEVENT", time_range(utc_start, utc_start[:13] + "01Z")), data, tz) is expected


def test_all_day_event_is_read_in_the_query_zone():
    data = ics(component("DTSTART;VALUE=DATE:20240701", "DTEND;VALUE=DATE:20240702"))
    late_june_30 = comp("VEVENT", time_range("20240630T220000Z", "20240630T230000Z"))
    assert one(late_june_30, data, BERLIN)
    assert not one(late_june_30, data, None)


def test_recurring_floating_event_follows_the_zone():
    data = ics(component("DTSTART:20240101T090000", "DURATION:PT1H", "RRULE:FREQ=WEEKLY;COUNT=52"))
    # Monday 2024-07-01 09:00 wall clock: 07:00Z in Berlin (CEST), 13:00Z in New York (EDT)
    assert one(comp("VEVENT", time_range("20240701T070000Z", "20240701T070001Z")), data, BERLIN)
    assert one(comp("VEVENT", time_range("20240701T130000Z", "20240701T130001Z")), data, NEW_YORK)
    assert not one(comp("VEVENT", time_range("20240701T130000Z", "20240701T130001Z")), data, BERLIN)


# --- recurrence ---------------------------------------------------------------------------------------


def test_exdate_and_override_and_rdate():
    data = ics(
        component("DTSTART;TZID=Europe/Berlin:20240108T100000", "DTEND;TZID=Europe/Berlin:20240108T110000",
                  "RRULE:FREQ=WEEKLY;COUNT=10", "EXDATE;TZID=Europe/Berlin:20240115T100000",
                  "RDATE;TZID=Europe/Berlin:20240110T150000"),
        component("RECURRENCE-ID;TZID=Europe/Berlin:20240122T100000", "DTSTART;TZID=Europe/Berlin:20240123T120000",
                  "DTEND;TZID=Europe/Berlin:20240123T130000", "SUMMARY:moved"),
        timezone=BERLIN_VTIMEZONE)
    ev = lambda s, e: one(comp("VEVENT", time_range(s, e)), data)  # noqa: E731
    assert ev("20240108T090000Z", "20240108T090001Z")          # first instance
    assert not ev("20240115T000000Z", "20240116T000000Z")      # EXDATE
    assert ev("20240110T140000Z", "20240110T140001Z")          # RDATE
    assert not ev("20240122T000000Z", "20240123T000000Z")      # moved away ...
    assert ev("20240123T110000Z", "20240123T110001Z")          # ... to here
    assert not ev("20240318T000000Z", "20240319T000000Z")      # after COUNT


def test_recurring_todo_instances():
    data = ics(component("DTSTART:20240101T090000Z", "DUE:20240101T100000Z", "RRULE:FREQ=DAILY;INTERVAL=2",
                         name="VTODO"))
    assert one(comp("VTODO", time_range("20250101T093000Z", "20250101T093001Z")), data)  # day 366, even
    assert not one(comp("VTODO", time_range("20250102T093000Z", "20250102T093001Z")), data)


# --- index plans ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("inner", "plan"), [
    ("", (None, None, True)),
    (comp("VEVENT"), ("VEVENT", None, True)),
    (comp("VTODO", time_range("20240101T000000Z")), ("VTODO", TimeRange(ts(2024, 1, 1), None), True)),
    (comp("VJOURNAL", time_range(None, "20240101T000000Z")), ("VJOURNAL", TimeRange(None, ts(2024, 1, 1)), True)),
    (time_range("20240101T000000Z", "20240102T000000Z"), (None, TimeRange(ts(2024, 1, 1), ts(2024, 1, 2)), True)),
    (comp("VFREEBUSY", time_range("20240101T000000Z")), ("VFREEBUSY", None, False)),
    (comp("VEVENT", time_range("20240101T000000Z") + '<C:prop-filter name="SUMMARY"/>'),
     ("VEVENT", TimeRange(ts(2024, 1, 1), None), False)),
    (comp("VEVENT", comp("VALARM", time_range("20240101T000000Z"))), ("VEVENT", None, False)),
    (comp("VTODO", "<C:is-not-defined/>"), (None, None, False)),
    (comp("VTIMEZONE"), (None, None, False)),
    (comp("VEVENT") + comp("VTODO", "<C:is-not-defined/>"), ("VEVENT", None, False)),
    ('<C:prop-filter name="METHOD"/>', (None, None, False)),
])
def test_index_plan(inner, plan):
    assert query(inner).index_plan() == plan


# --- invalid and hostile filters -----------------------------------------------------------------


@pytest.mark.parametrize("xml", [
    comp("VEVENT"),                                                       # not VCALENDAR at the top
    vcalendar() + vcalendar(),                                            # two comp-filters
    "",                                                                   # none
    vcalendar(comp("VTODO", comp("VEVENT"))),                            # VEVENT inside VTODO
    vcalendar(comp("VCALENDAR")),
    vcalendar(comp("VALARM")),
    vcalendar(comp("VEVENT", '<C:prop-filter name="SUMMARY">' + time_range("20240101T000000Z") + "</C:prop-filter>")),
    vcalendar(comp("VEVENT", time_range("2024-01-01T00:00:00Z"))),
    vcalendar(comp("VEVENT", time_range("20240132T000000Z"))),
    vcalendar(comp("VEVENT", time_range("20240102T000000Z", "20240101T000000Z"))),
    vcalendar(comp("VEVENT", time_range("20240101T000000Z", "20240101T000000Z"))),
    vcalendar(comp("VEVENT", "<C:time-range/>")),
    vcalendar(comp("VEVENT", time_range("20240101T000000Z") * 2)),
    vcalendar(comp("VEVENT", "<C:is-not-defined/>" + time_range("20240101T000000Z"))),
    vcalendar(comp("VTIMEZONE", time_range("20240101T000000Z"))),
    vcalendar(comp("VEVENT", "<C:text-match>x</C:text-match>")),
    vcalendar(comp("VEVENT", '<C:prop-filter name="SUMMARY"><C:is-not-defined/><C:text-match>x</C:text-match>'
                             "</C:prop-filter>")),
    vcalendar(comp("VEVENT", '<C:prop-filter name="SUMMARY"><C:text-match negate-condition="maybe">x'
                             "</C:text-match></C:prop-filter>")),
    vcalendar(comp("VEVENT", '<C:prop-filter name="SUMMARY"><C:text-match match-type="regex">x'
                             "</C:text-match></C:prop-filter>")),
    vcalendar(comp("VEVENT", '<C:prop-filter><C:is-not-defined/></C:prop-filter>')),
    vcalendar('<C:comp-filter name="V EVENT"/>'),
    vcalendar(comp("VEVENT", '<C:prop-filter name="ATTENDEE"><C:param-filter name="ROLE">'
                             + time_range("20240101T000000Z") + "</C:param-filter></C:prop-filter>")),
])
def test_invalid_filters_are_refused_with_valid_filter(xml):
    error = refused(xml)
    assert (error.status, error.precondition) == (400, VALID_FILTER)
    assert error.message


def test_missing_filter_element_is_refused():
    with pytest.raises(QueryError) as caught:
        parse_filter(ET.Element("{DAV:}prop"))
    assert caught.value.precondition == VALID_FILTER


def test_elements_of_other_namespaces_are_ignored():
    flt = parse_filter(filter_element(vcalendar('<X:hint xmlns:X="urn:example"/>' + comp("VEVENT"))))
    assert flt.index_plan() == ("VEVENT", None, True)


def nested(depth: int) -> str:
    inner = ""
    for _ in range(depth - 2):
        inner = comp("X-NESTED", inner)
    return vcalendar(comp("VEVENT", inner) if depth > 1 else "")


def test_nesting_depth_is_capped():
    parse_filter(filter_element(nested(MAX_DEPTH)))
    error = refused(nested(MAX_DEPTH + 1))
    assert (error.status, error.precondition) == (400, VALID_FILTER)


def test_filter_size_is_capped():
    props = '<C:prop-filter name="SUMMARY"><C:text-match>x</C:text-match></C:prop-filter>'
    parse_filter(filter_element(vcalendar(comp("VEVENT", props * ((MAX_NODES - 2) // 2)))))
    error = refused(vcalendar(comp("VEVENT", props * (MAX_NODES // 2 + 1))))
    assert (error.status, error.precondition) == (400, VALID_FILTER)


SECONDLY = ics(component("DTSTART:20240101T000000Z", "DURATION:PT1S", "RRULE:FREQ=SECONDLY", "SUMMARY:spam"))


def test_secondly_rule_without_end_is_checked_near_the_range_only():
    cal = parsed(SECONDLY)
    budget = Budget()
    times = ObjectTimes(cal, None, budget)
    window = TimeRange(ts(2054, 3, 1), ts(2054, 3, 1, 0, 0, 10))
    hits = list(itertools.islice(times.hits("VEVENT", window), 100))
    assert [h.span[0] for h in hits] == list(range(ts(2054, 3, 1), ts(2054, 3, 1, 0, 0, 10)))
    assert budget.used["instances"] <= 64  # started near 2054, not at 2024
    assert query(comp("VEVENT", time_range("20540301T000000Z", "20540301T000001Z"))).matches(cal)


def test_dense_rule_stops_at_the_request_budget():
    data = ics(component("DTSTART:20240101T000000Z", "DURATION:PT1S", "RRULE:FREQ=SECONDLY",
                         children="BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:x\nTRIGGER:-P1000D\nEND:VALARM\n"))
    cal = parsed(data)
    # a year of instances whose alarms all trigger long before: refused past the budget, never
    # answered as if the instances not examined did not exist
    flt = query(comp("VEVENT", time_range("20300101T000000Z", "20310101T000000Z")
                     + comp("VALARM", time_range("20300101T000000Z", "20310101T000000Z"))))
    budget = Budget(dataclasses.replace(default_limits(), instances=2000))
    with pytest.raises(OverBudget):
        flt.matches(cal, None, budget)
    assert budget.used["instances"] == 2001


def test_prop_filter_mismatch_never_scans_instances():
    cal = parsed(SECONDLY)
    flt = query(comp("VEVENT", time_range("20300101T000000Z", "20990101T000000Z")
                     + '<C:prop-filter name="SUMMARY"><C:text-match>ham</C:text-match></C:prop-filter>'))
    assert not flt.matches(cal)


def test_alarm_repeated_a_billion_times_is_computed_not_iterated():
    data = ics(component("DTSTART:20240101T000000Z", children=(
        "BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:x\nTRIGGER:PT0S\nREPEAT:1000000000\nDURATION:PT7S\nEND:VALARM\n")))
    hit = comp("VEVENT", comp("VALARM", time_range("20240301T000000Z", "20240301T000007Z")))
    assert one(hit, data)
    late = ts(2024, 1, 1) + 7 * 1_000_000_000 + 1
    after = dt.datetime.fromtimestamp(late, UTC).strftime("%Y%m%dT%H%M%SZ")
    assert not one(comp("VEVENT", comp("VALARM", time_range(after))), data)


def test_rule_the_kernel_refuses_is_read_without_recurrence():
    # Never stored (the kernel refuses it on PUT), but evaluating it must stay bounded:
    # dateutil alone would search to year 9999 for a second instance.
    text = ics(component("DTSTART:20240101T000000Z", "DURATION:PT1H", "RRULE:FREQ=MINUTELY;BYSETPOS=2"))
    cal = icalendar.Calendar.from_ical(text)
    assert query(comp("VEVENT", time_range("20240101T000000Z", "20240101T000001Z"))).matches(cal)
    assert not query(comp("VEVENT", time_range("20240102T000000Z", "20240103T000000Z"))).matches(cal)


# --- agreement with the kernel's time-range index ----------------------------------------------------

_starts = st.datetimes(dt.datetime(2023, 1, 1), dt.datetime(2026, 1, 1)).map(lambda d: d.replace(second=0))


@st.composite
def events(draw) -> bytes:
    start = draw(_starts)
    zone = draw(st.sampled_from(["utc", "berlin", "floating", "date"]))
    minutes = draw(st.sampled_from([0, 15, 60, 24 * 60, 3 * 24 * 60]))

    def fmt(value: dt.datetime, prop: str) -> str:
        return dated(prop, value, zone)

    lines = [fmt(start, "DTSTART")]
    end_kind = draw(st.sampled_from(["dtend", "duration", "none"]))
    if zone == "date":
        minutes = max(minutes // (24 * 60), 1) * 24 * 60
    if end_kind == "dtend":
        lines.append(fmt(start + dt.timedelta(minutes=minutes), "DTEND"))
    elif end_kind == "duration":
        lines.append(f"DURATION:PT{minutes}M" if zone != "date" else f"DURATION:P{minutes // 1440}D")
    rule = draw(st.sampled_from(["", "FREQ=DAILY;COUNT=20", "FREQ=WEEKLY;INTERVAL=2", "FREQ=MONTHLY;BYMONTHDAY=-1"]))
    if rule:
        lines.append("RRULE:" + rule)
        if draw(st.booleans()):
            lines.append(fmt(start + dt.timedelta(days=14 if "WEEKLY" in rule else 2), "EXDATE"))
    return ics(component(*lines), timezone=BERLIN_VTIMEZONE if zone == "berlin" else "")


def kernel_answer(data: bytes, start: int | None, end: int | None, tz) -> bool:
    cal, info = parse_object(data)
    if any(overlaps(i, start, end, tz) for i in info.instances):
        return True
    until = info.indexed_until
    return until is not None and (end is None or end >= until) and occurs_in(cal, start, end, tz, after=until)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=events(), start=_starts, hours=st.sampled_from([1, 24, 24 * 7, 24 * 40]),
       tz=st.sampled_from([None, BERLIN, NEW_YORK]))
def test_filter_agrees_with_the_kernel_index(data, start, hours, tz):
    qs = int(start.replace(tzinfo=UTC).timestamp())
    qe = qs + hours * 3600
    flt = query(comp("VEVENT", time_range(dt.datetime.fromtimestamp(qs, UTC).strftime("%Y%m%dT%H%M%SZ"),
                                          dt.datetime.fromtimestamp(qe, UTC).strftime("%Y%m%dT%H%M%SZ"))))
    assert flt.matches(parsed(data), tz) == kernel_answer(data, qs, qe, tz)
