"""Property tests: the content lines ``kernel.icaltext`` splits itself come apart exactly as
icalendar's own splitter takes them, and a whole calendar reads the same either way."""

from __future__ import annotations

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar.parser.content_line import UFOLD, Contentline

from kernel.icaltext import _Line, read_calendar, unfold

#: Characters that steer the splitter: delimiters, quotes, escapes, RFC 6868 carets, percent
#: signs, list commas, blanks, controls and non-ASCII letters, beside plain ones.
TRICKY = ';:=,"\\%^ \t\x01\x7fé/.-_+@'
NAMES = st.sampled_from(("DTSTART", "SUMMARY", "ATTENDEE", "X-ABC", "dtend", "X-A_B", "NAME WITH SPACE", ""))
KEYS = st.sampled_from(("TZID", "CN", "VALUE", "x-key", "ROLE", "A_B", ""))
PIECES = st.text(alphabet=st.sampled_from("aZ09" + TRICKY), max_size=12)
PLAIN = st.text(alphabet=st.sampled_from("aZ09/.-_+@é"), min_size=1, max_size=12)


@st.composite
def lines(draw: st.DrawFn) -> str:
    """A content line: mostly well formed (plain or quoted parameters), sometimes not at all."""
    name = draw(NAMES)
    params = []
    for _ in range(draw(st.integers(0, 3))):
        value = draw(st.one_of(
            PLAIN,
            PLAIN.map(lambda v: f"{v} {v}"),
            PIECES.map(lambda v: f'"{v}"'),
            PIECES,
        ))
        params.append(f";{draw(KEYS)}={value}")
    return name + "".join(params) + draw(st.sampled_from((":", ":", ";", ""))) + draw(PIECES)


def split(line: Contentline) -> object:
    """What ``parts`` gives for ``line``, with the parameters as a plain dict, or the error class."""
    try:
        name, params, value = line.parts()
    except ValueError as exc:
        return type(exc)
    return name, {k: (type(v), v) for k, v in params.items()}, value


@settings(max_examples=1500, deadline=None)
@given(lines())
def test_a_line_splits_as_icalendar_splits_it(line: str) -> None:
    assert split(_Line(line)) == split(Contentline(line))


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(["\r", "\n", "\r\n", " ", "\t", "a", "\r\n "]), max_size=16).map("".join))
def test_text_unfolds_as_icalendar_unfolds_it(text: str) -> None:
    """Line breaks of every kind, runs of them, blanks and text: joined exactly where icalendar joins."""
    assert unfold(text) == UFOLD.sub("", text)


@pytest.mark.parametrize("text, unfolded", [
    ("A:b\r\n c\r\n", "A:bc\r\n"),
    ("A:b\n\tc", "A:bc"),
    ("A:b\r\n\r\n c", "A:bc"),
    ("A:b\r\n\n\r\n\tc\r\nB:d", "A:bc\r\nB:d"),
    ("\r\n c", "c"),
    ("A:b\r c", "A:b\r c"),
    ("A:b c\r\nB:d", "A:b c\r\nB:d"),
])
def test_folds_joined(text: str, unfolded: str) -> None:
    assert unfold(text) == unfolded == UFOLD.sub("", text)


@pytest.mark.parametrize("line, plain", [
    ("DTSTART;TZID=Europe/Berlin:20240101T100000", True),
    ("ATTENDEE;CN=Ann Lee;ROLE=REQ-PARTICIPANT:mailto:ann@example.com", True),
    ("SUMMARY:a\\, b\\; c\\nd", True),
    ('ATTENDEE;CN="Lee, Ann":mailto:ann@example.com', False),
    ("X-A;X-B=50%:v", False),
    ("X-A;X-B=a^nb:v", False),
    ("X-A;X-B= a:v", False),
])
def test_plain_and_other_lines(line: str, plain: bool) -> None:
    """The shapes the plain splitter takes, and ones it leaves to icalendar; both give its parts."""
    from kernel.icaltext import _PLAIN_LINE

    assert (_PLAIN_LINE.fullmatch(line) is not None) is plain
    assert split(_Line(line)) == split(Contentline(line))


@settings(max_examples=300, deadline=None)
@given(st.lists(lines(), max_size=6), st.sampled_from(("\r\n", "\n")))
def test_a_calendar_reads_as_icalendar_reads_it(body: list[str], newline: str) -> None:
    text = newline.join(["BEGIN:VCALENDAR", "VERSION:2.0", "BEGIN:VEVENT", "UID:u1", *body,
                         "END:VEVENT", "END:VCALENDAR", ""])
    try:
        expected = icalendar.Calendar.from_ical(text).to_ical()
    except Exception as exc:  # noqa: BLE001 - then read_calendar must refuse it too
        with pytest.raises(type(exc)):
            read_calendar(text)
        return
    assert read_calendar(text).to_ical() == expected


def test_the_number_of_components_is_checked() -> None:
    with pytest.raises(ValueError, match="no component"):
        read_calendar("\r\n")
    with pytest.raises(ValueError, match="2 components"):
        read_calendar("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")



class XReadingTest(icalendar.Component):
    """A plugin's own component class."""

    name = "X-READING-TEST"


icalendar.Calendar.register(XReadingTest)  # once, as a plugin registers it on import


def test_component_classes_registered_with_icalendar_are_made() -> None:
    """A plugin's own component class, registered with icalendar, is what the kernel reads into."""
    text = "BEGIN:VCALENDAR\r\nBEGIN:X-READING-TEST\r\nX-A:1\r\nEND:X-READING-TEST\r\nEND:VCALENDAR\r\n"
    assert type(read_calendar(text).subcomponents[0]) is XReadingTest
