"""A subscribed feed carrying a hostile time zone: refused with a logged reason, the server keeps answering."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kernel.testing import LiveServer, add_user, latency_during
from plugins.caldav_subscription import records

from .conftest import build_host, local_objects, subscribe, sync
from .peers import FeedServer

BENIGN = (
    "BEGIN:VEVENT\r\nUID:standup@example.com\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240304T080000Z\r\n"
    "DTEND:20240304T081500Z\r\nSUMMARY:Standup\r\nEND:VEVENT\r\n"
)
HOSTILE = (
    "BEGIN:VTIMEZONE\r\nTZID:Evil\r\n"
    "BEGIN:STANDARD\r\nDTSTART:16010101T000000\r\nRRULE:FREQ=SECONDLY\r\nTZOFFSETFROM:+0100\r\n"
    "TZOFFSETTO:+0000\r\nEND:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\nDTSTART:16010325T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
    "TZOFFSETFROM:+0000\r\nTZOFFSETTO:+0100\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
    "BEGIN:VEVENT\r\nUID:evil@example.com\r\nDTSTAMP:20240101T000000Z\r\nDTSTART;TZID=Evil:20240305T100000\r\n"
    "DTEND;TZID=Evil:20240305T110000\r\nSUMMARY:Evil\r\nEND:VEVENT\r\n"
)


def feed(*parts: str) -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//hostile feed//EN\r\n" + "".join(parts)
            + "END:VCALENDAR\r\n").encode()


def test_a_feed_with_a_hostile_time_zone_is_refused_and_never_hangs(
    tmp_path: Path, feeds: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    host = build_host(tmp_path, ("caldav_server", "caldav_subscription"))
    add_user(host, "bob")
    sub = subscribe(host, feeds.publish("/team.ics", feed(BENIGN)))
    try:
        with LiveServer(host) as server, server.client("alice") as alice, server.client("bob") as bob:
            assert alice.post(f"/api/subscriptions/{sub.id}/sync").status_code == 200
            feeds.publish("/team.ics", feed(BENIGN.replace("Standup", "Standup, moved"), HOSTILE))
            answer, took = latency_during(
                lambda: alice.post(f"/api/subscriptions/{sub.id}/sync"),
                lambda: bob.request("PROPFIND", "/dav/cal/bob/", headers={"Depth": "0"}),
            )
            assert took and max(took) < 1.0, took
        error = answer.json()["error"]
        assert answer.status_code == 502 and error.startswith("the feed is refused: The time zone 'Evil' is refused")
        assert "repeats FREQ=SECONDLY" in error
        local = local_objects(host, sub)
        assert list(local) == ["standup@example.com.ics"] and b"moved" not in local["standup@example.com.ics"]
        # `teamcal subscription sync` runs the same code in the foreground: it ends, and logs why
        with caplog.at_level(logging.WARNING, logger="teamcal"):
            outcome = sync(host, sub)
        assert outcome.error == error and records.get(host.store, sub.id).last_error == error
        assert any("sync failed" in r.getMessage() and "'Evil' is refused" in r.getMessage() for r in caplog.records)
        assert list(local_objects(host, sub)) == ["standup@example.com.ics"]
    finally:
        host.close()
