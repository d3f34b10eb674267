"""Every RFC 4791 / RFC 4918 / RFC 6578 (and RFC 7809) precondition, one row each.

Each row makes a real HTTP request against a running teamcal (CalDAV server
and limits plugins, limits low enough to reach) and checks the status and
the precondition element of the answer: the child of a DAV:error body, or,
where the method answers a multistatus (PROPPATCH, sync-collection), the
DAV:error of the failed propstat or response. RFC 4791 1.3: a precondition
that will always fail is a 403, one the user may resolve (a UID in use) a 409.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from kernel.testing import event_object as event
from kernel.testing.dav import CALDAV, mkcalendar, parse_multistatus, unique

from .conftest import Deployment, make_deployment

C = "{" + CALDAV + "}"
D = "{DAV:}"
TOML = """
[limits]
max_icalendar_size = "4kb"
max_attendees = 3
max_recurrence_expansions = 10
min_date_time = "19000101T000000Z"
max_date_time = "21000101T000000Z"
"""
XMLNS = f'xmlns:D="DAV:" xmlns:C="{CALDAV}"'
TODO = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:todo-1\r\n"
    b"DTSTAMP:20240101T000000Z\r\nSUMMARY:t\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
)
EVENT_ONLY = (
    f"<C:mkcalendar {XMLNS}><D:set><D:prop><C:supported-calendar-component-set>"
    '<C:comp name="VEVENT"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>'
)
VTODO_PART = b"BEGIN:VTODO\r\nUID:mixed\r\nDTSTAMP:20240101T000000Z\r\nEND:VTODO\r\nEND:VCALENDAR"
BAD_VTIMEZONE = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTIMEZONE\r\nEND:VCALENDAR\r\n"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, teamcal_backend: str) -> Iterator[Deployment]:
    """caldav_server and limits, with every advertised limit low enough to reach."""
    dep = make_deployment(tmp_path_factory.mktemp("preconditions"), TOML, enabled=("limits",))
    with dep.server:
        yield dep
    dep.host.close()


@pytest.fixture
def alice(live: Deployment) -> Iterator[httpx.Client]:
    """alice's raw client."""
    with live.client("alice") as client:
        yield client


# -- reading the answer -------------------------------------------------------------------


def preconditions(response: httpx.Response) -> list[ET.Element]:
    """The precondition elements of an answer: children of the root DAV:error, or of every
    DAV:error inside a multistatus-like document (propstat, response)."""
    root = ET.fromstring(response.content)
    if root.tag == D + "error":
        return [child for child in root if child.tag != D + "responsedescription"]
    return [child for error in root.iter(D + "error") for child in error]


def named(response: httpx.Response, element: str) -> ET.Element:
    """The precondition element ``element`` of the answer (fails the test when absent)."""
    found = [e for e in preconditions(response) if e.tag == element]
    assert found, (element, response.status_code, response.text)
    return found[0]


def inner_status(response: httpx.Response) -> int:
    """The status a multistatus reports for the failure (the first non-2xx, non-424 status)."""
    for text in ET.fromstring(response.content).iter(D + "status"):
        code = int((text.text or "HTTP/1.1 0").split()[1])
        if code >= 300 and code != 424:
            return code
    raise AssertionError(response.text)


# -- requests ----------------------------------------------------------------------------


def put(client: httpx.Client, path: str, body: bytes, **headers: str) -> httpx.Response:
    """PUT text/calendar (or the given Content-Type)."""
    return client.put(path, content=body, headers={"Content-Type": "text/calendar", **headers})


def transfer(client: httpx.Client, method: str, src: str, dest: str, **headers: str) -> httpx.Response:
    """COPY or MOVE ``src`` to ``dest``."""
    return client.request(method, src, headers={"Destination": dest, **headers})


def report(client: httpx.Client, path: str, body: str, depth: str = "1") -> httpx.Response:
    """A REPORT with this body."""
    return client.request("REPORT", path, content=body.encode(), headers={"Depth": depth})


