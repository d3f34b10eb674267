"""`teamcal export atlassian`: the JSON document, its options, status, and what it leaves alone."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kernel.cli import main
from plugins.atlassian_export import state
from plugins.atlassian_export.pull import page

from .conftest import NOW, World, ics, make_world, validate

#: The CLI maps with the real clock: events start tomorrow.
SOON = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)


def run(world: World, *args: str) -> tuple[int, str, str]:
    """``kernel.cli.main`` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["--config", str(world.host.config.path), *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def objects_of(document: dict) -> list[dict]:
    return [o for r in document["requests"] for o in r["objects"]]


@pytest.fixture
def filled(tmp_path: Path) -> World:
    world = make_world(tmp_path, window_future_days=400)
    for n in range(120):
        world.put(f"e{n}.ics", ics(f"e{n}", SOON + timedelta(hours=n)))
    world.put("s.ics", ics("s", SOON, rrule="FREQ=WEEKLY;COUNT=30"))
    team = world.host.writes.create_collection(world.alice, "team", "calendar", principal=world.alice)
    world.put("t.ics", ics("t", SOON), team)
    yield world
    world.host.close()


def test_a_full_export_is_one_valid_document(filled: World) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kernel.cli", "--config", str(filled.host.config.path), "export", "atlassian"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"requests", "deletions", "cursor"} and document["deletions"] == []
    objects = objects_of(document)
    validate(objects)
    assert len(objects) == 120 + 1 + 30 + 1
    assert all(len(r["objects"]) <= 100 and r["operationType"] == "NORMAL" for r in document["requests"])
    assert {r["properties"]["calendarId"] for r in document["requests"]} == {"alice/work", "alice/team"}
    assert all(o["updateSequenceNumber"] == document["cursor"] for o in objects)
    assert "atlassian export: 152 objects, 0 deletions, 0 skipped" in result.stderr


def test_one_calendar_as_backfill_into_a_file(filled: World, tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    code, out, err = run(filled, "export", "atlassian", "--calendar", "alice/team", "--backfill", "--out", str(target))
    assert code == 0 and out == "" and "1 objects" in err
    document = json.loads(target.read_text())
    assert [o["id"] for o in objects_of(document)] == ["alice/team:t"]
    assert document["requests"][0]["operationType"] == "BACKFILL"
    assert not list(tmp_path.glob(".out.json*"))
    code, _, err = run(filled, "export", "atlassian", "--calendar", "alice/nothing")
    assert code == 1 and "No calendar 'alice/nothing'" in err


def test_since_gives_changes_and_deletions_without_moving_cursors(filled: World) -> None:
    deployment = filled.deployment
    cursor = None
    for _ in range(20):
        answer = page(deployment, cursor, 500, NOW)
        cursor = answer["cursor"]
        if not answer["more"]:
            break
    page(deployment, cursor, 500, NOW)
    filled.put("e1.ics", ics("e1", SOON, summary="moved"))
    filled.delete("e2.ics")
    code, out, _ = run(filled, "export", "atlassian", "--since", str(cursor))
    assert code == 0
    document = json.loads(out)
    assert [o["id"] for o in objects_of(document)] == ["alice/work:e1"]
    assert document["deletions"] == [{"objectType": "atlassian:calendar-event", "externalIds": ["alice/work:e2"]}]
    assert document["cursor"] > cursor
    assert state.consumer(filled.host.store, state.PULL).cursor == cursor
    assert state.consumer(filled.host.store, state.PUSH) is None
    code, out, _ = run(filled, "export", "atlassian", "--since", str(document["cursor"]))
    assert json.loads(out) == {"requests": [], "deletions": [], "cursor": document["cursor"]}


def test_status_shows_cursor_backlog_and_errors(filled: World) -> None:
    code, out, _ = run(filled, "export", "atlassian", "status", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["consumers"] == {} and report["endpoint"] is None
    page(filled.deployment, None, 10, NOW)
    with filled.host.store.transaction():
        state.ensure_consumer(filled.host.store, state.PUSH, 0)
    state.record_error(filled.host.store, state.PUSH, "endpoint answered HTTP 401")
    report = json.loads(run(filled, "export", "atlassian", "status", "--json")[1])
    assert report["feed"]["backlog"] == 0 and report["journal"]["head"] >= 122
    pull = report["consumers"]["pull"]
    assert pull["cursor"] == 0 and pull["backlog"] == 122 and pull["backfilling"]
    assert report["consumers"]["push"]["last_error"] == "endpoint answered HTTP 401"
    code, out, _ = run(filled, "export", "atlassian", "status")
    assert code == 0 and "last error: endpoint answered HTTP 401" in out and "pull: cursor 0, backlog" in out


def test_rejected_and_refresh_actions(filled: World) -> None:
    state.record_rejected(filled.host.store, state.PUSH, [("alice/work:e1", "setObjects", 7, "bad field")])
    code, out, _ = run(filled, "export", "atlassian", "rejected")
    assert code == 0 and "alice/work:e1: bad field" in out
    assert json.loads(run(filled, "export", "atlassian", "rejected", "--json", "--limit", "1")[1])[0]["usn"] == 7
    code, out, _ = run(filled, "export", "atlassian", "refresh")
    assert code == 0 and "journal rows added" in out


def test_misused_options_are_refused(filled: World) -> None:
    code, _, err = run(filled, "export", "atlassian", "status", "--since", "3")
    assert code == 2 and "--since only apply to an export" in err
    assert run(filled, "export", "atlassian", "--since", "x")[0] == 2
    assert run(filled, "export", "atlassian", "--json")[0] == 2
    assert run(filled, "export", "atlassian", "push", "--limit", "3")[0] == 2
    assert run(filled, "export", "atlassian", "push")[0] == 2  # no endpoint configured
    assert run(filled, "export")[0] == 2
