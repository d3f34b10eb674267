"""The kernel's CLI: users, groups, calendars, grants, and serve's first run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from kernel.testing import free_port, write_config

from .test_config import run_cli


def test_users_groups_calendars_grants(tmp_path: Path) -> None:
    write_config(tmp_path)
    ok = lambda *a, stdin="": run_cli(*a, cwd=tmp_path, stdin=stdin)  # noqa: E731
    assert ok("user", "add", "alice", "--password-stdin", "--email", "alice@example.org", stdin="pw-alice-1\n").returncode == 0
    assert ok("user", "add", "bob", "--password-stdin", stdin="pw-bob-12\n").returncode == 0
    dup = ok("user", "add", "alice", "--password-stdin", stdin="pw-alice-1\n")
    assert dup.returncode == 1 and "already exists" in dup.stderr
    short = ok("user", "add", "carol", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 8" in short.stderr
    bad = ok("user", "add", "../evil", "--password-stdin", stdin="long-enough\n")
    assert bad.returncode == 1 and "not a valid name" in bad.stderr
    listing = ok("user", "list").stdout
    assert "alice\talice\talice@example.org" in listing and "bob" in listing
    assert ok("group", "add", "team").returncode == 0
    assert ok("group", "add-member", "team", "bob").returncode == 0
    assert "team\tbob" in ok("group", "list").stdout
    assert ok("calendar", "add", "team/planning", "--display-name", "Planning").returncode == 0
    assert "team/planning\tcalendar\tPlanning\t0 objects" in ok("calendar", "list", "team").stdout
    assert ok("grant", "add", "team/planning", "alice", "read").returncode == 0
    assert ok("grant", "add", "team/planning", "everyone", "read").returncode == 0
    assert ok("grant", "list", "team/planning").stdout.split("\n")[:2] == ["everyone\tread", "alice\tread"]
    missing = ok("grant", "add", "team/nothing", "alice", "read")
    assert missing.returncode == 1 and "No calendar 'team/nothing'" in missing.stderr
    assert ok("grant", "remove", "team/planning", "alice").returncode == 0
    assert ok("user", "passwd", "bob", "--password-stdin", stdin="new-pass-99\n").returncode == 0
    assert ok("calendar", "remove", "team/planning").returncode == 0
    assert ok("user", "remove", "bob").returncode == 0
    assert "bob" not in ok("user", "list").stdout


def test_server_admin_role(tmp_path: Path) -> None:
    """user add-admin and remove-admin set the role ``user list`` shows (the function the web console uses)."""
    write_config(tmp_path)
    ok = lambda *a, stdin="": run_cli(*a, cwd=tmp_path, stdin=stdin)  # noqa: E731
    assert ok("user", "add", "dana", "--password-stdin", stdin="long-enough\n").returncode == 0
    assert not ok("user", "list").stdout.strip().endswith("admin")
    made = ok("user", "add-admin", "dana")
    assert made.returncode == 0 and "dana is now a server admin" in made.stdout
    assert ok("user", "list").stdout.strip().endswith("\tadmin")
    assert ok("user", "remove-admin", "dana").returncode == 0
    assert not ok("user", "list").stdout.strip().endswith("admin")
    missing = ok("user", "add-admin", "nobody")
    assert missing.returncode == 1 and "No user named 'nobody'" in missing.stderr


def test_group_admins(tmp_path: Path) -> None:
    """add-member --admin, add-admin and remove-admin set the role the kernel checks; list marks admins."""
    write_config(tmp_path)
    ok = lambda *a, stdin="": run_cli(*a, cwd=tmp_path, stdin=stdin)  # noqa: E731
    for name in ("alice", "bob", "carol"):
        assert ok("user", "add", name, "--password-stdin", stdin="long-enough\n").returncode == 0
    assert ok("group", "add", "team").returncode == 0
    added = ok("group", "add-member", "team", "alice", "--admin")
    assert added.returncode == 0 and "alice added as an admin to team" in added.stdout
    assert ok("group", "add-member", "team", "bob").returncode == 0
    assert ok("group", "add-member", "team", "alice").returncode == 0, "adding again keeps the role"
    assert "team\talice (admin), bob" in ok("group", "list").stdout
    assert ok("group", "add-admin", "team", "bob").returncode == 0
    assert ok("group", "remove-admin", "team", "alice").returncode == 0
    assert "team\talice, bob (admin)" in ok("group", "list").stdout
    outsider = ok("group", "add-admin", "team", "carol")
    assert outsider.returncode == 1 and "Not a direct member" in outsider.stderr
    assert "carol" not in ok("group", "list").stdout
    from kernel.host import Host

    host = Host.from_config(tmp_path / "plugins.toml")
    team, alice, bob = (host.store.principal(n) for n in ("team", "alice", "bob"))
    planning = host.writes.create_collection(team, "planning", "calendar", principal=bob)
    assert host.privileges(bob, planning) == {"read", "write", "admin"}
    assert host.privileges(alice, planning) == {"read", "write"}
    host.close()


def test_serve_first_run_creates_admin_and_answers(tmp_path: Path) -> None:
    port = free_port()
    write_config(tmp_path, port=port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kernel.cli", "serve"], cwd=tmp_path, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if "serving" in line or not line:
                break
        text = "".join(lines)
        assert "created user 'admin' with password" in text, text
        password = text.split("with password ", 1)[1].split()[0]
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 404
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    check = run_cli("user", "list", cwd=tmp_path)
    assert check.stdout.startswith("admin\tadmin") and "admin" in check.stdout
    from kernel.passwords import verify_password
    from kernel.host import Host

    host = Host.from_config(tmp_path / "plugins.toml")
    assert verify_password(password, host.store.password_hash(host.store.principal("admin").id))
    host.close()
