"""The admin console: users, groups, grants, plugins, server health, extra sections; who may use it; escaping."""

from __future__ import annotations

import html
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from markupsafe import Markup

from kernel import Job, hookimpl
from kernel.config import read_config
from kernel.testing import add_group, add_user
from plugins.web.admin import human_size
from tests.web.conftest import PASSWORD, Browser, Deployment, make_deployment, sign_in

ADMIN_PAGES = ("/web/admin", "/web/admin/users", "/web/admin/groups", "/web/admin/grants", "/web/admin/plugins")


@pytest.fixture(scope="module")
def root(deployment: Deployment) -> Iterator[Browser]:
    """A server admin, signed in."""
    if deployment.host.store.principal("root") is None:
        add_user(deployment.host, "root", PASSWORD, admin=True, display_name="Root Admin")
    with deployment.signed_in("root") as browser:
        yield browser


def unique(prefix: str) -> str:
    """A name no other test of the module uses."""
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def message(page: str) -> str:
    """The text of the page's alert (the refusal), unescaped."""
    found = re.search(r'role="alert" id="message">(.*?)</p>', page, re.DOTALL)
    assert found, page[:2000]
    return html.unescape(found.group(1))


def notice(page: str) -> str:
    found = re.search(r'role="status" id="notice">(.*?)</p>', page, re.DOTALL)
    assert found, page[:2000]
    return html.unescape(found.group(1))


# -- access ---------------------------------------------------------------------------


def test_signed_out_browsers_go_to_sign_in(deployment: Deployment) -> None:
    with deployment.browser() as browser:
        for path in ADMIN_PAGES:
            answer = browser.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/web/login?next="), path
        assert browser.post("/web/admin/users/new", data={"name": "x"}).status_code == 303


def test_users_who_are_not_server_admins_get_403_with_a_clear_page(deployment: Deployment) -> None:
    name = unique("nope")
    with deployment.signed_in("alice") as alice:  # a group admin, not a server admin
        for path in ADMIN_PAGES:
            answer = alice.client.get(path)
            assert answer.status_code == 403, path
            assert "for server admins only" in answer.text and 'role="alert"' in answer.text
        calendars = alice.client.get("/web/calendars").text
        assert "/web/admin" not in calendars  # no menu link to it either
        refused = alice.form("/web/admin/users/new", {"name": name, "password": "long-enough", "password2": "long-enough"})
        assert refused.status_code == 403
        assert alice.form(f"/web/admin/users/{deployment.host.store.principal('bob').id}/admin", {"admin": "1"}).status_code == 403
    assert deployment.host.store.principal(name) is None
    assert not deployment.host.store.principal("bob").is_admin


def test_a_form_without_the_csrf_token_is_refused(deployment: Deployment, root: Browser) -> None:
    name = unique("nocsrf")
    bob = deployment.host.store.principal("bob")
    for path, data in (
        ("/web/admin/users/new", {"name": name, "password": "long-enough", "password2": "long-enough"}),
        (f"/web/admin/users/{bob.id}/admin", {"admin": "1"}),
        ("/web/admin/groups/new", {"name": name}),
        ("/web/admin/plugins/limits", {"enabled": "1"}),
    ):
        answer = root.form(path, data, csrf=False)
        assert answer.status_code == 403 and "CSRF" in answer.text, path
        wrong = root.client.post(path, data={**data, "csrf": "x" * 43})
        assert wrong.status_code == 403, path
    assert deployment.host.store.principal(name) is None
    assert not deployment.host.store.principal("bob").is_admin
    assert "limits" not in read_config(deployment.host.config.path).enabled


def test_admins_see_the_console_in_the_menu(root: Browser) -> None:
    page = root.client.get("/web/calendars").text
    assert 'href="/web/admin"' in page
    console = root.client.get("/web/admin")
    assert console.status_code == 200
    for title in ("Server", "Users", "Groups", "Grants", "Plugins"):
        assert f">{title}</a>" in console.text
    assert console.headers["content-security-policy"].startswith("default-src 'self'")


