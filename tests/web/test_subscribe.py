"""The Subscribe dialog's answers: per app the exact address on the public URL, the user name and steps."""

from __future__ import annotations

import uuid
from pathlib import Path

import caldav

from kernel import Collection
from kernel.testing import add_group, event_object
from plugins.web.subscribe import APPS
from tests.web.conftest import PASSWORD, Browser, Deployment, make_deployment


def calendar(dep: Deployment, owner: str, title: str) -> Collection:
    principal = dep.host.store.principal(owner)
    assert principal is not None
    cal = dep.host.writes.create_collection(
        principal, f"s-{uuid.uuid4().hex[:8]}", "calendar", principal=None, attrs={"display_name": title}
    )
    dep.host.writes.put_object(cal, "e.ics", event_object(uuid.uuid4().hex, summary=f"in {title}"), principal=None)
    return cal


def test_every_app_gets_an_address_user_name_and_steps(deployment: Deployment, bob: Browser) -> None:
    cal = calendar(deployment, "bob", "Bob's work")
    base = deployment.host.base_url
    assert base == deployment.url
    for key, app in APPS.items():
        answer = bob.client.get(f"/web/api/calendars/{cal.id}/subscribe?app={key}")
        assert answer.status_code == 200, (key, answer.text)
        data = answer.json()
        assert data["app"] == app.title and data["user"] == "bob" and data["available"] and len(data["steps"]) >= 3
        if app.gives == "server":
            assert data["url"] == f"{base}/" and not data["readOnly"]
        elif app.gives == "calendar":
            assert data["url"] == f"{base}/dav/cal/bob/{cal.path}/" and not data["readOnly"]
        else:
            assert data["url"] is None and data["readOnly"]
            # the CalDAV plugin is on, so bob makes his own feed URL in the dialog
            assert data["selfService"] and data["feedCommand"] is None
            assert any("Create a feed URL" in step for step in data["steps"])
        if data["url"]:
            assert any(data["url"] in step for step in data["steps"]) and any("bob" in s for s in data["steps"])


def test_the_addresses_find_the_calendar_with_a_caldav_client(deployment: Deployment, bob: Browser) -> None:
    team = deployment.host.store.principal("team")
    assert team is not None
    planning = deployment.host.writes.create_collection(
        team, f"p-{uuid.uuid4().hex[:8]}", "calendar", principal=None, attrs={"display_name": "Team planning"}
    )
    deployment.host.writes.put_object(planning, "e.ics", event_object(uuid.uuid4().hex, summary="sprint"), principal=None)
    one = bob.client.get(f"/web/api/calendars/{planning.id}/subscribe?app=thunderbird").json()
    with caldav.DAVClient(one["url"], username=one["user"], password=PASSWORD) as client:
        events = client.calendar(url=one["url"]).events()
        assert [str(e.icalendar_component["SUMMARY"]) for e in events] == ["sprint"]
    server = bob.client.get(f"/web/api/calendars/{planning.id}/subscribe?app=davx5").json()
    with caldav.DAVClient(server["url"], username=server["user"], password=PASSWORD) as client:
        names = [c.get_display_name() for c in client.principal().calendars()]
        assert "Team planning" in names


def test_refusals(deployment: Deployment, bob: Browser) -> None:
    secret = calendar(deployment, "alice", "Secret plans")
    mine = calendar(deployment, "bob", "Mine")
    missing = bob.client.get("/web/api/calendars/999999/subscribe?app=thunderbird")
    theirs = bob.client.get(f"/web/api/calendars/{secret.id}/subscribe?app=thunderbird")
    assert missing.status_code == theirs.status_code == 404 and missing.json() == theirs.json()
    assert "Secret" not in theirs.text and secret.path not in theirs.text
    for app in ("", "netscape", "thunderbird%00"):
        answer = bob.client.get(f"/web/api/calendars/{mine.id}/subscribe?app={app}")
        assert answer.status_code == 400 and "Choose an app" in answer.json()["error"]
    with deployment.browser() as anonymous:
        assert anonymous.get(f"/web/api/calendars/{mine.id}/subscribe?app=thunderbird").status_code == 401


