"""Every hook (kernel and plugin-declared) is documented in docs/plugins.md and has a test; the
guide's own code runs as written."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from kernel.testing import LiveServer, add_user, event_object, make_host

ROOT = Path(__file__).resolve().parents[2]
BUILTINS = ["caldav_server", "caldav_subscription", "limits", "default_calendar", "atlassian_export", "web"]


@pytest.fixture(scope="module")
def hook_names(tmp_path_factory: pytest.TempPathFactory, teamcal_backend: str) -> list[str]:
    host = make_host(tmp_path_factory.mktemp("docs"), BUILTINS)
    names = sorted(n for n in dir(host.hook) if not n.startswith("_"))
    host.close()
    return names


def test_every_hook_is_documented(hook_names: list[str]) -> None:
    docs = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^### `(\w+)\(", docs, re.M))
    missing = [n for n in hook_names if n not in headings]
    assert not missing, f"hooks without a '### `name(...)`' section in docs/plugins.md: {missing}"


def test_every_hook_has_a_test(hook_names: list[str]) -> None:
    tests = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    # a test may cover several hooks: test_hook_startup_shutdown_and_register_jobs
    missing = [n for n in hook_names if not re.search(rf"def test_hook_(?:\w+_)?{n}(?:_\w+)?\(", tests)]
    assert not missing, f"hooks without a test named test_hook_..._<name>_...: {missing}"


def test_every_kernel_setting_is_in_the_readme_table() -> None:
    import dataclasses

    from kernel.config import KernelSettings

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = " ".join(line.split("|")[1] for line in readme.splitlines() if line.startswith("| ") and "|" in line[2:])
    documented = set(re.findall(r"\w+", rows))
    missing = [f.name for f in dataclasses.fields(KernelSettings) if f.name not in documented]
    assert not missing, f"[kernel] settings missing from the README's table: {missing}"


def docs_snippet(number: int, directory: Path, name: str) -> ModuleType:
    """The ``number``-th python block of docs/plugins.md, imported as module ``name`` (as written there)."""
    docs = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    source = re.findall(r"^```python\n(.*?)^```", docs, re.M | re.S)[number]
    path = directory / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_plugin_shape_refuses_lorem_in_any_component(tmp_path: Path) -> None:
    """The first snippet, through CalDAV: a task is stored (no 500), lorem is refused in events and tasks."""
    plugin = docs_snippet(0, tmp_path, "docs_shape")
    host = make_host(tmp_path, ["caldav_server"], '[hello]\ngreeting = "Moin"\n', plugins=[("hello", plugin)])
    alice = add_user(host, "alice")
    host.writes.create_collection(alice, "work", "calendar", principal=alice)
    task = event_object("t1", summary="Standup").replace(b"VEVENT", b"VTODO").replace(b"DTEND", b"DUE")
    lorem = {
        "e2": event_object("e2", summary="Lorem ipsum"),
        "t3": task.replace(b"t1", b"t3").replace(b"Standup", b"lorem"),
    }
    ical = {"Content-Type": "text/calendar"}
    with LiveServer(host) as server, server.client("alice") as client:
        put = client.put("/dav/cal/alice/work/t1.ics", content=task, headers=ical)
        assert put.status_code == 201, put.text
        for name, data in lorem.items():
            refused = client.put(f"/dav/cal/alice/work/{name}.ics", content=data, headers=ical)
            assert refused.status_code == 403 and "no-lorem" in refused.text, refused.text
            assert client.get(f"/dav/cal/alice/work/{name}.ics").status_code == 404
    assert host.settings("hello").greeting == "Moin"
    host.close()


def test_the_docs_storage_snippet_migrates(tmp_path: Path) -> None:
    """The Storage snippet as written: its two migrations run, on both backends."""
    plugin = docs_snippet(1, tmp_path, "docs_notes")
    host = make_host(tmp_path, plugins=[("notes", plugin)])
    alice = add_user(host, "alice")
    work = host.writes.create_collection(alice, "work", "calendar", principal=alice)
    with host.store.transaction():
        host.store.execute(
            "INSERT INTO notes_items (collection_id, body, pinned) VALUES (?, ?, 1)", (work.id, "remember")
        )
    row = host.store.execute("SELECT body, pinned, state, weight FROM notes_items").fetchone()
    assert tuple(row) == ("remember", 1, "open", 1.0)
    assert plugin.migrations.pending(host.store) == []
    host.close()


def docs_blocks() -> list[str]:
    """Every python block of docs/plugins.md, in order."""
    docs = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", docs, re.M | re.S)


def test_the_testing_tutorial_runs_as_written(tmp_path: Path, teamcal_backend: str) -> None:
    """"Testing your plugin": the banned-word plugin and its tests, each under 30 lines, the tests
    using only kernel.testing (and the plugin), pass under pytest on this backend."""
    blocks = docs_blocks()
    plugin = next(b for b in blocks if "def validate_object" in b and "/api/hello" in b)
    tests = next(b for b in blocks if b.startswith("import banned\n"))
    assert len(plugin.splitlines()) < 30 and len(tests.splitlines()) < 30
    imports = [line for line in tests.splitlines() if line.startswith(("import ", "from "))]
    assert all(line == "import banned" or line.startswith("from kernel.testing") for line in imports), imports
    (tmp_path / "banned.py").write_text(plugin, encoding="utf-8")
    (tmp_path / "test_banned.py").write_text(tests, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", f"teamcal_backends={teamcal_backend}",
         "test_banned.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout, result.stdout
