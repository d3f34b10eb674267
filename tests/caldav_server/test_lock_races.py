"""Clients racing with locks and ETags, under a real uvicorn: one winner, no lost update, no mixed body.

Each race starts its requests together from threads (a barrier), every
thread on its own HTTP connection, and is bounded in count and time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx

from kernel.testing import event_object as event
from kernel.testing.dav import error_elements, mkcalendar, parse_multistatus, propfind
from tests.caldav_server.conftest import Deployment

D = "{DAV:}"
RACERS = 8
LOCKINFO = (
    '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:{scope}/></D:lockscope>'
    "<D:locktype><D:write/></D:locktype><D:owner>{owner}</D:owner></D:lockinfo>"
)


def lock(
    client: httpx.Client, path: str, scope: str = "exclusive", depth: str = "0", timeout: str = "Second-600"
) -> httpx.Response:
    return client.request(
        "LOCK",
        path,
        content=LOCKINFO.format(scope=scope, owner="racer").encode(),
        headers={"Depth": depth, "Timeout": timeout},
    )


def token_of(r: httpx.Response) -> str:
    assert r.status_code in (200, 201), r.text
    return r.headers["Lock-Token"].strip("<>")


def active_tokens(client: httpx.Client, path: str) -> list[str]:
    """The lock tokens DAV:lockdiscovery lists for a resource."""
    found = parse_multistatus(propfind(client, path, "<D:prop><D:lockdiscovery/></D:prop>"))
    [response] = found.values()
    discovery = response.value(D + "lockdiscovery")
    return [href.text or "" for href in discovery.iterfind(f"{D}activelock/{D}locktoken/{D}href")]


def race(deployment: Deployment, request: Callable[[httpx.Client, int], httpx.Response]) -> list[httpx.Response]:
    """Run ``request(client, i)`` for RACERS clients (alice and bob in turn) released together."""
    barrier = threading.Barrier(RACERS, timeout=10)
    clients = [deployment.client("alice" if i % 2 == 0 else "bob") for i in range(RACERS)]

    def run(i: int) -> httpx.Response:
        barrier.wait()
        return request(clients[i], i)

    try:
        with ThreadPoolExecutor(RACERS) as pool:
            futures = [pool.submit(run, i) for i in range(RACERS)]
            return [f.result(timeout=30) for f in futures]
    finally:
        for client in clients:
            client.close()


def test_a_lock_holds_off_another_client_until_the_holder_writes(alice: httpx.Client, bob: httpx.Client) -> None:
    team = mkcalendar(alice, owner="team")
    name = team.strip("/").rsplit("/", 1)[-1]
    alias = f"/dav/cal/bob/team~{name}/r.ics"
    first = alice.put(team + "r.ics", content=event("ab", summary="first")).headers["ETag"]
    assert bob.get(team + "r.ics").headers["ETag"] == first
    token = token_of(lock(alice, team + "r.ics"))

    no_token = bob.put(team + "r.ics", content=event("ab", summary="bob"), headers={"If-Match": first})
    assert no_token.status_code == 423 and error_elements(no_token)[0] == D + "lock-token-submitted"
    assert f"<D:href>{team}r.ics</D:href>" in no_token.text
    stolen = bob.put(team + "r.ics", content=event("ab", summary="bob"), headers={"If": f"(<{token}> [{first}])"})
    assert stolen.status_code == 423
    assert bob.put(team + "r.ics", content=event("ab", summary="bob"), headers={"If": '(["stale"])'}).status_code == 412
    # The same calendar through bob's alias URL is the same locked resource.
    assert bob.put(alias, content=event("ab", summary="bob"), headers={"If-Match": first}).status_code == 423
    assert lock(bob, alias).status_code == 423
    assert active_tokens(bob, alias) == [token]

    mine = alice.put(team + "r.ics", content=event("ab", summary="alice"), headers={"If": f"(<{token}> [{first}])"})
    assert mine.status_code == 204
    assert alice.request("UNLOCK", team + "r.ics", headers={"Lock-Token": f"<{token}>"}).status_code == 204
    stale = bob.put(team + "r.ics", content=event("ab", summary="bob"), headers={"If-Match": first})
    assert stale.status_code == 412
    assert alice.get(team + "r.ics").content == event("ab", summary="alice")
    fresh = bob.put(team + "r.ics", content=event("ab", summary="bob"), headers={"If-Match": mine.headers["ETag"]})
    assert fresh.status_code == 204


def test_a_lock_granted_while_a_streamed_body_arrives_refuses_the_put(alice: httpx.Client, bob: httpx.Client) -> None:
    """A chunked body is read after PUT's checks; a LOCK taken meanwhile still holds it off."""
    team = mkcalendar(alice, owner="team")
    first = alice.put(team + "s.ics", content=event("st", summary="first")).headers["ETag"]
    body = event("st", summary="streamed")
    granted: list[str] = []

    def chunks() -> Iterator[bytes]:
        yield body[:40]
        time.sleep(0.5)  # the server has the headers: PUT's checks ran before this lock exists
        granted.append(token_of(lock(alice, team + "s.ics")))
        yield body[40:]

    late = bob.put(team + "s.ics", content=chunks(), headers={"If-Match": first})
    assert granted and late.status_code == 423, late.text
    assert error_elements(late)[0] == D + "lock-token-submitted"
    assert alice.get(team + "s.ics").headers["ETag"] == first
    # Without the lock, the same streamed PUT is written.
    assert alice.request("UNLOCK", team + "s.ics", headers={"Lock-Token": f"<{granted[0]}>"}).status_code == 204
    assert bob.put(team + "s.ics", content=iter([body[:40], body[40:]]), headers={"If-Match": first}).status_code == 204
    assert alice.get(team + "s.ics").content == body


