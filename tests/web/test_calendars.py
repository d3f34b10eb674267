"""The calendars page: own, team and shared calendars; create, rename, recolour, delete as the kernel allows."""

from __future__ import annotations

import re
import uuid
from contextlib import ExitStack
from pathlib import Path

import pytest

from kernel import Collection
from kernel.accounts import set_grant
from kernel.testing import add_group, event_object
from kernel.testing.postgres import round_trips
from tests.web.conftest import Browser, Deployment, make_deployment

WEEKLY = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n"
    "DTSTART:20240102T100000Z\r\nDTEND:20240102T110000Z\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\nSUMMARY:standup\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)
TODO = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n"
    "SUMMARY:a task\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
)


def calendar(dep: Deployment, owner: str, name: str | None = None, **attrs: object) -> Collection:
    """A calendar made by the system (as the CLI would)."""
    principal = dep.host.store.principal(owner)
    assert principal is not None
    return dep.host.writes.create_collection(
        principal, name or f"c-{uuid.uuid4().hex[:8]}", "calendar", principal=None, attrs=attrs
    )


def row(page: str, collection: Collection) -> str:
    """The table row of one calendar on the page."""
    match = re.search(rf'<tr data-calendar="{collection.id}">(.*?)</tr>', page, re.S)
    assert match, f"calendar {collection.id} not listed"
    return match.group(1)


def cell(row_html: str, name: str) -> str:
    match = re.search(rf'<td class="{name}">([^<]*)</td>', row_html)
    assert match
    return match.group(1)


def test_own_team_and_shared_calendars_with_counts_and_privileges(
    deployment: Deployment, alice: Browser, bob: Browser
) -> None:
    host = deployment.host
    work = calendar(deployment, "alice", display_name="Work", color="#ff8800", description="alice's work")
    host.writes.put_object(work, "a.ics", event_object("a1"), principal=None)
    host.writes.put_object(work, "b.ics", WEEKLY.format(uid="b1").encode(), principal=None)
    host.writes.put_object(work, "t.ics", TODO.format(uid="t1").encode(), principal=None)
    planning = calendar(deployment, "team", display_name="Planning")
    private = calendar(deployment, "bob", display_name="Bob's private")
    shared = calendar(deployment, "bob", display_name="Bob's shared")
    host.writes.set_grant(shared, host.store.principal("alice").id, "read", principal=None)

    page = alice.client.get("/web/calendars").text
    assert "My calendars" in page and "Team: team" in page and "Shared with me" in page
    mine = row(page, work)
    assert "Work" in mine and "alice&#39;s work" in mine and "#ff8800" in mine
    assert cell(mine, "count") == "2"  # two events (one of them recurring); the task is not one
    assert cell(mine, "privilege") == "admin" and "/edit" in mine and "/delete" in mine
    assert cell(row(page, planning), "privilege") == "admin"  # alice administers the team
    theirs = row(page, shared)
    assert cell(theirs, "privilege") == "read" and "/edit" not in theirs and "/delete" not in theirs
    assert f'data-calendar="{private.id}"' not in page and "Bob&#39;s private" not in page

    page = bob.client.get("/web/calendars").text
    team_row = row(page, planning)
    assert cell(team_row, "privilege") == "write" and "/edit" not in team_row and "/delete" not in team_row
    assert f'data-calendar="{work.id}"' not in page
    with deployment.signed_in("carol") as carol:
        page = carol.client.get("/web/calendars").text
        for c in (work, planning, private, shared):
            assert f'data-calendar="{c.id}"' not in page


def test_create_rename_recolour_and_delete_through_the_write_pipeline(deployment: Deployment, alice: Browser) -> None:
    host = deployment.host
    seq = host.store.latest_seq()
    name = f"Holidays {uuid.uuid4().hex[:6]}"
    made = alice.form("/web/calendars/new", {"display_name": name, "color": "#ff0000", "description": "days off"})
    assert made.status_code == 303 and made.headers["location"] == "/web/calendars?done=created"
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower())
    created = host.store.collection("alice", slug)
    assert created is not None and created.display_name == name and created.color == "#ff0000"
    assert created.description == "days off" and created.kind == "calendar"
    again = alice.form("/web/calendars/new", {"display_name": name})
    assert again.status_code == 303 and host.store.collection("alice", slug + "-2") is not None
    assert "Calendar created." in alice.client.get(made.headers["location"]).text

    saved = alice.form(f"/web/calendars/{created.id}/edit", {"display_name": "Renamed", "color": "#00aa00"})
    assert saved.status_code == 303
    fresh = host.store.collection_by_id(created.id)
    assert fresh is not None and fresh.display_name == "Renamed" and fresh.color == "#00aa00"
    kinds = [(c.collection_id, c.kind) for c in host.store.changes_since(seq)]
    assert (created.id, "created") in kinds and (created.id, "modified") in kinds

    gone = alice.form(f"/web/calendars/{created.id}/delete")
    assert gone.status_code == 303 and host.store.collection_by_id(created.id) is None
    assert (created.id, "deleted") in [(c.collection_id, c.kind) for c in host.store.changes_since(seq)]


