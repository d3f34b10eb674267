"""plugins.toml validation: one clear line, exit status 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kernel import ByteSize, Duration
from kernel.config import ConfigError, KernelSettings, read_config, validate


def run_cli(*args: str, cwd: Path, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `teamcal ARGS` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "kernel.cli", *args], cwd=cwd, input=stdin, capture_output=True, text=True,
        timeout=60, env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    "toml, expected",
    [
        ('enabled = ["no_such_plugin"]\n', 'enabled: unknown plugin \'no_such_plugin\' (installed: '),
        ('enabled = []\n[kernel]\nprot = 5\n', "[kernel] prot: unknown key"),
        ('enabled = []\n[kernel]\nport = "high"\n', "[kernel] port: must be an integer, got 'high'"),
        ('enabled = []\n[kernel]\nmax_body_size = "lots"\n', "[kernel] max_body_size: expected a size"),
        ('enabled = []\n[kernel]\nteam_member_privilege = "god"\n', "[kernel] team_member_privilege: must be one of"),
        ('enabled = []\n[kernel]\nbase_url = {env = "TEAMCAL_TEST_UNSET"}\n', "environment variable TEAMCAL_TEST_UNSET"),
        ('enabled = []\n[nonsense]\nx = 1\n', "[nonsense]: unknown table"),
        ('enabled = "caldav_server"\n', "enabled: must be a list"),
        ("enabled = [\n", "not valid TOML"),
    ],
)
def test_bad_config_exits_2_with_one_line(tmp_path: Path, toml: str, expected: str) -> None:
    (tmp_path / "bad.toml").write_text(toml)
    result = run_cli("--config", "bad.toml", "check", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert str(tmp_path / "bad.toml") in lines[0] and expected in lines[0], lines[0]


def test_missing_config_file(tmp_path: Path) -> None:
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 2 and "plugins.toml: file not found" in result.stderr


def test_config_from_environment_and_relative_database(tmp_path: Path) -> None:
    conf = tmp_path / "etc" / "teamcal.toml"
    conf.parent.mkdir()
    conf.write_text('enabled = []\n[kernel]\ndatabase = "data/cal.sqlite3"\n')
    result = run_cli("user", "list", cwd=tmp_path, env={"TEAMCAL_CONFIG": str(conf)})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "etc" / "data" / "cal.sqlite3").exists()


def test_secrets_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "url.txt").write_text("https://cal.example.org\n")
    monkeypatch.setenv("TC_HOST", "0.0.0.0")
    path = tmp_path / "plugins.toml"
    path.write_text('enabled = []\n[kernel]\nhost = {env = "TC_HOST"}\nbase_url = {file = "url.txt"}\n')
    config = read_config(path)
    settings = validate(KernelSettings, config.tables["kernel"], path, "kernel")
    assert settings.host == "0.0.0.0" and settings.base_url == "https://cal.example.org"


@dataclass
class Override:
    max_attendees: int | None = None


@dataclass
class NestedSettings:
    size: ByteSize = field(default=ByteSize(1))
    every: Duration = field(default=Duration(60))
    names: list[str] = field(default_factory=list)
    accounts: dict[str, Override] = field(default_factory=dict)


def test_nested_tables_and_units(tmp_path: Path) -> None:
    p = tmp_path / "x.toml"
    s = validate(
        NestedSettings,
        {"size": "512kb", "every": "15m", "names": ["a"], "accounts": {"bob": {"max_attendees": 3}}},
        p,
        "limits",
    )
    assert s.size == 512 * 1024 and s.every == 900 and s.accounts["bob"].max_attendees == 3
    with pytest.raises(ConfigError, match=r"\[limits.accounts.bob\] max_atendees: unknown key"):
        validate(NestedSettings, {"accounts": {"bob": {"max_atendees": 3}}}, p, "limits")
    with pytest.raises(ConfigError, match=r"\[limits\] names: must be a string, got 1"):
        validate(NestedSettings, {"names": [1]}, p, "limits")
