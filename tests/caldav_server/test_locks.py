"""WebDAV class 2 locking: exclusive and shared locks, If headers, collections, expiry, racing clients."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from kernel.testing import event_object as event
from kernel.testing.dav import error_elements, mkcalendar, parse_multistatus, propfind, unique
from tests.caldav_server.conftest import Deployment, make_deployment

D = "{DAV:}"
LOCKINFO = (
    '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:{scope}/></D:lockscope>'
    "<D:locktype><D:write/></D:locktype><D:owner><D:href>mailto:someone@example.com</D:href></D:owner></D:lockinfo>"
)


def lock(
    client: httpx.Client, path: str, scope: str = "exclusive", depth: str = "0", timeout: str = "Second-600"
) -> httpx.Response:
    return client.request(
        "LOCK", path, content=LOCKINFO.format(scope=scope).encode(), headers={"Depth": depth, "Timeout": timeout}
    )


def token_of(r: httpx.Response) -> str:
    assert r.status_code in (200, 201), r.text
    return r.headers["Lock-Token"].strip("<>")


def plain_collection(client: httpx.Client) -> str:
    path = f"/dav/cal/alice/{unique('files')}/"
    assert client.request("MKCOL", path).status_code == 201
    return path


def test_exclusive_lock_guards_writes(alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    etag = alice.put(cal + "e.ics", content=event("locked")).headers["ETag"]
    token = token_of(lock(alice, cal + "e.ics"))
    refused = alice.put(cal + "e.ics", content=event("locked", summary="no token"))
    assert refused.status_code == 423
    assert error_elements(refused)[0] == D + "lock-token-submitted"
    assert alice.delete(cal + "e.ics").status_code == 423
    assert lock(alice, cal + "e.ics").status_code == 423
    assert lock(alice, cal + "e.ics", scope="shared").status_code == 423
    wrong_etag = alice.put(cal + "e.ics", content=event("locked"), headers={"If": f'(<{token}> ["nope"])'})
    assert wrong_etag.status_code == 412
    ok = alice.put(
        cal + "e.ics", content=event("locked", summary="with token"), headers={"If": f"(<{token}> [{etag}])"}
    )
    assert ok.status_code == 204
    discovery = parse_multistatus(
        propfind(alice, cal + "e.ics", "<D:prop><D:lockdiscovery/><D:supportedlock/></D:prop>")
    )
    active = discovery[cal + "e.ics"].value(D + "lockdiscovery")
    assert active.find(f"{D}activelock/{D}locktoken/{D}href").text == token
    assert "mailto:someone@example.com" in "".join(active.itertext())
    assert alice.request("UNLOCK", cal + "e.ics", headers={"Lock-Token": "<urn:uuid:bogus>"}).status_code == 409
    assert alice.request("UNLOCK", cal + "e.ics", headers={"Lock-Token": f"<{token}>"}).status_code == 204
    assert alice.delete(cal + "e.ics").status_code == 204


def test_deleting_a_locked_resource_destroys_its_lock_and_no_other(alice: httpx.Client) -> None:
    """RFC 4918 9.6.1: a successful DELETE destroys the locks rooted on the deleted resource;
    a lock on another resource of the calendar stays."""
    cal = mkcalendar(alice)
    alice.put(cal + "a.ics", content=event("a")).raise_for_status()
    alice.put(cal + "b.ics", content=event("b")).raise_for_status()
    mine, other = token_of(lock(alice, cal + "a.ics")), token_of(lock(alice, cal + "b.ics"))
    assert alice.delete(cal + "a.ics", headers={"If": f"(<{mine}>)"}).status_code == 204
    assert alice.put(cal + "a.ics", content=event("a")).status_code == 201  # no lock left on the URL
    assert alice.delete(cal + "b.ics").status_code == 423
    assert alice.delete(cal + "b.ics", headers={"If": f"(<{other}>)"}).status_code == 204


def test_moving_a_locked_resource_leaves_its_lock_behind_and_no_other(alice: httpx.Client) -> None:
    """A MOVE needs the source's lock token, and the lock rooted at the source URL goes with
    it (the URL is unbound); the moved object is unlocked at its destination, and a lock on
    another resource of the calendar stays."""
    cal = mkcalendar(alice)
    alice.put(cal + "a.ics", content=event("a")).raise_for_status()
    alice.put(cal + "b.ics", content=event("b")).raise_for_status()
    mine, other = token_of(lock(alice, cal + "a.ics")), token_of(lock(alice, cal + "b.ics"))
    assert alice.request("MOVE", cal + "a.ics", headers={"Destination": cal + "moved.ics"}).status_code == 423
    moved = alice.request("MOVE", cal + "a.ics", headers={"Destination": cal + "moved.ics", "If": f"(<{mine}>)"})
    assert moved.status_code == 201
    assert alice.put(cal + "a.ics", content=event("a2")).status_code == 201  # no lock left on the URL
    assert alice.put(cal + "moved.ics", content=event("a", summary="edited")).status_code == 204
    assert alice.request("MOVE", cal + "b.ics", headers={"Destination": cal + "c.ics"}).status_code == 423
    assert alice.request("MOVE", cal + "moved.ics", headers={"Destination": cal + "d.ics"}).status_code == 201
    with_token = {"Destination": cal + "c.ics", "If": f"(<{other}>)"}
    assert alice.request("MOVE", cal + "b.ics", headers=with_token).status_code == 201


def test_a_locked_destination_refuses_copy_and_move_without_its_token(alice: httpx.Client) -> None:
    """The locks of a COPY's or MOVE's Destination (read with the request's URL) guard it as
    a PUT's would: a locked object is not replaced, nor is a new one bound in a calendar
    locked at depth infinity, without the lock's token; the Destination given as a path
    or as an absolute URL."""
    cal, other, third = mkcalendar(alice), mkcalendar(alice), mkcalendar(alice)
    alice.put(cal + "a.ics", content=event("a", summary="new")).raise_for_status()
    alice.put(other + "taken.ics", content=event("a", summary="old")).raise_for_status()
    taken = token_of(lock(alice, other + "taken.ics"))
    absolute = str(alice.base_url.join(other + "taken.ics"))
    for method in ("COPY", "MOVE"):
        for destination in (other + "taken.ics", absolute):
            refused = alice.request(method, cal + "a.ics", headers={"Destination": destination})
            assert refused.status_code == 423, (method, destination)
            assert error_elements(refused)[0] == D + "lock-token-submitted"
    assert "SUMMARY:old" in alice.get(other + "taken.ics").text
    # a tagged list: an untagged one would be a condition on the Request-URI (RFC 4918 10.4.2)
    copied = alice.request("COPY", cal + "a.ics", headers={"Destination": absolute, "If": f"<{absolute}> (<{taken}>)"})
    assert copied.status_code == 204
    assert "SUMMARY:new" in alice.get(other + "taken.ics").text
    whole = token_of(lock(alice, third, depth="infinity"))
    assert alice.request("MOVE", cal + "a.ics", headers={"Destination": third + "a.ics"}).status_code == 423
    assert alice.get(cal + "a.ics").status_code == 200
    tagged = f"<{alice.base_url.join(third)}> (<{whole}>)"
    assert alice.request("MOVE", cal + "a.ics", headers={"Destination": third + "a.ics", "If": tagged}).status_code == 201
    assert alice.get(cal + "a.ics").status_code == 404
    assert "SUMMARY:new" in alice.get(third + "a.ics").text


def test_another_user_cannot_use_my_token(deployment: Deployment, alice: httpx.Client) -> None:
    team = mkcalendar(alice, owner="team")
    alice.put(team + "e.ics", content=event("team-lock"))
    token = token_of(lock(alice, team + "e.ics"))
    with deployment.client("bob") as bob:
        r = bob.put(team + "e.ics", content=event("team-lock", summary="bob"), headers={"If": f"(<{token}>)"})
        assert r.status_code == 423
        assert bob.request("UNLOCK", team + "e.ics", headers={"Lock-Token": f"<{token}>"}).status_code == 403


def test_shared_locks_and_refresh(alice: httpx.Client) -> None:
    files = plain_collection(alice)
    alice.put(files + "doc.txt", content=b"v1", headers={"Content-Type": "text/plain"})
    first = token_of(lock(alice, files + "doc.txt", scope="shared"))
    second = token_of(lock(alice, files + "doc.txt", scope="shared"))
    assert first != second
    assert lock(alice, files + "doc.txt").status_code == 423
    refreshed = alice.request("LOCK", files + "doc.txt", headers={"If": f"(<{first}>)", "Timeout": "Second-1000"})
    assert refreshed.status_code == 200 and "Second-" in refreshed.text
    assert alice.request("LOCK", files + "doc.txt", headers={"If": "(<urn:uuid:nope>)"}).status_code == 412


def test_depth_infinity_collection_lock_and_unmapped_url(alice: httpx.Client) -> None:
    files = plain_collection(alice)
    token = token_of(lock(alice, files, depth="infinity"))
    assert alice.put(files + "new.txt", content=b"x").status_code == 423
    assert alice.request("MKCOL", files + "sub/").status_code == 423
    tagged = alice.put(files + "new.txt", content=b"x", headers={"If": f"<{files}> (<{token}>)"})
    assert tagged.status_code == 201
    assert alice.request("UNLOCK", files + "new.txt", headers={"Lock-Token": f"<{token}>"}).status_code == 204
    unmapped = lock(alice, files + "reserved.txt")
    assert unmapped.status_code == 201
    assert alice.get(files + "reserved.txt").content == b""
    cal = mkcalendar(alice)
    assert lock(alice, cal + "reserved.ics").status_code == 403


def test_lock_expires(alice: httpx.Client) -> None:
    files = plain_collection(alice)
    alice.put(files + "doc.txt", content=b"v1")
    token_of(lock(alice, files + "doc.txt", timeout="Second-1"))
    assert alice.put(files + "doc.txt", content=b"v2").status_code == 423
    deadline = time.monotonic() + 5
    status = 423
    while status == 423 and time.monotonic() < deadline:
        time.sleep(0.3)
        status = alice.put(files + "doc.txt", content=b"v2").status_code
    assert status == 204


def test_max_lock_timeout_caps_new_and_refreshed_locks(tmp_path: Path) -> None:
    """[caldav_server] max_lock_timeout bounds Infinite, long and refreshed timeouts; the lock lapses."""
    dep = make_deployment(tmp_path, '[caldav_server]\nmax_lock_timeout = "2s"\n')
    with dep.server, dep.client("alice") as alice:
        files = plain_collection(alice)
        alice.put(files + "doc.txt", content=b"v1")
        taken = lock(alice, files + "doc.txt", timeout="Infinite")
        assert "<D:timeout>Second-2</D:timeout>" in taken.text
        token = token_of(taken)
        refreshed = alice.request(
            "LOCK", files + "doc.txt", headers={"Timeout": "Second-86400", "If": f"(<{token}>)"}
        )
        assert refreshed.status_code == 200 and "<D:timeout>Second-2</D:timeout>" in refreshed.text
        deadline = time.monotonic() + 6
        status = 423
        while status == 423 and time.monotonic() < deadline:
            time.sleep(0.3)
            status = alice.put(files + "doc.txt", content=b"v2").status_code
        assert status == 204
    dep.host.close()


def test_two_clients_racing_with_etags_and_locks(deployment: Deployment) -> None:
    with deployment.client("alice") as one, deployment.client("bob") as two:
        team = mkcalendar(one, owner="team")
        etag = one.put(team + "r.ics", content=event("race")).headers["ETag"]
        first = one.put(team + "r.ics", content=event("race", summary="one"), headers={"If-Match": etag})
        second = two.put(team + "r.ics", content=event("race", summary="two"), headers={"If-Match": etag})
        assert (first.status_code, second.status_code) == (204, 412)
        token = token_of(lock(two, team + "r.ics"))
        fresh = one.get(team + "r.ics").headers["ETag"]
        assert (
            one.put(team + "r.ics", content=event("race", summary="blocked"), headers={"If-Match": fresh}).status_code
            == 423
        )
        assert (
            two.put(
                team + "r.ics", content=event("race", summary="two"), headers={"If": f"(<{token}> [{fresh}])"}
            ).status_code
            == 204
        )
        assert b"two" in one.get(team + "r.ics").content
