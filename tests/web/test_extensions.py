"""The web_extend hook: a plugin adds pages, menu items, calendar panels and admin sections."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from markupsafe import Markup

from kernel import hookimpl
from plugins.web.extensions import WebExtensions
from tests.web.conftest import Deployment, make_deployment

TEMPLATES = Path(__file__).parent / "extension_templates"
EVIL = "<script>alert('x')</script>"


class NotesPlugin:
    """A tiny third-party plugin: a notes page, an admin page, an async page, panels and a section."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.web: Any = None

    @hookimpl(optionalhook=True)
    def web_extend(self, host: Any, web: Any) -> None:
        self.web = web
        web.add_page("/notes", "Notes", self.page, methods=("GET", "POST"))
        web.add_page("/notes/admin", "Notes admin", self.admin, admin=True)
        web.add_page("/notes/echo/{word}", "Echo", self.echo)
        web.add_calendar_panel("Notes", self.panel)
        web.add_calendar_panel("Raw", lambda ctx, collection: f"<b>{collection.display_name}</b>")
        web.add_calendar_panel("Nothing", lambda ctx, collection: None)
        web.add_calendar_panel("Broken", self.broken)
        web.add_admin_section("Note count", lambda ctx: ctx.fragment(TEMPLATES, "panel.html", collection={
            "display_name": "all"}, count=len(self.notes), said=EVIL))

    def page(self, ctx: Any) -> Any:
        if ctx.request.method == "POST":
            text = ctx.form.get("text", "").strip()
            if not text:
                raise ctx.fail(400, "Write a note first.")
            self.notes.append(text)
            ctx.flash(f"Saved {text}")
            return ctx.redirect("/notes")
        return ctx.render(TEMPLATES, "notes.html", notes=self.notes)

    def admin(self, ctx: Any) -> Any:
        return ctx.render(TEMPLATES, "sections.html", sections=self.web.admin_sections(ctx))

    async def echo(self, ctx: Any) -> Any:
        principal = await ctx.host.run(ctx.host.store.principal, ctx.user.name)
        ctx.flash(f"echo {ctx.path_params['word']} for {principal.name}")
        return ctx.render(TEMPLATES, "notes.html", notes=[ctx.path_params["word"]])

    def panel(self, ctx: Any, collection: Any) -> Markup:
        return ctx.fragment(TEMPLATES, "panel.html", collection=collection, count=len(self.notes), said=EVIL)

    def broken(self, ctx: Any, collection: Any) -> str:
        raise RuntimeError("this panel is broken")


@pytest.fixture(scope="module")
def notes(teamcal_backend: str) -> NotesPlugin:
    """One plugin per backend's deployment: the notes one deployment keeps are not another's."""
    return NotesPlugin()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, teamcal_backend: str, notes: NotesPlugin) -> Iterator[Deployment]:
    dep = make_deployment(tmp_path_factory.mktemp("webext"), plugins=[("notes", notes)])
    alice = dep.host.store.principal("alice")
    assert alice is not None
    with dep.host.store.transaction():
        dep.host.store.execute("UPDATE principals SET is_admin = 1 WHERE id = ?", (alice.id,))
    with dep.server:
        yield dep
    dep.host.close()


def test_hook_web_extend_page_in_the_menu_works(deployment: Deployment, notes: NotesPlugin) -> None:
    with deployment.signed_in("bob") as bob:
        page = bob.client.get("/web/calendars").text
        assert '<a href="/web/notes">Notes</a>' in page
        assert "Notes admin" not in page and "/web/notes/echo" not in page
        added = bob.form("/web/notes", {"text": EVIL})
        assert added.status_code == 303 and added.headers["location"] == "/web/notes"
        shown = bob.client.get("/web/notes")
        assert shown.status_code == 200 and "Notes of bob" in shown.text
        assert EVIL not in shown.text
        assert shown.text.count("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") == 2  # the note and the flash
        assert 'class="notice flash"' in shown.text
        assert shown.headers["content-security-policy"].startswith("default-src 'self'")
        again = bob.client.get("/web/notes").text
        assert "flash" not in again  # shown once
        refused = bob.form("/web/notes", {"text": ""})
        assert refused.status_code == 400 and "Write a note first." in refused.text
    assert notes.notes == [EVIL]


def test_signed_out_browsers_go_to_the_sign_in_page(deployment: Deployment, notes: NotesPlugin) -> None:
    with deployment.browser() as anonymous:
        for path in ("/web/notes", "/web/notes/admin", "/web/notes/echo/hi"):
            answer = anonymous.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/web/login?next=")
        posted = anonymous.post("/web/notes", data={"text": "sneaky"})
        assert posted.status_code == 303 and "/web/login" in posted.headers["location"]
    assert "sneaky" not in notes.notes


