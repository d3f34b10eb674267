"""ICS feeds: conditional GETs, X-WR-TIMEZONE repair, one object per UID, garbage tolerated."""

from __future__ import annotations

import asyncio

import pytest

from kernel.host import Host
from kernel.types import Rejected
from plugins.caldav_subscription import manage, records

from .conftest import local_objects, subscribe, sync
from .peers import FeedServer, summary_of

GOOGLE_STYLE = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Google Inc//Google Calendar 70.9054//EN\r
X-WR-CALNAME:Team holidays\r
X-WR-TIMEZONE:Europe/Berlin\r
BEGIN:VEVENT\r
UID:standup@example.com\r
DTSTAMP:20240101T000000Z\r
DTSTART:20240304T080000Z\r
DTEND:20240304T081500Z\r
RRULE:FREQ=WEEKLY;COUNT=4\r
SUMMARY:Standup\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:standup@example.com\r
RECURRENCE-ID:20240311T080000Z\r
DTSTAMP:20240101T000000Z\r
DTSTART:20240311T090000Z\r
DTEND:20240311T091500Z\r
SUMMARY:Standup (moved)\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:offsite@example.com\r
DTSTAMP:20240101T000000Z\r
DTSTART;VALUE=DATE:20240320\r
DTEND;VALUE=DATE:20240322\r
SUMMARY:Offsite\r
END:VEVENT\r
{more}END:VCALENDAR\r
"""

NO_UID = "BEGIN:VEVENT\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240305T100000Z\r\nSUMMARY:Anonymous\r\nEND:VEVENT\r\n"


def feed(more: str = "") -> bytes:
    return GOOGLE_STYLE.format(more=more).encode()


def test_feed_with_x_wr_timezone(host: Host, feeds: FeedServer) -> None:
    url = feeds.publish("/team.ics", feed(NO_UID))
    sub = subscribe(host, url)
    assert records.get(host.store, sub.id).kind == "ics"
    out = sync(host, sub)
    assert out.error is None, out.error
    assert out.report.pulled == 2
    assert out.report.skipped == [{"object": "VEVENT 'Anonymous'", "reason": "has no UID"}]
    local = local_objects(host, sub)
    assert set(local) == {"standup@example.com.ics", "offsite@example.com.ics"}
    standup = local["standup@example.com.ics"].decode()
    # The UTC times were moved into the calendar's zone, with its VTIMEZONE, master and override together.
    assert "DTSTART;TZID=Europe/Berlin:20240304T090000" in standup
    assert "BEGIN:VTIMEZONE" in standup and "TZID:Europe/Berlin" in standup
    assert "RECURRENCE-ID;TZID=Europe/Berlin:20240311T090000" in standup
    assert standup.count("BEGIN:VEVENT") == 2
    assert "BEGIN:VTIMEZONE" not in local["offsite@example.com.ics"].decode()
    assert "DTSTART;VALUE=DATE:20240320" in local["offsite@example.com.ics"].decode()


def test_conditional_get_and_updates(host: Host, feeds: FeedServer) -> None:
    url = feeds.publish("/team.ics", feed())
    sub = subscribe(host, url)
    assert sync(host, sub).report.pulled == 2
    feeds.requests.clear()
    idle = sync(host, sub)
    assert idle.error is None and idle.requests == 1 and idle.report.pulled == 0
    _method, _path, headers = feeds.requests[-1]
    assert headers.get("If-None-Match") and headers.get("If-Modified-Since")

    changed = feed().replace(b"SUMMARY:Offsite", b"SUMMARY:Offsite (Lisbon)")
    changed = changed.replace(b"UID:standup@example.com", b"UID:retro@example.com", 2)
    feeds.publish("/team.ics", changed)
    out = sync(host, sub)
    assert out.error is None, out.error
    assert (out.report.pulled, out.report.deleted) == (2, 1)
    local = local_objects(host, sub)
    assert set(local) == {"retro@example.com.ics", "offsite@example.com.ics"}
    assert summary_of(local["offsite@example.com.ics"]) == "Offsite (Lisbon)"


def test_garbage_feed_keeps_local_data(host: Host, feeds: FeedServer) -> None:
    url = feeds.publish("/team.ics", feed())
    sub = subscribe(host, url)
    assert sync(host, sub).report.pulled == 2
    feeds.publish("/team.ics", b"<html><body>We are down for maintenance</body></html>", "text/html")
    out = sync(host, sub)
    assert out.error is not None and "not iCalendar" in out.error
    assert len(local_objects(host, sub)) == 2
    del feeds.files["/team.ics"]
    gone = sync(host, sub)
    assert gone.error is not None and "status 404" in gone.error
    assert len(local_objects(host, sub)) == 2


def test_feeds_are_one_way_only(host: Host, feeds: FeedServer) -> None:
    url = feeds.publish("/team.ics", feed())
    with pytest.raises(Rejected) as err:
        subscribe(host, url, mode="two-way")
    assert err.value.status == 400 and "one-way" in err.value.message
    assert host.store.collection("alice", "remote") is None


def test_webcal_and_userinfo_urls_are_normalized(host: Host, feeds: FeedServer) -> None:
    feeds.publish("/team.ics", feed())
    url = feeds.url.replace("http://", "http://joe:secret@") + "/team.ics"
    sub = subscribe(host, url)
    stored = records.get(host.store, sub.id)
    assert stored.url == feeds.url + "/team.ics"
    assert manage.credentials(host, stored) == ("joe", "secret")
    assert manage.normalize_url("webcal://example.org/x.ics", None, None)[0] == "https://example.org/x.ics"
    assert sync(host, sub).error is None
    sent = [h.get("Authorization", "") for _, _, h in feeds.requests]
    assert sent and all(a.startswith("Basic ") for a in sent)


def test_not_a_calendar_is_refused_at_add(host: Host, feeds: FeedServer) -> None:
    url = feeds.publish("/page.html", b"<html>hello</html>", "text/html")
    with pytest.raises(Rejected) as err:
        asyncio.run(manage.create(host, None, calendar="alice/x", url=url))
    assert err.value.status == 400 and "No calendar at this URL" in err.value.message
    assert host.store.collection("alice", "x") is None


OUTLOOK_STYLE = (
    "BEGIN:VCALENDAR\n"
    "VERSION:2.0\n"
    "PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN\n"
    "BEGIN:VEVENT\n"
    "UID:review@example.com\n"
    "DTSTAMP:20240101T000000Z\n"
    "DTSTART;TZID=W. Europe Standard Time:20240305T100000\n"
    "DTEND;TZID=W. Europe Standard Time:20240305T110000\n"
    "SUMMARY:Review\n"
    "DESCRIPTION:first line\n"
    "second line broken without a fold\n"
    "END:VEVENT\n"
    "END:VCALENDAR\n"
)


def test_feeds_get_the_kernels_ingest_repairs(host: Host, feeds: FeedServer) -> None:
    """LF line breaks, a Windows zone name, a line broken without folding: the feed passes
    the same ingest pipeline as every write (kernel.ingest), before it is split."""
    url = feeds.publish("/outlook.ics", OUTLOOK_STYLE.encode())
    sub = subscribe(host, url)
    out = sync(host, sub)
    assert out.error is None, out.error
    assert out.report.pulled == 1 and out.report.skipped == []
    stored = local_objects(host, sub)["review@example.com.ics"].decode()
    assert "\r\n" in stored and "\n" not in stored.replace("\r\n", "")
    assert "DTSTART;TZID=Europe/Berlin:20240305T100000" in stored
    assert "BEGIN:VTIMEZONE" in stored and "TZID:Europe/Berlin" in stored
    assert "second line broken without a fold" in stored
    assert summary_of(stored.encode()) == "Review"
