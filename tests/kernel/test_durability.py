"""The database on disk: owner-only files, backups under load, restore, backups before migrations, synchronous."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database, Migrations

from kernel import hookimpl
from kernel.cli import main
from kernel.host import Host
from kernel.testing import add_user, event_object, free_port, make_host

# The SQLite file itself: its modes, its synchronous pragma, its online backup. A
# PostgreSQL deployment is backed up with its own tools (test_backup_on_postgresql).
pytestmark = pytest.mark.sqlite_only

DB = "teamcal.sqlite3"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that takes nothing away, so only teamcal's own care makes files private."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_the_database_and_its_wal_and_shm_are_created_owner_only(tmp_path: Path, open_umask: None) -> None:
    host = make_host(tmp_path)
    add_user(host, "alice")  # a write: the -wal and -shm exist while the connection is open
    files = [tmp_path / DB, tmp_path / f"{DB}-wal", tmp_path / f"{DB}-shm"]
    assert all(f.exists() for f in files)
    assert [mode(f) for f in files] == [0o600, 0o600, 0o600]
    host.close()


def test_existing_files_are_made_owner_only_when_opened(tmp_path: Path, open_umask: None) -> None:
    make_host(tmp_path).close()
    holder = sqlite3.connect(tmp_path / DB)  # keeps -wal and -shm in place
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("CREATE TABLE t (x)")
    files = [tmp_path / DB, tmp_path / f"{DB}-wal", tmp_path / f"{DB}-shm"]
    for f in files:
        f.chmod(0o644)
    host = Host.from_config(tmp_path / "plugins.toml")
    assert [mode(f) for f in files] == [0o600, 0o600, 0o600]
    host.close()
    holder.close()


def test_synchronous_setting(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    host = make_host(tmp_path / "a")
    assert host.store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL by default
    host.close()
    host = make_host(tmp_path / "b", kernel='synchronous = "normal"')
    assert host.store.conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    host.close()


def _counts(path: Path) -> tuple[str, int, int, int]:
    """integrity_check, resources, 'created' change rows, instances of a database file."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        resources = conn.execute("SELECT count(*) FROM resources").fetchone()[0]
        created = conn.execute(
            "SELECT count(*) FROM changes WHERE kind = 'created' AND name LIKE '%.ics'"
        ).fetchone()[0]
        instances = conn.execute("SELECT count(*) FROM instances").fetchone()[0]
    finally:
        conn.close()
    return check, resources, created, instances


