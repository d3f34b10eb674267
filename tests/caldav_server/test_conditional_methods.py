"""Conditional requests on every method (RFC 9110 13.2.2): If-Match, If-None-Match and
If-Unmodified-Since on PROPPATCH, DELETE, COPY, MOVE, MKCOL and MKCALENDAR, on resources
and collections; and If headers (RFC 4918 10.4) naming a resource in any spelling."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import quote

import httpx
import pytest

from kernel.testing import event_object as event
from kernel.testing.dav import CALDAV, mkcalendar, parse_multistatus, propfind, unique
from tests.caldav_server.conftest import Deployment

XMLNS = f'xmlns:D="DAV:" xmlns:C="{CALDAV}"'
RENAME = (
    f'<D:propertyupdate {XMLNS}><D:set><D:prop><D:displayname>renamed</D:displayname></D:prop></D:set>'
    "</D:propertyupdate>"
)
LONG_AGO = formatdate(time.time() - 86400 * 365, usegmt=True)
LATER = formatdate(time.time() + 86400, usegmt=True)


@dataclass
class Subject:
    """Something a method acts on: its URL, the ETag GET answers for it, and how to tell it
    was left alone."""

    path: str
    etag: str
    intact: Callable[[], bool]


def renamed(client: httpx.Client, path: str) -> bool:
    """Did a PROPPATCH set the displayname of ``path``?"""
    answer = propfind(client, path, "<D:prop><D:displayname/></D:prop>")
    if answer.status_code != 207:
        return False
    (found,) = parse_multistatus(answer).values()
    status, elem = found.props["{DAV:}displayname"]
    return status == 200 and "".join(elem.itertext()) == "renamed"


def resource(client: httpx.Client) -> Subject:
    """A calendar object resource."""
    cal = mkcalendar(client)
    path = cal + "e.ics"
    assert client.put(path, content=event(unique("uid"))).status_code == 201
    got = client.get(path)
    return Subject(path, got.headers["ETag"], lambda: client.get(path).content == got.content and not renamed(client, path))


def calendar(client: httpx.Client) -> Subject:
    """A calendar collection with one event (its ETag is the one GET of the calendar answers)."""
    cal = mkcalendar(client)
    assert client.put(cal + "e.ics", content=event(unique("uid"))).status_code == 201
    etag = client.get(cal).headers["ETag"]
    return Subject(cal, etag, lambda: client.get(cal).headers.get("ETag") == etag and not renamed(client, cal))


def do(client: httpx.Client, method: str, subject: Subject, **headers: str) -> httpx.Response:
    """Send ``method`` to the subject with these conditional headers."""
    if method == "PROPPATCH":
        return client.request(method, subject.path, content=RENAME.encode(), headers=headers)
    if method in ("COPY", "MOVE"):
        owner = subject.path.split("/")[3]
        dest = f"/dav/cal/{owner}/{unique('dest')}/" if subject.path.endswith("/") else (
            mkcalendar(client) + "moved.ics")
        return client.request(method, subject.path, headers={"Destination": dest, **headers})
    return client.request(method, subject.path, headers=headers)


CASES = [
    (method, kind)
    for method in ("PROPPATCH", "DELETE", "COPY", "MOVE")
    for kind in ("resource", "calendar")
]
SUBJECTS = {"resource": resource, "calendar": calendar}


@pytest.mark.parametrize(("method", "kind"), CASES, ids=[f"{m}-{k}" for m, k in CASES])
def test_failed_conditions_are_412_and_change_nothing(alice: httpx.Client, method: str, kind: str) -> None:
    subject = SUBJECTS[kind](alice)
    for headers in (
        {"If-Match": '"not-the-etag"'},
        {"If-None-Match": "*"},
        {"If-None-Match": subject.etag},
        {"If-Unmodified-Since": LONG_AGO},
        # If-Match decides before If-None-Match: both must hold
        {"If-Match": subject.etag, "If-None-Match": "*"},
    ):
        answer = do(alice, method, subject, **headers)
        assert answer.status_code == 412, (headers, answer.status_code, answer.text)
        assert subject.intact(), headers


@pytest.mark.parametrize(("method", "kind"), CASES, ids=[f"{m}-{k}" for m, k in CASES])
def test_conditions_that_hold_let_the_method_run(alice: httpx.Client, method: str, kind: str) -> None:
    for headers in (
        lambda s: {"If-Match": s.etag},
        lambda s: {"If-Match": "*"},
        lambda s: {"If-None-Match": '"other"'},
        lambda s: {"If-Unmodified-Since": LATER},
        # RFC 9110 13.1.4: with If-Match, If-Unmodified-Since is not evaluated
        lambda s: {"If-Match": s.etag, "If-Unmodified-Since": LONG_AGO},
    ):
        subject = SUBJECTS[kind](alice)
        sent = headers(subject)
        answer = do(alice, method, subject, **sent)
        assert answer.status_code in (201, 204, 207), (sent, answer.status_code, answer.text)
        if method in ("PROPPATCH", "DELETE", "MOVE"):
            assert not subject.intact(), sent


@pytest.mark.parametrize("method", ["MKCOL", "MKCALENDAR"])
def test_making_a_collection_checks_the_url_has_nothing(alice: httpx.Client, method: str) -> None:
    for headers in ({"If-Match": "*"}, {"If-Match": '"anything"'}):
        path = f"/dav/cal/alice/{unique()}/"
        assert alice.request(method, path, headers=headers).status_code == 412, headers
        assert propfind(alice, path).status_code == 404
    path = f"/dav/cal/alice/{unique()}/"
    assert alice.request(method, path, headers={"If-None-Match": "*"}).status_code == 201
    # a date condition on a URL without a modification date is ignored (RFC 9110 13.1.4)
    fresh = f"/dav/cal/alice/{unique()}/"
    assert alice.request(method, fresh, headers={"If-Unmodified-Since": LONG_AGO}).status_code == 201


def test_the_calendar_etag_follows_its_members(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    before = alice.get(cal).headers["ETag"]
    assert alice.put(cal + "e.ics", content=event("grows")).status_code == 201
    assert alice.request("PROPPATCH", cal, content=RENAME.encode(), headers={"If-Match": before}).status_code == 412
    after = alice.get(cal).headers["ETag"]
    assert after != before
    assert alice.request("PROPPATCH", cal, content=RENAME.encode(), headers={"If-Match": after}).status_code == 207


def test_if_unmodified_since_counts_by_the_second(alice: httpx.Client) -> None:
    subject = resource(alice)
    modified = alice.get(subject.path).headers["Last-Modified"]
    assert abs(parsedate_to_datetime(modified).timestamp() - time.time()) < 120
    answer = alice.request("PROPPATCH", subject.path, content=RENAME.encode(), headers={"If-Unmodified-Since": modified})
    assert answer.status_code == 207


# -- If headers name resources in any spelling (RFC 4918 10.4) ---------------------------------

NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "café")


def test_if_header_etags_on_tagged_lists_match_any_spelling(deployment: Deployment, alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    assert alice.put(cal + quote(NFC) + "@x.ics", content=event("spelled")).status_code == 201
    etag = alice.get(cal + quote(NFC) + "@x.ics").headers["ETag"]
    for spelling in (quote(NFD) + "%40x.ics", quote(NFC) + "@x.ics", quote(NFD) + "@x.ics"):
        tag = deployment.url + cal + spelling
        wrong = alice.request("PROPPATCH", cal + quote(NFC) + "@x.ics", content=RENAME.encode(),
                              headers={"If": f'<{tag}> (["wrong"])'})
        assert wrong.status_code == 412, spelling
        right = alice.request("PROPPATCH", cal + quote(NFC) + "@x.ics", content=RENAME.encode(),
                              headers={"If": f"<{tag}> ([{etag}])"})
        assert right.status_code == 207, (spelling, right.text)
