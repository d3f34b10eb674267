"""Conditional requests (RFC 9110 13): Last-Modified on GET and HEAD agreeing with getlastmodified,
If-Modified-Since (304), If-Unmodified-Since (412), and their precedence after the ETag conditions;
and the content type of calendar objects, the server's rather than the client's."""

from __future__ import annotations

import time
from email.utils import formatdate, parsedate_to_datetime

import httpx

from kernel.testing import event_object as event
from kernel.testing.dav import mkcalendar, parse_multistatus, propfind


def date(seconds: float) -> str:
    return formatdate(seconds, usegmt=True)


def stored(alice: httpx.Client) -> tuple[str, httpx.Response]:
    cal = mkcalendar(alice)
    assert alice.put(cal + "a.ics", content=event("cond")).status_code == 201
    got = alice.get(cal + "a.ics")
    return cal, got


def test_last_modified_agrees_with_getlastmodified(alice: httpx.Client) -> None:
    cal, got = stored(alice)
    head = alice.head(cal + "a.ics")
    listed = parse_multistatus(propfind(alice, cal + "a.ics", "<D:prop><D:getlastmodified/></D:prop>"))
    (response,) = listed.values()
    assert got.headers["Last-Modified"] == head.headers["Last-Modified"] == response.text("{DAV:}getlastmodified")
    assert abs(parsedate_to_datetime(got.headers["Last-Modified"]).timestamp() - time.time()) < 120
    whole = alice.get(cal)
    assert whole.status_code == 200 and "Last-Modified" in whole.headers


def test_if_modified_since(alice: httpx.Client) -> None:
    cal, got = stored(alice)
    modified = got.headers["Last-Modified"]
    since = parsedate_to_datetime(modified).timestamp()
    for method in ("GET", "HEAD"):
        unchanged = alice.request(method, cal + "a.ics", headers={"If-Modified-Since": modified})
        assert unchanged.status_code == 304 and unchanged.content == b""
        assert unchanged.headers["ETag"] == got.headers["ETag"] and unchanged.headers["Last-Modified"] == modified
        older = alice.request(method, cal + "a.ics", headers={"If-Modified-Since": date(since - 60)})
        assert older.status_code == 200
    assert alice.get(cal + "a.ics", headers={"If-Modified-Since": "not a date"}).status_code == 200
    # If-None-Match takes precedence: a different tag means the client's copy is stale
    stale = alice.get(cal + "a.ics", headers={"If-Modified-Since": modified, "If-None-Match": '"other"'})
    assert stale.status_code == 200
    whole = alice.get(cal)
    assert alice.get(cal, headers={"If-Modified-Since": whole.headers["Last-Modified"]}).status_code == 304


def test_if_unmodified_since(alice: httpx.Client) -> None:
    cal, got = stored(alice)
    since = parsedate_to_datetime(got.headers["Last-Modified"]).timestamp()
    assert alice.get(cal + "a.ics", headers={"If-Unmodified-Since": date(since - 60)}).status_code == 412
    assert alice.get(cal + "a.ics", headers={"If-Unmodified-Since": date(since)}).status_code == 200
    changed = event("cond", summary="changed")
    refused = alice.put(cal + "a.ics", content=changed, headers={"If-Unmodified-Since": date(since - 60)})
    assert refused.status_code == 412
    assert alice.get(cal + "a.ics").content == got.content
    assert alice.delete(cal + "a.ics", headers={"If-Unmodified-Since": date(since - 60)}).status_code == 412
    # If-Match takes precedence over If-Unmodified-Since (RFC 9110 13.1.4)
    matched = alice.put(cal + "a.ics", content=changed,
                        headers={"If-Unmodified-Since": date(since - 60), "If-Match": got.headers["ETag"]})
    assert matched.status_code == 204
    later = date(time.time() + 60)
    assert alice.delete(cal + "a.ics", headers={"If-Unmodified-Since": later}).status_code == 204
    assert alice.put(cal + "new.ics", content=event("fresh"), headers={"If-Unmodified-Since": date(0)}).status_code == 201


def test_content_type_is_the_servers_not_the_clients(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    sent = alice.put(cal + "a.ics", content=event("ctype"), headers={"Content-Type": "TEXT/Calendar;Charset=ISO-8859-1"})
    assert sent.status_code == 201
    listed = parse_multistatus(propfind(alice, cal + "a.ics", "<D:prop><D:getcontenttype/></D:prop>"))
    (response,) = listed.values()
    assert response.text("{DAV:}getcontenttype") == "text/calendar; charset=utf-8; component=VEVENT"
    assert alice.get(cal + "a.ics").headers["Content-Type"] == "text/calendar; charset=utf-8; component=VEVENT"
