"""`teamcal plugin new NAME`: write a plugin package that works and passes its tests as written.

The package has a pyproject with the entry point, one module with a settings
dataclass and one hook (``validate_object``), a test on ``kernel.testing``, and a
README saying how to install, enable and test it: a start to edit, in the spirit of
datasette's plugin cookiecutter.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from kernel.plugins import available_plugins

if TYPE_CHECKING:
    from kernel.subcommands import Commands

PYPROJECT = Template('''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "teamcal-$dashed"
version = "0.1.0"
description = "A teamcal plugin: refuses events and tasks that lack a required property."
requires-python = ">=3.11"
dependencies = ["teamcal"]

[project.optional-dependencies]
test = ["pytest>=8"]

# The plugin's name in plugins.toml (enabled = ["$name"]) is the entry point's name.
[project.entry-points.teamcal]
$name = "teamcal_$name"

[tool.setuptools]
packages = ["teamcal_$name"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]  # the tests import the package from here, installed or not
# teamcal_backends = "sqlite postgresql"  # run each test on PostgreSQL too (needs Debian's postgresql)
''')

MODULE = Template('''"""Refuses events and tasks that lack a required property (the teamcal plugin $name)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kernel import Host, ObjectWrite, Rejected, hookimpl


@dataclass
class Settings:
    """The [$name] table of plugins.toml."""

    required: list[str] = field(
        default_factory=lambda: ["SUMMARY"], metadata={"doc": "properties every event and task must have"}
    )


@hookimpl
def register_settings() -> dict[str, type]:
    """Declare the [$name] table."""
    return {"$name": Settings}


@hookimpl
def validate_object(host: Host, write: ObjectWrite) -> None:
    """Refuse a calendar object with an event or a task that lacks a required property."""
    if write.calendar is None:
        return
    required = host.settings("$name").required
    for component in write.calendar.walk():
        if component.name in ("VEVENT", "VTODO"):
            missing = [name for name in required if not str(component.get(name, "")).strip()]
            if missing:
                raise Rejected(
                    403, "{urn:teamcal:$name}missing-property", f"{component.name} needs {', '.join(missing)}."
                )
''')

TEST = Template('''"""The $name plugin on a real teamcal host (kernel.testing: a fresh database for each test)."""

import teamcal_$name
from kernel.testing import HostFactory, app_client, assert_config_error, event_object
from kernel.testing.dav import error_elements, mkcalendar, put_event


def test_an_event_without_a_summary_is_refused(make_teamcal: HostFactory) -> None:
    host = make_teamcal(["caldav_server", teamcal_$name], users=["alice"])
    with app_client(host, "alice") as http:
        calendar = mkcalendar(http)
        assert put_event(http, calendar + "ok.ics", event_object("ok", summary="Standup")).status_code == 201
        refused = put_event(http, calendar + "no.ics", event_object("no", summary=""))
        assert refused.status_code == 403 and "VEVENT needs SUMMARY." in refused.text
        assert error_elements(refused)[0] == "{urn:teamcal:$name}missing-property"
        assert http.get(calendar + "no.ics").status_code == 404


def test_the_required_properties_are_a_setting(make_teamcal: HostFactory) -> None:
    host = make_teamcal(["caldav_server", teamcal_$name], {"$name": {"required": []}}, users=["alice"])
    with app_client(host, "alice") as http:
        calendar = mkcalendar(http)
        assert put_event(http, calendar + "no.ics", event_object("no", summary="")).status_code == 201
    settings = {"$name": {"required": "SUMMARY"}}
    assert_config_error("[$name] required: must be a list", plugins=[teamcal_$name], settings=settings)
''')

README = Template('''# teamcal-$dashed

A teamcal plugin: events and tasks that lack one of the `required` properties are
refused with 403, whichever way they arrive (CalDAV, subscriptions, imports).

Install it next to teamcal and switch it on:

    pip install -e .
    teamcal plugins enable $name

```toml
[$name]
required = ["SUMMARY", "LOCATION"]
```

Run its tests (on a fresh teamcal database each, through `kernel.testing`):

    python3 -m pytest

docs/plugins.md in teamcal lists the hooks and what a plugin reaches.
''')


def register(cli: Commands) -> None:
    """Declare ``teamcal plugin new``."""
    cli.add("plugin", "write a new plugin package to start from", _arguments, run, host=False)


def _arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    new = sub.add_parser("new", help="write teamcal-NAME/: pyproject, module, test and README")
    new.add_argument("name", help="the plugin's name in plugins.toml: lower-case letters, digits and _")
    new.add_argument("--directory", default=".", help="where to write teamcal-NAME/ (default: here)")


def run(host: None, args: argparse.Namespace) -> int:
    """Write the package, or say in one line why not (exit status 2)."""
    name: str = args.name
    problem = None
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        problem = f"{name!r} is not a plugin name: use lower-case letters, digits and _, starting with a letter"
    elif name in available_plugins():
        problem = f"a plugin named {name!r} is installed already"
    dashed = name.replace("_", "-")
    target = Path(args.directory) / f"teamcal-{dashed}"
    if problem is None and target.exists():
        problem = f"{target} exists already"
    if problem is not None:
        print(f"teamcal: plugin new: {problem}", file=sys.stderr)
        return 2
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"teamcal_{name}/__init__.py": MODULE,
        f"tests/test_{name}.py": TEST,
    }
    for relative, template in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.substitute(name=name, dashed=dashed), encoding="utf-8")
    print(f"teamcal: wrote {target}/ ({', '.join(files)})")
    print(f"next: pip install -e {target} && teamcal plugins enable {name}")
    print(f"its tests: cd {target} && python3 -m pytest")
    return 0
