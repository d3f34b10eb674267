"""Two-way subscriptions against real peers: edits and deletes from both sides, no echo, conflicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.host import Host
from plugins.caldav_subscription import manage, records
from plugins.caldav_subscription.records import Subscription

from .conftest import build_host, local_objects, subscribe, sync
from .peers import Peer, event, summary_of


def write_local(host: Host, sub: Subscription, name: str, data: bytes) -> None:
    """A local client's write (as the CalDAV plugin would make it)."""
    collection = host.store.collection_by_id(sub.collection_id)
    alice = host.store.principal("alice")
    host.writes.put_object(collection, name, data, principal=alice, source="caldav")


def delete_local(host: Host, sub: Subscription, name: str) -> None:
    """A local client's delete."""
    collection = host.store.collection_by_id(sub.collection_id)
    host.writes.delete_object(collection, name, principal=host.store.principal("alice"), source="caldav")


def test_changes_flow_both_ways_without_echo(host: Host, peer: Peer) -> None:
    cal = peer.new_calendar()
    cal.put("a.ics", event("a", "remote A"))
    cal.put("b.ics", event("b", "remote B"))
    sub = subscribe(host, cal.url, mode="two-way", auth=peer.auth)
    first = sync(host, sub)
    assert first.error is None, first.error
    assert first.report.counts()["pulled"] == 2 and first.report.pushed == 0

    idle = sync(host, sub)
    assert idle.error is None
    assert (idle.report.pulled, idle.report.pushed, idle.requests) == (0, 0, 1)

    write_local(host, sub, "a.ics", event("a", "local edit A", extra="SEQUENCE:1\r\n"))
    write_local(host, sub, "c.ics", event("c", "local new C"))
    delete_local(host, sub, "b.ics")
    out = sync(host, sub)
    assert out.error is None, out.error
    assert (out.report.pushed, out.report.pulled, out.report.conflicts) == (3, 0, 0)
    assert summary_of(cal.get("a.ics")) == "local edit A"
    assert summary_of(cal.get("c.ics")) == "local new C"
    assert cal.get("b.ics") is None

    # What we pushed does not come back, and what we pulled does not go out again.
    quiet = sync(host, sub)
    assert quiet.error is None
    assert (quiet.report.pulled, quiet.report.pushed) == (0, 0), quiet.summary()

    cal.put("c.ics", event("c", "remote edit C"))
    cal.delete("a.ics")
    back = sync(host, sub)
    assert back.error is None, back.error
    assert (back.report.pulled, back.report.deleted, back.report.pushed) == (1, 1, 0)
    local = local_objects(host, sub)
    assert set(local) == {"c.ics"} and summary_of(local["c.ics"]) == "remote edit C"
    settled = sync(host, sub)
    assert (settled.report.pulled, settled.report.pushed) == (0, 0)


def test_existing_local_events_are_pushed_on_first_two_way_sync(host: Host, radicale: Peer) -> None:
    from kernel.commands import find_collection

    host.writes.create_collection(host.store.principal("alice"), "work", "calendar", principal=None)
    work = find_collection(host, "alice/work")
    for i in range(3):
        host.writes.put_object(work, f"w{i}.ics", event(f"w{i}", f"work {i}"), principal=None, source="caldav")
    cal = radicale.new_calendar()
    cal.put("r.ics", event("r", "remote"))
    sub = subscribe(host, cal.url, mode="two-way", auth=radicale.auth, calendar="alice/work")
    out = sync(host, sub)
    assert out.error is None, out.error
    assert (out.report.pulled, out.report.pushed) == (1, 3)
    assert cal.names() == {"r.ics", "w0.ics", "w1.ics", "w2.ics"}
    assert sync(host, sub).report.counts() == {"pulled": 0, "pushed": 0, "deleted": 0, "conflicts": 0, "skipped": 0}


def _conflict_host(tmp_path: Path, policy: str) -> Host:
    return build_host(tmp_path, conflict_policy=f'"{policy}"')


STAMP = "LAST-MODIFIED:{}\r\n"


