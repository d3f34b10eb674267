"""What runs, for admins and plugin authors: GET /api/plugins and `teamcal plugins list --json` agree,
TEAMCAL_TRACE_HOOKS logs each hook call, `teamcal plugin new` writes a package that passes its own tests."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kernel import hookimpl
from kernel.introspection import MASK
from kernel.testing import LiveServer, add_user, event_object, make_host, write_config

from .test_config import run_cli

ROOT = Path(__file__).resolve().parents[2]
PULL = "TEAMCAL_TEST_INTROSPECTION_PULL"


def test_api_plugins_and_the_cli_listing_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PULL, "pulled-from-env")
    host = make_host(
        tmp_path, ["limits", "atlassian_export"],
        f'[limits]\nmax_attendees = 7\n[atlassian_export]\ntoken = "inline-secret"\npull_token = {{env = "{PULL}"}}\n',
    )
    add_user(host, "root", admin=True)
    add_user(host, "bob")
    with LiveServer(host) as server:
        with server.client() as anonymous:
            assert anonymous.get("/api/plugins").status_code == 401
        with server.client("bob") as bob:
            assert bob.get("/api/plugins").status_code == 403
        with server.client("root") as root:
            answer = root.get("/api/plugins")
    host.close()
    assert answer.status_code == 200, answer.text
    assert "inline-secret" not in answer.text and "pulled-from-env" not in answer.text
    listed = run_cli("plugins", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == answer.json()

    rows = {row["name"]: row for row in answer.json()}
    assert {"atlassian_export", "caldav_server", "caldav_subscription", "default_calendar", "limits"} <= set(rows)
    limits = rows["limits"]
    assert limits["enabled"] and limits["version"] and limits["distribution"] == "teamcal"
    assert {"register_settings", "validate_object", "object_size_limit"} <= set(limits["hooks"])
    attendees = next(s for s in limits["settings"] if s["key"] == "max_attendees")
    assert attendees["value"] == 7 and attendees["table"] == "limits" and attendees["doc"] and not attendees["secret"]
    export = {s["key"]: s for s in rows["atlassian_export"]["settings"]}
    assert export["token"]["value"] == MASK and export["token"]["secret"]
    assert export["pull_token"]["value"] == MASK and export["endpoint"]["value"] == ""
    assert export["window_past_days"]["value"] == 30
    off = rows["caldav_server"]
    assert not off["enabled"] and off["hooks"] == [] and off["settings"] == []


def test_a_value_from_the_environment_is_masked_even_in_a_plain_field(tmp_path: Path) -> None:
    write_config(tmp_path, ["default_calendar"], f'[default_calendar]\ndisplay_name = {{env = "{PULL}"}}\n')
    listed = run_cli("plugins", "list", "--json", cwd=tmp_path, env={PULL: "Top Secret Calendar"})
    assert listed.returncode == 0, listed.stderr
    assert "Top Secret" not in listed.stdout
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "default_calendar")
    shown = next(s for s in row["settings"] if s["key"] == "display_name")
    assert shown["secret"] and shown["value"] == MASK


class Waiter:
    """Awaited at start-up."""

    @hookimpl
    async def startup(self, host):
        """Nothing to do, but asynchronously."""


def test_traced_hooks_are_logged_with_plugin_arguments_and_duration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TEAMCAL_TRACE_HOOKS", "1")
    caplog.set_level(logging.INFO, logger="teamcal.hooks")
    host = make_host(tmp_path, ["limits"], plugins=[("waiter", Waiter())])
    alice = add_user(host, "alice")
    calendar = host.writes.create_collection(alice, "work", "calendar", principal=alice)
    caplog.clear()
    host.writes.put_object(calendar, "e1.ics", event_object("e1"), principal=alice)
    lines = [r.getMessage() for r in caplog.records if r.name == "teamcal.hooks"]
    validate = [line for line in lines if line.startswith("hook validate_object plugin=limits ")]
    assert len(validate) == 1, lines
    assert re.fullmatch(r"hook validate_object plugin=limits \d+\.\d\d ms \(host=<kernel\.host\.Host object at"
                        r" 0x[0-9a-f]+>, tx=.*, write=ObjectWrite\(.*\)\)", validate[0]), validate[0]
    caplog.clear()
    with LiveServer(host):
        pass
    lines = [r.getMessage() for r in caplog.records if r.name == "teamcal.hooks"]
    assert any(re.fullmatch(r"hook startup plugin=waiter \d+\.\d\d ms \(host=.*\)", line) for line in lines), lines
    assert any(re.fullmatch(r"hook startup plugin=waiter awaited \d+\.\d\d ms", line) for line in lines), lines
    host.close()


def test_tracing_from_the_command_line(tmp_path: Path) -> None:
    write_config(tmp_path, ["limits"])
    traced = run_cli("user", "list", cwd=tmp_path, env={"TEAMCAL_TRACE_HOOKS": "1"})
    assert traced.returncode == 0, traced.stderr
    assert re.search(
        r"^teamcal: hook register_migrations plugin=limits \d+\.\d\d ms \(host=<kernel\.host\.Host object at"
        r" 0x[0-9a-f]+>\)$", traced.stderr, re.MULTILINE,
    ), traced.stderr
    assert "hook " not in run_cli("user", "list", cwd=tmp_path, env={"TEAMCAL_TRACE_HOOKS": "0"}).stderr


def test_plugin_new_writes_a_package_that_passes_its_tests_and_installs(tmp_path: Path) -> None:
    made = run_cli("plugin", "new", "house_rules", "--directory", str(tmp_path), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    package = tmp_path / "teamcal-house-rules"
    assert sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file()) == [
        "README.md", "pyproject.toml", "teamcal_house_rules/__init__.py", "tests/test_house_rules.py",
    ]
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=package, capture_output=True, text=True,
        timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert tested.returncode == 0 and "2 passed" in tested.stdout, tested.stdout + tested.stderr

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site),
         str(package)],
        check=True, timeout=300, capture_output=True,
    )
    deployment = tmp_path / "deployment"
    deployment.mkdir()
    write_config(deployment, ["house_rules"], '[house_rules]\nrequired = ["SUMMARY", "LOCATION"]\n')
    env = {"PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    assert run_cli("check", cwd=deployment, env=env).returncode == 0
    listed = run_cli("plugins", "list", "--json", cwd=deployment, env=env)
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "house_rules")
    assert row["enabled"] and row["version"] == "0.1.0" and row["hooks"] == ["register_settings", "validate_object"]
    assert row["settings"][0]["key"] == "required" and row["settings"][0]["value"] == ["SUMMARY", "LOCATION"]


@pytest.mark.parametrize(
    "name, message",
    [
        ("House-Rules",
         "'House-Rules' is not a plugin name: use lower-case letters, digits and _, starting with a letter"),
        ("limits", "a plugin named 'limits' is installed already"),
    ],
)
def test_plugin_new_refuses_a_bad_name(tmp_path: Path, name: str, message: str) -> None:
    refused = run_cli("plugin", "new", name, cwd=tmp_path)
    assert (refused.returncode, refused.stderr) == (2, f"teamcal: plugin new: {message}\n")
    assert list(tmp_path.iterdir()) == []
