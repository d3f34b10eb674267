"""The JSON API: authentication, own vs others' subscriptions, admins, validation, no credentials out."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from kernel.host import Host
from kernel.testing import add_group, add_user, asgi_client
from plugins.caldav_subscription import manage, records, web_pages

from .conftest import local_objects
from .peers import FeedServer, Peer, event

SECRET = "alice-pw"


@pytest.fixture
def users(host: Host) -> Host:
    """alice (owner), bob (a stranger), carol (admin on alice's calendar by grant), root (admin)."""
    add_user(host, "bob")
    add_user(host, "carol")
    add_user(host, "root", admin=True)
    add_group(host, "team", [host.store.principal("alice")])
    return host


class Calls:
    """Runs requests through the in-process app and keeps every response body to scan for secrets."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.seen: list[str] = []

    def __call__(self, user: str | None, method: str, path: str, body: Any = None, raw: bytes | None = None) -> httpx.Response:
        async def go() -> httpx.Response:
            async with asgi_client(self.host, user) as client:
                content = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
                return await client.request(method, path, content=content, timeout=30)

        response = asyncio.run(go())
        self.seen.append(response.text + str(response.headers))
        return response


def test_users_manage_their_own_and_admins_all(users: Host, radicale: Peer) -> None:
    call = Calls(users)
    cal = radicale.new_calendar()
    cal.put("a.ics", event("a", "remote A"))
    assert call(None, "GET", "/api/subscriptions").status_code == 401

    created = call("alice", "POST", "/api/subscriptions", {
        "calendar": "alice/mirror", "url": cal.url, "username": "alice", "password": SECRET, "interval": "30m",
    })
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["calendar"] == "alice/mirror" and sub["mode"] == "one-way" and sub["interval"] == 1800
    assert sub["credentials"] is True and "password" not in sub and "username" not in sub
    sid = sub["id"]

    synced = call("alice", "POST", f"/api/subscriptions/{sid}/sync")
    assert synced.status_code == 200 and synced.json()["counts"]["pulled"] == 1
    assert len(local_objects(users, _sub(users, sid))) == 1

    # bob sees nothing of alice's and cannot touch it, nor subscribe her calendars.
    assert call("bob", "GET", "/api/subscriptions").json() == {"subscriptions": []}
    for method, path in [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/sync"), ("POST", "/pause")]:
        assert call("bob", method, f"/api/subscriptions/{sid}{path}", {} if method == "PATCH" else None).status_code == 404
    refused = call("bob", "POST", "/api/subscriptions", {"calendar": "alice/other", "url": cal.url})
    assert refused.status_code == 403
    # ...nor a team's home he is not in.
    assert call("bob", "POST", "/api/subscriptions", {"calendar": "team/x", "url": cal.url}).status_code == 403

    # carol administers alice's calendar through a grant: she manages its subscription.
    mirror = users.store.collection("alice", "mirror")
    users.writes.set_grant(mirror, users.store.principal("carol").id, "admin", principal=None)
    assert [s["id"] for s in call("carol", "GET", "/api/subscriptions").json()["subscriptions"]] == [sid]
    assert call("carol", "POST", f"/api/subscriptions/{sid}/pause").json()["paused"] is True

    # root (admin) sees and manages everything.
    listed = call("root", "GET", "/api/subscriptions").json()["subscriptions"]
    assert [s["id"] for s in listed] == [sid]
    resumed = call("root", "POST", f"/api/subscriptions/{sid}/resume").json()
    assert resumed["paused"] is False and resumed["status"]["state"] == "ok"

    patched = call("alice", "PATCH", f"/api/subscriptions/{sid}", {"interval": 120, "paused": True, "password": "new-secret"})
    assert patched.status_code == 200 and patched.json()["interval"] == 120 and patched.json()["paused"] is True
    assert manage.credentials(users, _sub(users, sid)) == ("alice", "new-secret")
    assert call("alice", "PATCH", f"/api/subscriptions/{sid}", {"password": SECRET}).status_code == 200

    shown = call("alice", "GET", f"/api/subscriptions/{sid}").json()
    assert shown["status"]["last_success"] and shown["status"]["counts"]["pulled"] == 1

    assert call("alice", "DELETE", f"/api/subscriptions/{sid}").status_code == 204
    assert call("alice", "GET", f"/api/subscriptions/{sid}").status_code == 404
    assert users.store.collection("alice", "mirror") is not None  # the calendar stays

    assert not any(SECRET in text or "new-secret" in text for text in call.seen)


def test_discover_over_the_api(users: Host, radicale: Peer) -> None:
    call = Calls(users)
    cal = radicale.new_calendar("disc")
    found = call("alice", "POST", "/api/subscriptions/discover", {"url": radicale.url, "username": "alice", "password": SECRET})
    assert found.status_code == 200, found.text
    urls = [c["url"] for c in found.json()["calendars"]]
    assert cal.url in urls
    wrong = call("alice", "POST", "/api/subscriptions/discover", {"url": radicale.url, "username": "alice", "password": "nope"})
    assert wrong.status_code == 502 and "401" in wrong.json()["error"]
    assert not any(SECRET in text for text in call.seen)


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"calendar": "alice/x"}, 400, "url is required"),
        ({"calendar": "alice/x", "url": "ftp://example.org/x"}, 400, "only http and https"),
        ({"calendar": "alice/x", "url": "http://127.0.0.1:1/x", "mode": "sideways"}, 400, "mode must be"),
        ({"calendar": "alice/x", "url": "http://127.0.0.1:1/x", "interval": "soon"}, 400, "expected a duration"),
        ({"calendar": "nobody/x", "url": "http://127.0.0.1:1/x"}, 404, "No owner"),
        ({"calendar": "alice/x", "url": "http://127.0.0.1:1/x"}, 502, "Cannot reach the remote"),
        ({"calendar": "alice/x", "url": 5}, 400, "url must be a string"),
        ({"calendar": "alice/x", "url": "http://x", "colour": "red"}, 400, "Unknown field 'colour'"),
        ([1, 2], 400, "JSON object"),
    ],
)
def test_bad_requests(users: Host, body: Any, status: int, words: str) -> None:
    call = Calls(users)
    response = call("alice", "POST", "/api/subscriptions", body)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert users.store.collection("alice", "x") is None


def test_malformed_and_oversized_bodies(users: Host) -> None:
    call = Calls(users)
    assert call("alice", "POST", "/api/subscriptions", raw=b"{not json").status_code == 400
    assert call("alice", "POST", "/api/subscriptions", raw=b"\xff\xfe").status_code == 400
    big = call("alice", "POST", "/api/subscriptions", raw=b'{"url": "' + b"x" * 100_000 + b'"}')
    assert big.status_code == 413
    assert call("alice", "POST", "/api/subscriptions/999/sync").status_code == 404
    assert call("alice", "POST", "/api/subscriptions/discover", {"url": "file:///etc/passwd"}).status_code == 400


def _sub(host: Host, sid: int) -> Any:
    from plugins.caldav_subscription import records

    return records.get(host.store, sid)


def test_who_sees_and_manages_what_costs_the_same_for_few_and_many_subscriptions(
    users: Host, feeds: FeedServer
) -> None:
    """Which subscriptions a user sees (the web page's rows) and manages (the API's listing) is
    read in as many statements whatever the number of other users' subscriptions in the
    deployment: their calendars and the user's privileges at once. Each sees his own, a team's he reads (managed
    only by its admins and the calendar's owners) and those granted to him; not others'."""
    url = feeds.publish("/team.ics", b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nEND:VCALENDAR\r\n")
    store = users.store
    alice, bob, carol = (store.principal(n) for n in ("alice", "bob", "carol"))
    assert alice is not None and bob is not None and carol is not None
    add_group(users, "crew", [bob], admins=[carol])

    def make(calendar: str) -> int:
        return asyncio.run(manage.create(users, None, calendar=calendar, url=url)).id

    own, team = make("alice/mine"), make("crew/shared")
    lent = make("carol/lent")
    users.writes.set_grant(store.collection("carol", "lent"), bob.id, "read", principal=None)
    costs = []
    for others in (1, 6):
        while len(records.all_subscriptions(store)) < 3 + others:
            make(f"carol/other{len(records.all_subscriptions(store))}")
        with store.traced() as statements:  # alice's and bob's views, as carol's subscriptions grow
            seen = {user.name: [s.id for s in manage.seen_by(users, user)] for user in (alice, bob)}
            managed = {user.name: [s.id for s in manage.listing(users, user)] for user in (alice, bob)}
            rows = {user.name: [(r.id, r.manage) for r in web_pages.rows(users, user)] for user in (alice, bob)}
        costs.append(len(statements))
        managed["carol"] = [s.id for s in manage.listing(users, carol)]
        assert seen["alice"] == managed["alice"] == [own]
        assert seen["bob"] == [team, lent] and managed["bob"] == []
        assert rows["bob"] == [(team, False), (lent, False)] and rows["alice"] == [(own, True)]
        assert managed["carol"] == [team, lent, *[s.id for s in records.all_subscriptions(store)][3:]]
    assert costs[0] == costs[1], costs


def test_the_status_of_many_subscriptions_is_read_at_once(users: Host, feeds: FeedServer) -> None:
    """``describe_all`` (the API's and the CLI's listing, the web page's rows) reads the calendars,
    the syncs running, each subscription's conflicts (a count and the 10 newest) and objects
    not stored (at most 50) for all at once: as many statements for 2 as for 6, and each the
    same as ``describe`` of it alone."""
    url = feeds.publish("/feed.ics", b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nEND:VCALENDAR\r\n")
    store = users.store
    subs: list[records.Subscription] = []
    costs = []
    for size in (2, 6):
        while len(subs) < size:
            n = len(subs)
            sub = asyncio.run(manage.create(users, None, calendar=f"alice/feed{n}", url=url))
            for i in range(12 * n):
                records.record_conflict(store, sub.id, f"c{i}.ics", None, "both-modified", "remote-wins", "remote")
            with store.transaction():
                for i in range(60 if n % 2 else 0):
                    records.save_item(store, sub.id, records.Item(f"/s{i:02}", f"s{i:02}.ics", None, '"e"', None, "bad"))
            subs.append(sub)
        fresh = [records.get(store, s.id) for s in subs]
        with store.traced() as statements:
            described = manage.describe_all(users, fresh)
        costs.append(len(statements))
        assert described == [manage.describe(users, s) for s in fresh]
        for n, shown in enumerate(described):
            status = shown["status"]
            assert shown["calendar"] == f"alice/feed{n}"
            assert status["conflicts_total"] == 12 * n
            assert [c["name"] for c in status["recent_conflicts"]] == [f"c{i}.ics" for i in range(12 * n - 1, 12 * n - 11, -1)][:12 * n]
            assert [e["object"] for e in status["not_stored"]] == ([f"/s{i:02}" for i in range(50)] if n % 2 else [])
    assert costs[0] == costs[1], costs
