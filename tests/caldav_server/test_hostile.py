"""Hostile and malformed input: XML bombs, path tricks, huge bodies, odd methods, runaway rules."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from kernel.testing import event_object as event
from kernel.testing import latency_during
from kernel.testing.dav import CALDAV, mkcalendar, parse_multistatus, propfind
from tests.caldav_server.conftest import PASSWORD, Deployment, make_deployment

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol3;</D:displayname></D:prop></D:propfind>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&xxe;</D:displayname></D:prop></D:propfind>"""
SECONDLY = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//t//EN\r
BEGIN:VEVENT\r
UID:every-second\r
DTSTAMP:20240101T000000Z\r
DTSTART:20240101T000000Z\r
DURATION:PT1S\r
RRULE:FREQ=SECONDLY\r
SUMMARY:tick\r
END:VEVENT\r
END:VCALENDAR\r
"""


def raw_request(deployment: Deployment, method: str, path: str) -> int:
    """Send a request with the path exactly as given (no client-side normalisation)."""
    import base64

    conn = http.client.HTTPConnection("127.0.0.1", deployment.server.port, timeout=10)
    auth = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    conn.putrequest(method, path, skip_accept_encoding=True)
    conn.putheader("Authorization", f"Basic {auth}")
    conn.putheader("Depth", "0")
    conn.putheader("Content-Length", "0")
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def test_xml_bombs_and_entities_are_refused(alice: httpx.Client) -> None:
    for body in (
        BOMB,
        EXTERNAL,
        b"<D:propfind xmlns:D='DAV:'><D:prop>",
        b"\xff\xfe garbage",
        b'<a xmlns:b=""><b:c/></a>',
    ):
        r = alice.request("PROPFIND", "/dav/cal/alice/", content=body, headers={"Depth": "0"})
        assert r.status_code == 400, body
        assert "root:" not in r.text


def test_deep_and_wide_xml_is_refused_without_delaying_others(alice: httpx.Client, bob: httpx.Client) -> None:
    deep = b"<a>" * 100_000 + b"</a>" * 100_000
    wide = b'<D:propfind xmlns:D="DAV:"><D:prop>' + b"<D:displayname/>" * 60_000 + b"</D:prop></D:propfind>"
    for body in (deep, wide):
        r, took = latency_during(
            lambda body=body: alice.request("PROPFIND", "/dav/cal/alice/", content=body, headers={"Depth": "0"}),
            lambda: bob.request("PROPFIND", "/dav/cal/bob/", headers={"Depth": "0"}),
        )
        assert r.status_code == 400
        assert took and max(took) < 1.0, took


def test_path_tricks_are_refused(deployment: Deployment) -> None:
    cal = "/dav/cal/alice/x"
    for path in (
        "/dav/cal/alice/%2e%2e/bob/",
        "/dav/cal/../cal/bob/",
        "/dav/cal/alice/a%2Fb/",
        "/dav/cal/alice/a%5Cb/",
        "/dav/cal/alice/a%00b/",
        "/dav/cal/alice/%ff%fe/",
        cal + "/./y",
        "/dav/cal/alice/a%01b/",
        "/dav/cal/alice/a%0Ab/",  # a newline: refused by the kernel before routing
        "/dav/cal/alice/a%0D%0Ab/",
    ):
        assert raw_request(deployment, "PROPFIND", path) == 400, path


def test_body_over_the_kernel_cap_is_413(deployment: Deployment, alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    cap = deployment.host.kernel.max_body_size
    for method, path in (("PUT", cal + "big.ics"), ("PROPFIND", cal), ("PROPPATCH", cal)):
        r = alice.request(method, path, content=b"x" * (cap + 1))
        assert r.status_code == 413, method


def test_a_chunked_body_over_the_cap_is_refused_for_every_method(tmp_path: Path) -> None:
    """413 at the cap; a calendar object's PUT names CALDAV:max-resource-size (403, RFC 4791 1.3)."""
    dep = make_deployment(tmp_path, 'max_body_size = "64kb"')
    decl = f'xmlns:D="DAV:" xmlns:C="{CALDAV}"'
    big = "A" * 100_000

    def chunked(text: str) -> Iterator[bytes]:
        """The body sent in 8 KB chunks, without a Content-Length."""
        data = text.encode()
        for i in range(0, len(data), 8192):
            yield data[i : i + 8192]

    with dep.server, dep.client("alice") as alice, dep.client("bob") as bob:
        cal = mkcalendar(alice)
        requests = [
            ("PROPFIND", cal, f"<D:propfind {decl}><D:prop><D:displayname/><!-- {big} --></D:prop></D:propfind>"),
            ("PROPPATCH", cal, f"<D:propertyupdate {decl}><D:set><D:prop><D:displayname>{big}</D:displayname>"
             "</D:prop></D:set></D:propertyupdate>"),
            ("REPORT", cal, f'<C:calendar-multiget {decl}><D:prop><D:getetag/></D:prop><D:href>{big}</D:href>'
             "</C:calendar-multiget>"),
            ("PUT", cal + "big.ics", event("big", summary=big).decode()),
            ("MKCALENDAR", "/dav/cal/alice/new-cal/", f"<C:mkcalendar {decl}><D:set><D:prop>"
             f"<D:displayname>{big}</D:displayname></D:prop></D:set></C:mkcalendar>"),
            ("MKCOL", "/dav/cal/alice/new-col/", f'<D:mkcol {decl}><D:set><D:prop><D:displayname>{big}'
             "</D:displayname></D:prop></D:set></D:mkcol>"),
            ("LOCK", cal + "locked.ics", f"<D:lockinfo {decl}><D:lockscope><D:exclusive/></D:lockscope>"
             f"<D:locktype><D:write/></D:locktype><D:owner>{big}</D:owner></D:lockinfo>"),
        ]

        def attack() -> list[httpx.Response]:
            with dep.client("alice") as attacker:
                return [attacker.request(m, path, content=chunked(body)) for m, path, body in requests]

        def probe() -> None:
            assert bob.request("PROPFIND", "/dav/cal/bob/", headers={"Depth": "0"}).status_code == 207

        answers, took = latency_during(attack, probe)
        for (method, _, _), r in zip(requests, answers):
            assert r.status_code == (403 if method == "PUT" else 413), (method, r.status_code, r.text[:300])
            assert "limit of 65536 bytes" in r.text, method
        assert max(took) < 1.0, took
        assert alice.get(cal + "big.ics").status_code == 404
        assert alice.get(cal + "locked.ics").status_code == 404
        for path in ("/dav/cal/alice/new-cal/", "/dav/cal/alice/new-col/"):
            assert alice.request("PROPFIND", path, headers={"Depth": "0"}).status_code == 404
        names = propfind(alice, cal, "<D:prop><D:displayname/></D:prop>").text
        assert big not in names
    dep.host.close()


