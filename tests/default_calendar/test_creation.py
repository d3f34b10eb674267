"""The default calendar through the `principal_accessed` hook and the write pipeline."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterator
from pathlib import Path

import icalendar
import pytest

from kernel import Host, Principal
from kernel.testing import add_group, add_user, make_host
from plugins.default_calendar import creation
from plugins.default_calendar.settings import NameTemplate, Settings


@pytest.fixture(autouse=True)
def no_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check on every access unless a test asks for the memo."""
    monkeypatch.setattr(creation, "REMEMBER_SECONDS", 0.0)


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[list[Host]]:
    """Hosts built by a test, closed afterwards."""
    built: list[Host] = []
    yield built
    for host in built:
        host.close()


def build(tmp_path: Path, hosts: list[Host], extra: str = "", enabled: tuple[str, ...] = ("default_calendar",)) -> Host:
    """A host in its own folder with ``extra`` TOML."""
    folder = tmp_path / f"h{len(hosts)}"
    folder.mkdir()
    host = make_host(folder, enabled, extra)
    hosts.append(host)
    return host


def access(host: Host, name: str) -> None:
    """What the kernel does for every authenticated request."""
    principal = host.store.principal(name)
    assert principal is not None
    host.hook.principal_accessed(host=host, principal=principal)


def calendars(host: Host, name: str) -> list[str]:
    """The paths of ``name``'s calendars."""
    return [c.path for c in host.store.collections(name, kind="calendar")]


def test_hook_principal_accessed(tmp_path: Path, hosts: list[Host]) -> None:
    """A user without calendars gets `default` with the configured attributes, once."""
    host = build(tmp_path, hosts)
    alice = add_user(host, "alice")
    seq = host.store.latest_seq()
    access(host, "alice")
    cal = host.store.collection("alice", "default")
    assert cal is not None and cal.kind == "calendar"
    assert (cal.display_name, cal.components, cal.color, cal.timezone) == ("Team Calendar", ("VEVENT", "VTODO"), None, None)
    (change,) = host.store.changes_since(seq)
    assert (change.collection_id, change.name, change.kind, change.principal_id) == (cal.id, None, "created", alice.id)
    access(host, "alice")
    assert calendars(host, "alice") == ["default"]


def test_configured_attributes(tmp_path: Path, hosts: list[Host]) -> None:
    host = build(tmp_path, hosts, '[default_calendar]\nhref_name = "main"\ndisplay_name = "{display_name} (work)"\n'
                                  'color = "#1f6feb"\ntimezone = "Europe/Berlin"\ncomponents = ["vtodo"]\n')
    add_user(host, "alice", display_name="Alice Liddell")
    access(host, "alice")
    cal = host.store.collection("alice", "main")
    assert cal is not None
    assert (cal.display_name, cal.components, cal.color) == ("Alice Liddell (work)", ("VTODO",), "#1F6FEB")
    zones = icalendar.Calendar.from_ical(cal.timezone).walk("VTIMEZONE")
    assert [str(z["TZID"]) for z in zones] == ["Europe/Berlin"]
    assert zones[0].to_tz().utcoffset(datetime.datetime(2030, 7, 1)).total_seconds() == 7200


def test_an_account_with_any_calendar_gets_none(tmp_path: Path, hosts: list[Host]) -> None:
    host = build(tmp_path, hosts)
    alice = add_user(host, "alice")
    host.writes.create_collection(alice, "work", "calendar", principal=alice)
    access(host, "alice")
    assert calendars(host, "alice") == ["work"]


def test_recreated_when_the_last_calendar_is_gone(tmp_path: Path, hosts: list[Host]) -> None:
    """As in Stalwart: an account with no calendar gets one on its next access."""
    host = build(tmp_path, hosts)
    add_user(host, "alice")
    access(host, "alice")
    host.writes.delete_collection(host.store.collection("alice", "default"), principal=None)
    access(host, "alice")
    assert calendars(host, "alice") == ["default"]


def test_memo_keeps_the_common_path_free_of_queries(
    tmp_path: Path, hosts: list[Host], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(creation, "REMEMBER_SECONDS", 3600.0)
    host = build(tmp_path, hosts)
    alice = add_user(host, "alice")
    access(host, "alice")
    with host.store.traced() as statements:
        for _ in range(100):
            host.hook.principal_accessed(host=host, principal=alice)
    assert statements == []


def test_disabled_with_empty_href_name(tmp_path: Path, hosts: list[Host]) -> None:
    host = build(tmp_path, hosts, '[default_calendar]\nhref_name = ""\n')
    add_user(host, "alice")
    access(host, "alice")
    assert calendars(host, "alice") == []


def test_plugin_off_creates_nothing(tmp_path: Path, hosts: list[Host]) -> None:
    host = build(tmp_path, hosts, enabled=())
    add_user(host, "alice")
    access(host, "alice")
    assert calendars(host, "alice") == []


def test_groups_only_with_for_groups(tmp_path: Path, hosts: list[Host]) -> None:
    off = build(tmp_path, hosts)
    alice = add_user(off, "alice")
    add_group(off, "devs", [alice])
    access(off, "alice")
    assert calendars(off, "devs") == []

    on = build(tmp_path, hosts, "[default_calendar]\nfor_groups = true\n")
    alice = add_user(on, "alice")
    devs = add_group(on, "devs", [alice])
    on.store.update_principal(devs.id, display_name="Developers")
    add_group(on, "eng", [devs])
    add_group(on, "other")
    access(on, "alice")
    assert calendars(on, "alice") == ["default"]
    assert calendars(on, "devs") == ["default"]
    assert calendars(on, "eng") == ["default"], "groups reached through other groups too"
    assert calendars(on, "other") == []
    assert on.store.collection("devs", "default").display_name == "Developers"


def test_a_refusal_is_logged_and_the_request_goes_on(
    tmp_path: Path, hosts: list[Host], caplog: pytest.LogCaptureFixture
) -> None:
    """With limits allowing alice no calendar, access still works; the reason is logged."""
    host = build(tmp_path, hosts, "[limits.accounts.alice]\nmax_calendars = 0\n", enabled=("default_calendar", "limits"))
    add_user(host, "alice")
    with caplog.at_level(logging.WARNING, logger="teamcal.default_calendar"):
        access(host, "alice")
    assert calendars(host, "alice") == []
    assert "no default calendar for alice" in caplog.text and "limit is 0" in caplog.text


def test_a_plain_collection_in_the_way(tmp_path: Path, hosts: list[Host], caplog: pytest.LogCaptureFixture) -> None:
    host = build(tmp_path, hosts)
    alice = add_user(host, "alice")
    host.writes.create_collection(alice, "default", "plain", principal=alice)
    with caplog.at_level(logging.WARNING, logger="teamcal.default_calendar"):
        access(host, "alice")
    assert calendars(host, "alice") == []
    assert "no default calendar for alice" in caplog.text


def test_calendar_attributes_for_groups() -> None:
    settings = Settings(group_display_name=NameTemplate("{name}: {display_name}"))
    team = Principal(7, "devs", "group", "Developers")
    assert creation.calendar_attributes(team, settings) == {
        "display_name": "devs: Developers", "components": ("VEVENT", "VTODO"),
    }
