"""The CLI parses its arguments before it builds a host: help without a config, disabled plugins'
commands, secrets read only where they are used, TLS files, the address links point to, password prompts."""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata as metadata
import ipaddress
import os
import select
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kernel.cli import Commands
from kernel.passwords import verify_password
from kernel.plugins import available_plugins, new_manager
from kernel.testing import LiveServer, add_user, event_object, free_port, make_host, write_config

from .test_config import run_cli

UNSET = "TEAMCAL_TEST_UNSET_PULL_TOKEN"


def one_line(result: subprocess.CompletedProcess) -> str:
    """The single stderr line of a refused command (asserting there is exactly one, and no traceback)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_help_and_version_need_no_config(tmp_path: Path) -> None:
    helped = run_cli("--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: teamcal") and "plugins" in helped.stdout and "serve" in helped.stdout
    version = run_cli("--version", cwd=tmp_path)
    assert (version.returncode, version.stdout) == (0, f"teamcal {metadata.version('teamcal')}\n")
    assert run_cli("user", "--help", cwd=tmp_path).returncode == 0
    listed = run_cli("user", "list", cwd=tmp_path)
    assert listed.returncode == 2
    missing = f"{tmp_path / 'plugins.toml'}: file not found (teamcal --config PATH, or TEAMCAL_CONFIG)"
    assert one_line(listed) == f"teamcal: {missing}"


def test_a_disabled_plugins_command_says_which_plugin_to_enable(tmp_path: Path) -> None:
    path = write_config(tmp_path, ["limits"])
    refused = run_cli("subscription", "list", cwd=tmp_path)
    assert refused.returncode == 2
    assert one_line(refused) == (
        f"teamcal: subscription is a command of the plugin caldav_subscription, which is not enabled in {path}:"
        " enable it with `teamcal plugins enable caldav_subscription`"
    )
    assert run_cli("limits", "--help", cwd=tmp_path).returncode == 0, "an enabled plugin's command runs"
    assert "invalid choice: 'nonsense'" in run_cli("nonsense", cwd=tmp_path).stderr
    assert run_cli("plugins", "enable", "caldav_subscription", cwd=tmp_path).returncode == 0
    assert run_cli("subscription", "--help", cwd=tmp_path).returncode == 0


def test_a_plugin_uninstalled_while_enabled_can_be_disabled(tmp_path: Path) -> None:
    write_config(tmp_path, ["limits", "gone"])
    refused = run_cli("user", "list", cwd=tmp_path)
    assert refused.returncode == 2 and "unknown plugin 'gone'" in one_line(refused)
    disabled = run_cli("plugins", "disable", "gone", cwd=tmp_path)
    assert (disabled.returncode, disabled.stdout) == (0, "gone: disabled in plugins.toml\n"), disabled.stderr
    assert run_cli("user", "list", cwd=tmp_path).returncode == 0
    assert "unknown plugin 'gone'" in run_cli("plugins", "enable", "gone", cwd=tmp_path).stderr


def test_builtin_plugins_declare_the_commands_they_add() -> None:
    """COMMANDS (read without importing) names exactly what register_commands adds."""
    builtins = [info for info in available_plugins().values() if info.module.startswith("plugins.")]
    assert len(builtins) == 6  # the five of the seed and web
    for info in builtins:
        pm = new_manager()
        pm.register(info.entry_point.load(), info.name)
        cli = Commands(argparse.ArgumentParser().add_subparsers())
        pm.hook.register_commands(cli=cli)
        assert info.commands == tuple(cli.runners), info.name


def test_an_unset_secret_stops_only_what_uses_its_plugin(tmp_path: Path) -> None:
    write_config(tmp_path, ["atlassian_export"], f'[atlassian_export]\npull_token = {{env = "{UNSET}"}}\n')
    env = {k: v for k, v in os.environ.items() if k != UNSET}
    added = run_cli("user", "add", "alice", "--password-stdin", cwd=tmp_path, stdin="long-enough\n", env=env)
    assert added.returncode == 0, added.stderr
    assert run_cli("user", "list", cwd=tmp_path).stdout.startswith("alice")
    expected = (
        f"teamcal: {tmp_path / 'plugins.toml'}: [atlassian_export] pull_token: environment variable {UNSET} is not set"
    )
    for command in (["check"], ["serve"], ["export", "atlassian", "status"]):
        result = run_cli(*command, cwd=tmp_path)
        assert result.returncode == 2 and one_line(result) == expected, command
    assert run_cli("check", cwd=tmp_path, env={UNSET: "token"}).returncode == 0


def make_certificate(directory: Path, name: str) -> None:
    """A self-signed certificate for 127.0.0.1 and its key: ``name``.pem and ``name``.key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / f"{name}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


