"""mypy (strict on kernel/) and ruff (the whole tree) pass: run with the suite, so CI runs them.

Both are configured in pyproject.toml and come with the ``test`` extra.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )


def test_mypy_strict_on_the_kernel() -> None:
    result = _run("mypy")
    assert result.returncode == 0, f"mypy found problems:\n{result.stdout}{result.stderr}"


def test_ruff_on_the_whole_tree() -> None:
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, f"ruff found problems:\n{result.stdout}{result.stderr}"
