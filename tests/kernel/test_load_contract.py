"""Mistakes in a plugin stop `teamcal check` and `teamcal serve` with one line and exit status 2.

Each plugin here is a real module with a real entry point, installed into a folder of its
own; the commands run in a subprocess, as an admin would run them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kernel.testing import write_config

from .test_async_hooks import install
from .test_config import run_cli

ROOT = Path(__file__).resolve().parents[2]

SIGNATURE = '''"""Misspells an argument of validate_object."""
from kernel import hookimpl


@hookimpl
def validate_object(host, tx, wirte):
    """Would be refused by pluggy with a multi-line message."""
'''

PLUGIN_HOOK_SIGNATURE = '''"""Implements the CalDAV plugin's dav_properties with an argument it does not have."""
from kernel import hookimpl


@hookimpl(optionalhook=True)
def dav_properties(host, target):
    """Checked once the CalDAV plugin declares the hook."""
'''

UNKNOWN_HOOK = '''"""Misspells a hook's name."""
from kernel import hookimpl


@hookimpl
def validate_objcet(host, write):
    """No such hook."""
'''

UNMARKED = '''"""Forgets @hookimpl: its veto would never run."""
from kernel import Rejected


def validate_object(host, write):
    """Refuse everything."""
    raise Rejected(403, None, "no")
'''

POST_INIT = '''"""Checks its settings in __post_init__."""
from dataclasses import dataclass, field

from kernel import hookimpl


@dataclass
class Settings:
    greeting: str = field(default="Hello", metadata={"doc": "the greeting"})
    shout: bool = field(default=False, metadata={"doc": "greet in capitals"})

    def __post_init__(self):
        if not self.greeting.strip():
            raise ValueError("greeting must not be empty")


@hookimpl
def register_settings():
    """The [picky] table."""
    return {"picky": Settings}
'''

REQUIRED = POST_INIT.replace('greeting: str = field(default="Hello", ', "greeting: str = field(")

SCHEMA = '''"""Declares a table without its prefix."""
from kernel import Column, Migrations, Table, hookimpl

migrations = Migrations("sloppy")


@migrations()
def m001_notes(m):
    """The plugin's one table, wrongly named."""
    m.create_table(Table("notes", (Column("body", "text"),)))


@hookimpl
def register_migrations(host):
    """The plugin's tables."""
    return migrations
'''


@pytest.mark.parametrize(
    "name, source, enabled, extra, message",
    [
        ("sig", SIGNATURE, [], "",
         "enabled: plugin 'sig' implements validate_object(host, tx, wirte), but validate_object has no argument"
         " wirte: it takes (host, tx, write), any of them, by name"),
        ("davprops", PLUGIN_HOOK_SIGNATURE, ["caldav_server"], "",
         "enabled: plugin 'davprops' implements dav_properties(host, target), but dav_properties has no argument"
         " target: it takes (host, principal, collection, resource), any of them, by name"),
        ("typo", UNKNOWN_HOOK, [], "",
         "enabled: plugin 'typo' implements validate_objcet, which is not a hook: did you mean validate_object?"
         " (implement a hook another plugin declares with @hookimpl(optionalhook=True))"),
        ("unmarked", UNMARKED, [], "",
         "enabled: plugin 'unmarked' defines validate_object without @hookimpl, so it would never run: mark it"
         " @hookimpl (from kernel import hookimpl)"),
        ("picky", POST_INIT, [], '[picky]\ngreeting = "  "\n',
         "[picky] greeting: plugin 'picky': greeting must not be empty"),
        ("picky", REQUIRED, [], "[picky]\nshout = true\n", "[picky] greeting: missing: this setting has no default"),
        ("sloppy", SCHEMA, [], "",
         "enabled: cannot migrate: migration sloppy.m001_notes: table or index 'notes' must start with the"
         " plugin's prefix 'sloppy_'"),
    ],
    ids=["signature", "plugin-hook-signature", "unknown-hook", "unmarked", "post-init", "required-setting", "schema"],
)
@pytest.mark.parametrize("command", ["check", "serve"])
def test_a_plugin_mistake_stops_start_up_with_one_line(
    tmp_path: Path, command: str, name: str, source: str, enabled: list[str], extra: str, message: str
) -> None:
    install(tmp_path / "site", name, source)
    path = write_config(tmp_path, [*enabled, name], extra)
    result = run_cli(command, cwd=tmp_path, env={"PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{ROOT}"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == f"teamcal: {path}: {message}\n"


def test_check_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    """check runs the pending migrations to find what start-up would refuse, then rolls them back."""
    install(tmp_path / "site", "sloppy", SCHEMA)
    write_config(tmp_path, ["sloppy"])
    env = {"PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{ROOT}"}
    assert run_cli("check", cwd=tmp_path, env=env).returncode == 2
    assert run_cli("plugins", "disable", "sloppy", cwd=tmp_path, env=env).returncode == 0
    checked = run_cli("check", cwd=tmp_path)
    assert checked.returncode == 0 and checked.stdout.endswith(": ok; plugins: none\n"), checked.stderr
    from kernel.host import Host

    host = Host.from_config(tmp_path / "plugins.toml", migrate=False)
    try:
        assert not host.store.table_exists("notes") and not host.store.table_exists("principals")
        host.migrate()
        assert host.store.table_exists("principals")
    finally:
        host.close()
