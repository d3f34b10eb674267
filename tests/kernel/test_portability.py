"""Plugins speak only the portable storage API: no SQLite module, no SQLite-only SQL.

The suite runs every store-facing test on SQLite and on PostgreSQL too; this test
catches what the tests might not reach (a rarely taken branch), by reading the code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
SOURCES = sorted([*(ROOT / "plugins").rglob("*.py"), *(ROOT / "examples").rglob("*.py")])
SOURCES = [p for p in SOURCES if "build" not in p.parts]

#: Modules that tie a plugin to one database.
FORBIDDEN_MODULES = ("sqlite3", "sqlite_utils", "psycopg", "psycopg_pool")
#: SQL that runs on SQLite only (or on PostgreSQL only), with the portable spelling.
NOT_PORTABLE = {
    r"\bINSERT\s+OR\s+(REPLACE|IGNORE|ABORT|FAIL|ROLLBACK)\b": "INSERT ... ON CONFLICT (...) DO UPDATE / DO NOTHING",
    r"\bREPLACE\s+INTO\b": "INSERT ... ON CONFLICT (...) DO UPDATE",
    r"\bAUTOINCREMENT\b": "Column(..., generated=True)",
    r"\bINDEXED\s+BY\b": "no hint (or a backend-specific kernel query)",
    r"\bPRAGMA\b": "nothing: the kernel configures the database",
    r"\b(instr|ifnull|julianday|strftime|printf|group_concat)\s*\(": "a function both databases have (coalesce, ...)",
    r"\bGLOB\b": "LIKE",
    r"\bCREATE\s+(TABLE|INDEX|TRIGGER|VIEW)\b": "kernel.Migrations with Table / Index",
    r"::\w": "CAST(x AS type)",
    r"\bSERIAL\b|\bILIKE\b|\bRETURNING\s+\*": "the portable subset (docs/plugins.md, Storage)",
}


def sql_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants (f-string parts too) that look like SQL, with their line."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if re.search(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|REPLACE|PRAGMA)\b", text):
                found.append((node.lineno, text))
    return found


def problems_of(tree: ast.AST) -> list[str]:
    """What in a module ties it to one database."""
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = []
        problems += [f"line {node.lineno}: imports {n}" for n in names if n.split(".")[0] in FORBIDDEN_MODULES]
        if isinstance(node, ast.Attribute):
            base = getattr(node.value, "attr", None) or getattr(node.value, "id", None)
            if node.attr == "lastrowid" or (node.attr in ("conn", "db") and base in ("store", "tx")):
                problems.append(f"line {node.lineno}: uses .{node.attr} (use store.execute and RETURNING)")
    for line, text in sql_strings(tree):
        for pattern, instead in NOT_PORTABLE.items():
            if re.search(pattern, text, re.IGNORECASE):
                problems.append(f"line {line}: {text.strip()[:60]!r} is not portable; use {instead}")
    return problems


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugin_code_uses_only_the_portable_storage_api(path: Path) -> None:
    problems = problems_of(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    assert not problems, "\n".join(problems)


def test_the_lint_sees_what_it_forbids() -> None:
    bad = ast.parse(
        "import sqlite3\n"
        "def f(store):\n"
        "    store.conn.execute('INSERT OR REPLACE INTO t VALUES (1)')\n"
        "    return store.execute('SELECT x::int FROM t').lastrowid\n"
    )
    found = " / ".join(problems_of(bad))
    for expected in ("line 1: imports sqlite3", "line 3: uses .conn", "line 4: uses .lastrowid",
                     "line 3: 'INSERT OR REPLACE", "line 4: 'SELECT x::int"):
        assert expected in found, found
