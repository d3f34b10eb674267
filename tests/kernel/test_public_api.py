"""Plugins in the tree import only the kernel's declared public API.

The public API is ``kernel.__all__`` plus the modules in ``kernel.PUBLIC_MODULES``
(``kernel.testing`` and its submodules are for tests); a plugin may import another
plugin's package only for ``plugins.caldav_server.__all__`` (DAV extensions).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import kernel
import plugins.caldav_server

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_NAMES = frozenset(kernel.__all__)
PUBLIC_MODULES = frozenset(kernel.PUBLIC_MODULES)
DAV_NAMES = frozenset(plugins.caldav_server.__all__)


def _public_module(module: str) -> bool:
    return module in PUBLIC_MODULES or module.startswith("kernel.testing.")


def _owner(path: str) -> str | None:
    """The built-in plugin a file belongs to (``plugins/NAME/...``), or None."""
    parts = Path(path).parts
    return parts[1] if len(parts) > 2 and parts[0] == "plugins" else None


def private_imports(source: str, path: str) -> list[str]:
    """``path:line: what`` for each import in ``source`` outside the public API."""
    found: list[str] = []
    owner = _owner(path)
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                if name.startswith("kernel.") and not _public_module(name):
                    found.append(f"{path}:{node.lineno}: import {name} (not in kernel.PUBLIC_MODULES)")
                elif name.startswith("plugins.") and name.split(".")[1] != owner:
                    found.append(f"{path}:{node.lineno}: import {name} (plugins never import each other)")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module, names = node.module, [alias.name for alias in node.names]
            if module == "kernel":
                bad = [n for n in names if n not in PUBLIC_NAMES and f"kernel.{n}" not in PUBLIC_MODULES]
            elif module.startswith("kernel."):
                bad = names if not _public_module(module) else [n for n in names if n.startswith("_")]
            elif module.startswith("plugins.") and module.split(".")[1] != owner:
                bad = names if module != "plugins.caldav_server" else [n for n in names if n not in DAV_NAMES]
            else:
                bad = []
            for name in bad:
                found.append(f"{path}:{node.lineno}: from {module} import {name} (not public)")
    return found


def plugin_sources() -> list[Path]:
    """Every .py file of the built-in plugins and the examples."""
    return sorted(p for top in ("plugins", "examples") for p in (ROOT / top).rglob("*.py"))


def test_plugins_and_examples_import_only_the_public_api() -> None:
    files = plugin_sources()
    assert any(p.parts[-3:] == ("teamcal-hello", "teamcal_hello", "__init__.py") for p in files)
    problems = [
        problem
        for path in files
        for problem in private_imports(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert not problems, "imports outside kernel's public API:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("from kernel.store import Store\n", "plugins/x/a.py:1: from kernel.store import Store"),
        ("import os\nfrom kernel import Host, BodyCap\n", "plugins/x/a.py:2: from kernel import BodyCap"),
        ("import kernel.writes\n", "plugins/x/a.py:1: import kernel.writes"),
        ("from kernel import ical\n", "plugins/x/a.py:1: from kernel import ical"),
        ("def f():\n    from kernel.app import read_body\n", "plugins/x/a.py:2: from kernel.app import read_body"),
        ("from kernel.icaltext import _bind\n", "plugins/x/a.py:1: from kernel.icaltext import _bind"),
        ("from plugins.limits import effective\n", "plugins/x/a.py:1: from plugins.limits import effective"),
        ("from plugins.caldav_server import DavApp\n", "plugins/x/a.py:1: from plugins.caldav_server import DavApp"),
        ("from plugins.caldav_server.webdav.app import DavApp\n", "plugins/x/a.py:1: from plugins.caldav_server"),
    ],
)
def test_checker_flags_a_private_import(source: str, flagged: str) -> None:
    problems = private_imports(source, "plugins/x/a.py")
    assert len(problems) == 1 and problems[0].startswith(flagged), problems


def test_checker_accepts_public_imports() -> None:
    source = (
        "from kernel import Host, Rejected, read_body, recurrence\n"
        "from kernel.icaltext import read_calendar\n"
        "from kernel.testing import make_host\n"
        "import kernel.netguard\n"
        "from plugins.x.settings import Settings\n"
        "from plugins.caldav_server import DavExtensions, Target\n"
        "from . import sibling\n"
    )
    assert private_imports(source, "plugins/x/a.py") == []


def test_public_names_exist_and_are_documented() -> None:
    """Every exported name resolves and docs/plugins.md's "Public API" section lists it."""
    docs = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = docs.split("\n## Public API\n", 1)[1].split("\n## ", 1)[0]
    heads = [line.split("`:", 1)[0] + "`" for line in section.splitlines() if line.startswith("- `")]
    documented = {name for head in heads for name in re.findall(r"`([A-Za-z_.]+)`", head)}
    for name in kernel.__all__:
        assert hasattr(kernel, name), name
    for module in kernel.PUBLIC_MODULES:
        __import__(module)
    for name in plugins.caldav_server.__all__:
        assert hasattr(plugins.caldav_server, name), name
    wanted = {*kernel.__all__, *kernel.PUBLIC_MODULES, *(f"plugins.caldav_server.{n}" for n in DAV_NAMES)}
    assert not wanted - documented, f"missing from docs/plugins.md Public API: {sorted(wanted - documented)}"


def test_a_host_has_every_member_of_the_host_api(teamcal_host: kernel.Host) -> None:
    """kernel.HostAPI promises only what a real Host has (mypy checks the types too)."""
    members = [name for name in vars(kernel.HostAPI) if not name.startswith("_")]
    assert {"store", "writes", "settings", "state", "run", "leases"} <= set(members)
    missing = [name for name in members if not hasattr(teamcal_host, name)]
    assert not missing, missing
    assert isinstance(teamcal_host.store, kernel.Store) and isinstance(teamcal_host.leases, kernel.Leases)


def test_hooks_are_typed_against_the_host_api() -> None:
    """Every hookspec's ``host`` parameter is annotated with the Protocol, not the concrete Host."""
    from kernel import hookspecs
    from plugins.caldav_server import hookspecs as dav_hookspecs

    annotated = [
        (module.__name__, name, fn.__annotations__["host"])
        for module in (hookspecs, dav_hookspecs)
        for name, fn in vars(module).items()
        if callable(fn) and getattr(fn, "teamcal_spec", None) is not None and "host" in fn.__annotations__
    ]
    assert len(annotated) > 15
    assert {a for _, _, a in annotated} == {"HostAPI"}, [x for x in annotated if x[2] != "HostAPI"]


def test_kernel_and_plugins_are_marked_typed() -> None:
    """PEP 561 markers exist and pyproject.toml ships them as package data."""
    import tomllib

    assert (ROOT / "kernel" / "py.typed").is_file() and (ROOT / "plugins" / "py.typed").is_file()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "py.typed" in data["tool"]["setuptools"]["package-data"]["*"]