def query(inner: str, before: str = "") -> str:
    """A calendar-query asking for the ETag, with ``before`` (e.g. CALDAV:timezone) after the filter."""
    return (
        f'<C:calendar-query {XMLNS}><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
        f"{inner}</C:comp-filter></C:filter>{before}</C:calendar-query>"
    )


def sized(uid: str, size: int) -> bytes:
    """An event of exactly ``size`` bytes."""
    base = event(uid, summary="")
    return base.replace(b"SUMMARY:", b"SUMMARY:" + b"x" * (size - len(base)))


def attendees(uid: str, count: int) -> bytes:
    """An event with ``count`` attendees."""
    lines = "".join(f"ATTENDEE:mailto:a{i}@example.com\r\n" for i in range(count))
    return event(uid).replace(b"SUMMARY:", lines.encode() + b"SUMMARY:")


def plain_collection(client: httpx.Client) -> str:
    """A plain (non-calendar) collection of alice's: it takes any bytes."""
    path = f"/dav/cal/alice/{unique('files')}/"
    assert client.request("MKCOL", path).status_code == 201
    return path


def staged(client: httpx.Client, body: bytes, content_type: str = "text/calendar") -> str:
    """A file in a plain collection holding ``body`` (no calendar rule checked it)."""
    path = plain_collection(client) + "staged.ics"
    assert put(client, path, body, **{"Content-Type": content_type}).status_code == 201
    return path