def test_the_dialog_is_on_the_calendars_page(deployment: Deployment, bob: Browser) -> None:
    cal = calendar(deployment, "bob", "Dialog")
    page = bob.client.get("/web/calendars").text
    assert 'id="subscribe-dialog"' in page and f'class="plain subscribe" data-calendar="{cal.id}"' in page
    for app in APPS.values():
        assert f">{app.title}</option>" in page


def test_without_the_caldav_server_there_is_nothing_to_subscribe_to(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path, enabled=["web"])
    with dep.server, dep.signed_in("carol") as carol:
        cal = calendar(dep, "carol", "Solo")
        data = carol.client.get(f"/web/api/calendars/{cal.id}/subscribe?app=apple-macos").json()
        assert data["available"] is False and data["url"] is None and "caldav_server" in data["steps"][0]
        google = carol.client.get(f"/web/api/calendars/{cal.id}/subscribe?app=google").json()
        assert not google["selfService"] and google["feedCommand"] == f"teamcal feed create carol/{cal.path}"
        assert any(google["feedCommand"] in step for step in google["steps"])
        refused = carol.api("POST", f"/web/api/calendars/{cal.id}/feeds")
        assert refused.status_code == 404 and "caldav_server" in refused.json()["error"]
    dep.host.close()


def test_a_user_makes_and_revokes_his_own_feed_url(deployment: Deployment, bob: Browser) -> None:
    team = deployment.host.store.principal("team")
    assert team is not None
    planning = deployment.host.writes.create_collection(
        team, f"f-{uuid.uuid4().hex[:8]}", "calendar", principal=None, attrs={"display_name": "Team feed"}
    )
    deployment.host.writes.put_object(planning, "e.ics", event_object(uuid.uuid4().hex, summary="standup"), principal=None)
    base = f"/web/api/calendars/{planning.id}/feeds"
    assert bob.client.get(base).json() == {"feeds": []}
    assert bob.api("POST", base, csrf=False).status_code == 403
    assert bob.client.get(base).json() == {"feeds": []}
    made = bob.api("POST", base)
    assert made.status_code == 201, made.text
    url = made.json()["url"]
    assert url.startswith(f"{deployment.host.base_url}/feeds/") and url.endswith(".ics")
    [listed] = made.json()["feeds"]
    assert bob.client.get(base).json()["feeds"] == [listed] and url not in bob.client.get(base).text
    with deployment.browser() as anonymous:
        served = anonymous.get(url)
        assert served.status_code == 200 and "SUMMARY:standup" in served.text
        # someone else cannot list or revoke bob's feed, even on a calendar he may read
        with deployment.signed_in("alice") as alice:
            assert alice.client.get(base).json() == {"feeds": []}
            assert alice.api("DELETE", f"{base}/{listed['id']}").status_code == 404
        assert anonymous.get(url).status_code == 200
        # a revoke without the CSRF token is refused and changes nothing
        assert bob.api("DELETE", f"{base}/{listed['id']}", csrf=False).status_code == 403
        assert anonymous.get(url).status_code == 200
        assert bob.api("DELETE", f"{base}/{listed['id']}").status_code == 200
        assert anonymous.get(url).status_code == 404
        assert bob.client.get(base).json() == {"feeds": []}
        assert bob.api("DELETE", f"{base}/{listed['id']}").status_code == 404


def test_a_users_feed_stops_with_his_read_access(deployment: Deployment, bob: Browser) -> None:
    store = deployment.host.store
    bob_principal = store.principal("bob")
    assert bob_principal is not None
    group = add_group(deployment.host, f"leavers-{uuid.uuid4().hex[:6]}", [bob_principal])
    cal = deployment.host.writes.create_collection(
        group, "plans", "calendar", principal=None, attrs={"display_name": "Leaving"}
    )
    url = bob.api("POST", f"/web/api/calendars/{cal.id}/feeds").json()["url"]
    outsider = calendar(deployment, "alice", "Not bob's")
    assert bob.api("POST", f"/web/api/calendars/{outsider.id}/feeds").status_code == 404
    with deployment.browser() as anonymous:
        assert anonymous.get(url).status_code == 200
        with store.transaction():
            store.remove_member(group.id, bob_principal.id)
        assert anonymous.get(url).status_code == 404
