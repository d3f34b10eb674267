"""`teamcal subscription ...`: the main flow in a subprocess, the rest through kernel.cli.main in-process."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.cli import main
from kernel.host import Host
from kernel.testing import add_user, make_host

from .conftest import KERNEL, SETTINGS
from .peers import Peer, event

SECRET = "alice-pw"


def teamcal(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """Run the CLI in a subprocess with this plugins.toml."""
    return subprocess.run(
        [sys.executable, "-m", "kernel.cli", "--config", str(config), *args],
        input=stdin, capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A deployment with the plugin enabled and a user alice."""
    table = "[caldav_subscription]\n" + "".join(f"{k} = {v}\n" for k, v in SETTINGS.items())
    host = make_host(tmp_path, ["caldav_subscription"], table, kernel=KERNEL)
    add_user(host, "alice")
    host.close()
    return tmp_path / "plugins.toml"


def test_main_flow_in_a_subprocess(config: Path, radicale: Peer) -> None:
    cal = radicale.new_calendar("cli")
    for i in range(3):
        cal.put(f"e{i}.ics", event(f"u{i}", f"event {i}"))
    outputs: list[str] = []

    def ok(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        result = teamcal(config, *args, stdin=stdin)
        outputs.append(result.stdout + result.stderr)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    found = ok("subscription", "discover", radicale.url, "--username", "alice", "--password-stdin", stdin=SECRET + "\n")
    assert cal.url in found.stdout
    added = ok(
        "subscription", "add", "--calendar", "alice/mirror", "--url", cal.url, "--username", "alice",
        "--password-stdin", "--mode", "two-way", "--interval", "5m", stdin=SECRET + "\n",
    )
    assert added.stdout.strip() == "1"
    synced = ok("subscription", "sync", "1")
    assert "pulled 3, pushed 0, deleted 0, conflicts 0, skipped 0" in synced.stdout
    assert "pulled 3/3" in synced.stderr
    assert ok("subscription", "list").stdout.startswith("1\talice/mirror\ttwo-way\tcaldav\tok\t")
    shown = ok("subscription", "show", "1").stdout
    assert "mode: two-way" in shown and "interval: 300.0" in shown and "state: ok" in shown
    assert "sync_method: sync-collection" in shown and "credentials: True" in shown
    assert not any(SECRET in text for text in outputs)


def run(config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str,
        stdin: str = "") -> tuple[int, str, str]:
    """kernel.cli.main in-process; returns (status, stdout, stderr)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["--config", str(config), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_other_actions_and_errors(
    config: Path, radicale: Peer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cal = radicale.new_calendar("cli")
    cal.put("a.ics", event("a", "A"))
    def cli(*a, stdin=""):
        return run(config, capsys, monkeypatch, *a, stdin=stdin)
    code, out, _ = cli("subscription", "add", "--calendar", "alice/mirror", "--url", cal.url,
                       "--username", "alice", "--password-stdin", stdin=SECRET + "\n")
    assert code == 0 and out.strip() == "1"
    assert cli("subscription", "pause", "1")[:2] == (0, "subscription 1 paused\n")
    assert "\tpaused\t" in cli("subscription", "list")[1]
    assert cli("subscription", "sync", "--all") == (0, "", "")  # paused ones are left out
    assert cli("subscription", "resume", "1")[0] == 0
    code, out, _ = cli("subscription", "sync", "--all")
    assert code == 0 and "pulled 1," in out

    assert cli("subscription", "show", "42")[0:3:2] == (1, "teamcal: No subscription 42.\n")
    code, _, err = cli("subscription", "add", "--calendar", "alice/x", "--url", "ftp://example.org/")
    assert code == 1 and "only http and https" in err
    code, _, err = cli("subscription", "add", "--calendar", "alice/x", "--url", cal.url, "--password-stdin", stdin="x\n")
    assert code == 1 and "--password-stdin needs --username" in err
    code, _, err = cli("subscription", "sync")
    assert code == 1 and "id or --all" in err
    with pytest.raises(SystemExit) as exited:
        cli("subscription", "add", "--calendar", "alice/x", "--url", cal.url, "--mode", "both")
    assert exited.value.code == 2
    capsys.readouterr()

    # A failing remote: the summary says so and the exit status is 1.
    radicale_url = cal.url
    code, _, _ = cli("subscription", "add", "--calendar", "alice/dead", "--url", radicale_url,
                     "--username", "alice", "--password-stdin", stdin=SECRET + "\n")
    assert code == 0
    probe = Host.from_config(config, migrate=False)  # the remote goes away
    with probe.store.transaction():
        probe.store.execute("UPDATE caldav_subscription_subscriptions SET url = 'http://127.0.0.1:9/nothing/' WHERE id = 2")
    probe.close()
    code, out, _ = cli("subscription", "sync", "2")
    assert code == 1 and "FAILED" in out

    code, out, _ = cli("subscription", "remove", "1")
    assert code == 0 and "alice/mirror is an ordinary calendar now" in out
    assert "1" not in [line.split("\t")[0] for line in cli("subscription", "list")[1].splitlines()]
