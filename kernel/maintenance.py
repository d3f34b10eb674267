"""Operating commands: `teamcal backup`, `teamcal restore` and `teamcal secrets`."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from kernel.encryption import UnreadableSecret, generate_key
from kernel.store.backup import BackupError
from kernel.store.backup import backup as backup_database
from kernel.store.backup import restore as restore_database

if TYPE_CHECKING:
    from kernel.cli import Commands
    from kernel.host import Host


def register(cli: Commands) -> None:
    """Declare the backup, restore and secrets commands."""
    cli.add("backup", "copy the database into FILE, safely while the server runs", _file_arg, backup, migrate=False)
    cli.add(
        "restore", "replace the database with a backup FILE (stop the server first)", _file_arg, restore,
        migrate=False,
    )
    cli.add("secrets", "make a key for [kernel] secret_key, rotate keys, count stored secrets", _secrets_args, secrets)


def _file_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the backup file")


def _sqlite_only(host: Host, command: str) -> bool:
    """True on SQLite; on PostgreSQL, say what to use instead."""
    if host.store.dialect == "sqlite":
        return True
    print(
        f"teamcal: {command} copies a SQLite file; this deployment is on PostgreSQL: use pg_dump and"
        " pg_restore, or `teamcal store copy --to FILE.sqlite3` for a SQLite copy (docs/deployment.md)",
        file=sys.stderr,
    )
    return False


def backup(host: Host, args: argparse.Namespace) -> int:
    """Copy the live database into FILE with SQLite's online backup."""
    if not _sqlite_only(host, "backup"):
        return 2
    try:
        snapshot = backup_database(host.store.path, args.file)
    except BackupError as exc:
        print(f"teamcal: backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"teamcal: backed up to {snapshot.describe()}")
    return 0


def restore(host: Host, args: argparse.Namespace) -> int:
    """Replace the database with FILE, keeping the replaced one in backups/."""
    if not _sqlite_only(host, "restore"):
        return 2
    host.store.close()
    try:
        restored, saved = restore_database(args.file, host.store.path, host.kernel.migration_backups)
    except BackupError as exc:
        print(f"teamcal: restore refused: {exc}", file=sys.stderr)
        return 1
    print(f"teamcal: restored {restored.describe()} from {args.file}")
    if saved is not None:
        print(f"teamcal: the database it replaced is saved as {saved.path}")
    return 0


def _secrets_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("generate-key", help="print a new random key for [kernel] secret_key")
    sub.add_parser("rotate", help="re-encrypt every stored secret under the first key of [kernel] secret_key")
    sub.add_parser("status", help="count stored secrets by the key they are encrypted under")


def secrets(host: Host, args: argparse.Namespace) -> int:
    """teamcal secrets generate-key|rotate|status."""
    if args.action == "generate-key":
        print(generate_key())
        return 0
    columns = host.secret_columns()
    if args.action == "rotate":
        try:
            changed = host.secrets.rotate(host.store, columns)
        except UnreadableSecret as exc:
            print(f"teamcal: nothing rotated: {exc}", file=sys.stderr)
            return 1
        print(f"teamcal: {changed} stored secrets re-encrypted under the first key of [kernel] secret_key")
        return 0
    counts = host.secrets.counts(host.store, columns)
    print(f"under the first key: {counts.current}")
    print(f"under an older key: {counts.older_key}")
    print(f"plaintext: {counts.plaintext}")
    print(f"unreadable: {counts.unreadable}")
    return 1 if counts.unreadable else 0
