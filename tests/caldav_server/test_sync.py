"""sync-collection (RFC 6578): initial and incremental syncs, deletions, bad tokens, DAV:limit."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx

from kernel.testing import event_object as event
from kernel.testing.dav import NS, error_elements, mkcalendar, parse_multistatus

D = "{DAV:}"


def sync(
    client: httpx.Client, path: str, token: str = "", limit: int | None = None, depth: str | None = None
) -> httpx.Response:
    limit_xml = f"<D:limit><D:nresults>{limit}</D:nresults></D:limit>" if limit else ""
    body = (
        f'<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>'
        f"{limit_xml}<D:prop><D:getetag/></D:prop></D:sync-collection>"
    )
    headers = {"Depth": depth} if depth else {}
    return client.request("REPORT", path, content=body.encode(), headers=headers)


def result(r: httpx.Response) -> tuple[dict[str, int | None], str]:
    """({href: None for a changed member, its status for a status-only answer}, new token)."""
    found = parse_multistatus(r)
    token = ET.fromstring(r.content).findtext("D:sync-token", namespaces=NS) or ""
    return {href: resp.status for href, resp in found.items()}, token


def test_initial_then_incremental_with_deletions(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    for name in ("a", "b", "c"):
        alice.put(f"{cal}{name}.ics", content=event(f"sync-{name}"))
    members, token = result(sync(alice, cal))
    assert members == {f"{cal}a.ics": None, f"{cal}b.ics": None, f"{cal}c.ics": None}
    assert result(sync(alice, cal, token)) == ({}, token)
    alice.put(cal + "b.ics", content=event("sync-b", summary="edited"))
    alice.delete(cal + "c.ics")
    alice.put(cal + "d.ics", content=event("sync-d"))
    changed, token2 = result(sync(alice, cal, token))
    assert changed == {f"{cal}b.ics": None, f"{cal}c.ics": 404, f"{cal}d.ics": None}
    assert token2 != token
    etags = parse_multistatus(sync(alice, cal, token))
    assert etags[f"{cal}b.ics"].text(D + "getetag") == alice.get(cal + "b.ics").headers["ETag"]


def test_thunderbird_depth_1_is_accepted(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    alice.put(cal + "a.ics", content=event("tb"))
    members, _ = result(sync(alice, cal, depth="1"))
    assert list(members) == [cal + "a.ics"]


def test_invalid_tokens_are_refused(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    other = mkcalendar(alice)
    _, foreign = result(sync(alice, other))
    _, own = result(sync(alice, cal))
    future = own.rsplit("/", 1)[0] + "/999999999"
    for token in ("garbage", "http://teamcal.invalid/sync/1/x", foreign, future):
        r = sync(alice, cal, token)
        assert r.status_code == 403, token
        assert error_elements(r)[0] == D + "valid-sync-token"


def test_limit_truncates_with_507_and_resumes_exactly(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    for i in range(5):
        alice.put(f"{cal}{i}.ics", content=event(f"lim-{i}"))
    seen: set[str] = set()
    token = ""
    for _ in range(10):
        members, token = result(sync(alice, cal, token, limit=2))
        truncated = members.pop(cal, None) == 507
        assert len(members) <= 2
        seen.update(members)
        if not truncated:
            break
    assert seen == {f"{cal}{i}.ics" for i in range(5)}
    alice.put(cal + "0.ics", content=event("lim-0", summary="again"))
    for i in range(5, 8):
        alice.put(f"{cal}{i}.ics", content=event(f"lim-{i}"))
    alice.delete(cal + "1.ics")
    changed: dict[str, int | None] = {}
    for _ in range(10):
        members, token = result(sync(alice, cal, token, limit=1))
        truncated = members.pop(cal, None) == 507
        changed.update(members)
        if not truncated:
            break
    assert changed == {
        f"{cal}0.ics": None,
        f"{cal}1.ics": 404,
        f"{cal}5.ics": None,
        f"{cal}6.ics": None,
        f"{cal}7.ics": None,
    }


def test_sync_on_a_resource_is_not_supported(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    alice.put(cal + "a.ics", content=event("res"))
    r = sync(alice, cal + "a.ics")
    assert r.status_code == 403
    assert error_elements(r)[0] == D + "supported-report"
