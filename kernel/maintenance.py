"""Operating commands: `teamcal backup`, `teamcal restore`, `teamcal store copy` and `teamcal secrets`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kernel.encryption import UnreadableSecret, generate_key
from kernel.store.backup import BackupError
from kernel.store.backup import backup as backup_database
from kernel.store.backup import restore as restore_database
from kernel.store.copy import CopyMismatch, CopyRefused, CopyReport, copy_store, describe_target, sqlite_target

if TYPE_CHECKING:
    from kernel.host import Host
    from kernel.store.connections import Backend
    from kernel.subcommands import Commands


def register(cli: Commands) -> None:
    """Declare the backup, restore and secrets commands."""
    cli.add("backup", "copy the database into FILE, safely while the server runs", _file_arg, backup, migrate=False)
    cli.add(
        "restore", "replace the database with a backup FILE (stop the server first)", _file_arg, restore,
        migrate=False,
    )
    cli.add("store", "copy this deployment into an empty database of either backend", _store_args, store)
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


def _store_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    copy = sub.add_parser(
        "copy",
        help="copy every enabled plugin's tables and the kernel's into an empty database, verified",
        description="Copy this deployment into an empty database: SQLite to PostgreSQL to move, PostgreSQL to"
        " a SQLite file for a backup. Safe while the server runs; counts and checksums are compared.",
    )
    copy.add_argument("--to", required=True, metavar="postgresql://USER@HOST/DB|FILE.sqlite3",
                      help="the empty target (password: in the URL, PGPASSWORD or ~/.pgpass)")


def store(host: Host, args: argparse.Namespace) -> int:
    """teamcal store copy --to TARGET: 2 when the copy cannot start, 1 when it did not match."""
    from kernel.store import Store
    from kernel.store.db import SQLiteBackend
    from kernel.store.postgres import PostgresBackend, StoreUnavailable, is_postgres_url

    target_name: str = args.to
    shown = describe_target(target_name)
    secret = urlsplit(target_name).password if "://" in target_name else None

    def say(message: str) -> str:
        return message.replace(secret, "***") if secret else message

    final = temporary = None
    backend: Backend[Any]
    try:
        if is_postgres_url(target_name):
            backend = PostgresBackend(target_name, max_connections=2)
        elif "://" in target_name:
            raise CopyRefused(f"{shown} is neither a postgresql:// URL nor a SQLite file path")
        else:
            final, temporary = sqlite_target(target_name)
            if host.store.dialect == "sqlite" and final == Path(host.store.path).resolve():
                raise CopyRefused(f"{final} is this deployment's own database")
            backend = SQLiteBackend(temporary, host.kernel.synchronous)
    except (CopyRefused, StoreUnavailable) as exc:
        print(say(f"teamcal: store copy: {exc}"), file=sys.stderr)
        return 2
    target = Store(backend)
    status = 0
    try:
        report = copy_store(host.store, target, host.migration_sets())
    except CopyRefused as exc:
        print(say(f"teamcal: store copy: {str(exc).replace(str(temporary), str(final))}"), file=sys.stderr)
        status = 2
    except CopyMismatch as exc:
        print(say(f"teamcal: store copy failed: {exc}"), file=sys.stderr)
        status = 1
    finally:
        target.close()
        if temporary is not None and final is not None:
            _settle(temporary, final, keep=status == 0)
    if status:
        return status
    report.target = shown
    _print_report(report)
    return 0


def _settle(temporary: Path, final: Path, *, keep: bool) -> None:
    """Rename a finished SQLite copy into place (flushed to disk first), or remove an unfinished one."""
    if keep:
        with open(temporary, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(temporary, final)
        return
    for path in (temporary, Path(f"{temporary}-wal"), Path(f"{temporary}-shm")):
        path.unlink(missing_ok=True)


def _print_report(report: CopyReport) -> None:
    width = max([len("table"), *(len(t.name) for t in report.tables)])
    print(f"{'table':<{width}}  {'rows':>10}  checksum (source = target)")
    for t in report.tables:
        print(f"{t.name:<{width}}  {t.rows:>10,}  {t.checksum:032x}")
    print(f"time-range index: {report.index}, checked")
    if report.left_out:
        print(f"left out (their plugins are not enabled here): tables of {', '.join(report.left_out)}")
    print(
        f"teamcal: copied {report.rows:,} rows in {len(report.tables)} tables from {report.source} to {report.target} in"
        f" {report.seconds:.1f} s: counts and checksums match"
    )


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