def test_team_calendars_are_created_by_team_admins_only(deployment: Deployment, alice: Browser, bob: Browser) -> None:
    host = deployment.host
    name = f"Team plan {uuid.uuid4().hex[:6]}"
    assert 'name="owner"' in alice.client.get("/web/calendars").text
    assert alice.form("/web/calendars/new", {"display_name": name, "owner": "team"}).status_code == 303
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower())
    assert host.store.collection("team", slug) is not None
    refused = bob.form("/web/calendars/new", {"display_name": "bob's team cal", "owner": "team"})
    assert refused.status_code == 403 and host.store.collection("team", "bob-s-team-cal") is None
    for owner in ("carol", "nobody"):
        assert bob.form("/web/calendars/new", {"display_name": "x y z", "owner": owner}).status_code == 403
    assert host.store.collection("carol", "x-y-z") is None


def test_other_users_calendars_are_refused_without_a_leak(deployment: Deployment, bob: Browser) -> None:
    host = deployment.host
    secret = calendar(deployment, "alice", display_name="Secret plans")
    planning = calendar(deployment, "team", display_name="Team planning")
    shared = calendar(deployment, "alice", display_name="Shared read")
    host.writes.set_grant(shared, host.store.principal("bob").id, "read", principal=None)
    missing = bob.form("/web/calendars/999999/edit", {"display_name": "x"})
    for target in (secret,):
        for action in ("edit", "delete"):
            answer = bob.form(f"/web/calendars/{target.id}/{action}", {"display_name": "mine now"})
            assert answer.status_code == 404 and "Secret plans" not in answer.text
            assert answer.text == missing.text  # the same answer as for a calendar that does not exist
    # bob may read these but not change or delete them
    for target in (planning, shared):
        assert bob.form(f"/web/calendars/{target.id}/edit", {"display_name": "mine now"}).status_code == 403
        assert bob.form(f"/web/calendars/{target.id}/delete").status_code == 403
    for target in (secret, planning, shared):
        after = host.store.collection_by_id(target.id)
        assert after is not None and after.display_name == target.display_name


def test_writes_without_the_csrf_token_or_as_the_wrong_kind_are_refused(deployment: Deployment, alice: Browser) -> None:
    host = deployment.host
    target = calendar(deployment, "alice", display_name="Keep me")
    for path, data in (
        ("/web/calendars/new", {"display_name": "forged"}),
        (f"/web/calendars/{target.id}/edit", {"display_name": "forged"}),
        (f"/web/calendars/{target.id}/delete", {}),
    ):
        answer = alice.form(path, data, csrf=False)
        assert answer.status_code == 403 and "CSRF" in answer.text
        wrong = alice.form(path, {**data, "csrf": "not-the-token"}, csrf=False)
        assert wrong.status_code == 403
    as_json = alice.client.post("/web/calendars/new", json={"display_name": "forged", "csrf": alice.csrf})
    assert as_json.status_code == 400
    assert host.store.collection("alice", "forged") is None
    kept = host.store.collection_by_id(target.id)
    assert kept is not None and kept.display_name == "Keep me"
    with deployment.browser() as anonymous:
        answer = anonymous.post("/web/calendars/new", data={"display_name": "anon"})
        assert answer.status_code == 303 and answer.headers["location"].startswith("/web/login")


@pytest.mark.parametrize(
    "fields",
    [
        {"display_name": ""},
        {"display_name": "   "},
        {"display_name": "x" * 201},
        {"display_name": "bell\x07"},
        {"display_name": "ok", "color": "red"},
        {"display_name": "ok", "color": "#12345"},
        {"display_name": "ok", "color": "#123456; background: url(x)"},
        {"display_name": "ok", "description": "d" * 2001},
    ],
)
def test_bad_input_is_a_clear_400_and_nothing_is_made(deployment: Deployment, alice: Browser, fields: dict) -> None:
    before = len(deployment.host.store.collections("alice", parent=None))
    answer = alice.form("/web/calendars/new", fields)
    assert answer.status_code == 400 and 'role="alert"' in answer.text
    assert len(deployment.host.store.collections("alice", parent=None)) == before


