"""One-way pulls from real Radicale and Xandikos: initial, incremental (sync-collection), deletions."""

from __future__ import annotations

from pathlib import Path

from kernel.host import Host
from plugins.caldav_subscription import manage, records

from .conftest import build_host, local_objects, subscribe, sync
from .peers import FeedServer, Peer, event, summary_of


def test_initial_and_incremental_pull(host: Host, peer: Peer) -> None:
    cal = peer.new_calendar()
    for i in range(12):
        cal.put(f"e{i}.ics", event(f"uid-{i}", f"first {i}", day=1 + i))
    sub = subscribe(host, cal.url, auth=peer.auth)
    first = sync(host, sub)
    assert first.error is None, first.error
    assert first.report.counts() == {"pulled": 12, "pushed": 0, "deleted": 0, "conflicts": 0, "skipped": 0}
    # probe + sync-collection + one multiget
    assert first.requests == 3
    local = local_objects(host, sub)
    assert set(local) == {f"e{i}.ics" for i in range(12)}
    assert summary_of(local["e7.ics"]) == "first 7"
    assert records.get(host.store, sub.id).capability == "sync-collection"

    # Nothing changed: one sync-collection request and nothing written.
    seq = host.store.latest_seq()
    idle = sync(host, sub)
    assert idle.error is None and idle.requests == 1 and idle.report.counts()["pulled"] == 0
    assert host.store.latest_seq() == seq

    cal.put("e3.ics", event("uid-3", "changed 3"))
    cal.delete("e4.ics")
    cal.put("new.ics", event("uid-new", "brand new"))
    inc = sync(host, sub)
    assert inc.error is None, inc.error
    assert inc.report.counts() == {"pulled": 2, "pushed": 0, "deleted": 1, "conflicts": 0, "skipped": 0}
    assert inc.requests == 2  # sync-collection + one multiget
    local = local_objects(host, sub)
    assert summary_of(local["e3.ics"]) == "changed 3"
    assert "e4.ics" not in local and summary_of(local["new.ics"]) == "brand new"
    assert len(local) == 12
    status = records.get(host.store, sub.id)
    assert status.failures == 0 and status.last_success and status.last_error is None


def test_invalid_token_falls_back_to_a_full_listing(host: Host, radicale: Peer) -> None:
    cal = radicale.new_calendar()
    cal.put("a.ics", event("a", "A"))
    cal.put("b.ics", event("b", "B"))
    sub = subscribe(host, cal.url, auth=radicale.auth)
    assert sync(host, sub).error is None
    records.update(host.store, sub.id, sync_token="http://radicale.org/ns/sync/not-a-real-token")
    cal.delete("a.ics")
    out = sync(host, sub)
    assert out.error is None, out.error
    assert out.report.deleted == 1
    assert set(local_objects(host, sub)) == {"b.ics"}
    assert records.get(host.store, sub.id).sync_token != "http://radicale.org/ns/sync/not-a-real-token"


def test_invalid_remote_objects_are_skipped_not_fatal(tmp_path: Path, radicale: Peer) -> None:
    host = build_host(tmp_path)
    cal = radicale.new_calendar()
    cal.put("good.ics", event("good", "fine"))
    # A VEVENT with a negative DURATION: Radicale stores it, teamcal's kernel refuses it (no
    # repair interprets it; a DTEND before DTSTART would be repaired, kernel/ingest).
    bad = event("bad", "broken").replace(b"DTEND:20240301T110000Z", b"DURATION:-PT1H")
    cal.put("bad.ics", bad)
    sub = subscribe(host, cal.url, auth=radicale.auth)
    out = sync(host, sub)
    assert out.error is None, out.error
    assert out.report.pulled == 1
    assert [s["object"].rsplit("/", 1)[-1] for s in out.report.skipped] == ["bad.ics"]
    assert set(local_objects(host, sub)) == {"good.ics"}
    # The skipped object is not fetched again until it changes, and stays listed in the status.
    again = sync(host, sub)
    assert again.error is None and again.report.skipped == []
    shown = manage.describe(host, records.get(host.store, sub.id))
    assert [e["object"].rsplit("/", 1)[-1] for e in shown["status"]["not_stored"]] == ["bad.ics"]
    cal.put("bad.ics", event("bad", "repaired"))
    fixed = sync(host, sub)
    assert fixed.report.pulled == 1
    assert summary_of(local_objects(host, sub)["bad.ics"]) == "repaired"
    host.close()


def test_objects_breaking_the_limits_plugin_rules_are_skipped(tmp_path: Path, radicale: Peer) -> None:
    host = build_host(
        tmp_path, enabled=("caldav_subscription", "limits"), extra='\n[limits]\nmax_attendees = 2\nmax_icalendar_size = "2kb"\n'
    )
    cal = radicale.new_calendar()
    cal.put("fine.ics", event("fine", "fine"))
    crowd = "".join(f"ATTENDEE:mailto:p{i}@example.org\r\n" for i in range(3))
    cal.put("crowd.ics", event("crowd", "too many people", extra=crowd))
    cal.put("big.ics", event("big", "huge", extra="DESCRIPTION:" + "x" * 60 + "\r\n " + "\r\n ".join(["y" * 70] * 40) + "\r\n"))
    sub = subscribe(host, cal.url, auth=radicale.auth)
    out = sync(host, sub)
    assert out.error is None, out.error
    assert out.report.pulled == 1 and set(local_objects(host, sub)) == {"fine.ics"}
    reasons = {s["object"].rsplit("/", 1)[-1]: s["reason"] for s in out.report.skipped}
    assert set(reasons) == {"crowd.ics", "big.ics"}
    assert "over the limit of 2048" in reasons["big.ics"]
    assert "attendee" in reasons["crowd.ics"].lower()
    host.close()


def test_the_status_lists_at_most_50_objects_not_stored_without_reading_the_others(
    host: Host, feeds: FeedServer
) -> None:
    """``describe`` shows the items a sync could not store, by href, at most 50 of them, and
    reads only those (``records.skipped_items``), however many items the subscription tracks."""
    sub = subscribe(host, feeds.publish("/big.ics", b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nEND:VCALENDAR\r\n"))
    with host.store.transaction():
        for i in range(300):
            reason = f"refused {i}" if i % 5 == 0 else None
            records.save_item(host.store, sub.id, records.Item(f"/e{i:03}", f"e{i:03}.ics", f"u{i}", '"r"', None, reason))
    with host.store.traced() as statements:
        shown = manage.describe(host, records.get(host.store, sub.id))["status"]["not_stored"]
    assert [e["object"] for e in shown] == [f"/e{i:03}" for i in range(0, 250, 5)]
    assert all(e["reason"] == f"refused {int(e['object'][2:])}" for e in shown)
    read = [s for s in statements if "caldav_subscription_items" in s]
    assert len(read) == 1 and "skipped IS NOT NULL" in read[0]
