"""An ``async def`` implementation of a hook that is called synchronously is refused at load."""

from __future__ import annotations

import os
import types
from pathlib import Path

import pytest

from kernel import Rejected, hookimpl
from kernel.hookspecs import hookspec, may_return_awaitable
from kernel.testing import add_user, assert_config_error, event_object, make_host, write_config

from .test_config import run_cli

ROOT = Path(__file__).resolve().parents[2]

VETO_PLUGIN = '''"""Vetoes every event, but asynchronously: its veto would be lost."""
from kernel import Rejected, hookimpl


@hookimpl
async def validate_object(host, tx, write):
    """Refuse everything."""
    raise Rejected(403, None, "vetoed")
'''


def install(site: Path, name: str, source: str) -> None:
    """An installed third-party plugin ``name`` (a module with an entry point) in ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{name}.py").write_text(source, encoding="utf-8")
    dist = site / f"{name}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[teamcal]\n{name} = {name}\n")


@pytest.mark.parametrize("command", ["check", "serve"])
def test_an_async_validate_object_stops_start_up_with_one_line(tmp_path: Path, command: str) -> None:
    install(tmp_path / "site", "async_veto", VETO_PLUGIN)
    write_config(tmp_path, ["async_veto"])
    result = run_cli(command, cwd=tmp_path, env={"PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{ROOT}"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "plugin 'async_veto' implements validate_object with async def" in lines[0]
    assert "make it a plain def" in lines[0] and "changes_committed, shutdown, startup" in lines[0]


class AsyncAccessed:
    @hookimpl
    async def principal_accessed(self, host, principal):
        """Would never run: principal_accessed is called synchronously."""


class AsyncDavProperties:
    @hookimpl(optionalhook=True)
    async def dav_properties(self, host, principal, collection, resource):
        """Would never run: the CalDAV plugin calls dav_properties synchronously."""
        return {"{urn:x}p": "v"}


class AwaitedNotifications:
    """async def where the kernel awaits: allowed."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    async def startup(self, host):
        """Awaited by the lifespan."""

    @hookimpl
    async def shutdown(self, host):
        """Awaited by the lifespan."""

    @hookimpl
    async def changes_committed(self, host, changes):
        """Awaited (scheduled) after commit."""
        self.seen.extend(c.name for c in changes)


def test_an_async_implementation_of_any_synchronous_kernel_hook_is_refused(tmp_path: Path) -> None:
    assert_config_error(
        "enabled: plugin 'accessed' implements principal_accessed with async def", plugins=[("accessed", AsyncAccessed())]
    )


def test_the_rule_covers_hooks_plugins_declare(tmp_path: Path) -> None:
    assert_config_error(
        "plugin 'props' implements dav_properties with async def", plugins=["caldav_server", ("props", AsyncDavProperties())]
    )
    (tmp_path / "off").mkdir()
    make_host(tmp_path / "off", plugins=[("props", AsyncDavProperties())]).close()  # never called without CalDAV


def test_async_notification_hooks_load_and_run(tmp_path: Path) -> None:
    plugin = AwaitedNotifications()
    host = make_host(tmp_path, plugins=[("notes", plugin)])
    alice = add_user(host, "alice")
    cal = host.writes.create_collection(alice, "work", "calendar", principal=alice)
    host.writes.put_object(cal, "a.ics", event_object(), principal=alice)
    assert plugin.seen == [None, "a.ics"]  # the calendar created, then the object
    host.close()


class DeclaresAwaitedHook:
    """A plugin declaring one hook it awaits and one it calls synchronously."""

    @hookimpl
    def register_hookspecs(self):
        """Offer `report_ready` (awaited) and `report_name` (synchronous)."""
        module = types.ModuleType("report_specs")

        @hookspec
        @may_return_awaitable
        def report_ready(host):
            """Awaited by the declaring plugin."""

        @hookspec
        def report_name(host):
            """Called synchronously."""

        module.report_ready = report_ready  # type: ignore[attr-defined]
        module.report_name = report_name  # type: ignore[attr-defined]
        return module


class AsyncReady:
    @hookimpl(optionalhook=True)
    async def report_ready(self, host):
        """Allowed: the spec says it may return an awaitable."""


class AsyncName:
    @hookimpl(optionalhook=True)
    async def report_name(self, host):
        """Refused: the spec is synchronous."""
        return "x"


def test_plugin_hookspecs_choose_with_may_return_awaitable(tmp_path: Path) -> None:
    make_host(tmp_path, plugins=[("specs", DeclaresAwaitedHook()), ("ready", AsyncReady())]).close()
    (tmp_path / "b").mkdir()
    assert_config_error(
        "plugin 'name' implements report_name with async def",
        plugins=[("specs", DeclaresAwaitedHook()), ("name", AsyncName())],
    )


class SyncVeto:
    @hookimpl
    def validate_object(self, host, tx, write):
        """The fix the error names: a plain def, whose veto holds."""
        raise Rejected(403, None, "vetoed")


def test_the_plain_def_veto_holds(tmp_path: Path) -> None:
    host = make_host(tmp_path, plugins=[("veto", SyncVeto())])
    alice = add_user(host, "alice")
    cal = host.writes.create_collection(alice, "work", "calendar", principal=alice)
    with pytest.raises(Rejected, match="vetoed"):
        host.writes.put_object(cal, "a.ics", event_object(), principal=alice)
    assert host.store.resource(cal.id, "a.ics") is None
    host.close()
