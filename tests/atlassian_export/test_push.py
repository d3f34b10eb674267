"""Push against a real HTTP receiver on 127.0.0.1: retries, rate limits, rejections, the cursor."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from kernel import ConfigError
from plugins.atlassian_export import journal, state
from plugins.atlassian_export.commands import status
from plugins.atlassian_export.push import Outcome, Pusher, parse_retry_after, rejections
from plugins.atlassian_export.ratelimit import WINDOW

from .conftest import NOW, FakeClock, World, ics, make_world, validate
from .receiver import Answer, Receiver

SET = "setObjects"
DELETE = "deleteObjectsByExternalId"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def push_world(directory: Path, receiver: Receiver, **settings: object) -> World:
    """A world pushing to the receiver, whose clock the receiver shares."""
    defaults = {"endpoint": receiver.url, "allow_insecure_endpoint": True, "token": "s3cret"}
    return make_world(directory, **{**defaults, **settings})


def push(world: World, clock: FakeClock) -> Outcome:
    """One push run with the fake clock, fixed jitter and the fixed NOW."""
    pusher = Pusher(world.deployment, clock=clock, sleep=clock.sleep, rand=lambda: 0.5, now=lambda: NOW)
    return asyncio.run(pusher.run())


def window_peak(events: list[tuple[float, int]]) -> int:
    return max((sum(n for u, n in events if t - WINDOW < u <= t) for t, _ in events), default=0)


def seed(world: World, count: int, prefix: str = "e") -> set[str]:
    for n in range(count):
        world.put(f"{prefix}{n}.ics", ics(f"{prefix}{n}", NOW + timedelta(hours=n)))
    return {f"alice/work:{prefix}{n}" for n in range(count)}


def test_every_event_arrives_through_429s_500s_and_partial_rejections(tmp_path: Path, receiver: Receiver) -> None:
    clock = FakeClock()
    receiver.clock = clock
    world = push_world(tmp_path, receiver, objects_per_minute=300)
    assert push(world, clock).caught_up  # an empty first run: what follows is NORMAL, not BACKFILL
    expected = seed(world, 330)
    world.put("series.ics", ics("series", NOW - timedelta(days=1), rrule="FREQ=WEEKLY;COUNT=8"))
    doomed: list[str] = []

    def script(number: int, envelope: dict) -> Answer:
        if number == 1:
            return 429, {"Retry-After": "7"}, {"error": "slow down"}
        if number in (3, 4):
            return (500 if number == 3 else 503), {}, {"error": "busy"}
        if number == 5:
            doomed.extend(o["id"] for o in envelope["request"]["objects"][:2])
            return 200, {}, {"success": True, "results": {
                "accepted": [], "rejected": [{"key": {"id": i}, "errors": [{"key": "INVALID", "message": "bad field"}]}
                                             for i in doomed]}}
        return 200, {}, {"success": True}

    receiver.script = script
    outcome = push(world, clock)
    assert outcome.caught_up and outcome.error is None, outcome
    sets = receiver.accepted(SET)
    objects = [o for r in sets for o in r.request["objects"]]
    validate(objects)
    assert expected | {"alice/work:series"} <= receiver.object_ids()
    assert len(receiver.object_ids()) == 330 + 1 + 8
    assert all(len(r.request["objects"]) <= 100 for r in receiver.received)
    assert all(r.request["operationType"] == "NORMAL" for r in sets)
    assert all(r.request["properties"] == {"calendarId": "alice/work"} for r in sets)
    assert all(r.headers["authorization"] == "Bearer s3cret" for r in receiver.received)
    sent = [(r.at, len(r.request["objects"])) for r in receiver.received if r.operation == SET]
    assert window_peak(sent) <= 300
    assert receiver.received[2].at - receiver.received[1].at >= 7  # Retry-After honoured
    assert 7.0 in clock.sleeps and 0.75 in clock.sleeps and 1.5 in clock.sleeps  # then backoff 1 s, 2 s jittered
    assert (sent[-1][0] - sent[0][0]) / 60 >= 339 / 300 - 1  # the limit made it take its time
    rejected = state.rejected(world.host.store, state.PUSH)
    assert sorted(r["object_id"] for r in rejected) == sorted(doomed)
    assert {r["reason"] for r in rejected} == {"bad field"} and all(r["usn"] for r in rejected)
    report = status(world.deployment)["consumers"]["push"]
    assert report["cursor"] == journal.head(world.host.store) and report["backlog"] == 0
    assert report["rejected"] == 2 and report["last_error"] is None
    world.host.close()


def test_the_first_full_export_is_a_backfill(tmp_path: Path, receiver: Receiver) -> None:
    clock = FakeClock()
    receiver.clock = clock
    world = push_world(tmp_path, receiver, objects_per_minute=100, backfill_objects_per_minute=1000)
    expected = seed(world, 450)
    assert push(world, clock).caught_up
    assert receiver.object_ids() == expected
    assert {r.request["operationType"] for r in receiver.received} == {"BACKFILL"}
    assert window_peak([(r.at, len(r.request["objects"])) for r in receiver.received]) <= 1000
    assert clock.now - receiver.received[0].at < 60  # 450 objects fit the backfill minute
    before = len(receiver.received)
    world.put("late.ics", ics("late"))
    assert push(world, clock).caught_up
    assert [r.request["operationType"] for r in receiver.received[before:]] == ["NORMAL"]
    world.host.close()


def test_deletions_keep_their_own_rate(tmp_path: Path, receiver: Receiver) -> None:
    clock = FakeClock()
    receiver.clock = clock
    world = push_world(tmp_path, receiver, deletions_per_minute=150)
    seed(world, 320)
    assert push(world, clock).caught_up
    for n in range(320):
        world.delete(f"e{n}.ics")
    assert push(world, clock).caught_up
    deletes = [r for r in receiver.received if r.operation == DELETE]
    assert receiver.deleted_ids() == {f"alice/work:e{n}" for n in range(320)}
    assert all(len(r.request["externalIds"]) <= 100 and r.request["objectType"] == "atlassian:calendar-event"
               for r in deletes)
    assert window_peak([(r.at, len(r.request["externalIds"])) for r in deletes]) <= 150
    assert state.object_count(world.host.store, state.PUSH) == 0
    world.host.close()


def test_a_refusing_endpoint_stops_the_run_and_loses_nothing(tmp_path: Path, receiver: Receiver) -> None:
    clock = FakeClock()
    receiver.clock = clock
    world = push_world(tmp_path, receiver, batch_size=50)
    expected = seed(world, 200)
    receiver.script = lambda number, envelope: (200, {}, {}) if number < 2 else (401, {}, {"error": "bad token"})
    outcome = push(world, clock)
    assert outcome.error and "HTTP 401" in outcome.error and outcome.batches == 2
    store = world.host.store
    consumer = state.consumer(store, state.PUSH)
    assert consumer is not None and consumer.last_error and "401" in consumer.last_error
    delivered = {o["id"] for r in receiver.received[:2] for o in r.request["objects"]}
    assert {row[0] for row in store.execute("SELECT object_id FROM atlassian_export_objects")} == delivered
    receiver.script = lambda number, envelope: (200, {}, {"success": True})
    assert push(world, clock).caught_up
    assert receiver.object_ids() == expected
    consumer = state.consumer(store, state.PUSH)
    assert consumer is not None and consumer.last_error is None and consumer.cursor == journal.head(store)
    world.host.close()


def test_a_long_retry_after_pauses_until_then(tmp_path: Path, receiver: Receiver) -> None:
    clock = FakeClock()
    receiver.clock = clock
    world = push_world(tmp_path, receiver, backoff_max="60s")
    expected = seed(world, 3)
    receiver.script = lambda number, envelope: (429, {"Retry-After": "3600"}, {}) if number == 0 else (200, {}, {})
    outcome = push(world, clock)
    assert outcome.error and "3600" in outcome.error
    assert push(world, clock).error.startswith("waiting until")
    assert len(receiver.received) == 1
    clock.now += 3600
    assert push(world, clock).caught_up and receiver.object_ids() == expected
    world.host.close()


def test_retries_give_up_and_resume_later(tmp_path: Path, receiver: Receiver) -> None:
    clock = FakeClock()
    receiver.clock = clock
    world = push_world(tmp_path, receiver, max_attempts=3, backoff_base="2s")
    expected = seed(world, 5)
    receiver.script = lambda number, envelope: (502, {}, {"error": "gateway"})
    outcome = push(world, clock)
    assert outcome.error and "gave up after 3 tries" in outcome.error
    assert len(receiver.received) == 3 and clock.sleeps == [1.5, 3.0]  # 2 s then 4 s, jittered to 3/4
    assert state.consumer(world.host.store, state.PUSH).cursor == 0
    receiver.script = lambda number, envelope: (200, {}, None)  # an empty 200 accepts everything
    assert push(world, clock).caught_up and receiver.object_ids() == expected
    world.host.close()


def test_a_refused_request_rejects_its_objects_and_moves_on(tmp_path: Path, receiver: Receiver) -> None:
    clock = FakeClock()
    receiver.clock = clock
    world = push_world(tmp_path, receiver, batch_size=2)
    seed(world, 6)
    answers = {0: (400, {}, {"error": "schema"}), 1: (200, {}, {"success": False, "error": "quota exceeded"})}
    receiver.script = lambda number, envelope: answers.get(number, (200, {}, {}))
    assert push(world, clock).caught_up
    reasons = {r["object_id"]: r["reason"] for r in state.rejected(world.host.store, state.PUSH)}
    assert len(reasons) == 4
    assert sorted(set(reasons.values())) == ['HTTP 400: {"error": "schema"}', "quota exceeded"]
    world.put("e0.ics", ics("e0", summary="fixed"))  # exported again, and accepted: no longer listed
    assert push(world, clock).caught_up
    assert "alice/work:e0" not in {r["object_id"] for r in state.rejected(world.host.store, state.PUSH)}
    world.host.close()


def test_an_unreachable_endpoint_is_retried_then_reported(tmp_path: Path) -> None:
    clock = FakeClock()
    with Receiver() as gone:
        url = gone.url
    world = make_world(tmp_path, endpoint=url, allow_insecure_endpoint=True, max_attempts=2)
    seed(world, 1)
    outcome = push(world, clock)
    assert outcome.error and "ConnectError" in outcome.error and len(clock.sleeps) == 1
    world.host.close()


@pytest.mark.parametrize(
    "endpoint, settings, reason",
    [
        ("https://[::ffff:127.0.0.1]:{port}/relay", {}, "127.0.0.1 is a loopback address"),
        ("https://[64:ff9b::a9fe:a9fe]:{port}/relay", {"allowed_networks": ["10.0.0.0/8"]}, "169.254.169.254"),
        ("https://[2002:a00:5::]:{port}/relay", {"allowed_networks": ["10.0.0.4/32"]}, "10.0.0.5 is a private"),
        ("https://[fec0::1]:{port}/relay", {}, "fec0::1 is a site-local address"),
        ("https://[::ffff:127.0.0.1]:{port}/relay", {"allow_insecure_endpoint": True,
                                                     "allowed_networks": ["10.0.0.0/8"]}, None),
    ],
)
def test_the_push_endpoint_passes_the_address_guard(
    tmp_path: Path, receiver: Receiver, endpoint: str, settings: dict, reason: str | None
) -> None:
    """Checked after DNS like subscriptions: IPv4 inside IPv6 is judged as that IPv4 address."""
    world = make_world(tmp_path, endpoint=endpoint.format(port=receiver.server.server_address[1]), **settings)
    seed(world, 1)
    outcome = push(world, FakeClock())
    assert outcome.error
    if reason is None:  # loopback allowed: the connection is made (TLS to a plain HTTP receiver fails)
        assert "refused" not in outcome.error and "ConnectError" in outcome.error
    else:
        assert "endpoint refused" in outcome.error and reason in outcome.error
        assert receiver.received == []
    world.host.close()


def test_endpoint_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[atlassian_export\] endpoint: must be an https:// URL"):
        make_world(tmp_path / "a", endpoint="http://example.com/relay")
    with pytest.raises(ConfigError, match=r"\[atlassian_export\] endpoint"):
        make_world(tmp_path / "b", endpoint="ftp://example.com/")
    with pytest.raises(ConfigError, match=r"\[atlassian_export\] batch_size: must be between 1 and 100"):
        make_world(tmp_path / "c", batch_size=101)
    with pytest.raises(ConfigError, match=r"\[atlassian_export\] event_url: may only use"):
        make_world(tmp_path / "f", event_url="https://x.example/{uid}")
    world = make_world(tmp_path / "d", endpoint="http://127.0.0.1:9/relay")
    outcome = push(world, FakeClock())
    assert outcome.error and "allow_insecure_endpoint" in outcome.error
    world.host.close()
    world = make_world(tmp_path / "e", endpoint="https://relay.example.com/teamcal")
    assert world.host.settings("atlassian_export").endpoint == "https://relay.example.com/teamcal"
    world.host.close()


def test_retry_after_and_rejection_parsing() -> None:
    assert parse_retry_after("120", 0) == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == 10.0
    assert parse_retry_after("soon", 0) is None and parse_retry_after(None, 0) is None
    ids = ["a", "b", "c"]
    assert rejections({"rejected": ["a", {"externalId": "b", "message": "nope"}, {"id": "zzz"}]}, ids) == {
        "a": "rejected", "b": "nope"}
    assert rejections({"results": {"failed": [{"object": {"id": "c"}, "error": {"message": "too big"}}]}}, ids) == {
        "c": "too big"}
    assert rejections({"success": False}, ["a"]) == {"a": "the endpoint answered success: false"}
    assert rejections([1, 2], ids) == {} and rejections({"success": True}, ids) == {}
