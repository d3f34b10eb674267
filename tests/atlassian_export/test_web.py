"""The export's status in the web app: an admin page and an admin console section."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kernel import hookimpl
from kernel.testing import event_object
from plugins.atlassian_export import state
from plugins.atlassian_export.context import Deployment as Export
from plugins.atlassian_export.pull import page
from tests.web.conftest import Deployment, make_deployment

SECTIONS = Path(__file__).parents[1] / "web" / "extension_templates"
EVIL = "<script>alert(1)</script>"


class Console:
    """Stands in for the admin console: a page showing every admin section."""

    @hookimpl(optionalhook=True)
    def web_extend(self, host: Any, web: Any) -> None:
        web.add_page("/console", "Console", lambda ctx: ctx.render(
            SECTIONS, "sections.html", sections=web.admin_sections(ctx)), admin=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, teamcal_backend: str) -> Iterator[Deployment]:
    dep = make_deployment(
        tmp_path_factory.mktemp("exportweb"), enabled=["caldav_server", "web", "atlassian_export"],
        plugins=[("console", Console())],
    )
    alice = dep.host.store.principal("alice")
    assert alice is not None
    with dep.host.store.transaction():
        dep.host.store.execute("UPDATE principals SET is_admin = 1 WHERE id = ?", (alice.id,))
    with dep.server:
        yield dep
    dep.host.close()


def cell(html: str, consumer: str, name: str) -> str:
    row = html.split(f'data-consumer="{consumer}"')[1].split("</tr>")[0]
    found = re.search(rf'class="{name}">(.*?)</td>', row, re.DOTALL)
    assert found, row
    return found.group(1)


def test_admins_see_cursor_backlog_last_push_and_rejections(site: Deployment) -> None:
    host = site.host
    bob = host.store.principal("bob")
    assert bob is not None
    cal = host.writes.create_collection(bob, f"x-{uuid.uuid4().hex[:6]}", "calendar", principal=None)
    for n in range(3):
        host.writes.put_object(cal, f"e{n}.ics", event_object(f"x{n}-{uuid.uuid4().hex}"), principal=None)
    with site.signed_in("alice") as alice:
        empty = alice.client.get("/web/atlassian-export")
        assert empty.status_code == 200 and "No push or pull yet." in empty.text
        page(Export.from_host(host), None, 2, datetime.now(UTC))
        with host.store.transaction():
            state.ensure_consumer(host.store, state.PUSH, 0)
        state.record_error(host.store, state.PUSH, f"endpoint answered HTTP 401 {EVIL}")
        state.record_rejected(host.store, state.PUSH, [("bob/x:e1", "setObjects", 7, f"bad field {EVIL}")])
        shown = alice.client.get("/web/atlassian-export")
        assert shown.status_code == 200
        text = shown.text
        assert '<a href="/web/atlassian-export">Atlassian export</a>' in text
        assert EVIL not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert cell(text, "pull", "cursor") == "0" and int(cell(text, "pull", "backlog").split()[0]) >= 3
        assert cell(text, "push", "rejected") == "1" and cell(text, "push", "last-success") == "never"
        assert "endpoint answered HTTP 401" in cell(text, "push", "last-error")
        assert 'class="reason">bad field &lt;script&gt;' in text and 'class="object">bob/x:e1' in text
        console = alice.client.get("/web/console").text
        assert "<h2>Atlassian export</h2>" in console and 'class="export-status"' in console and EVIL not in console
    with site.signed_in("bob") as member:
        assert "/web/atlassian-export" not in member.client.get("/web/calendars").text
        refused = member.client.get("/web/atlassian-export")
        assert refused.status_code == 403 and "bob/x:e1" not in refused.text
    with site.browser() as anonymous:
        assert anonymous.get("/web/atlassian-export").status_code == 303