def test_racing_lock_requests_have_exactly_one_winner(deployment: Deployment, alice: httpx.Client) -> None:
    team = mkcalendar(alice, owner="team")
    alice.put(team + "busy.ics", content=event("busy"))

    answers = race(deployment, lambda client, i: lock(client, team + "busy.ics"))
    assert sorted(r.status_code for r in answers) == [200] + [423] * (RACERS - 1)
    [winner] = [token_of(r) for r in answers if r.status_code == 200]
    assert active_tokens(alice, team + "busy.ics") == [winner]

    # On an unmapped URL the winner also creates the (empty) resource, once.
    files = f"/dav/cal/team/{team.strip('/').rsplit('/', 1)[-1]}-files/"
    assert alice.request("MKCOL", files).status_code == 201
    answers = race(deployment, lambda client, i: lock(client, files + "fresh.txt"))
    assert sorted(r.status_code for r in answers) == [201] + [423] * (RACERS - 1)
    assert alice.get(files + "fresh.txt").content == b""

    # A depth-infinity lock on the collection (alice, the group admin: members may not lock a
    # team collection) and locks on a member (bob) exclude each other.
    alice.put(files + "member.txt", content=b"m")
    answers = race(
        deployment,
        lambda client, i: lock(client, files, depth="infinity") if i % 2 == 0 else lock(client, files + "member.txt"),
    )
    assert sorted(r.status_code for r in answers) == [200] + [423] * (RACERS - 1)


def test_racing_shared_locks_all_win_and_each_holder_may_write(deployment: Deployment, alice: httpx.Client) -> None:
    team = mkcalendar(alice, owner="team")
    alice.put(team + "s.ics", content=event("shared"))
    answers = race(deployment, lambda client, i: lock(client, team + "s.ics", scope="shared"))
    assert [r.status_code for r in answers] == [200] * RACERS
    tokens = [token_of(r) for r in answers]
    assert sorted(active_tokens(alice, team + "s.ics")) == sorted(tokens)
    assert lock(alice, team + "s.ics").status_code == 423
    alice_token, bob_token = tokens[0], tokens[1]
    with deployment.client("bob") as bob:
        assert bob.put(team + "s.ics", content=event("shared", summary="b")).status_code == 423
        assert (
            bob.put(team + "s.ics", content=event("shared", summary="b"), headers={"If": f"(<{alice_token}>)"})
        ).status_code == 423
        assert (
            bob.put(team + "s.ics", content=event("shared", summary="b"), headers={"If": f"(<{bob_token}>)"})
        ).status_code == 204
    assert (
        alice.put(team + "s.ics", content=event("shared", summary="a"), headers={"If": f"(<{alice_token}>)"})
    ).status_code == 204