# -- the rows ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One precondition: the request that violates it, the status and the element answered.

    ``request(client)`` returns the answer; ``multistatus`` means the status
    is the 207's and ``inner`` the status of the failed part; ``check`` looks
    at the element (its DAV:href, say) and the answer.
    """

    element: str
    request: Callable[[httpx.Client], httpx.Response]
    status: int
    inner: int | None = None
    check: Callable[[httpx.Client, ET.Element, httpx.Response], None] | None = None
    also: tuple[str, ...] = field(default=())


def _uid_conflict(client: httpx.Client) -> httpx.Response:
    cal = mkcalendar(client)
    assert put(client, cal + "first.ics", event("shared-uid")).status_code == 201
    return put(client, cal + "second.ics", event("shared-uid"))


def _names_first(client: httpx.Client, element: ET.Element, response: httpx.Response) -> None:
    href = element.findtext(D + "href") or ""
    assert href.endswith("/first.ics"), response.text
    assert client.get(href).status_code == 200


def _uid_changed_on_overwrite(client: httpx.Client) -> httpx.Response:
    cal = mkcalendar(client)
    assert put(client, cal + "first.ics", event("uid-a")).status_code == 201
    return put(client, cal + "first.ics", event("uid-b"))


def _copy_uid_conflict(client: httpx.Client) -> httpx.Response:
    cal = mkcalendar(client)
    assert put(client, cal + "first.ics", event("copied-uid")).status_code == 201
    return transfer(client, "COPY", staged(client, event("copied-uid")), cal + "second.ics")


def _proppatch(path: str, prop: str) -> str:
    return f'<D:propertyupdate {XMLNS}><D:set><D:prop>{prop}</D:prop></D:set></D:propertyupdate>'


def _mkcalendar_with(client: httpx.Client, prop: str) -> httpx.Response:
    body = f"<C:mkcalendar {XMLNS}><D:set><D:prop>{prop}</D:prop></D:set></C:mkcalendar>"
    return client.request("MKCALENDAR", f"/dav/cal/alice/{unique()}/", content=body.encode())


def _proppatch_with(client: httpx.Client, prop: str) -> httpx.Response:
    cal = mkcalendar(client)
    return client.request("PROPPATCH", cal, content=_proppatch(cal, prop).encode())


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;")


def _sync(client: httpx.Client, token: str, limit: str = "") -> httpx.Response:
    cal = mkcalendar(client)
    for i in range(3):
        put(client, cal + f"s{i}.ics", event(f"sync-{i}"))
    body = (
        f'<D:sync-collection {XMLNS}><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>'
        f"{limit}<D:prop><D:getetag/></D:prop></D:sync-collection>"
    )
    return report(client, cal, body, depth="0")


def _foreign_token(client: httpx.Client) -> str:
    """A sync token of another calendar."""
    other = mkcalendar(client)
    body = (
        f'<D:sync-collection {XMLNS}><D:sync-token/><D:sync-level>1</D:sync-level>'
        "<D:prop><D:getetag/></D:prop></D:sync-collection>"
    )
    answer = report(client, other, body, depth="0")
    return ET.fromstring(answer.content).findtext(D + "sync-token") or ""


def _request_uri_is_507(client: httpx.Client, element: ET.Element, response: httpx.Response) -> None:
    root = ET.fromstring(response.content)
    cut = [r for r in root.findall(D + "response") if r.find(D + "error") is not None]
    assert len(cut) == 1 and "507" in (cut[0].findtext(D + "status") or ""), response.text


def _unsupported_inside(client: httpx.Client, element: ET.Element, response: httpx.Response) -> None:
    inside = element.find(C + "comp-filter")
    assert inside is not None and inside.get("name") == "VPOLL", response.text


def _calendar_in_calendar(method: str) -> Callable[[httpx.Client], httpx.Response]:
    def request(client: httpx.Client) -> httpx.Response:
        outer, inner = mkcalendar(client), mkcalendar(client)
        return transfer(client, method, inner, outer + "nested/")

    return request


def _into_event_only(method: str) -> Callable[[httpx.Client], httpx.Response]:
    def request(client: httpx.Client) -> httpx.Response:
        todos, events = mkcalendar(client), mkcalendar(client, body=EVENT_ONLY)
        assert put(client, todos + "t.ics", TODO).status_code == 201
        return transfer(client, method, todos + "t.ics", events + "t.ics")

    return request


def _staged_into_calendar(
    method: str, body: bytes, content_type: str = "text/calendar"
) -> Callable[[httpx.Client], httpx.Response]:
    def request(client: httpx.Client) -> httpx.Response:
        source = staged(client, body, content_type)
        answer = transfer(client, method, source, mkcalendar(client) + "copied.ics")
        assert client.get(source).status_code == 200  # a refused MOVE leaves the source
        return answer

    return request


LOCKINFO = (
    f"<D:lockinfo {XMLNS}><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    "</D:lockinfo>"
)


def _locked(client: httpx.Client) -> str:
    """A calendar object under an exclusive lock (the token is not sent again)."""
    path = mkcalendar(client) + "locked.ics"
    assert put(client, path, event(f"locked-{uuid.uuid4().hex}")).status_code == 201
    assert client.request("LOCK", path, content=LOCKINFO.encode(), headers={"Depth": "0"}).status_code == 200
    return path


ROWS: dict[str, Row] = {
    # RFC 4791 5.3.2.1 (PUT, COPY, MOVE)
    "supported-calendar-data/put": Row(
        C + "supported-calendar-data",
        lambda cl: put(cl, mkcalendar(cl) + "a.ics", event("mt"), **{"Content-Type": "text/plain"}),
        403,
    ),
    "supported-calendar-data/report": Row(
        C + "supported-calendar-data",
        lambda cl: report(
            cl,
            mkcalendar(cl),
            f'<C:calendar-query {XMLNS}><D:prop><C:calendar-data content-type="application/json"/></D:prop>'
            '<C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>',
        ),
        403,
    ),
    "valid-calendar-data": Row(
        C + "valid-calendar-data", lambda cl: put(cl, mkcalendar(cl) + "bad.ics", b"not a calendar\r\n"), 403
    ),
    "valid-calendar-object-resource": Row(
        C + "valid-calendar-object-resource",
        lambda cl: put(cl, mkcalendar(cl) + "two.ics", event("mixed").replace(b"END:VCALENDAR", VTODO_PART)),
        403,
    ),
    "supported-calendar-component": Row(
        C + "supported-calendar-component", lambda cl: put(cl, mkcalendar(cl, body=EVENT_ONLY) + "t.ics", TODO), 403
    ),
    "no-uid-conflict": Row(C + "no-uid-conflict", _uid_conflict, 409, check=_names_first),
    "no-uid-conflict/overwrite-with-another-uid": Row(
        C + "no-uid-conflict", _uid_changed_on_overwrite, 409, check=_names_first
    ),
    "calendar-collection-location-ok/mkcalendar": Row(
        C + "calendar-collection-location-ok",
        lambda cl: cl.request("MKCALENDAR", mkcalendar(cl) + "inner/"),
        403,
    ),
    "max-resource-size": Row(C + "max-resource-size", lambda cl: put(cl, mkcalendar(cl) + "big.ics", sized("big", 4097)), 403),
    "min-date-time": Row(
        C + "min-date-time",
        lambda cl: put(cl, mkcalendar(cl) + "old.ics", event("old", "18500101T100000Z", "18500101T110000Z")),
        403,
    ),
    "max-date-time": Row(
        C + "max-date-time",
        lambda cl: put(cl, mkcalendar(cl) + "far.ics", event("far", "22000101T100000Z", "22000101T110000Z")),
        403,
    ),
    "max-date-time/recurrence": Row(
        C + "max-date-time",
        lambda cl: put(
            cl,
            mkcalendar(cl) + "rrule.ics",
            event("yearly", "20950101T100000Z", "20950101T110000Z").replace(
                b"SUMMARY:", b"RRULE:FREQ=YEARLY;COUNT=8\r\nSUMMARY:"
            ),
        ),
        403,
    ),
    "max-instances": Row(
        C + "max-instances",
        lambda cl: put(
            cl, mkcalendar(cl) + "daily.ics", event("daily").replace(b"SUMMARY:", b"RRULE:FREQ=DAILY;COUNT=11\r\nSUMMARY:")
        ),
        403,
    ),
    "max-attendees-per-instance": Row(
        C + "max-attendees-per-instance", lambda cl: put(cl, mkcalendar(cl) + "crowd.ics", attendees("crowd", 4)), 403
    ),
    # COPY and MOVE check the destination's rules (RFC 4791 5.3.2.1)
    **{
        f"{name}/{method.lower()}": Row(C + name, request(method), status, check=check)
        for method in ("COPY", "MOVE")
        for name, request, status, check in (
            ("supported-calendar-component", _into_event_only, 403, None),
            ("supported-calendar-data", lambda m: _staged_into_calendar(m, event("txt"), "text/plain"), 403, None),
            ("calendar-collection-location-ok", _calendar_in_calendar, 403, None),
            ("max-resource-size", lambda m: _staged_into_calendar(m, sized("big-copy", 5000)), 403, None),
            ("valid-calendar-data", lambda m: _staged_into_calendar(m, b"BEGIN:VCALENDAR\r\nno\r\n"), 403, None),
            (
                "min-date-time",
                lambda m: _staged_into_calendar(m, event("old-copy", "18000101T000000Z", "18000101T010000Z")),
                403,
                None,
            ),
            ("max-attendees-per-instance", lambda m: _staged_into_calendar(m, attendees("crowd-copy", 5)), 403, None),
        )
    },
    "no-uid-conflict/copy": Row(C + "no-uid-conflict", _copy_uid_conflict, 409, check=_names_first),
    # RFC 4791 5.3.1.1 / 5.2.2 and RFC 7809: time zones of a calendar
    "valid-timezone/mkcalendar-calendar-timezone": Row(
        C + "valid-timezone",
        lambda cl: _mkcalendar_with(cl, f"<C:calendar-timezone>{_escaped(BAD_VTIMEZONE)}</C:calendar-timezone>"),
        403,
        also=(C + "valid-calendar-data",),
    ),
    "valid-timezone/proppatch-calendar-timezone": Row(
        C + "valid-timezone",
        lambda cl: _proppatch_with(cl, f"<C:calendar-timezone>{_escaped(BAD_VTIMEZONE)}</C:calendar-timezone>"),
        207,
        inner=403,
        also=(C + "valid-calendar-data",),
    ),
    "valid-timezone/mkcalendar-calendar-timezone-id": Row(
        C + "valid-timezone",
        lambda cl: _mkcalendar_with(cl, "<C:calendar-timezone-id>Mars/Olympus</C:calendar-timezone-id>"),
        403,
    ),
    "valid-timezone/proppatch-calendar-timezone-id": Row(
        C + "valid-timezone",
        lambda cl: _proppatch_with(cl, "<C:calendar-timezone-id>Mars/Olympus</C:calendar-timezone-id>"),
        207,
        inner=403,
    ),
    # RFC 4791 7.8 / RFC 7809: calendar-query
    "valid-timezone/query-timezone": Row(
        C + "valid-timezone",
        lambda cl: report(cl, mkcalendar(cl), query("", f"<C:timezone>{_escaped(BAD_VTIMEZONE)}</C:timezone>")),
        403,
        also=(C + "valid-calendar-data",),
    ),
    "valid-timezone/query-timezone-id": Row(
        C + "valid-timezone",
        lambda cl: report(cl, mkcalendar(cl), query("", "<C:timezone-id>Mars/Olympus</C:timezone-id>")),
        403,
    ),
    "supported-filter": Row(
        C + "supported-filter",
        lambda cl: report(
            cl,
            mkcalendar(cl),
            query('<C:comp-filter name="VPOLL"><C:time-range start="20240101T000000Z"/></C:comp-filter>'),
        ),
        403,
        check=_unsupported_inside,
    ),
    "valid-filter": Row(
        C + "valid-filter",
        lambda cl: report(cl, mkcalendar(cl), query('<C:comp-filter name="VCALENDAR"/>')),
        400,
    ),
    "supported-collation": Row(
        C + "supported-collation",
        lambda cl: report(
            cl,
            mkcalendar(cl),
            query(
                '<C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY">'
                '<C:text-match collation="i;klingon">x</C:text-match></C:prop-filter></C:comp-filter>'
            ),
        ),
        403,
    ),
    # RFC 6578 3.2, 3.6
    "valid-sync-token/unknown": Row(
        D + "valid-sync-token", lambda cl: _sync(cl, "http://example.com/not-a-token"), 403
    ),
    "valid-sync-token/another-collection": Row(
        D + "valid-sync-token", lambda cl: _sync(cl, _foreign_token(cl)), 403
    ),
    "number-of-matches-within-limits": Row(
        D + "number-of-matches-within-limits",
        lambda cl: _sync(cl, "", "<D:limit><D:nresults>1</D:nresults></D:limit>"),
        207,
        check=_request_uri_is_507,
    ),
    # RFC 4918 16
    "cannot-modify-protected-property": Row(
        D + "cannot-modify-protected-property",
        lambda cl: _proppatch_with(cl, "<D:getetag>\"x\"</D:getetag>"),
        207,
        inner=403,
    ),
    "propfind-finite-depth": Row(
        D + "propfind-finite-depth",
        lambda cl: cl.request("PROPFIND", mkcalendar(cl), headers={"Depth": "infinity"}),
        403,
    ),
    "lock-token-submitted": Row(
        D + "lock-token-submitted", lambda cl: put(cl, _locked(cl), event("changed-under-lock")), 423
    ),
    "no-conflicting-lock": Row(
        D + "no-conflicting-lock",
        lambda cl: cl.request("LOCK", _locked(cl), content=LOCKINFO.encode(), headers={"Depth": "0"}),
        423,
    ),
    "resource-must-be-null": Row(
        D + "resource-must-be-null", lambda cl: cl.request("MKCALENDAR", mkcalendar(cl)), 405
    ),
    "lock-token-matches-request-uri": Row(
        D + "lock-token-matches-request-uri",
        lambda cl: cl.request("UNLOCK", mkcalendar(cl), headers={"Lock-Token": f"<urn:uuid:{uuid.uuid4()}>"}),
        409,
    ),
}


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_precondition_is_answered_with_its_element(alice: httpx.Client, row: Row) -> None:
    response = row.request(alice)
    assert response.status_code == row.status, (response.status_code, response.text)
    if row.inner is not None:
        assert inner_status(response) == row.inner, response.text
    element = named(response, row.element)
    for other in row.also:
        named(response, other)
    if row.check is not None:
        row.check(alice, element, response)


def test_limits_are_advertised_where_they_are_enforced(alice: httpx.Client) -> None:
    """Each limit a PUT is refused for is a property of the calendar, with the value enforced."""
    cal = mkcalendar(alice)
    names = ("max-resource-size", "min-date-time", "max-date-time", "max-instances", "max-attendees-per-instance")
    body = f'<D:propfind {XMLNS}><D:prop>{"".join(f"<C:{n}/>" for n in names)}</D:prop></D:propfind>'
    answer = alice.request("PROPFIND", cal, content=body.encode(), headers={"Depth": "0"})
    assert answer.status_code == 207
    prop = ET.fromstring(answer.content).find(f"{D}response/{D}propstat/{D}prop")
    assert prop is not None
    values = {child.tag[len(C):]: child.text for child in prop}
    assert values == {
        "max-resource-size": "4096",
        "min-date-time": "19000101T000000Z",
        "max-date-time": "21000101T000000Z",
        "max-instances": "10",
        "max-attendees-per-instance": "3",
    }
    # at each limit: accepted
    assert put(alice, cal + "at-size.ics", sized("at-size", 4096)).status_code == 201
    assert put(alice, cal + "three.ics", attendees("three", 3)).status_code == 201
    edge = event("edge", "19000101T000000Z", "19000101T010000Z")
    assert put(alice, cal + "edge.ics", edge).status_code == 201
    ten = event("ten").replace(b"SUMMARY:", b"RRULE:FREQ=DAILY;COUNT=10\r\nSUMMARY:")
    assert put(alice, cal + "ten.ics", ten).status_code == 201


def test_refused_copy_and_move_leave_both_sides_as_they_were(alice: httpx.Client) -> None:
    todos, events = mkcalendar(alice), mkcalendar(alice, body=EVENT_ONLY)
    assert put(alice, todos + "t.ics", TODO).status_code == 201
    assert transfer(alice, "MOVE", todos + "t.ics", events + "t.ics").status_code == 403
    assert alice.get(todos + "t.ics").status_code == 200
    assert alice.get(events + "t.ics").status_code == 404


# -- without the limits plugin: what the kernel refuses still names its element -----------


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory, teamcal_backend: str) -> Iterator[Deployment]:
    """caldav_server alone, with a small kernel body cap."""
    dep = make_deployment(tmp_path_factory.mktemp("bare"), kernel="max_body_size = \"8kb\"")
    with dep.server:
        yield dep
    dep.host.close()


def test_without_limits_the_kernel_cap_still_names_max_resource_size(bare: Deployment) -> None:
    """No size is advertised without the limits plugin; a streamed calendar object over the
    kernel's body cap is still refused naming max-resource-size, and a Content-Length over
    the cap by the kernel's HTTP guard (413) before any plugin sees the request."""
    with bare.client("alice") as client:
        cal = mkcalendar(client)
        body = f'<D:propfind {XMLNS}><D:prop><C:max-resource-size/></D:prop></D:propfind>'
        answer = client.request("PROPFIND", cal, content=body.encode(), headers={"Depth": "0"})
        (found,) = parse_multistatus(answer).values()
        assert found.props[C + "max-resource-size"][0] == 404
        data = sized("big", 9000)
        streamed = client.put(
            cal + "big.ics", content=iter([data[:4000], data[4000:]]), headers={"Content-Type": "text/calendar"}
        )
        assert streamed.status_code == 403, streamed.text
        named(streamed, C + "max-resource-size")
        assert put(client, cal + "big.ics", data).status_code == 413
        assert client.get(cal + "big.ics").status_code == 404


def test_without_limits_no_date_limit_is_advertised_or_enforced(bare: Deployment) -> None:
    with bare.client("alice") as client:
        cal = mkcalendar(client)
        assert put(client, cal + "old.ics", event("old", "18000101T000000Z", "18000101T010000Z")).status_code == 201
        body = f'<D:propfind {XMLNS}><D:prop><C:min-date-time/><C:max-date-time/></D:prop></D:propfind>'
        answer = client.request("PROPFIND", cal, content=body.encode(), headers={"Depth": "0"})
        (found,) = parse_multistatus(answer).values()
        assert {name: status for name, (status, _) in found.props.items()} == {
            C + "min-date-time": 404,
            C + "max-date-time": 404,
        }