def test_ids_no_database_holds_are_404_not_500(deployment: Deployment, root: Browser) -> None:
    huge = "9" * 25
    team = deployment.host.store.principal("team").id
    assert root.client.get(f"/web/admin/users/{huge}/remove").status_code == 404
    assert root.form(f"/web/admin/users/{huge}/password", {"password": "long-enough"}).status_code == 404
    assert root.form(f"/web/admin/groups/{team}/member", {"member": huge, "change": "admin"}).status_code == 404
    assert root.form(f"/web/admin/groups/{team}/member", {"member": "x", "change": "admin"}).status_code == 400
    assert root.form(f"/web/calendars/{huge}/edit", {"display_name": "x"}).status_code == 404
    assert root.client.get(f"/web/api/calendars/{huge}/subscribe?app=davx5").status_code == 404


# -- users ----------------------------------------------------------------------------


def test_an_added_user_can_sign_in(deployment: Deployment, root: Browser, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="teamcal.web.admin")
    name = unique("new")
    answer = root.form("/web/admin/users/new", {
        "name": name, "display_name": "New Person", "email": "new@example.com",
        "password": "first-password", "password2": "first-password",
    })
    assert answer.status_code == 303 and answer.headers["location"] == "/web/admin/users?done=added"
    page = root.client.get(answer.headers["location"]).text
    assert notice(page) == "User added: they can sign in now." and f'data-user="{name}"' in page
    created = deployment.host.store.principal(name)
    assert created is not None and created.display_name == "New Person" and not created.is_admin
    assert "admin console: root: POST /web/admin/users/new: added" in caplog.text
    with deployment.browser() as browser:
        assert sign_in(browser, name, "first-password").headers["location"] == "/web/calendars"


@pytest.mark.parametrize(
    "fields, status, says",
    [
        ({"name": "alice", "password": "long-enough", "password2": "long-enough"}, 409, "already exists"),
        ({"name": "{new}", "password": "short", "password2": "short"}, 400, "at least 8 characters"),
        ({"name": "{new}", "password": "long-enough", "password2": "other-one!"}, 400, "type the same password twice"),
        ({"name": "", "password": "long-enough", "password2": "long-enough"}, 400, "Fill in the user name"),
        ({"name": "../x", "password": "long-enough", "password2": "long-enough"}, 400, "not a valid name"),
    ],
)
def test_adding_a_user_refused_says_what_to_do_and_keeps_the_typed_values(
    deployment: Deployment, root: Browser, fields: dict, status: int, says: str
) -> None:
    fields = {**fields, "name": fields["name"].replace("{new}", unique("u")), "display_name": "Kept Name"}
    answer = root.form("/web/admin/users/new", fields)
    assert answer.status_code == status
    assert says in message(answer.text)
    assert 'value="Kept Name"' in answer.text  # the form comes back filled in
    assert 'value="long-enough"' not in answer.text  # but never with a password
    if fields["name"] not in ("alice", ""):
        assert deployment.host.store.principal(fields["name"]) is None


def test_reset_password_signs_the_user_out_and_the_new_one_works(deployment: Deployment, root: Browser) -> None:
    name = unique("pw")
    user = add_user(deployment.host, name, "old-password")
    with deployment.signed_in(name, "old-password") as them:
        short = root.form(f"/web/admin/users/{user.id}/password", {"password": "short"})
        assert short.status_code == 400 and "at least 8" in message(short.text)
        assert them.client.get("/web/calendars").status_code == 200
        answer = root.form(f"/web/admin/users/{user.id}/password", {"password": "new-password"})
        assert answer.status_code == 303 and answer.headers["location"].endswith("done=password")
        assert them.client.get("/web/calendars").status_code == 303  # signed out everywhere
    with deployment.browser() as browser:
        assert sign_in(browser, name, "old-password").status_code == 401
        assert sign_in(browser, name, "new-password").status_code == 303


def test_make_and_unmake_a_server_admin(deployment: Deployment, root: Browser) -> None:
    name = unique("adm")
    user = add_user(deployment.host, name, PASSWORD)
    assert root.form(f"/web/admin/users/{user.id}/admin", {"admin": "1"}).status_code == 303
    assert deployment.host.store.principal(name).is_admin
    with deployment.signed_in(name) as them:
        assert them.client.get("/web/admin").status_code == 200
        assert root.form(f"/web/admin/users/{user.id}/admin", {"admin": "0"}).status_code == 303
        assert them.client.get("/web/admin").status_code == 403
    assert not deployment.host.store.principal(name).is_admin


