"""Secret read-only ICS feed URLs: no credentials, conditional GET, revocation, one calendar only, the CLI."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import icalendar

from kernel.testing import event_object as event
from kernel.testing.dav import mkcalendar, unique
from plugins.caldav_server.feeds import tokens
from tests.caldav_server.conftest import Deployment

ROOT = Path(__file__).resolve().parents[2]

TODO = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//teamcal tests//EN\r
BEGIN:VTODO\r
UID:{uid}\r
DTSTAMP:20240101T000000Z\r
SUMMARY:a task\r
END:VTODO\r
END:VCALENDAR\r
"""

JOURNAL = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//teamcal tests//EN\r
BEGIN:VJOURNAL\r
UID:{uid}\r
DTSTAMP:20240101T000000Z\r
SUMMARY:a private journal entry\r
END:VJOURNAL\r
END:VCALENDAR\r
"""

ZONED = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//teamcal tests//EN\r
BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
BEGIN:STANDARD\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20240101T000000Z\r
DTSTART;TZID=Europe/Berlin:20240301T090000\r
DTEND;TZID=Europe/Berlin:20240301T100000\r
SUMMARY:zoned\r
END:VEVENT\r
END:VCALENDAR\r
"""


def teamcal(deployment: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the teamcal CLI on the deployment's plugins.toml in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "kernel.cli", "--config", str(deployment.host.config.path), *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def new_feed(deployment: Deployment, owner: str, path: str) -> str:
    """Make a feed through the plugin's API; returns its URL path on the live server."""
    collection = deployment.host.store.collection(owner, path.strip("/").rsplit("/", 1)[-1])
    assert collection is not None
    _, token = tokens.create(deployment.host.store, collection, "test")
    return f"/feeds/{token}.ics"


def anonymous(deployment: Deployment) -> httpx.Client:
    """A plain HTTP client with no credentials at all."""
    return httpx.Client(base_url=deployment.url, timeout=30)


def uids(body: bytes) -> dict[str, set[str]]:
    """UIDs by component name in a text/calendar document (parsed strictly by icalendar)."""
    found: dict[str, set[str]] = {}
    for component in icalendar.Calendar.from_ical(body).walk():
        if "UID" in component:
            found.setdefault(component.name, set()).add(str(component["UID"]))
    return found


def test_feed_needs_no_credentials_and_holds_only_events_and_tasks(deployment: Deployment, alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    other = mkcalendar(alice)
    for name, body in (
        ("e.ics", event("feed-event", summary="Planning, review; retro")),
        ("t.ics", TODO.replace(b"{uid}", b"feed-todo")),
        ("j.ics", JOURNAL.replace(b"{uid}", b"feed-journal")),
        ("z.ics", ZONED.replace(b"{uid}", b"feed-zoned")),
    ):
        assert alice.put(cal + name, content=body).status_code == 201
    assert alice.put(other + "o.ics", content=event("other-calendar-event")).status_code == 201
    feed = new_feed(deployment, "alice", cal)
    with anonymous(deployment) as client:
        r = client.get(feed)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    assert r.headers["cache-control"] == "private"
    assert "www-authenticate" not in r.headers and "set-cookie" not in r.headers
    assert r.headers["etag"].startswith('"') and r.headers["last-modified"].endswith("GMT")
    assert uids(r.content) == {"VEVENT": {"feed-event", "feed-zoned"}, "VTODO": {"feed-todo"}}
    parsed = icalendar.Calendar.from_ical(r.content)
    assert [str(tz["TZID"]) for tz in parsed.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert "X-WR-CALNAME" in parsed and "REFRESH-INTERVAL" in parsed
    assert b"VJOURNAL" not in r.content and b"other-calendar-event" not in r.content


def test_conditional_get_and_head(deployment: Deployment, alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    alice.put(cal + "e.ics", content=event("cond-1"))
    feed = new_feed(deployment, "alice", cal)
    with anonymous(deployment) as client:
        first = client.get(feed)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        for headers in (
            {"If-None-Match": etag},
            {"If-None-Match": f'"nope", W/{etag}'},
            {"If-None-Match": "*"},
            {"If-Modified-Since": modified},
        ):
            again = client.get(feed, headers=headers)
            assert again.status_code == 304, headers
            assert again.content == b"" and again.headers["etag"] == etag
        stale_tag = client.get(feed, headers={"If-None-Match": '"nope"', "If-Modified-Since": modified})
        assert stale_tag.status_code == 200 and stale_tag.content == first.content
        assert client.get(feed, headers={"If-Modified-Since": formatdate(0, usegmt=True)}).status_code == 200
        assert client.get(feed, headers={"If-Modified-Since": "not a date"}).status_code == 200
        head = client.head(feed)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["etag"] == etag and int(head.headers["content-length"]) == len(first.content)
        alice.put(cal + "f.ics", content=event("cond-2"))
        changed = client.get(feed, headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag
        assert uids(changed.content)["VEVENT"] == {"cond-1", "cond-2"}
        assert client.get(feed, headers={"If-None-Match": changed.headers["etag"]}).status_code == 304


def test_feed_is_read_only(deployment: Deployment, alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    alice.put(cal + "e.ics", content=event("read-only"))
    feed = new_feed(deployment, "alice", cal)
    with anonymous(deployment) as client:
        before = client.get(feed).content
        for method in ("PUT", "POST", "DELETE", "PROPFIND", "PROPPATCH", "MKCOL", "LOCK", "MOVE"):
            r = client.request(method, feed, content=event("intruder"))
            assert r.status_code == 405, method
        assert client.get(feed).content == before
    assert [c for c in alice.get(cal).text.splitlines() if c.startswith("UID:")] == ["UID:read-only"]


def test_revoked_unknown_and_deleted_look_the_same(deployment: Deployment, alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    alice.put(cal + "e.ics", content=event("revoked"))
    collection = deployment.host.store.collection("alice", cal.strip("/").rsplit("/", 1)[-1])
    assert collection is not None
    feed, token = tokens.create(deployment.host.store, collection, "test")
    gone = mkcalendar(alice)
    gone_feed = new_feed(deployment, "alice", gone)
    with anonymous(deployment) as client:
        assert client.get(f"/feeds/{token}.ics").status_code == 200
        assert tokens.revoke(deployment.host.store, feed.id) is not None
        assert alice.delete(gone).status_code == 204
        answers = [
            client.get(path)
            for path in (
                f"/feeds/{token}.ics",
                gone_feed,
                "/feeds/" + "A" * 43 + ".ics",
                "/feeds/short.ics",
            )
        ]
    assert [r.status_code for r in answers] == [404] * 4
    assert len({(r.content, r.headers["content-type"]) for r in answers}) == 1
    assert b"alice" not in answers[0].content


def test_a_token_never_reaches_another_calendar(deployment: Deployment, alice: httpx.Client, bob: httpx.Client) -> None:
    mine = mkcalendar(alice)
    theirs = mkcalendar(bob, owner="bob")
    team = mkcalendar(alice, owner="team")
    alice.put(mine + "a.ics", content=event("alice-only"))
    bob.put(theirs + "b.ics", content=event("bob-only"))
    alice.put(team + "t.ics", content=event("team-only"))
    feeds = {
        name: new_feed(deployment, owner, path)
        for name, owner, path in (
            ("alice-only", "alice", mine),
            ("bob-only", "bob", theirs),
            ("team-only", "team", team),
        )
    }
    with anonymous(deployment) as client:
        for uid, feed in feeds.items():
            assert uids(client.get(feed).content) == {"VEVENT": {uid}}
        # A deleted calendar's token stays dead, even when a calendar of the same
        # name (which SQLite may give the deleted row's id) takes its place.
        name = mine.strip("/").rsplit("/", 1)[-1]
        assert alice.delete(mine).status_code == 204
        assert client.get(feeds["alice-only"]).status_code == 404
        mkcalendar(alice, name=name)
        alice.put(mine + "n.ics", content=event("new-calendar-same-name"))
        assert client.get(feeds["alice-only"]).status_code == 404
        reborn = deployment.host.store.collection("alice", name)
        assert reborn is not None and tokens.feeds(deployment.host.store, reborn.id) == []
        assert uids(client.get(feeds["bob-only"]).content) == {"VEVENT": {"bob-only"}}


def test_path_tricks_on_the_token_segment(deployment: Deployment, alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    alice.put(cal + "e.ics", content=event("tricks"))
    feed = new_feed(deployment, "alice", cal)
    token = feed[len("/feeds/") : -len(".ics")]
    swapped = token[:-1] + ("A" if token[-1] != "A" else "B")
    with anonymous(deployment) as client:
        assert client.get(feed).status_code == 200
        for path in (
            f"/feeds/{token}",
            f"/feeds/{token}.ICS",
            f"/feeds/{token}.ics.ics",
            f"/feeds/{token[:-1]}.ics",
            f"/feeds/{token}A.ics",
            f"/feeds/{swapped}.ics",
            f"/feeds/{token.swapcase()}.ics",
            f"/feeds/%20{token}.ics",
            f"/feeds/{token}.ics%2F..%2F..%2Fdav%2Fcal%2Falice%2F",
            f"/feeds//{token}.ics",
            f"/feeds/{token}.ics/extra",
            "/feeds/",
            "/feeds",
        ):
            r = client.get(path)
            assert r.status_code == 404, (path, r.status_code)
            assert b"BEGIN:VCALENDAR" not in r.content
        control = client.get(f"/feeds/{token}%00.ics")  # the kernel refuses control characters in any path
        assert control.status_code == 400 and b"BEGIN:VCALENDAR" not in control.content
        for target in (
            f"/feeds/..{cal}".encode(),
            f"/feeds/{token}.ics/../../dav/cal/alice/".encode(),
            f"/feeds/..%2f..{cal}".encode(),
        ):
            r = client.get(feed, extensions={"target": target})
            assert r.status_code in (401, 404), (target, r.status_code)
            assert b"BEGIN:VCALENDAR" not in r.content
        slash = client.get(feed + "/")
        assert slash.status_code == 404 or (
            slash.status_code in (307, 308) and urlsplit(slash.headers["location"]).path == feed
        )
        # The token opens the feed and nothing else: not the calendar's DAV URL.
        assert client.get(cal).status_code == 401
        assert client.get(cal, auth=("alice", token)).status_code == 401


def test_cli_create_list_revoke(deployment: Deployment, alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    name = cal.strip("/").rsplit("/", 1)[-1]
    alice.put(cal + "e.ics", content=event("cli-event"))
    created = teamcal(deployment, "feed", "create", f"alice/{name}")
    assert created.returncode == 0, created.stderr
    url = created.stdout.strip()
    assert url.startswith(deployment.host.base_url + "/feeds/") and url.endswith(".ics")
    assert "revoke" in created.stderr
    token = urlsplit(url).path[len("/feeds/") : -len(".ics")]
    assert tokens.TOKEN_SHAPE.fullmatch(token)
    rows = deployment.host.store.execute("SELECT * FROM caldav_server_feeds").fetchall()
    assert all(token not in str(value) for row in rows for value in row)
    assert any(row[1] == hashlib.sha256(token.encode()).hexdigest() for row in rows)
    with anonymous(deployment) as client:
        assert uids(client.get(urlsplit(url).path).content) == {"VEVENT": {"cli-event"}}
        listed = teamcal(deployment, "feed", "list", f"alice/{name}")
        assert listed.returncode == 0, listed.stderr
        [line] = listed.stdout.splitlines()
        feed_id = line.split("\t")[0]
        assert f"alice/{name}" in line and line.endswith("active")
        assert token not in listed.stdout and hashlib.sha256(token.encode()).hexdigest() not in listed.stdout
        revoked = teamcal(deployment, "feed", "revoke", feed_id)
        assert revoked.returncode == 0, revoked.stderr
        assert client.get(urlsplit(url).path).status_code == 404
    everything = teamcal(deployment, "feed", "list")
    assert any(line.startswith(f"{feed_id}\t") and "\trevoked " in line for line in everything.stdout.splitlines())
    files = f"alice/{unique('files')}"
    assert alice.request("MKCOL", f"/dav/cal/{files}/").status_code == 201
    for args in (("revoke", "987654"), ("create", files), ("create", "alice/no-such-calendar"), ("create", "nobody/x")):
        refused = teamcal(deployment, "feed", *args)
        assert refused.returncode == 1 and refused.stderr.startswith("teamcal: "), (args, refused.stderr)