def _cli(config: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--config", str(config), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_backup_while_another_connection_writes_then_restore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = make_host(tmp_path)
    alice = add_user(host, "alice")
    host.writes.create_collection(alice, "work", "calendar", principal=alice, attrs={})
    config = host.config.path
    writer = Host.from_config(config)  # the server's own connection
    writer.store.conn.execute("PRAGMA wal_autocheckpoint = 0")  # every write stays in the WAL
    calendar = writer.store.collection("alice", "work")
    written: list[int] = []
    stop = threading.Event()

    def write() -> None:
        for i in range(3000):
            if stop.is_set():
                return
            writer.writes.put_object(calendar, f"e{i}.ics", event_object(f"e{i}"), principal=alice)
            written.append(i)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(written) < 100 and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        before = len(written)
        assert before >= 100 and (tmp_path / f"{DB}-wal").stat().st_size > 0
        target = tmp_path / "saved" / "backup.sqlite3"
        code, out, err = _cli(config, "backup", str(target), capsys=capsys)
        during = len(written)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert code == 0, err
    assert out.startswith(f"teamcal: backed up to {target} (") and "1 calendars" in out
    assert during > before  # the writer went on while the backup was taken
    check, resources, created, instances = _counts(target)
    assert check == "ok" and before <= resources <= len(written)
    assert resources == created == instances  # each write whole: object, change row, index row
    assert f"{resources} objects" in out
    assert mode(target) == 0o600 and not Path(f"{target}-wal").exists()
    assert [p.name for p in target.parent.iterdir()] == ["backup.sqlite3"]  # no partial file left

    # Restore: refused while a server has the database open, then put in place atomically.
    writer.close()
    host.close()
    with running_server(config):
        code, _, err = _cli(config, "restore", str(target), capsys=capsys)
        assert code == 1 and err.count("\n") == 1
        assert "restore refused" in err and "open in another process (a running `teamcal serve`?)" in err
        assert _counts(tmp_path / DB)[1] == len(written)
    code, out, err = _cli(config, "restore", str(target), capsys=capsys)
    assert code == 0, err
    assert f"teamcal: restored {tmp_path / DB} (" in out and f"{resources} objects" in out
    saved = sorted((tmp_path / "backups").glob("teamcal-*-before-restore.sqlite3"))
    assert len(saved) == 1 and f"saved as {saved[0]}" in out
    assert _counts(saved[0])[1] == len(written)  # what was replaced is kept
    assert mode(tmp_path / DB) == 0o600
    host = Host.from_config(config)
    assert host.store.count_resources(host.store.collection("alice", "work").id) == resources
    host.close()


def test_restore_refuses_what_is_no_teamcal_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    host = make_host(tmp_path)
    add_user(host, "alice")
    host.close()
    other = sqlite3.connect(tmp_path / "other.sqlite3")
    other.execute("CREATE TABLE x (y)")
    other.commit()
    other.close()
    (tmp_path / "garbage.bin").write_bytes(b"not a database at all" * 100)
    config = tmp_path / "plugins.toml"
    for name, reason in [("other.sqlite3", "is not a teamcal database"), ("garbage.bin", "cannot read"),
                         ("missing.sqlite3", "there is no backup file")]:
        code, _, err = _cli(config, "restore", str(tmp_path / name), capsys=capsys)
        assert code == 1 and reason in err, err
    code, _, err = _cli(config, "backup", str(tmp_path / DB), capsys=capsys)
    assert code == 1 and "must not be the database itself" in err
    host = Host.from_config(config)
    assert host.store.principal("alice") is not None
    host.close()


class running_server:
    """`teamcal serve` in its own process on a free port, until the block ends (stopped by its PID)."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.port = free_port()

    def __enter__(self) -> running_server:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kernel.cli", "--config", str(self.config), "serve", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                assert self.process.poll() is None, "teamcal serve exited"
                time.sleep(0.1)
        self.process.kill()
        raise RuntimeError("teamcal serve did not start")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


class Extension:
    """A plugin whose migration set is named ``name`` (each new name is a pending migration)."""

    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def register_migrations(self, host: Host) -> Migrations:
        migrations = Migrations(self.name)

        @migrations()
        def m001(db: Database) -> None:
            db.execute(f"CREATE TABLE {self.name}_things (x)")

        return migrations


def test_pending_migrations_take_a_backup_first_keeping_the_newest(tmp_path: Path) -> None:
    host = make_host(tmp_path)  # a new database: nothing to back up
    add_user(host, "alice")
    host.close()
    assert not (tmp_path / "backups").exists()
    kept = 'migration_backups = 2'
    for n in range(3):
        host = make_host(tmp_path, plugins=[(f"ext{n}", Extension(f"ext{n}"))], kernel=kept)
        host.close()
    make_host(tmp_path, plugins=[("ext2", Extension("ext2"))], kernel=kept).close()  # nothing pending: no backup
    backups = sorted((tmp_path / "backups").iterdir())
    assert len(backups) == 2 and all(b.name.endswith("-before-migration.sqlite3") for b in backups)
    assert mode(tmp_path / "backups") == 0o700 and all(mode(b) == 0o600 for b in backups)
    newest = sqlite3.connect(backups[-1])
    tables = {r[0] for r in newest.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "ext1_things" in tables and "ext2_things" not in tables  # taken before ext2's migration
    assert newest.execute("SELECT name FROM principals").fetchall() == [("alice",)]
    newest.close()
    make_host(tmp_path, plugins=[("ext3", Extension("ext3"))], kernel="migration_backups = 0").close()
    assert sorted((tmp_path / "backups").iterdir()) == backups