def test_names_are_rendered_as_text(deployment: Deployment, alice: Browser) -> None:
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    target = calendar(deployment, "alice", display_name=payload, description=payload, color="red;x:url(y)")
    page = alice.client.get("/web/calendars").text
    html = row(page, target)
    assert "<script>" not in page.split("<main>")[1].split('<script src=')[0]
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html and "<img" not in html
    assert "url(y)" not in html and "#2457c5" in html  # an unusable stored colour is not put in the page


def test_limits_apply_as_for_caldav(tmp_path: Path) -> None:
    dep = make_deployment(
        tmp_path, "[limits]\nmax_calendars = 1\n", enabled=["caldav_server", "web", "limits"]
    )
    with dep.server, dep.signed_in("carol") as carol:
        assert carol.form("/web/calendars/new", {"display_name": "first"}).status_code == 303
        second = carol.form("/web/calendars/new", {"display_name": "second"})
        assert second.status_code in (403, 507) and "second" not in [
            c.path for c in dep.host.store.collections("carol", parent=None)
        ]
        assert 'role="alert"' in second.text
    dep.host.close()


def test_the_calendar_list_costs_the_same_for_1_and_4_team_and_shared_calendars(tmp_path: Path) -> None:
    """A member's calendar list reads their team's calendars, those shared with them and
    what they may do on each in a fixed number of statements, however many there are, and
    lists each in its section."""
    with make_deployment(tmp_path) as dep, dep.signed_in("bob") as bob:
        counts = []
        for size in (1, 4):
            made = [calendar(dep, "team", f"t{size}-{i}") for i in range(size)]
            made += [calendar(dep, "carol", f"s{size}-{i}") for i in range(size)]
            for collection in made[size:]:
                set_grant(dep.host, collection, "bob", "read")
            with dep.server.host.store.traced() as statements:
                page = bob.client.get("/web/calendars")
            assert page.status_code == 200
            for collection in made:
                assert f"/web/calendars/{collection.id}\"" in page.text, collection.path
            counts.append(len(statements))
        assert counts[0] == counts[1], counts


def test_the_calendar_list_costs_the_same_for_1_and_3_teams(tmp_path: Path, teamcal_backend: str) -> None:
    """What a user may do on each calendar listed, and where he may create one, are worked out
    from one read of what he reaches: the statements, and on PostgreSQL the round trips, of
    the calendar list and the calendar view do not grow with the teams he is in; each team
    has its section, with the member's privilege, and a team's admin may create in its home."""
    with make_deployment(tmp_path) as dep, dep.signed_in("alice") as alice, dep.signed_in("bob") as bob:
        host = dep.host
        members = [host.store.principal("bob")]
        admins = [host.store.principal("alice")]
        costs: dict[str, list[tuple[int, int]]] = {"/web/calendars": [], "/web/view": []}
        made: list[Collection] = []
        for size in (1, 3):
            while len(made) < size:
                group = add_group(host, f"crew{len(made)}", members, admins=admins)
                made.append(calendar(dep, group.name, f"plan{len(made)}"))
                shared = calendar(dep, "carol", f"shared{len(made)}")
                set_grant(host, shared, "bob", "read")
            for path in costs:
                with ExitStack() as counting:
                    served = dep.server.host.store
                    trips = (counting.enter_context(round_trips(served, every_thread=True))
                             if teamcal_backend == "postgresql" else [])
                    statements = counting.enter_context(served.traced())
                    page = bob.client.get(path)
                assert page.status_code == 200, page.text
                costs[path].append((len(statements), len(trips)))
            page = bob.client.get("/web/calendars").text
            for collection in made:
                assert f"Team: {collection.owner.name}" in page
                assert cell(row(page, collection), "privilege") == "write"
            owners = re.findall(r'<option value="([^"]+)">', alice.client.get("/web/calendars").text)
            assert {c.owner.name for c in made} <= set(owners) and "alice" in owners
            assert 'name="owner"' not in page  # bob administers none of them
        for path, (one, three) in costs.items():
            assert one[0] > 0 and one == three, (path, costs)
