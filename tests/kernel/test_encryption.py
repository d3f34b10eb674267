"""Secrets plugins store: host.secrets, register_secret_columns, sealing old plaintext, key rotation."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kernel import Column, Migrations, Migrator, SecretColumn, Table, hookimpl
from kernel.cli import _build_parser
from kernel.encryption import MissingKey, SecretBox, UnreadableSecret, generate_key
from kernel.host import Host
from kernel.testing import assert_config_error, make_host


class Vault:
    """A plugin keeping tokens in a table of its own, declared as secret."""

    @hookimpl
    def register_migrations(self, host: Host) -> Migrations:
        migrations = Migrations("vault")

        @migrations()
        def m001(m: Migrator) -> None:
            m.create_table(Table(
                "vault_items", (Column("id", "int", primary_key=True, generated=True), Column("token", "text", null=True))
            ))

        return migrations

    @hookimpl
    def register_secret_columns(self) -> list[SecretColumn]:
        return [SecretColumn("vault_items", "id", "token")]


def vault_host(directory: Path, keys: str | None) -> Host:
    kernel = "" if keys is None else f'secret_key = "{keys}"'
    return make_host(directory, plugins=[("vault", Vault())], kernel=kernel)


def tokens(host: Host) -> list[str]:
    return [r[0] for r in host.store.execute("SELECT token FROM vault_items ORDER BY id")]


def file_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.glob("teamcal.sqlite3*")))


def cli(host: Host, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """A `teamcal` command run on ``host`` (whose plugins include the in-process Vault)."""
    parser, commands = _build_parser(host)
    parsed = parser.parse_args(list(args))
    code = commands.runners[parsed.command](host, parsed)
    out = capsys.readouterr()
    return int(code or 0), out.out + out.err


def test_hook_register_secret_columns_seal_rotate_and_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, teamcal_backend: str
) -> None:
    on_file = teamcal_backend == "sqlite"  # the raw bytes can be read on SQLite only
    old_key, new_key = generate_key(), generate_key()
    host = vault_host(tmp_path, None)
    assert host.secret_columns() == [SecretColumn("vault_items", "id", "token")]
    with pytest.raises(MissingKey, match=r"\[kernel\] secret_key: not set"):
        host.secrets.encrypt("x")
    with host.store.transaction():
        host.store.execute("INSERT INTO vault_items (token) VALUES ('tok-plain-1')")
    assert host.secrets.decrypt("tok-plain-1") == "tok-plain-1"  # plaintext from before a key passes through
    host.close()
    assert not on_file or b"tok-plain-1" in file_bytes(tmp_path)

    with caplog.at_level(logging.WARNING, logger="teamcal"):
        host = vault_host(tmp_path, old_key)  # start with a key: old plaintext is encrypted
    assert "encrypted 1 stored secrets" in caplog.text
    [sealed] = tokens(host)
    assert sealed.startswith("fernet:") and host.secrets.decrypt(sealed) == "tok-plain-1"
    assert not on_file or b"tok-plain-1" not in file_bytes(tmp_path)
    with host.store.transaction():
        host.store.execute("INSERT INTO vault_items (token) VALUES (?)", (host.secrets.encrypt("tok-2"),))
    host.close()

    host = vault_host(tmp_path, f"{new_key} {old_key}")
    assert cli(host, capsys, "secrets", "status") == (
        0, "under the first key: 0\nunder an older key: 2\nplaintext: 0\nunreadable: 0\n")
    assert cli(host, capsys, "secrets", "rotate") == (
        0, "teamcal: 2 stored secrets re-encrypted under the first key of [kernel] secret_key\n")
    assert cli(host, capsys, "secrets", "status")[1].startswith("under the first key: 2\n")
    host.close()

    host = vault_host(tmp_path, new_key)  # the old key can go
    assert [host.secrets.decrypt(t) for t in tokens(host)] == ["tok-plain-1", "tok-2"]
    host.close()

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="teamcal"):
        host = vault_host(tmp_path, old_key)  # the wrong key: nothing readable, nothing destroyed
    assert "2 stored secrets cannot be decrypted" in caplog.text
    before = tokens(host)
    with pytest.raises(UnreadableSecret, match="not in \\[kernel\\] secret_key"):
        host.secrets.decrypt(before[0])
    code, out = cli(host, capsys, "secrets", "rotate")
    assert code == 1 and "nothing rotated" in out and tokens(host) == before
    assert cli(host, capsys, "secrets", "status") == (
        1, "under the first key: 0\nunder an older key: 0\nplaintext: 0\nunreadable: 2\n")
    host.close()


def test_the_secret_key_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = generate_key()
    monkeypatch.setenv("TEAMCAL_TEST_SECRET_KEY", key)
    for folder in ("env", "file", "bad", "generate", "generated"):
        (tmp_path / folder).mkdir()
    host = make_host(tmp_path / "env", kernel='secret_key = {env = "TEAMCAL_TEST_SECRET_KEY"}')
    assert host.secrets.available and key not in repr(host.kernel)
    assert host.secrets.decrypt(host.secrets.encrypt("s")) == "s" and host.secrets.encrypt("s") != "s"
    host.close()
    (tmp_path / "file" / "keys").write_text(f"{generate_key()}\n{key}\n")
    host = make_host(tmp_path / "file", kernel='secret_key = {file = "keys"}')
    assert host.secrets.decrypt(encrypted_with(key, "t")) == "t"  # an older key still decrypts
    host.close()
    assert_config_error("[kernel] secret_key: key 2 is not a Fernet key", settings={"kernel": {"secret_key": f"{key}, not-a-key"}})
    host = make_host(tmp_path / "generate")
    code, out = cli(host, capsys, "secrets", "generate-key")
    host.close()
    new = out.strip()
    assert code == 0 and new != key
    make_host(tmp_path / "generated", kernel=f'secret_key = "{new}"').close()


def encrypted_with(key: str, value: str) -> str:
    """``value`` encrypted by a server whose only key is ``key``."""
    return SecretBox(key, "plugins.toml").encrypt(value)