def test_unknown_and_odd_methods(alice: httpx.Client) -> None:
    assert alice.request("SEARCH", "/dav/cal/alice/").status_code == 501
    assert alice.request("ACL", "/dav/cal/alice/").status_code == 501
    patch = alice.request("PATCH", "/dav/cal/alice/")
    assert patch.status_code == 405 and "PROPFIND" in patch.headers["Allow"]
    cal = mkcalendar(alice)
    r = alice.request("MKCOL", cal)
    assert r.status_code == 405 and "PROPFIND" in r.headers["Allow"]
    options = alice.request("OPTIONS", cal)
    assert "calendar-access" in options.headers["DAV"] and "2" in options.headers["DAV"].split(", ")
    assert "REPORT" in options.headers["Allow"] and "MKCALENDAR" not in options.headers["Allow"]


def test_bad_headers_are_400(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    assert alice.request("PROPFIND", cal, headers={"Depth": "2"}).status_code == 400
    assert alice.put(cal + "e.ics", content=b"x", headers={"If": "(<unterminated"}).status_code == 400
    assert alice.request("COPY", cal, headers={"Destination": cal + "x/", "Overwrite": "maybe"}).status_code == 400


def test_an_href_that_is_no_url_is_a_4xx_wherever_it_is_given(alice: httpx.Client) -> None:
    """``http://[::1/x`` (an unclosed IPv6 bracket) is no URL: as a Destination it is a 400
    (as is a relative reference: RFC 4918 10.3 asks for an absolute URI or path), as the
    resource an If header's tagged list names a condition that does not hold (412), and as
    a multiget href a 404 beside the other answers; nothing is moved, written or lost."""
    cal = mkcalendar(alice)
    etag = alice.put(cal + "a.ics", content=event("a")).headers["ETag"]
    bad = "http://[::1/x"
    for method in ("MOVE", "COPY"):
        for destination in (bad, "b.ics", "*"):
            answer = alice.request(method, cal + "a.ics", headers={"Destination": destination})
            assert answer.status_code == 400 and "not a URL" in answer.text, (method, destination)
    refused = alice.put(cal + "a.ics", content=event("a", summary="changed"), headers={"If": f"<{bad}> ([{etag}])"})
    assert refused.status_code == 412
    multiget = (
        f'<C:calendar-multiget xmlns:D="DAV:" xmlns:C="{CALDAV}"><D:prop><D:getetag/></D:prop>'
        f"<D:href>{bad}</D:href><D:href>{cal}a.ics</D:href></C:calendar-multiget>"
    ).encode()
    answered = parse_multistatus(alice.request("REPORT", cal, content=multiget, headers={"Depth": "1"}))
    assert answered[bad].status == 404 and answered[cal + "a.ics"].value("{DAV:}getetag").text == etag
    assert alice.get(cal + "a.ics").headers["ETag"] == etag


def test_runaway_rule_is_answered_in_bounded_time(deployment: Deployment, alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    assert alice.put(cal + "tick.ics", content=SECONDLY).status_code == 201
    decl = f'xmlns:D="DAV:" xmlns:C="{CALDAV}"'
    window = 'start="20300101T000000Z" end="20310101T000000Z"'
    in_range = f'<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range {window}/></C:comp-filter></C:comp-filter>'
    query = f"<C:calendar-query {decl}><D:prop><D:getetag/></D:prop><C:filter>{in_range}</C:filter></C:calendar-query>"
    expand = (f"<C:calendar-query {decl}><D:prop><C:calendar-data><C:expand {window}/></C:calendar-data></D:prop>"
              f"<C:filter>{in_range}</C:filter></C:calendar-query>")
    free_busy = f"<C:free-busy-query {decl}><C:time-range {window}/></C:free-busy-query>"
    answers = {}
    with deployment.client("bob") as bob:
        for name, body in (("query", query), ("expand", expand), ("free-busy", free_busy)):
            answers[name], took = latency_during(
                lambda body=body: alice.request("REPORT", cal, content=body.encode(), headers={"Depth": "1"}),
                lambda: bob.request("PROPFIND", "/dav/cal/bob/", headers={"Depth": "0"}),
            )
            assert took and max(took) < 1.0, (name, took)
    assert list(parse_multistatus(answers["query"])) == [cal + "tick.ics"]  # found past the index horizon
    assert answers["expand"].status_code == 403 and "max-instances" in answers["expand"].text  # 5,000 per object
    assert answers["free-busy"].status_code == 507 and "recurrence instances" in answers["free-busy"].text


def test_a_write_waiting_for_the_database_lock_does_not_hold_up_others(
    deployment: Deployment, alice: httpx.Client, bob: httpx.Client
) -> None:
    """Another process holds the database's write lock: alice's PUT waits for it inside its
    piece of work (kernel.turns), and bob is still answered within a second meanwhile; the
    PUT lands once the lock is let go."""
    cal = mkcalendar(alice)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with deployment.host.store.transaction():  # another host's connection: the lock at database level
            deployment.host.store.execute("SELECT 1")  # taken with the transaction's first statement
            held.set()
            release.wait(30)

    took: list[float] = []
    with ThreadPoolExecutor(2) as pool:
        holder = pool.submit(hold)
        try:
            assert held.wait(10)
            put = pool.submit(alice.put, cal + "waits.ics", content=event("waits"))
            time.sleep(0.3)  # the PUT has reached the server and waits for the lock
            for _ in range(3):
                started = time.monotonic()
                assert bob.request("PROPFIND", "/dav/cal/bob/", headers={"Depth": "0"}).status_code == 207
                took.append(time.monotonic() - started)
            assert not put.done()
        finally:
            release.set()
        holder.result(timeout=30)
        assert put.result(timeout=30).status_code == 201
    assert max(took) < 1.0, took