def test_racing_puts_on_one_etag_have_one_winner_and_no_mixed_body(deployment: Deployment, alice: httpx.Client) -> None:
    team = mkcalendar(alice, owner="team")
    for round_ in range(3):
        etag = alice.put(team + "p.ics", content=event("puts", summary=f"round {round_}")).headers["ETag"]
        bodies = [event("puts", summary=f"round {round_} writer {i} " + "x" * (200 * i)) for i in range(RACERS)]
        answers = race(
            deployment,
            lambda client, i, bodies=bodies, etag=etag: client.put(
                team + "p.ics", content=bodies[i], headers={"If-Match": etag}
            ),
        )
        statuses = [r.status_code for r in answers]
        assert sorted(statuses) == [204] + [412] * (RACERS - 1), statuses
        winner = statuses.index(204)
        stored = alice.get(team + "p.ics")
        assert stored.content == bodies[winner]
        assert stored.headers["ETag"] == answers[winner].headers["ETag"]

    answers = race(
        deployment,
        lambda client, i: client.put(
            team + "new.ics", content=event("new", summary=str(i)), headers={"If-None-Match": "*"}
        ),
    )
    statuses = [r.status_code for r in answers]
    assert sorted(statuses) == [201] + [412] * (RACERS - 1)
    assert alice.get(team + "new.ics").content == event("new", summary=str(statuses.index(201)))


def test_racing_creates_of_one_uid_under_other_names_have_one_winner(deployment: Deployment, alice: httpx.Client) -> None:
    """Clients creating the same event (one UID) at names of their own, at once: each PUT
    trusts the name it found empty, and the UID is checked with its writes, so one is stored
    and every other gets CALDAV:no-uid-conflict naming the winner's href."""
    team = mkcalendar(alice, owner="team")
    answers = race(deployment, lambda client, i: client.put(team + f"copy{i}.ics", content=event("one uid", summary=str(i))))
    statuses = [r.status_code for r in answers]
    assert sorted(statuses) == [201] + [409] * (RACERS - 1), statuses
    winner = f"copy{statuses.index(201)}.ics"
    for answer in answers:
        if answer.status_code == 409:
            assert "no-uid-conflict" in answer.text and team + winner in answer.text, answer.text
    listing = alice.request("PROPFIND", team, headers={"Depth": "1"})
    assert listing.text.count(".ics</") == 1 and winner in listing.text


def test_an_expired_lock_lets_another_client_write(alice: httpx.Client, bob: httpx.Client) -> None:
    team = mkcalendar(alice, owner="team")
    alice.put(team + "x.ics", content=event("expiring"))
    started = time.monotonic()
    taken = lock(alice, team + "x.ics", timeout="Second-0")  # the server's smallest is one second
    token = token_of(taken)
    assert "Second-1" in taken.text or "Second-0" in taken.text
    early = bob.put(team + "x.ics", content=event("expiring", summary="bob")).status_code
    if time.monotonic() - started < 0.9:
        assert early == 423
    deadline = time.monotonic() + 5
    status = 423
    while status == 423 and time.monotonic() < deadline:
        time.sleep(0.2)
        status = bob.put(team + "x.ics", content=event("expiring", summary="bob")).status_code
    assert status == 204
    assert active_tokens(bob, team + "x.ics") == []
    assert alice.request("UNLOCK", team + "x.ics", headers={"Lock-Token": f"<{token}>"}).status_code == 409
    assert alice.request("LOCK", team + "x.ics", headers={"If": f"(<{token}>)"}).status_code == 412
    assert token_of(lock(bob, team + "x.ics"))


def test_if_header_grammar(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    etag = alice.put(cal + "i.ics", content=event("if")).headers["ETag"]
    for header in (
        f"<{cal}i.ics>",
        f"(<DAV:no-lock>) <{cal}i.ics>",
        f"<{cal}i.ics> <{cal}i.ics> (Not <DAV:no-lock>)",
        f"<{cal}i.ics> (Not <DAV:no-lock>) <{cal}other.ics>",
        "([unterminated)",
        "(Not)",
    ):
        assert alice.put(cal + "i.ics", content=event("if"), headers={"If": header}).status_code == 400, header
    assert alice.put(cal + "i.ics", content=event("if"), headers={"If": "(<DAV:no-lock>)"}).status_code == 412
    negated = alice.put(
        cal + "i.ics", content=event("if", summary="n"), headers={"If": f"(not <DAV:no-lock> [{etag}])"}
    )
    assert negated.status_code == 204
    stale = alice.request(
        "LOCK",
        cal + "i.ics",
        content=LOCKINFO.format(scope="exclusive", owner="x").encode(),
        headers={"If": '(["stale"])'},
    )
    assert stale.status_code == 412
    assert active_tokens(alice, cal + "i.ics") == []
