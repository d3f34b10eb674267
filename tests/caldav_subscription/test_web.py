"""The Subscriptions page and panel in the web app, against a real Radicale and a local ICS server.

Everything goes through HTTP as a browser sends it: the sign-in form, then the
page's forms with the session's CSRF token.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from kernel.testing import free_port
from plugins.caldav_subscription import records
from tests.web.conftest import Browser, Deployment, make_deployment

from .conftest import KERNEL
from .peers import FeedServer, Peer, RemoteCalendar, event

EVIL = "<script>alert(1)</script>"
#: The scheduler ticks once an hour, so syncs here happen only when a test asks for one.
SETTINGS = (
    '[caldav_subscription]\nallow_private_networks = true\nmin_interval = "0"\njitter = "0"\n'
    'timeout = "10s"\ntick = "1h"\n'
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, teamcal_backend: str) -> Iterator[Deployment]:
    """The web app with subscriptions: alice administers the team, bob is a member, carol is not."""
    dep = make_deployment(
        tmp_path_factory.mktemp("subweb"), SETTINGS, kernel=KERNEL,
        enabled=["caldav_server", "web", "caldav_subscription"],
    )
    with dep.server:
        yield dep
    dep.host.close()


def named(peer: Peer, name: str) -> RemoteCalendar:
    """A fresh remote calendar with this display name and one event."""
    cal = peer.new_calendar("web")
    body = (
        '<?xml version="1.0"?><propertyupdate xmlns="DAV:"><set><prop>'
        f"<displayname>{name.replace('&', '&amp;').replace('<', '&lt;')}</displayname>"
        "</prop></set></propertyupdate>"
    )
    answer = peer.http.request("PROPPATCH", cal.path, content=body, headers={"Content-Type": "application/xml"})
    assert answer.status_code == 207, answer.text
    cal.put("one.ics", event(f"u-{uuid.uuid4().hex}", "remote meeting"))
    return cal


def add(browser: Browser, url: str, name: str, *, owner: str = "team", action: str = "add", **fields: str):
    data = {"action": action, "url": url, "owner": owner, "name": name, "interval": "1h", **fields}
    return browser.form("/web/subscriptions", data)


def flash(page: str) -> list[str]:
    return re.findall(r'class="(?:notice|error) flash"[^>]*>([^<]*)<', page)


def test_add_test_sync_and_remove_a_caldav_subscription(site: Deployment, radicale: Peer) -> None:
    remote = named(radicale, f"Team {EVIL}")
    user, password = radicale.auth or ("", "")
    name = f"r-{uuid.uuid4().hex[:6]}"
    with site.signed_in("alice") as alice:
        page = alice.client.get("/web/subscriptions")
        assert page.status_code == 200 and '<a href="/web/subscriptions">Subscriptions</a>' in page.text
        assert 'id="add-subscription-form"' in page.text and '<option value="team"' in page.text

        tested = add(alice, remote.url, name, action="test", username=user, password=password)
        assert tested.status_code == 200
        [said] = flash(tested.text)
        assert said.startswith("Connection works: a CalDAV calendar") and "&lt;script&gt;" in said
        assert EVIL not in tested.text and f'value="{name}"' in tested.text  # the form keeps its values
        assert records.all_subscriptions(site.host.store) == [] or all(
            s.url != remote.url for s in records.all_subscriptions(site.host.store)
        )
        wrong = add(alice, remote.url, name, action="test", username=user, password="wrong")
        assert wrong.status_code == 400 and "refused the credentials" in flash(wrong.text)[0]

        added = add(alice, remote.url, name, username=user, password=password, mode="one-way")
        assert added.status_code == 303 and added.headers["location"] == "/web/subscriptions"
        listed = alice.client.get("/web/subscriptions").text
        assert "the first sync starts shortly" in flash(listed)[0]
        team = site.host.store.principal("team")
        assert team is not None
        local = site.host.store.collection(team.id, name)
        assert local is not None and local.display_name == f"Team {EVIL}"
        sub = records.for_collection(site.host.store, local.id)
        assert sub is not None and sub.mode == "one-way" and sub.interval == 3600 and sub.created_by is not None
        assert "last-attempt\">never" in listed and EVIL not in listed and "Team &lt;script&gt;" in listed
        assert "CalDAV calendar, one-way, every 1 h" in listed

        synced = alice.form(f"/web/subscriptions/{sub.id}/sync")
        assert synced.status_code == 303
        after = alice.client.get("/web/subscriptions").text
        assert flash(after)[0].startswith(f"subscription {sub.id}: pulled 1")
        assert "state-ok" in after and "pulled 1" in after and "last-success\">never" not in after
        assert [r.name for r, _ in site.host.store.resources_with_data(local.id)] == ["one.ics"]

        panel = alice.client.get(f"/web/calendars/{local.id}").text
        assert ">Subscription</h2>" in panel and remote.url in panel and "state-ok" in panel
        assert EVIL not in panel and 'name="back" value="calendar"' in panel
        paused = alice.form(f"/web/subscriptions/{sub.id}/pause", {"back": "calendar"})
        assert paused.status_code == 303 and paused.headers["location"] == f"/web/calendars/{local.id}"
        assert "state-paused" in alice.client.get(f"/web/calendars/{local.id}").text
        assert alice.form(f"/web/subscriptions/{sub.id}/resume").status_code == 303

        removed = alice.form(f"/web/subscriptions/{sub.id}/remove")
        assert removed.status_code == 303 and records.get(site.host.store, sub.id) is None
        assert "is an ordinary calendar now" in flash(alice.client.get("/web/subscriptions").text)[0]
        assert site.host.store.collection(team.id, name) is not None


def test_team_members_see_and_only_managers_manage(site: Deployment, radicale: Peer) -> None:
    remote = named(radicale, "Shared holidays")
    user, password = radicale.auth or ("", "")
    name = f"t-{uuid.uuid4().hex[:6]}"
    with site.signed_in("alice") as alice:
        assert add(alice, remote.url, name, username=user, password=password).status_code == 303
    team = site.host.store.principal("team")
    assert team is not None
    local = site.host.store.collection(team.id, name)
    assert local is not None
    sub = records.for_collection(site.host.store, local.id)
    assert sub is not None
    with site.signed_in("bob") as bob:
        page = bob.client.get("/web/subscriptions").text
        assert f'data-subscription="{sub.id}"' in page and "Shared holidays" in page
        section = page.split(f'data-subscription="{sub.id}"')[1].split("</section>")[0]
        assert "Sync now" not in section and "administrators manage" in section
        assert remote.path not in section and f"{radicale.url}/…" in section
        for action in ("sync", "pause", "remove"):
            assert bob.form(f"/web/subscriptions/{sub.id}/{action}").status_code == 404
        assert ">Subscription</h2>" in bob.client.get(f"/web/calendars/{local.id}").text
        # bob may not make calendars in the team's home
        refused = add(bob, remote.url, "bobs", username=user, password=password)
        assert refused.status_code == 403 and "may not manage" in flash(refused.text)[0]
    with site.signed_in("carol") as carol:
        assert f'data-subscription="{sub.id}"' not in carol.client.get("/web/subscriptions").text
        assert carol.client.get(f"/web/calendars/{local.id}").status_code == 404
        assert carol.form(f"/web/subscriptions/{sub.id}/sync").status_code == 404
    assert records.get(site.host.store, sub.id) is not None


def test_csrf_less_and_signed_out_posts_are_refused(site: Deployment) -> None:
    before = len(records.all_subscriptions(site.host.store))
    with site.signed_in("alice") as alice:
        forged = alice.form("/web/subscriptions", {"action": "add", "url": "http://127.0.0.1:9/", "owner": "alice",
                                                   "name": "forged"}, csrf=False)
        assert forged.status_code == 403
    with site.browser() as anonymous:
        assert anonymous.get("/web/subscriptions").status_code == 303
        posted = anonymous.post("/web/subscriptions", data={"action": "add"})
        assert posted.status_code == 303 and "/web/login" in posted.headers["location"]
    assert len(records.all_subscriptions(site.host.store)) == before


def test_bad_input_says_what_to_do(site: Deployment) -> None:
    closed = f"http://127.0.0.1:{free_port()}/cal/"
    with site.signed_in("alice") as alice:
        for fields, status, words in (
            ({"url": "ftp://example.com/x"}, 400, "Unusable URL"),
            ({"url": closed}, 502, "Cannot reach the remote"),
            ({"url": closed, "name": ""}, 400, "Name the local calendar"),
            ({"url": closed, "interval": "soon"}, 400, ""),
            ({"url": closed, "mode": "sideways"}, 400, "one-way or two-way"),
        ):
            data = {"name": f"x-{uuid.uuid4().hex[:6]}", **fields}
            answer = add(alice, data.pop("url"), data.pop("name"), owner="alice", **data)
            assert answer.status_code == status, (fields, answer.text[:300])
            assert words in flash(answer.text)[0]
        odd = alice.form("/web/subscriptions", {"action": "explode"})
        assert odd.status_code == 400 and "Test connection or Subscribe" in odd.text


def test_an_ics_feed_its_errors_and_sync_now(site: Deployment) -> None:
    with FeedServer() as feeds:
        url = feeds.publish("/team.ics", event(f"f-{uuid.uuid4().hex}", "feed item"))
        name = f"f-{uuid.uuid4().hex[:6]}"
        with site.signed_in("alice") as alice:
            tested = add(alice, url, name, owner="alice", action="test")
            assert tested.status_code == 200 and "an ICS feed" in flash(tested.text)[0]
            two_way = add(alice, url, name, owner="alice", mode="two-way")
            assert two_way.status_code == 400 and "one-way" in flash(two_way.text)[0]
            assert add(alice, url, name, owner="alice").status_code == 303
            alice_p = site.host.store.principal("alice")
            assert alice_p is not None
            local = site.host.store.collection(alice_p.id, name)
            assert local is not None
            sub = records.for_collection(site.host.store, local.id)
            assert sub is not None and sub.kind == "ics"
            assert alice.form(f"/web/subscriptions/{sub.id}/sync").status_code == 303
            assert "pulled 1" in flash(alice.client.get("/web/subscriptions").text)[0]
            feeds.files.pop("/team.ics")
            assert alice.form(f"/web/subscriptions/{sub.id}/sync").status_code == 303
            failed = alice.client.get("/web/subscriptions").text
            assert "FAILED" in flash(failed)[0] and "state-failing" in failed and 'class="error last-error"' in failed