@pytest.mark.parametrize(
    "policy, local_stamp, remote_stamp, expected",
    [
        ("remote-wins", "20250101T000000Z", "20240101T000000Z", "remote"),
        ("local-wins", "20240101T000000Z", "20250101T000000Z", "local"),
        ("newest-wins", "20250101T000000Z", "20240101T000000Z", "local"),
        ("newest-wins", "20240101T000000Z", "20250101T000000Z", "remote"),
    ],
)
def test_both_modified_conflicts_follow_the_policy(
    tmp_path: Path, radicale: Peer, policy: str, local_stamp: str, remote_stamp: str, expected: str
) -> None:
    host = _conflict_host(tmp_path, policy)
    cal = radicale.new_calendar()
    cal.put("x.ics", event("x", "original"))
    sub = subscribe(host, cal.url, mode="two-way", auth=radicale.auth)
    assert sync(host, sub).error is None
    write_local(host, sub, "x.ics", event("x", "local version", extra=STAMP.format(local_stamp)))
    cal.put("x.ics", event("x", "remote version", extra=STAMP.format(remote_stamp)))
    out = sync(host, sub)
    assert out.error is None, out.error
    assert out.report.conflicts == 1
    winner = f"{expected} version"
    assert summary_of(local_objects(host, sub)["x.ics"]) == winner
    assert summary_of(cal.get("x.ics")) == winner
    _, conflicts = records.recent_conflicts(host.store, [sub.id], 20)[sub.id]
    assert [(c.name, c.kind, c.policy, c.winner) for c in conflicts] == [("x.ics", "both-modified", policy, expected)]
    shown = manage.describe(host, records.get(host.store, sub.id))
    assert shown["status"]["conflicts_total"] == 1 and shown["status"]["counts"]["conflicts"] == 1
    # Settled: the next sync finds nothing to do on either side.
    after = sync(host, sub)
    assert (after.report.pulled, after.report.pushed, after.report.conflicts) == (0, 0, 0), after.summary()
    host.close()


def test_newest_wins_falls_back_to_sequence(tmp_path: Path, radicale: Peer) -> None:
    host = _conflict_host(tmp_path, "newest-wins")
    cal = radicale.new_calendar()
    cal.put("x.ics", event("x", "original"))
    sub = subscribe(host, cal.url, mode="two-way", auth=radicale.auth)
    assert sync(host, sub).error is None
    write_local(host, sub, "x.ics", event("x", "local version", extra="SEQUENCE:2\r\n"))
    cal.put("x.ics", event("x", "remote version", extra="SEQUENCE:1\r\n"))
    assert sync(host, sub).report.conflicts == 1
    assert summary_of(cal.get("x.ics")) == "local version"
    host.close()


@pytest.mark.parametrize("policy", ["remote-wins", "local-wins", "newest-wins"])
def test_delete_against_edit(tmp_path: Path, radicale: Peer, policy: str) -> None:
    host = _conflict_host(tmp_path, policy)
    cal = radicale.new_calendar()
    cal.put("kept-here.ics", event("k1", "original 1"))
    cal.put("kept-there.ics", event("k2", "original 2"))
    sub = subscribe(host, cal.url, mode="two-way", auth=radicale.auth)
    assert sync(host, sub).error is None
    # kept-here: deleted remotely, edited locally. kept-there: deleted locally, edited remotely.
    cal.delete("kept-here.ics")
    write_local(host, sub, "kept-here.ics", event("k1", "local edit"))
    delete_local(host, sub, "kept-there.ics")
    cal.put("kept-there.ics", event("k2", "remote edit"))
    out = sync(host, sub)
    assert out.error is None, out.error
    assert out.report.conflicts == 2
    local, remote = local_objects(host, sub), cal.names()
    if policy == "remote-wins":
        assert set(local) == {"kept-there.ics"} and remote == {"kept-there.ics"}
        assert summary_of(local["kept-there.ics"]) == "remote edit"
    elif policy == "local-wins":
        assert set(local) == {"kept-here.ics"} and remote == {"kept-here.ics"}
        assert summary_of(cal.get("kept-here.ics")) == "local edit"
    else:  # newest-wins: an edit beats a deletion on either side
        assert set(local) == {"kept-here.ics", "kept-there.ics"} == remote
        assert summary_of(cal.get("kept-here.ics")) == "local edit"
        assert summary_of(local["kept-there.ics"]) == "remote edit"
    kinds = sorted((c.kind, c.winner) for c in records.recent_conflicts(host.store, [sub.id], 20)[sub.id][1])
    assert [k for k, _ in kinds] == ["local-deleted", "remote-deleted"]
    after = sync(host, sub)
    assert (after.report.pulled, after.report.pushed, after.report.conflicts) == (0, 0, 0), after.summary()
    host.close()


def test_names_that_need_escaping_round_trip(host: Host, peer: Peer) -> None:
    cal = peer.new_calendar()
    cal.put("with space & ümlaut.ics", event("odd", "odd"))
    sub = subscribe(host, cal.url, mode="two-way", auth=peer.auth)
    assert sync(host, sub).error is None
    assert set(local_objects(host, sub)) == {"with space & ümlaut.ics"}
    write_local(host, sub, "with space & ümlaut.ics", event("odd", "edited"))
    write_local(host, sub, "new one+x@y.ics", event("n", "new"))
    out = sync(host, sub)
    assert out.error is None, out.error
    assert out.report.pushed == 2
    assert cal.names() == {"with space & ümlaut.ics", "new one+x@y.ics"}
    assert summary_of(cal.get("with space & ümlaut.ics")) == "edited"
    settled = sync(host, sub)
    assert (settled.report.pulled, settled.report.pushed) == (0, 0)