def test_a_post_without_the_csrf_token_is_refused(deployment: Deployment, notes: NotesPlugin) -> None:
    with deployment.signed_in("carol") as carol:
        for data in ({"text": "forged"}, {"text": "forged", "csrf": "wrong"}):
            answer = carol.client.post("/web/notes", data=data)
            assert answer.status_code == 403 and "CSRF" in answer.text
        assert carol.client.post("/web/notes", json={"text": "forged", "csrf": carol.csrf}).status_code == 400
    assert "forged" not in notes.notes


def test_admin_pages_are_for_server_admins(deployment: Deployment) -> None:
    with deployment.signed_in("bob") as bob:
        refused = bob.client.get("/web/notes/admin")
        assert refused.status_code == 403 and "administrators" in refused.text
    with deployment.signed_in("alice") as alice:
        assert '<a href="/web/notes/admin">Notes admin</a>' in alice.client.get("/web/calendars").text
        page = alice.client.get("/web/notes/admin")
        assert page.status_code == 200 and "<h2>Note count</h2>" in page.text
        assert 'class="notes-panel"' in page.text and EVIL not in page.text


def test_async_handlers_with_path_parameters(deployment: Deployment) -> None:
    with deployment.signed_in("bob") as bob:
        page = bob.client.get("/web/notes/echo/%3Cb%3Ehi")
        assert page.status_code == 200 and "echo &lt;b&gt;hi for bob" in page.text and "<b>hi" not in page.text


def test_calendar_panels(deployment: Deployment) -> None:
    bob_p = deployment.host.store.principal("bob")
    assert bob_p is not None
    cal = deployment.host.writes.create_collection(
        bob_p, f"p-{uuid.uuid4().hex[:8]}", "calendar", principal=None, attrs={"display_name": "<i>Mine</i>"}
    )
    with deployment.signed_in("bob") as bob:
        page = bob.client.get(f"/web/calendars/{cal.id}")
        assert page.status_code == 200
        text = page.text
        assert "<h2 id=\"panel-1\">Notes</h2>" in text and 'class="notes-panel">&lt;i&gt;Mine&lt;/i&gt; has' in text
        assert "&lt;b&gt;&lt;i&gt;Mine&lt;/i&gt;&lt;/b&gt;" in text  # a plain str is escaped
        assert ">Nothing</h2>" not in text
        assert ">Broken</h2>" in text and "could not be shown" in text and "this panel is broken" not in text
        assert "<script>" not in text.replace('<script type="application/json"', "").replace("<script src=", "")
        assert f'href="/web/calendars/{cal.id}"' in bob.client.get("/web/calendars").text
        assert 'id="subscribe-dialog"' in text and f'<option value="{cal.id}">&lt;i&gt;Mine&lt;/i&gt; (bob)' in text
    with deployment.signed_in("carol") as carol:
        assert carol.client.get(f"/web/calendars/{cal.id}").status_code == 404


def test_registration_refuses_unusable_paths() -> None:
    web = WebExtensions()

    def handler(ctx: Any) -> None:
        return None

    for path in ("notes", "/calendars/x", "/api/x", "/admin", "/", "/a b", "/x/../y", "//x"):
        with pytest.raises(ValueError):
            web.add_page(path, "x", handler)
    with pytest.raises(ValueError):
        web.add_page("/x", "x", handler, methods=("DELETE",))
    web.add_page("/x", "x", handler)
    with pytest.raises(ValueError):
        web.add_page("/x", "again", handler)
    web.add_page("/x", "x", handler, methods=("POST",))
    assert [p.path for p in web.pages] == ["/x", "/x"]


def test_flash_messages_fit_a_cookie() -> None:
    from plugins.web.context import decode_flashes, encode_flashes

    long = [("notice", "“é€" * 2000), ("error", "second")]
    value = encode_flashes(long)
    assert len(value) < 3500
    [(kind, text)] = decode_flashes(value)
    assert kind == "notice" and text == ("“é€" * 2000)[:800]
    assert decode_flashes(encode_flashes([("error", "a"), ("notice", "b")])) == [("error", "a"), ("notice", "b")]
    assert decode_flashes("not base64 json!") == [] and decode_flashes(None) == []


def test_extensions_build_with_hook_tracing_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from plugins.web import extend

    monkeypatch.setenv("TEAMCAL_TRACE_HOOKS", "1")
    plugin = NotesPlugin()
    dep = make_deployment(tmp_path, plugins=[("notes", plugin)])
    try:
        with caplog.at_level("INFO", logger="teamcal.hooks"):
            web = extend(dep.host)
        assert [p.path for p in web.pages] == ["/notes", "/notes/admin", "/notes/echo/{word}"]
        assert {p.plugin for p in web.pages} == {"notes"} and web.feeds is not None
        assert any("hook web_extend plugin=notes" in r.getMessage() for r in caplog.records)
    finally:
        dep.host.close()