def test_an_admin_cannot_lock_himself_out(deployment: Deployment, root: Browser) -> None:
    me = deployment.host.store.principal("root")
    unadmin = root.form(f"/web/admin/users/{me.id}/admin", {"admin": "0"})
    assert unadmin.status_code == 409 and "another server admin" in message(unadmin.text)
    remove = root.form(f"/web/admin/users/{me.id}/remove")
    assert remove.status_code == 409 and "your own account" in message(remove.text)
    assert deployment.host.store.principal("root").is_admin


def test_remove_a_user_after_a_confirmation_page(deployment: Deployment, root: Browser) -> None:
    name = unique("gone")
    user = add_user(deployment.host, name, PASSWORD, display_name="<b>Gone</b>")
    deployment.host.writes.create_collection(user, "work", "calendar", principal=None, attrs={"display_name": "W"})
    confirm = root.client.get(f"/web/admin/users/{user.id}/remove")
    assert confirm.status_code == 200
    assert f"Remove the user {name}?" in confirm.text and "1 calendar " in confirm.text
    assert "&lt;b&gt;Gone&lt;/b&gt;" in confirm.text and "<b>Gone</b>" not in confirm.text
    assert deployment.host.store.principal(name) is not None  # the GET changed nothing
    answer = root.form(f"/web/admin/users/{user.id}/remove")
    assert answer.status_code == 303 and answer.headers["location"].endswith("done=removed")
    assert deployment.host.store.principal(name) is None
    assert deployment.host.store.collection(user.id, "work") is None
    again = root.form(f"/web/admin/users/{user.id}/remove")
    assert again.status_code == 404 and "no longer exists" in message(again.text)


# -- groups ---------------------------------------------------------------------------


def test_create_a_group_add_members_and_group_admins(deployment: Deployment, root: Browser) -> None:
    host = deployment.host
    name = unique("team")
    created = root.form("/web/admin/groups/new", {"name": name, "display_name": "The Team"})
    assert created.status_code == 303 and created.headers["location"].endswith("done=group")
    group = host.store.principal(name)
    assert group is not None and group.kind == "group"
    taken = root.form("/web/admin/groups/new", {"name": name})
    assert taken.status_code == 409 and "already exists" in message(taken.text)

    assert root.form(f"/web/admin/groups/{group.id}/members", {"member": "carol"}).status_code == 303
    assert root.form(f"/web/admin/groups/{group.id}/members", {"member": "bob", "admin": "on"}).status_code == 303
    assert {m.name: admin for m, admin in host.store.memberships(group.id)} == {"bob": True, "carol": False}
    unknown = root.form(f"/web/admin/groups/{group.id}/members", {"member": "nobody"})
    assert unknown.status_code == 404 and "No user or group named 'nobody'" in message(unknown.text)

    carol, bob = host.store.principal("carol"), host.store.principal("bob")
    assert root.form(f"/web/admin/groups/{group.id}/member", {"member": str(carol.id), "change": "admin"}).status_code == 303
    assert root.form(f"/web/admin/groups/{group.id}/member", {"member": str(bob.id), "change": "unadmin"}).status_code == 303
    assert {m.name: admin for m, admin in host.store.memberships(group.id)} == {"bob": False, "carol": True}
    # the kernel now lets carol create the team's calendars, and not bob
    assert "admin" in host.home_privileges(carol, group) and "admin" not in host.home_privileges(bob, group)

    page = root.client.get("/web/admin/groups").text
    section = page[page.index(f'data-group="{name}"'):]
    section = section[:section.index("</section>")]
    assert "The Team" in section and "group admin" in section and "bob" in section

    assert root.form(f"/web/admin/groups/{group.id}/member", {"member": str(bob.id), "change": "remove"}).status_code == 303
    assert [m.name for m in host.store.members(group.id)] == ["carol"]
    bad = root.form(f"/web/admin/groups/{group.id}/member", {"member": str(bob.id), "change": "admin"})
    assert bad.status_code == 404 and "Not a direct member" in message(bad.text)


