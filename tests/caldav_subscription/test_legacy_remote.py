"""A remote without sync-collection: getctag, PROPFIND Depth 1 ETags, calendar-multiget (or GETs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kernel.host import Host
from plugins.caldav_subscription import records

from .conftest import local_objects, subscribe, sync
from .mini_dav import MiniDav
from .peers import event, summary_of
from .test_two_way import delete_local, write_local


@pytest.fixture(params=[True, False], ids=["multiget", "get-only"])
def mini(request: pytest.FixtureRequest) -> Iterator[MiniDav]:
    """The in-test server, with and without calendar-multiget."""
    with MiniDav(multiget=request.param) as server:
        yield server


def test_ctag_and_etag_diff(host: Host, mini: MiniDav) -> None:
    for i in range(5):
        mini.put(f"e{i}.ics", event(f"u{i}", f"v1 {i}"))
    sub = subscribe(host, mini.url)
    first = sync(host, sub)
    assert first.error is None, first.error
    assert first.report.pulled == 5
    assert records.get(host.store, sub.id).capability == "ctag"
    # probe + PROPFIND Depth 1 + one multiget (or five GETs)
    assert first.requests == (3 if mini.multiget else 7)
    assert [m for m, _ in mini.requests].count("REPORT") == (1 if mini.multiget else 0)

    mini.requests.clear()
    idle = sync(host, sub)
    assert idle.error is None and idle.requests == 1 and idle.report.pulled == 0
    assert mini.requests == [("PROPFIND", "/cal/")]

    mini.put("e1.ics", event("u1", "v2 1"))
    mini.delete("e2.ics")
    inc = sync(host, sub)
    assert inc.error is None, inc.error
    assert (inc.report.pulled, inc.report.deleted) == (1, 1)
    assert inc.requests == 3  # probe + listing + one multiget or one GET
    local = local_objects(host, sub)
    assert summary_of(local["e1.ics"]) == "v2 1" and "e2.ics" not in local and len(local) == 4


def test_two_way_against_a_legacy_remote(host: Host, mini: MiniDav) -> None:
    mini.put("a.ics", event("a", "remote A"))
    sub = subscribe(host, mini.url, mode="two-way")
    assert sync(host, sub).report.pulled == 1
    write_local(host, sub, "a.ics", event("a", "local A"))
    write_local(host, sub, "b.ics", event("b", "local B"))
    out = sync(host, sub)
    assert out.error is None, out.error
    assert out.report.pushed == 2
    assert summary_of(mini.objects["a.ics"]) == "local A" and summary_of(mini.objects["b.ics"]) == "local B"
    delete_local(host, sub, "b.ics")
    assert sync(host, sub).report.pushed == 1
    assert set(mini.objects) == {"a.ics"}
    settled = sync(host, sub)
    assert (settled.report.pulled, settled.report.pushed) == (0, 0), settled.summary()


def test_push_refused_by_precondition_is_retried(host: Host, mini: MiniDav) -> None:
    """A remote change between our listing and our push (412) is not lost: the next sync resolves it."""
    mini.put("a.ics", event("a", "remote A"))
    sub = subscribe(host, mini.url, mode="two-way")
    assert sync(host, sub).error is None
    write_local(host, sub, "a.ics", event("a", "local A"))
    # The remote changes behind our back, but our stored ETag is stale only after the listing: simulate
    # by changing the remote ETag without moving the ctag.
    mini.objects["a.ics"] = event("a", "sneaky remote")
    out = sync(host, sub)
    assert out.error is None
    assert out.report.pushed == 0 and "retried next sync" in out.report.skipped[0]["reason"]
    mini.ctag += 1
    again = sync(host, sub)
    assert again.error is None, again.error
    assert again.report.conflicts == 1  # remote-wins by default
    assert summary_of(local_objects(host, sub)["a.ics"]) == "sneaky remote"
