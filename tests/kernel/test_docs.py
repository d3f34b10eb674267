"""Every hook (kernel and plugin-declared) is documented in docs/plugins.md and has a test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kernel.testing import make_host

ROOT = Path(__file__).resolve().parents[2]
BUILTINS = ["caldav_server", "caldav_subscription", "limits", "default_calendar", "atlassian_export"]


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