def test_the_users_and_groups_pages_cost_the_same_for_few_and_many(tmp_path: Path) -> None:
    """The users page lists each user's groups (nested ones too), the groups page each group's
    members and the grants page every grant and calendar, in as many statements for 2 users,
    groups and grants as for 12."""
    with make_deployment(tmp_path) as dep:
        host = dep.host
        add_user(host, "root", PASSWORD, admin=True)
        counts = []
        with dep.signed_in("root") as root:
            for size in (2, 12):
                while len(host.store.principals("group")) < size + 1:  # the deployment's "team", and more
                    n = len(host.store.principals("group"))
                    user = add_user(host, f"user{n}")
                    add_group(host, f"outer{n}", [host.store.principal("team")])
                    add_group(host, f"crew{n}", [user], admins=[host.store.principal("alice")])
                    lent = host.writes.create_collection(user, f"lent{n}", "calendar", principal=None)
                    host.writes.set_grant(lent, host.store.principal("bob").id, "read", principal=None)
                with dep.server.host.store.traced() as statements:
                    users = root.client.get("/web/admin/users").text
                    groups = root.client.get("/web/admin/groups").text
                    grants = root.client.get("/web/admin/grants").text
                counts.append(len(statements))
                for n in range(1, size + 1, 2):
                    assert re.search(rf"<td>user{n}/lent{n}</td>\s*<td>bob</td>\s*<td>read</td>", grants), n
                    assert f'<option value="user{n}/lent{n}">' in grants  # among the calendars to choose from
                bob_row = users[users.index(">bob<"):]
                bob_row = bob_row[:bob_row.index("</tr>")]
                assert all(f"outer{n}" in bob_row for n in range(1, size + 1, 2)), bob_row  # bob is in team
                assert groups.count("group admin") >= size // 2
        assert counts[0] == counts[1], counts


def test_remove_a_group(deployment: Deployment, root: Browser) -> None:
    group = add_group(deployment.host, unique("old"))
    confirm = root.client.get(f"/web/admin/groups/{group.id}/remove")
    assert confirm.status_code == 200 and f"Remove the group {group.name}?" in confirm.text
    assert root.form(f"/web/admin/groups/{group.id}/remove").status_code == 303
    assert deployment.host.store.principal(group.name) is None
    # a user's id on the group page is not a group
    bob = deployment.host.store.principal("bob")
    assert root.client.get(f"/web/admin/groups/{bob.id}/remove").status_code == 404


# -- grants ---------------------------------------------------------------------------


def test_give_list_and_take_back_grants(deployment: Deployment, root: Browser) -> None:
    host = deployment.host
    alice, carol = host.store.principal("alice"), host.store.principal("carol")
    path = unique("g")
    cal = host.writes.create_collection(alice, path, "calendar", principal=None, attrs={"display_name": "Granted"})
    assert "read" not in host.privileges(carol, cal)
    given = root.form("/web/admin/grants/new", {"calendar": f"alice/{path}", "grantee": "carol", "privilege": "write"})
    assert given.status_code == 303 and given.headers["location"].endswith("done=granted")
    assert host.privileges(carol, cal) == {"read", "write"}
    assert root.form("/web/admin/grants/new", {"calendar": f"alice/{path}", "grantee": "everyone", "privilege": "read"}).status_code == 303
    page = root.client.get("/web/admin/grants").text
    rows = re.findall(r"<tr>\s*<td>alice/" + path + r".*?</td>\s*<td>(\w+)</td>\s*<td>(\w+)</td>", page, re.DOTALL)
    assert sorted(rows) == [("carol", "write"), ("everyone", "read")]
    taken = root.form("/web/admin/grants/remove", {"calendar": f"alice/{path}", "grantee": "carol"})
    assert taken.status_code == 303 and taken.headers["location"].endswith("done=revoked")
    assert host.privileges(carol, cal) == {"read"}  # through the grant to everyone only


@pytest.mark.parametrize(
    "fields, status, says",
    [
        ({"calendar": "alice/nothing-here", "grantee": "bob", "privilege": "read"}, 404, "No calendar 'alice/nothing-here'"),
        ({"calendar": "{cal}", "grantee": "nobody", "privilege": "read"}, 404, "No user or group named 'nobody'"),
        ({"calendar": "{cal}", "grantee": "bob", "privilege": "owner"}, 400, "read, write or admin"),
        ({"calendar": "", "grantee": "bob", "privilege": "read"}, 400, "Fill in the calendar"),
    ],
)
def test_a_refused_grant_says_why(deployment: Deployment, root: Browser, fields: dict, status: int, says: str) -> None:
    alice = deployment.host.store.principal("alice")
    cal = deployment.host.writes.create_collection(alice, unique("r"), "calendar", principal=None)
    fields = {k: v.replace("{cal}", f"alice/{cal.path}") for k, v in fields.items()}
    answer = root.form("/web/admin/grants/new", fields)
    assert answer.status_code == status and says in message(answer.text)
    assert deployment.host.store.grants(cal.id) == []