@pytest.mark.parametrize(
    "lines, expected",
    [
        ('tls_certificate = "certs/missing.pem"\ntls_key = "certs/a.key"\n',
         "[kernel] tls_certificate: cannot read {etc}/certs/missing.pem: No such file or directory"),
        ('tls_certificate = "certs/a.pem"\n',
         "[kernel] tls_key: must be set too (tls_certificate and tls_key go together)"),
        ('tls_certificate = "certs/a.pem"\ntls_key = "certs/b.key"\n',
         "[kernel] tls_certificate: {etc}/certs/a.pem and {etc}/certs/b.key are not a PEM certificate and its key"),
    ],
)
def test_check_and_serve_refuse_unusable_tls_files(tmp_path: Path, lines: str, expected: str) -> None:
    etc = tmp_path / "etc"
    make_certificate(etc / "certs", "a")
    make_certificate(etc / "certs", "b")
    path = write_config(etc, kernel=lines)
    for command in ("check", "serve"):
        result = run_cli("--config", str(path), command, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert one_line(result).startswith(f"teamcal: {path}: {expected.format(etc=etc)}"), command


def serve(cwd: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """`teamcal serve ARGS` in a subprocess, once it says where it serves (the process and that line)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kernel.cli", *args, "serve"], cwd=cwd, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "serving" in line or not line:
            return proc, line
    raise AssertionError("serve said nothing in 30 s")


def stop(proc: subprocess.Popen) -> None:
    """Stop a `teamcal serve` subprocess."""
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=20)


def wait_answer(url: str, **kw: object) -> httpx.Response:
    """The first answer of ``url`` once the server accepts connections (within 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return httpx.get(url, timeout=5, **kw)  # type: ignore[arg-type]
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_tls_files_are_relative_to_the_config_and_served(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    make_certificate(etc / "certs", "server")
    port = free_port()
    path = write_config(etc, port=port, kernel='tls_certificate = "certs/server.pem"\ntls_key = "certs/server.key"\n')
    assert run_cli("--config", str(path), "check", cwd=tmp_path).returncode == 0
    proc, line = serve(tmp_path, "--config", str(path))
    try:
        assert f"serving https://127.0.0.1:{port}/" in line, line
        trusting = ssl.create_default_context(cafile=etc / "certs" / "server.pem")
        assert wait_answer(f"https://127.0.0.1:{port}/", verify=trusting).status_code == 404
    finally:
        stop(proc)


def test_links_follow_the_port_serve_listens_on(tmp_path: Path) -> None:
    """`serve --port` (not [kernel] port) is in the URLs the server hands out: the export's object urls."""
    listening = free_port()
    seed = make_host(tmp_path, ["atlassian_export"])  # [kernel] port = 5232
    root = add_user(seed, "root", admin=True)
    work = seed.writes.create_collection(root, "work", "calendar", principal=root)
    seed.writes.put_object(work, "e1.ics", event_object("e1", "20300102T100000Z", "20300102T110000Z"), principal=root)
    seed.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kernel.cli", "serve", "--port", str(listening)], cwd=tmp_path,
        stderr=subprocess.DEVNULL,
    )
    try:
        pulled = wait_answer(f"http://127.0.0.1:{listening}/api/atlassian/objects", auth=("root", "password"))
        assert pulled.status_code == 200, pulled.text
        urls = [o["url"] for r in pulled.json()["requests"] for o in r["objects"]]
        assert urls == [f"http://127.0.0.1:{listening}/dav/cal/root/work/e1.ics"]
    finally:
        stop(proc)


def test_a_live_servers_links_point_at_it(tmp_path: Path) -> None:
    host = make_host(tmp_path, ["atlassian_export"])
    root = add_user(host, "root", admin=True)
    work = host.writes.create_collection(root, "work", "calendar", principal=root)
    host.writes.put_object(work, "e1.ics", event_object("e1", "20300102T100000Z", "20300102T110000Z"), principal=root)
    with LiveServer(host) as server, server.client("root") as client:
        pulled = client.get("/api/atlassian/objects")
        assert pulled.status_code == 200, pulled.text
        urls = [o["url"] for r in pulled.json()["requests"] for o in r["objects"]]
        assert urls == [f"{server.url}/dav/cal/root/work/e1.ics"]
    host.close()


def converse(args: list[str], cwd: Path, answers: list[tuple[bytes, bytes]]) -> tuple[int, str]:
    """Run `teamcal ARGS` on a fresh terminal (a pty, its only one), answering each prompt.

    Returns the exit status and everything the terminal showed.
    """
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kernel.cli", *args], cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    deadline = time.monotonic() + 60

    def read() -> bytes:
        ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, "no answer from teamcal within 60 s"
        try:
            return os.read(master, 4096)
        except OSError:  # EIO: the other side is closed
            return b""

    shown = b""
    try:
        for prompt, answer in answers:
            start = len(shown)
            while prompt not in shown[start:]:
                chunk = read()
                assert chunk, shown
                shown += chunk
            os.write(master, answer)
        while chunk := read():
            shown += chunk
        return proc.wait(timeout=30), shown.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_user_add_asks_for_the_password_on_a_terminal(tmp_path: Path) -> None:
    write_config(tmp_path)
    status, shown = converse(
        ["user", "add", "dora"], tmp_path,
        [(b"Password for dora: ", b"long-enough-1\n"), (b"Again: ", b"long-enough-1\n")],
    )
    assert status == 0 and "user dora created" in shown, shown
    assert "long-enough-1" not in shown, "the password is not echoed"
    status, shown = converse(
        ["user", "passwd", "dora"], tmp_path,
        [(b"Password for dora: ", b"other-pass-1\n"), (b"Again: ", b"other-pass-2\n")],
    )
    assert status == 1 and "teamcal: The passwords differ." in shown, shown
    host = make_host(tmp_path)
    assert verify_password("long-enough-1", host.store.password_hash(host.store.principal("dora").id))
    host.close()


def test_user_add_without_a_terminal_or_stdin_password_is_refused(tmp_path: Path) -> None:
    write_config(tmp_path)
    refused = run_cli("user", "add", "erin", cwd=tmp_path, stdin="long-enough\n")
    assert refused.returncode == 1
    assert one_line(refused) == (
        "teamcal: No terminal to ask for the password on: give it on standard input with --password-stdin."
    )
    assert "erin" not in run_cli("user", "list", cwd=tmp_path).stdout
