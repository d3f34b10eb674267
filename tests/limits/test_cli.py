"""`teamcal limits set|show|clear` in a subprocess against a temporary plugins.toml."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.cli import main
from kernel.testing import add_group, add_user, make_host


def teamcal(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point (bounded in time)."""
    return subprocess.run(
        [sys.executable, "-m", "kernel.cli", "--config", str(config), *args],
        capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A deployment with limits on, alice in devs, and an account table for alice."""
    host = make_host(tmp_path, ["limits"], "[limits.accounts.alice]\nmax_calendars = 3\n"
                                           "[limits.groups.devs]\nmax_events = 500\n")
    alice = add_user(host, "alice")
    add_group(host, "devs", [alice])
    path = host.config.path
    host.close()
    return path


def in_process(config: Path, *args: str) -> int:
    """Run ``kernel.cli.main`` in this process; argparse's exits become return codes."""
    try:
        return main(["--config", str(config), *args])
    except SystemExit as exc:
        return int(exc.code or 0)


def show(config: Path, account: str) -> dict[str, dict[str, object]]:
    """`teamcal limits show ACCOUNT --json` in a subprocess."""
    result = teamcal(config, "limits", "show", account, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def show_in_process(config: Path, account: str) -> dict[str, dict[str, object]]:
    """`teamcal limits show ACCOUNT --json` in this process (its output read back)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert in_process(config, "limits", "show", account, "--json") == 0
    return json.loads(buffer.getvalue())


def test_set_show_clear(config: Path) -> None:
    before = show(config, "alice")
    assert before["max_calendars"] == {"value": 3, "source": "account (plugins.toml)"}
    assert before["max_events"] == {"value": 500, "source": "group devs (plugins.toml)"}
    assert before["max_attendees"] == {"value": 20, "source": "default"}

    result = teamcal(config, "limits", "set", "alice", "--max-icalendar-size", "1mb", "--max-events", "7",
                     "--max-calendars", "4")
    assert result.returncode == 0, result.stderr
    table = teamcal(config, "limits", "show", "alice")
    assert table.returncode == 0
    lines = {line.split()[0]: line for line in table.stdout.splitlines()[1:]}
    assert "1048576 (1mb)" in lines["max_icalendar_size"] and "account override (db)" in lines["max_icalendar_size"]
    assert lines["max_events"].split()[1:] == ["7", "account", "override", "(db)"]
    assert lines["max_attendees"].split()[1:] == ["20", "default"]

    assert teamcal(config, "limits", "clear", "alice", "max-events").returncode == 0
    after = show_in_process(config, "alice")
    assert after["max_events"] == {"value": 500, "source": "group devs (plugins.toml)"}
    assert after["max_calendars"] == {"value": 4, "source": "account override (db)"}
    cleared = teamcal(config, "limits", "clear", "alice")
    assert cleared.returncode == 0 and "2 stored overrides removed" in cleared.stdout
    assert show_in_process(config, "alice") == before


def test_group_overrides_reach_members(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert in_process(config, "limits", "set", "devs", "--max-attendees", "40") == 0
    assert capsys.readouterr().out == "devs: max_attendees = 40\n"
    assert in_process(config, "limits", "show", "alice", "--json") == 0
    assert json.loads(capsys.readouterr().out)["max_attendees"] == {"value": 40, "source": "group devs (db)"}


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["set", "alice", "--max-attendees", "0"], 2, "must be at least 1, got 0"),
        (["set", "alice", "--max-events", "many"], 2, "invalid literal"),
        (["set", "alice", "--max-icalendar-size", "huge"], 2, "expected a size such as 512kb"),
        (["set", "alice"], 2, "give at least one of --max-icalendar-size"),
        (["show", "nobody"], 1, "teamcal: No user or group named 'nobody'."),
        (["clear", "alice", "max_pizzas"], 2, "unknown limit 'max_pizzas'"),
    ],
)
def test_bad_input(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], status: int, message: str
) -> None:
    """Refused with a one-line reason and nothing stored (in-process: the same entry point, faster)."""
    assert in_process(config, "limits", *args) == status
    assert message in capsys.readouterr().err
    assert in_process(config, "limits", "show", "alice", "--json") == 0
    assert json.loads(capsys.readouterr().out)["max_attendees"]["source"] == "default"


def test_command_absent_when_plugin_disabled(tmp_path: Path) -> None:
    """While the plugin is off, its command only says how to switch it on."""
    make_host(tmp_path, []).close()
    result = teamcal(tmp_path / "plugins.toml", "limits", "show", "alice")
    assert result.returncode == 2 and result.stderr == (
        f"teamcal: limits is a command of the plugin limits, which is not enabled in {tmp_path / 'plugins.toml'}:"
        " enable it with `teamcal plugins enable limits`\n"
    )