# -- plugins --------------------------------------------------------------------------


@pytest.fixture
def secret_deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    """A deployment with the Atlassian export on, one token inline and one from the environment."""
    monkeypatch.setenv("TEAMCAL_TEST_PULL_TOKEN", "pull-secret-from-env")
    dep = make_deployment(
        tmp_path,
        '[atlassian_export]\ntoken = "inline-secret-value"\npull_token = {env = "TEAMCAL_TEST_PULL_TOKEN"}\n'
        "window_past_days = 12\n",
        enabled=["caldav_server", "web", "atlassian_export"],
    )
    add_user(dep.host, "root", PASSWORD, admin=True)
    with dep.server:
        yield dep
    dep.host.close()


def test_plugins_show_version_settings_and_docs_with_secrets_masked(secret_deployment: Deployment) -> None:
    with secret_deployment.signed_in("root") as root:
        page = root.client.get("/web/admin/plugins").text
    assert "inline-secret-value" not in page and "pull-secret-from-env" not in page
    assert "TEAMCAL_TEST_PULL_TOKEN" not in page
    export = page[page.index('data-plugin="atlassian_export"'):]
    export = export[:export.index("</section>")]
    assert "running" in export
    assert "[atlassian_export] token" in export and "[atlassian_export] pull_token" in export
    assert export.count('class="secret"') == 2 and "********" in export
    assert "occurrences exported this far back" in export  # the setting's doc
    assert re.search(r"window_past_days</code>.*?<code>12</code>", export, re.DOTALL)  # its current value
    limits = page[page.index('data-plugin="limits"'):]
    assert ">off<" in limits[:limits.index("</h2>")] and "Enable limits" in limits


