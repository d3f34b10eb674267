"""The plugin host: loading through entry points, allow-list, check_pending, plugin CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kernel import Column, Migrations, Table, hookimpl
from kernel.plugins import available_plugins
from kernel.testing import LiveServer, add_user, assert_config_error, make_host, write_config

from .conftest import event
from .test_config import run_cli

ROOT = Path(__file__).resolve().parents[2]
BUILTINS = {"caldav_server", "caldav_subscription", "limits", "default_calendar", "atlassian_export"}


@pytest.fixture(scope="module")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin package installed into a private folder (not into the environment)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(ROOT / "examples" / "teamcal-hello")],
        check=True, timeout=300, capture_output=True,
    )
    return target


def test_builtins_are_listed_and_exist() -> None:
    found = available_plugins()
    assert set(found) >= BUILTINS
    for name in BUILTINS:
        assert found[name].description, name  # every listed plugin is real and describes itself
        assert (ROOT / "plugins" / name / "__init__.py").exists()


def test_plugins_list_shows_example_once_installed(tmp_path: Path, example_site: Path) -> None:
    write_config(tmp_path, ["hello"])
    env = {"PYTHONPATH": f"{example_site}{os.pathsep}{ROOT}"}
    listing = run_cli("plugins", "list", "--json", cwd=tmp_path, env=env)
    assert listing.returncode == 0, listing.stderr
    rows = {r["name"]: r for r in json.loads(listing.stdout)}
    assert rows["hello"]["enabled"] and rows["hello"]["version"] == "0.1.0"
    assert rows["hello"]["description"].startswith("Greets users")
    assert set(rows) >= BUILTINS and not rows["limits"]["enabled"]
    without = run_cli("plugins", "list", "--json", cwd=tmp_path)
    assert "hello" not in {r["name"] for r in json.loads(without.stdout)}
    show = run_cli("plugins", "show", "hello", cwd=tmp_path, env=env)
    assert "greeting (str) = 'Hello'" in show.stdout and "forbidden_words" in show.stdout


def test_example_plugin_hooks_really_run(tmp_path: Path, example_site: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(example_site))
    host = make_host(tmp_path, ["hello"], '[hello]\ngreeting = "Moin"\nforbidden_words = ["lorem"]\n')
    alice = add_user(host, "alice", display_name="Alice A.")
    cal = host.writes.create_collection(alice, "work", "calendar", principal=alice)
    from kernel import Rejected

    with pytest.raises(Rejected) as err:
        host.writes.put_object(cal, "x.ics", event(summary="Lorem ipsum"), principal=alice)
    assert err.value.precondition == "{urn:teamcal:hello}forbidden-word"
    host.writes.put_object(cal, "ok.ics", event(summary="Standup"), principal=alice)
    with LiveServer(host) as server:
        with server.client("alice") as c:
            assert c.get("/hello").text == "Moin, Alice A.! You have 1 calendars (visit 1)."
            assert c.get("/hello").text.endswith("(visit 2).")
            assert c.get("/hello/stats").json() == {"visits": 2}
    host.close()


def test_unlisted_plugins_are_never_imported(tmp_path: Path) -> None:
    code = (
        "import sys; from kernel.testing import make_host; from pathlib import Path;"
        "h = make_host(Path(sys.argv[1]), []);"
        "print(sorted(m for m in sys.modules if m.startswith('plugins.')))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


class Misspelled:
    @hookimpl
    def validate_objcet(self, host, tx, write):
        """A typo: no such hook."""


def test_check_pending_turns_a_misspelled_hook_into_an_error(tmp_path: Path) -> None:
    assert_config_error(
        "enabled: plugin 'typo' implements validate_objcet, which is not a hook: did you mean validate_object?",
        plugins=[("typo", Misspelled())],
    )


def test_broken_plugin_import_exits_2(tmp_path: Path) -> None:
    pkg = tmp_path / "site" / "broken_plugin"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""Broken on purpose."""\nraise ImportError("missing dependency foo")\n')
    dist = tmp_path / "site" / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[teamcal]\nbroken = broken_plugin\n")
    write_config(tmp_path, ["broken"])
    result = run_cli("check", cwd=tmp_path, env={"PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{ROOT}"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "plugin 'broken' failed to import: ImportError: missing dependency foo" in result.stderr


def test_enable_disable_keep_comments(tmp_path: Path) -> None:
    conf = tmp_path / "plugins.toml"
    conf.write_text('# my deployment\nenabled = ["limits"]  # keep this comment\n\n[kernel]\nport = 5300 # port\n')
    assert run_cli("plugins", "enable", "default_calendar", cwd=tmp_path).returncode == 0
    assert run_cli("plugins", "disable", "limits", cwd=tmp_path).returncode == 0
    text = conf.read_text()
    assert "# my deployment" in text and "# port" in text
    import tomllib

    assert tomllib.loads(text)["enabled"] == ["default_calendar"]
    bad = run_cli("plugins", "enable", "nope", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown plugin 'nope'" in bad.stderr


@dataclass
class GreeterSettings:
    word: str = field(default="hi", metadata={"doc": "the word"})


class Greeter:
    """Settings, its own table, and a command."""

    migrations = Migrations("greeter")

    @staticmethod
    @migrations()
    def m001(m) -> None:
        m.create_table(
            Table("greeter_log", (Column("id", "int", primary_key=True, generated=True), Column("text", "text")))
        )

    @hookimpl
    def register_settings(self):
        """[greeter] word."""
        return {"greeter": GreeterSettings}

    @hookimpl
    def register_migrations(self, host):
        """The greeter's own table."""
        return self.migrations

    @hookimpl
    def register_commands(self, cli):
        """teamcal greet NAME."""

        def configure(parser) -> None:
            parser.add_argument("name")

        def run(host, args) -> int:
            with host.store.transaction():
                host.store.execute("INSERT INTO greeter_log (text) VALUES (:text)", {"text": args.name})
            print(f"{host.settings('greeter').word} {args.name}")
            return 0

        cli.add("greet", "say hello", configure, run)


def test_hook_register_settings(tmp_path: Path) -> None:
    host = make_host(tmp_path, plugins=[("greeter", Greeter())], extra='[greeter]\nword = "moin"\n')
    assert host.settings("greeter").word == "moin"
    host.close()
    assert_config_error("[greeter] wrod: unknown key", plugins=[("greeter", Greeter())], settings={"greeter": {"wrod": "x"}})


def test_hook_register_migrations(tmp_path: Path) -> None:
    host = make_host(tmp_path, plugins=[("greeter", Greeter())])
    assert host.store.table_exists("greeter_log")
    applied = {r[0] for r in host.store.execute("SELECT migration_set FROM teamcal_migrations")}
    assert applied == {"kernel", "greeter"}
    host.close()
    again = make_host(tmp_path, plugins=[("greeter", Greeter())])  # applied once, not twice
    names = again.store.execute("SELECT name FROM teamcal_migrations WHERE migration_set = 'greeter'").fetchall()
    assert names == [("m001",)]
    again.close()


@pytest.mark.sqlite_only
def test_sqlite_utils_migrations_still_run_on_sqlite_with_a_warning(tmp_path: Path) -> None:
    import sqlite_utils

    legacy = sqlite_utils.Migrations("legacy")

    @legacy()
    def m001(db) -> None:
        db["legacy_notes"].create({"id": int, "text": str}, pk="id")

    class Legacy:
        @hookimpl
        def register_migrations(self, host):
            return legacy

    with pytest.warns(DeprecationWarning, match="'legacy' uses sqlite_utils.Migrations"):
        host = make_host(tmp_path, plugins=[("legacy", Legacy())])
    assert host.store.table_exists("legacy_notes")
    host.close()


def test_a_plugin_table_without_its_prefix_stops_start_up(tmp_path: Path) -> None:
    sloppy = Migrations("sloppy")

    @sloppy()
    def m001(m) -> None:
        m.create_table(Table("notes", (Column("text", "text"),)))

    class Sloppy:
        @hookimpl
        def register_migrations(self, host):
            return sloppy

    assert_config_error(
        "migration sloppy.m001: table or index 'notes' must start with the plugin", plugins=[("sloppy", Sloppy())]
    )


def test_hook_register_commands(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from kernel import cli

    host = make_host(tmp_path, plugins=[("greeter", Greeter())], extra='[greeter]\nword = "ahoy"\n')
    parser, commands = cli._build_parser(host)
    args = parser.parse_args(["greet", "world"])
    assert commands.runners[args.command](host, args) == 0
    assert "ahoy world" in capsys.readouterr().out
    assert host.store.execute("SELECT text FROM greeter_log").fetchall() == [("world",)]
    host.close()


class Specs:
    """A plugin that declares a hook of its own."""

    @hookimpl
    def register_hookspecs(self):
        """Offer `greeting_words`."""
        import types

        from kernel.hookspecs import hookspec

        module = types.ModuleType("greeting_specs")

        @hookspec
        def greeting_words(host):
            """Words to greet with."""

        module.greeting_words = greeting_words
        return module


class Words:
    @hookimpl(optionalhook=True)
    def greeting_words(self, host):
        """Contribute a word."""
        return "servus"


def test_hook_register_hookspecs(tmp_path: Path) -> None:
    host = make_host(tmp_path, plugins=[("words", Words()), ("specs", Specs())])
    assert host.hook.greeting_words(host=host) == ["servus"]
    host.close()
    (tmp_path / "alone").mkdir()
    alone = make_host(tmp_path / "alone", plugins=[("words", Words())])
    alone.close()  # optionalhook: loads fine without the declaring plugin


def test_host_state_is_per_host_and_made_once(tmp_path: Path) -> None:
    import threading

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = make_host(tmp_path / "a"), make_host(tmp_path / "b")
    made: list[int] = []

    def factory() -> dict[str, int]:
        made.append(1)
        return {}

    try:
        seen: list[dict[str, int]] = []
        threads = [threading.Thread(target=lambda: seen.append(first.state("test.memo", factory))) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        assert len(seen) == 8 and all(s is seen[0] for s in seen) and len(made) == 1
        assert second.state("test.memo", factory) is not seen[0] and len(made) == 2
        assert first.state("test.other", list) == []
    finally:
        first.close()
        second.close()
