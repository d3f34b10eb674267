"""Requests that ask for unbounded work: expand-property chains that double every two levels,
PROPPATCHes with tens of thousands of properties. Each is refused (or answered within its budget)
as a hostile client would see it, stores nothing, and never holds up another user."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from kernel import ConfigError
from kernel.testing import add_group, add_user, latency_during, make_host
from kernel.testing.dav import error_elements, mkcalendar, parse_multistatus
from tests.caldav_server.conftest import Deployment, make_deployment

D = "{DAV:}"


def chain(levels: int) -> bytes:
    """An expand-property report alternating group-member-set (outermost) and group-membership
    ``levels`` deep, asking for DAV:displayname at the end."""
    inner = '<D:property name="displayname"/>'
    for level in reversed(range(levels)):
        name = "group-membership" if level % 2 else "group-member-set"
        inner = f'<D:property name="{name}">{inner}</D:property>'
    return f'<?xml version="1.0"?><D:expand-property xmlns:D="DAV:">{inner}</D:expand-property>'.encode()


def report(client: httpx.Client, path: str, body: bytes) -> httpx.Response:
    return client.request("REPORT", path, content=body, headers={"Depth": "0"})


def probe(client: httpx.Client) -> object:
    """carol lists her home: the other user's request timed during an attack."""
    return lambda: client.request("PROPFIND", "/dav/cal/carol/", headers={"Depth": "1"})


def test_expand_property_chain_is_refused(deployment: Deployment, alice: httpx.Client) -> None:
    """28 alternating levels (a 1.4 KB request that answered 9.5 MB) is a quick 507."""
    body = chain(28)
    assert len(body) < 2000
    with deployment.client("carol") as carol:
        answer, took = latency_during(lambda: report(alice, "/dav/principals/team/", body), probe(carol))
    assert answer.status_code == 507, answer.text[:300]
    assert error_elements(answer)[0] == D + "number-of-matches-within-limits"
    assert "28 levels" in answer.text and "at most 8" in answer.text
    assert len(answer.content) < 2000
    assert max(took) < 1, took


def test_expand_property_expands_each_principal_once(deployment: Deployment, alice: httpx.Client) -> None:
    """Within the depth budget, a principal met again keeps its bare href: the answer stays small."""
    answer = report(alice, "/dav/principals/team/", chain(8))
    assert answer.status_code == 207
    root = ET.fromstring(answer.content)
    expanded = [r.findtext(f"{D}href") for r in root.iter(f"{D}response")]
    assert sorted(expanded) == ["/dav/principals/alice/", "/dav/principals/bob/", "/dav/principals/team/"]
    members = root.find(f"{D}response/{D}propstat/{D}prop/{D}group-member-set")
    assert members is not None and len(members) == 2
    alice_memberships = next(
        r for r in root.iter(f"{D}response") if r.findtext(f"{D}href") == "/dav/principals/alice/"
    ).find(f".//{D}group-membership")
    assert alice_memberships is not None
    assert [e.tag for e in alice_memberships] == [f"{D}href"], "the team, already expanded, is not expanded again"
    assert len(answer.content) < 5000


def test_expand_property_response_budget(tmp_path: Path) -> None:
    """More distinct resources to expand than max_expand_responses: 507, quickly, others served."""
    dep = make_deployment(tmp_path, "[caldav_server]\nmax_expand_responses = 20\n")
    people = [add_user(dep.host, f"p{i}") for i in range(30)]
    add_group(dep.host, "crowd", people)
    body = chain(1)
    with dep.server, dep.client("alice") as alice, dep.client("carol") as carol:
        answer, took = latency_during(lambda: report(alice, "/dav/principals/crowd/", body), probe(carol))
        assert answer.status_code == 507
        assert error_elements(answer)[0] == D + "number-of-matches-within-limits"
        assert max(took) < 1, took
        assert report(alice, "/dav/principals/team/", body).status_code == 207
    dep.host.close()


def propertyupdate(count: int, start: int = 0) -> bytes:
    props = "".join(f"<X:p{i}>v{i}</X:p{i}>" for i in range(start, start + count))
    return (
        f'<D:propertyupdate xmlns:D="DAV:" xmlns:X="urn:x"><D:set><D:prop>{props}</D:prop></D:set>'
        "</D:propertyupdate>"
    ).encode()


def test_proppatch_with_40000_properties_is_refused(deployment: Deployment, alice: httpx.Client) -> None:
    """40,000 properties (16.5 s of a blocked server before) answer 413 at once; nothing is stored."""
    cal = mkcalendar(alice)
    collection = deployment.host.store.collection("alice", cal.strip("/").rsplit("/", 1)[-1])
    assert collection is not None
    body = propertyupdate(40_000)
    with deployment.client("carol") as carol:
        started = time.monotonic()
        answer, took = latency_during(lambda: alice.request("PROPPATCH", cal, content=body), probe(carol))
        elapsed = time.monotonic() - started
    assert answer.status_code == 413, answer.text[:300]
    assert "40000 properties" in answer.text and "at most 1000" in answer.text
    assert max(took) < 1, took
    assert elapsed < 10
    assert deployment.host.store.properties(collection_id=collection.id) == {}


def test_proppatch_at_the_cap_is_linear(deployment: Deployment, alice: httpx.Client) -> None:
    """1,000 properties (the cap) are accepted and all stored, the other user still served."""
    cal = mkcalendar(alice)
    collection = deployment.host.store.collection("alice", cal.strip("/").rsplit("/", 1)[-1])
    assert collection is not None
    with deployment.client("carol") as carol:
        answer, took = latency_during(
            lambda: alice.request("PROPPATCH", cal, content=propertyupdate(1000)), probe(carol)
        )
    statuses = {status for status, _ in parse_multistatus(answer)[cal].props.values()}
    assert statuses == {200}
    assert max(took) < 1, took
    assert len(deployment.host.store.properties(collection_id=collection.id)) == 1000


def test_budget_settings_are_checked_at_start(tmp_path: Path) -> None:
    """A budget of zero, or a lock timeout under a second, stops start-up naming the key."""
    for i, (key, value) in enumerate(
        (("max_lock_timeout", '"0s"'), ("max_expand_depth", "0"), ("max_proppatch_properties", '"many"'))
    ):
        folder = tmp_path / str(i)
        folder.mkdir()
        with pytest.raises(ConfigError) as err:
            make_host(folder, ["caldav_server"], f"[caldav_server]\n{key} = {value}\n")
        assert f"[caldav_server] {key}" in str(err.value)
    host = make_host(tmp_path, ["caldav_server"], '[caldav_server]\nmax_lock_timeout = "2h"\n')
    assert host.settings("caldav_server").max_lock_timeout == 7200
    host.close()
