"""The web admin console's Limits section: effective values per account and their source."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import plugins.limits as limits_plugin
from kernel.testing import add_group, add_user, make_host
from plugins.limits import admin_section, overrides


def rows(page: str, account: str) -> dict[str, tuple[str, str]]:
    """{limit: (effective value, source)} of one account's table."""
    start = page.index(f'data-account="{account}"')
    block = page[start:page.index("</details>", start)]
    found = re.findall(r"<tr><td><code>(\w+)</code></td><td>(.*?)</td><td>(.*?)</td></tr>", block)
    return {key: (value, source) for key, value, source in found}


def test_effective_values_and_their_source_per_account(tmp_path: Path) -> None:
    host = make_host(
        tmp_path, ["limits"],
        "[limits]\nmax_attendees = 30\n[limits.accounts.alice]\nmax_calendars = 3\n"
        "[limits.groups.devs]\nmax_events = 500\n",
    )
    alice, bob = add_user(host, "alice"), add_user(host, "bob")
    add_group(host, "devs", [alice])
    overrides.save(host.store, bob.id, {"max_icalendar_size": 1024 * 1024})
    page = str(admin_section.render(SimpleNamespace(host=host)))
    mine = rows(page, "alice")
    assert mine["max_calendars"] == ("3", "account setting")
    assert mine["max_events"] == ("500", "group devs (plugins.toml)")
    assert mine["max_attendees"] == ("30", "default")  # the [limits] value is the default
    assert set(mine) == set(limits_plugin.effective_limits(host.settings("limits"), host.store, alice))
    theirs = rows(page, "bob")
    assert theirs["max_icalendar_size"] == ("1048576 (1mb)", "override")
    assert "Stored overrides: max_icalendar_size = 1048576" in page
    summary = re.search(r'data-account="bob"><summary>(.*?)</summary>', page).group(1)
    assert summary == "bob: max_icalendar_size = 1048576 (1mb)"
    assert 'data-account="devs"><summary>devs: max_events = 500 (group)' in page
    assert "teamcal limits set NAME" in page
    host.close()



def test_hook_web_extend_puts_the_limits_section_in_the_admin_console(tmp_path: Path, teamcal_backend: str) -> None:
    """With the web plugin on, a server admin's console shows the Limits section with each account's
    effective values; it runs through the web app like any plugin's section."""
    from tests.web.conftest import PASSWORD, make_deployment

    dep = make_deployment(tmp_path, "[limits.accounts.bob]\nmax_calendars = 7\n", enabled=["caldav_server", "web", "limits"])
    add_user(dep.host, "root", PASSWORD, admin=True)
    with dep.server, dep.signed_in("root") as root:
        page = root.client.get("/web/admin").text
    dep.host.close()
    assert ">Limits</h2>" in page
    assert rows(page, "bob")["max_calendars"] == ("7", "account setting")
