"""The pull API: authentication, paging, and acknowledgement by passing the cursor back."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from kernel.testing import LiveServer, add_user, asgi_client
from plugins.atlassian_export import state

from .conftest import NOW, World, ics, make_world, validate
from .receiver import Receiver

PATH = "/api/atlassian/objects"


@pytest.fixture
def pulling(tmp_path: Path) -> World:
    world = make_world(tmp_path, pull_token="pull-secret", pull_page=10, pull_max_page=50)
    add_user(world.host, "root", admin=True)
    add_user(world.host, "bob")
    for n in range(25):
        world.put(f"e{n}.ics", ics(f"e{n}", NOW + timedelta(days=1, hours=n)))
    yield world
    world.host.close()


def get(world: World, user: str | None = None, headers: dict[str, str] | None = None, password: str = "password",
        **params: object) -> httpx.Response:
    async def go() -> httpx.Response:
        async with asgi_client(world.host, user, password) as client:
            return await client.get(PATH, params=params, headers=headers)

    return asyncio.run(go())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_only_admins_and_the_token_may_pull(pulling: World) -> None:
    anonymous = get(pulling)
    assert anonymous.status_code == 401
    assert "Basic" in anonymous.headers["www-authenticate"] and "Bearer" in anonymous.headers["www-authenticate"]
    assert get(pulling, "bob").status_code == 403
    assert get(pulling, "root").status_code == 200
    assert get(pulling, headers=bearer("pull-secret")).status_code == 200
    wrong = get(pulling, headers=bearer("pull-secreT"))
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert get(pulling, headers=bearer("")).status_code == 401
    assert get(pulling, "root", password="wrong").status_code == 401


def test_without_a_configured_token_bearer_is_refused(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    assert get(world, headers=bearer("")).status_code == 401
    assert get(world, headers=bearer("anything")).status_code == 401
    world.host.close()


def test_bad_parameters_are_400(pulling: World) -> None:
    auth = bearer("pull-secret")
    for params in ({"limit": "0"}, {"limit": "51"}, {"limit": "ten"}, {"cursor": "-1"}, {"cursor": "1e3"},
                   {"cursor": "٣"}, {"cursor": "9" * 30}):
        answer = get(pulling, headers=auth, **params)
        assert answer.status_code == 400, params
        assert "must be an integer" in answer.json()["error"]


def test_pages_are_acknowledged_by_passing_the_cursor_back(pulling: World) -> None:
    auth = bearer("pull-secret")
    first = get(pulling, headers=auth, cursor=0).json()
    assert set(first) == {"requests", "deletions", "cursor", "more"} and first["more"] is True
    assert get(pulling, headers=auth).headers["cache-control"] == "no-store"
    ids_first = [o["id"] for r in first["requests"] for o in r["objects"]]
    assert len(ids_first) == 10
    assert {r["operationType"] for r in first["requests"]} == {"BACKFILL"}
    again = get(pulling, headers=auth, cursor=0).json()  # a lost response: the same page again
    assert [o["id"] for r in again["requests"] for o in r["objects"]] == ids_first
    assert again["cursor"] == first["cursor"]
    store = pulling.host.store
    assert state.consumer(store, state.PULL).cursor == 0 and state.object_count(store, state.PULL) == 0

    seen = list(ids_first)
    cursor = first["cursor"]
    for _ in range(10):
        answer = get(pulling, headers=auth, cursor=cursor, limit=10).json()
        objects = [o for r in answer["requests"] for o in r["objects"]]
        validate(objects)
        seen += [o["id"] for o in objects]
        cursor = answer["cursor"]
        if not answer["more"]:
            break
    assert sorted(seen) == sorted(f"alice/work:e{n}" for n in range(25))
    assert state.object_count(store, state.PULL) == 20  # the last page is not acknowledged yet
    done = get(pulling, headers=auth, cursor=cursor).json()
    assert done == {"requests": [], "deletions": [], "cursor": cursor, "more": False}
    assert state.object_count(store, state.PULL) == 25 and state.consumer(store, state.PULL).cursor == cursor

    pulling.delete("e3.ics")
    pulling.put("e4.ics", ics("e4", summary="changed"))
    answer = get(pulling, headers=auth, cursor=cursor).json()
    assert [o["id"] for r in answer["requests"] for o in r["objects"]] == ["alice/work:e4"]
    assert {r["operationType"] for r in answer["requests"]} == {"NORMAL"}
    assert answer["deletions"] == [{"objectType": "atlassian:calendar-event", "externalIds": ["alice/work:e3"]}]


def test_a_cursor_never_handed_out_is_a_conflict(pulling: World) -> None:
    auth = bearer("pull-secret")
    first = get(pulling, headers=auth).json()
    answer = get(pulling, headers=auth, cursor=first["cursor"] + 1)
    assert answer.status_code == 409 and "not handed out" in answer.json()["error"]
    assert get(pulling, headers=auth, cursor=10**9).status_code == 409


def test_an_older_cursor_replays_from_there(pulling: World) -> None:
    auth = bearer("pull-secret")
    cursor = 0
    for _ in range(10):
        answer = get(pulling, headers=auth, cursor=cursor, limit=50).json()
        cursor = answer["cursor"]
        if not answer["more"]:
            break
    get(pulling, headers=auth, cursor=cursor)
    replay = get(pulling, headers=auth, cursor=0, limit=50).json()  # a reinstalled connector starts over
    assert len([o for r in replay["requests"] for o in r["objects"]]) == 25 and replay["deletions"] == []


def test_pull_over_a_real_server(pulling: World) -> None:
    with LiveServer(pulling.host) as server, server.client() as client:
        answer = client.get(PATH, params={"limit": 50}, headers=bearer("pull-secret"))
        assert answer.status_code == 200
        objects = [o for r in answer.json()["requests"] for o in r["objects"]]
        assert len(objects) == 25
        validate(objects)
        assert client.get(PATH, auth=("bob", "password")).status_code == 403


def test_hook_register_jobs_pushes_and_refreshes_in_the_server(tmp_path: Path) -> None:
    with Receiver() as receiver:
        world = make_world(tmp_path, endpoint=receiver.url, allow_insecure_endpoint=True, push_interval="0.2s",
                           refresh_interval="1s")
        world.put("a.ics", ics("a"))
        world.put("r.ics", ics("r", rrule="FREQ=DAILY;COUNT=3"))

        def numbers(object_id: str) -> list[int]:
            return [o["updateSequenceNumber"] for r in receiver.accepted("setObjects") for o in r.request["objects"]
                    if o["id"] == object_id]

        with LiveServer(world.host):
            deadline = time.monotonic() + 20
            while "alice/work:a" not in receiver.object_ids() and time.monotonic() < deadline:
                time.sleep(0.05)
            world.put("b.ics", ics("b"))
            while ("alice/work:b" not in receiver.object_ids() or len(numbers("alice/work:r")) < 2) \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
        assert {"alice/work:a", "alice/work:b"} <= receiver.object_ids()
        assert numbers("alice/work:a") == [numbers("alice/work:a")[0]]  # not recurring: exported once
        series = numbers("alice/work:r")
        assert len(series) >= 2 and series == sorted(set(series))  # the daily refresh, with a higher number
        world.host.close()