def test_enable_and_disable_edit_plugins_toml_and_say_a_restart_is_needed(secret_deployment: Deployment) -> None:
    path = secret_deployment.host.config.path
    path.write_text("# my deployment\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    with secret_deployment.signed_in("root") as root:
        answer = root.form("/web/admin/plugins/limits", {"enabled": "1"})
        assert answer.status_code == 303 and answer.headers["location"].endswith("done=enabled")
        assert "limits" in read_config(path).enabled
        assert path.read_text(encoding="utf-8").startswith("# my deployment\n")  # edited, not rewritten
        page = root.client.get(answer.headers["location"]).text
        assert "Restart teamcal" in notice(page) and 'id="restart-needed"' in page
        assert "limits" not in secret_deployment.host.plugin_names()  # the running server is unchanged
        same = root.form("/web/admin/plugins/limits", {"enabled": "1"})
        assert same.headers["location"].endswith("done=unchanged")
        assert root.form("/web/admin/plugins/limits", {"enabled": "0"}).status_code == 303
        assert "limits" not in read_config(path).enabled
        assert 'id="restart-needed"' not in root.client.get("/web/admin/plugins").text
        unknown = root.form("/web/admin/plugins/no_such_plugin", {"enabled": "1"})
        assert unknown.status_code == 400 and "unknown plugin 'no_such_plugin'" in message(unknown.text)
        assert "no_such_plugin" not in read_config(path).enabled


# -- server health and extra sections -------------------------------------------------


def test_server_health_shows_size_store_uptime_and_job_outcomes(deployment: Deployment, root: Browser) -> None:
    host = deployment.host
    ok, bad = Job(unique("test: fine "), 3600, lambda h: None), Job(unique("test: <b>bad</b> "), 3600, lambda h: None)
    for job, error in ((ok, None), (bad, "RuntimeError: <script>alert(1)</script>")):
        started = host.jobs.claim(job)
        assert started is not None
        host.jobs.finish(job, started, error)
    page = root.client.get("/web/admin").text
    size = re.search(r'id="database-size">(.*?)</dd>', page).group(1)
    assert size.split()[-1] in ("KiB", "MiB", "GiB") and float(size.split()[0]) > 0
    assert human_size(host.store.database_bytes()).split()[-1] == size.split()[-1]
    assert ("PostgreSQL" if host.store.dialect == "postgresql" else "SQLite") in page
    assert re.search(r'id="uptime">\d+ (s|min|h)', page)
    rows = dict(re.findall(r"<tr>\s*<td>(test: .*?)</td>(.*?)</tr>", page, re.DOTALL))
    fine, failed = rows[html.escape(ok.name, quote=False)], rows[html.escape(bad.name, quote=False)]
    assert ">ok<" in fine and "failed:" not in fine
    assert "failed:" in failed and "RuntimeError: &lt;script&gt;alert(1)&lt;/script&gt;" in failed
    assert "<script>alert(1)" not in page and "<b>bad</b>" not in page


class SectionsPlugin:
    """A plugin adding admin console sections (and an admin page) through ``web_extend``."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl(optionalhook=True)
    def web_extend(self, host: Any, web: Any) -> None:
        web.add_admin_section("Plain <i>section</i>", self.plain)
        web.add_admin_section("Safe section", lambda ctx: Markup("<p id='safe-part'>safe</p>"))
        web.add_admin_section("Hidden", lambda ctx: None)
        web.add_admin_section("Broken", self.broken)
        web.add_page("/sections/report", "Section report", lambda ctx: ctx.redirect("/admin"), admin=True)

    def plain(self, ctx: Any) -> str:
        self.seen.append(ctx.user.name)
        return "<em>not markup</em>"

    def broken(self, ctx: Any) -> str:
        raise RuntimeError("boom")


def test_sections_other_plugins_add_are_shown_escaped_unless_marked_safe(tmp_path: Path, teamcal_backend: str) -> None:
    plugin = SectionsPlugin()
    dep = make_deployment(tmp_path, plugins=[("sections", plugin)])
    add_user(dep.host, "root", PASSWORD, admin=True)
    with dep.server, dep.signed_in("root") as root:
        page = root.client.get("/web/admin").text
        users_page = root.client.get("/web/admin/users").text
    dep.host.close()
    assert plugin.seen == ["root"]
    assert "Plain &lt;i&gt;section&lt;/i&gt;" in page and "&lt;em&gt;not markup&lt;/em&gt;" in page
    assert "<p id='safe-part'>safe</p>" in page
    assert ">Hidden</h2>" not in page
    assert "could not be shown" in page
    # the plugin's admin page is in the console's navigation, on every console page
    assert '<a href="/web/sections/report">Section report</a>' in users_page


# -- escaping -------------------------------------------------------------------------


def test_names_with_markup_render_as_text_everywhere(deployment: Deployment, root: Browser) -> None:
    host = deployment.host
    payload = "<script>window.pwned=1</script>"
    user = add_user(host, unique("x"), PASSWORD, display_name=payload, email="x@example.com")
    group = add_group(host, unique("xg"), [user])
    with host.store.transaction():
        host.store.update_principal(group.id, display_name=payload)
    cal = host.writes.create_collection(user, "cal", "calendar", principal=None, attrs={"display_name": payload})
    host.writes.set_grant(cal, group.id, "read", principal=None)
    for path in ("/web/admin/users", "/web/admin/groups", "/web/admin/grants", f"/web/admin/users/{user.id}/remove"):
        page = root.client.get(path).text
        assert payload not in page, path
        assert html.escape(payload, quote=False) in page or html.escape(payload) in page, path
    # a name typed into a form comes back escaped in the refusal
    for path, field in (("/web/admin/users/new", "name"), ("/web/admin/groups/new", "name"), ("/web/admin/grants/new", "grantee")):
        answer = root.form(path, {field: payload, "password": "long-enough", "password2": "long-enough",
                                  "calendar": f"{user.name}/cal", "privilege": "read"})
        assert 400 <= answer.status_code < 500 and payload not in answer.text, path
        assert "window.pwned" in message(answer.text) or "control characters" in message(answer.text), path


def test_every_form_field_has_a_label(root: Browser) -> None:
    for path in ADMIN_PAGES:
        page = root.client.get(path).text
        ids = set(re.findall(r'<label for="([^"]+)"', page))
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", page):
            if 'type="hidden"' in tag or 'type="checkbox"' in tag:
                continue  # checkboxes sit inside their label
            field_id = re.search(r'id="([^"]+)"', tag)
            assert field_id and field_id.group(1) in ids, (path, tag)

