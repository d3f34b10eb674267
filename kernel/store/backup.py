"""Backups of the database file and restoring one, with SQLite's online backup API.

A backup is one self-contained SQLite file (rollback journal mode, no -wal),
owner-only, checked with ``PRAGMA integrity_check`` before it is renamed into
place. It is taken in one step inside one read transaction, so it is a
consistent snapshot that includes what is still in the WAL, while the server
keeps reading and writing.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kernel.store.db import BUSY_TIMEOUT_MS, FILE_MODE
from kernel.store.tables import LEGACY_RECORDS, RECORDS

#: The folder beside the database where automatic backups go.
BACKUP_FOLDER = "backups"
#: Where SQLite's -shm file holds the lock every open connection keeps shared (the "DMS" byte).
_SHM_DMS_BYTE = 128


class BackupError(Exception):
    """A backup or restore that could not be made; the message says why in one sentence."""


@dataclass(frozen=True)
class Snapshot:
    """What a backup or restore wrote: the file, its size, and counts of what it holds."""

    path: Path
    size: int
    calendars: int
    objects: int

    def describe(self) -> str:
        """One line for the admin."""
        return f"{self.path} ({self.size:,} bytes, {self.calendars} calendars, {self.objects} objects)"


def backup(database: str | Path, target: str | Path) -> Snapshot:
    """Copy the live database into ``target`` atomically (a temporary file renamed into place)."""
    database, target = Path(database).resolve(), Path(target).resolve()
    if target in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        raise BackupError("the backup file must not be the database itself")
    if not database.is_file():
        raise BackupError(f"there is no database at {database}")
    source = _connect(database, "rw")
    try:
        return _copy(source, target)
    finally:
        source.close()


def restore(backup_file: str | Path, database: str | Path, keep: int) -> tuple[Snapshot, Snapshot | None]:
    """Put ``backup_file`` in the place of ``database``, atomically; the server must be stopped.

    The backup is checked (a readable teamcal database) before anything is
    touched, and refused while another process has the database open. The
    database it replaces is first saved with :func:`keep_automatic` (``keep``
    newest kept). Returns what was restored and that saved copy (None when the
    database was new or ``keep`` is 0). Closing every connection of this
    process to ``database`` first is the caller's job.
    """
    backup_file, database = Path(backup_file).resolve(), Path(database).resolve()
    if not backup_file.is_file():
        raise BackupError(f"there is no backup file at {backup_file}")
    if backup_file == database:
        raise BackupError("the backup file is the database itself")
    if in_use(database):
        raise BackupError(
            f"{database} is open in another process (a running `teamcal serve`?): stop it, then restore"
        )
    source = _connect(backup_file, "ro")
    try:
        if not _is_teamcal_database(source):
            raise BackupError(f"{backup_file} is not a teamcal database")
        saved = keep_automatic(database, "before-restore", keep) if _holds_data(database) else None
        return _copy(source, database, replace_database=True), saved
    finally:
        source.close()


def keep_automatic(database: str | Path, reason: str, keep: int) -> Snapshot | None:
    """Back up into ``backups/`` beside the database, keeping only the ``keep`` newest there.

    Returns None when ``keep`` is 0 or less (automatic backups off).
    """
    if keep <= 0:
        return None
    database = Path(database).resolve()
    folder = database.parent / BACKUP_FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    snapshot = backup(database, folder / f"{database.stem}-{stamp}-{reason}.sqlite3")
    for old in sorted(folder.glob(f"{database.stem}-*Z-*.sqlite3"))[:-keep]:
        old.unlink(missing_ok=True)
    return snapshot


def in_use(database: str | Path) -> bool:
    """True when another process has the database open (in WAL mode).

    Every SQLite connection in WAL mode keeps a shared lock on one byte of the
    -shm file while it is open; an exclusive lock on that byte is refused then.
    POSIX locks do not see this process's own connections, and closing the
    probe drops this process's locks on the -shm: close this process's
    connections to the database before asking.
    """
    import fcntl  # POSIX only, like the lock it tests; imported here so the kernel imports anywhere

    try:
        fd = os.open(f"{database}-shm", os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _SHM_DMS_BYTE)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, _SHM_DMS_BYTE)
        return False
    finally:
        os.close(fd)


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode={mode}", uri=True, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot read {path}: {exc}") from None
    return conn


def _holds_data(database: Path) -> bool:
    """True for an existing teamcal database (not a missing or freshly created file)."""
    if not database.is_file():
        return False
    conn = _connect(database, "rw")
    try:
        return _is_teamcal_database(conn)
    finally:
        conn.close()


def _is_teamcal_database(conn: sqlite3.Connection) -> bool:
    """Has the kernel's first migration run here (recorded by the storage API, or by sqlite-utils before)?"""
    for records in (RECORDS, LEGACY_RECORDS):
        try:
            row = conn.execute(f"SELECT count(*) FROM {records} WHERE migration_set = 'kernel'").fetchone()
        except sqlite3.DatabaseError:
            continue
        if row and row[0]:
            return True
    return False


def _copy(source: sqlite3.Connection, target: Path, replace_database: bool = False) -> Snapshot:
    """Copy ``source`` into a temporary file beside ``target``, check it, and rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.partial")
    temporary.unlink(missing_ok=True)
    os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    try:
        copy = sqlite3.connect(temporary, isolation_level=None)
        try:
            source.backup(copy)  # one step: one read transaction, a consistent snapshot with the WAL
            copy.execute("PRAGMA journal_mode = DELETE")
            problems = [r[0] for r in copy.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(f"the copy failed its integrity check: {'; '.join(problems[:3])}")
            calendars, objects = _counts(copy)
        finally:
            copy.close()
        with open(temporary, "rb+") as fh:
            os.fsync(fh.fileno())
        if replace_database:
            for stale in (Path(f"{target}-wal"), Path(f"{target}-shm")):
                stale.unlink(missing_ok=True)  # a WAL left beside would be replayed onto the restored file
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)
    return Snapshot(target, target.stat().st_size, calendars, objects)


def _counts(conn: sqlite3.Connection) -> tuple[int, int]:
    try:
        calendars = conn.execute("SELECT count(*) FROM collections WHERE kind = 'calendar'").fetchone()[0]
        objects = conn.execute("SELECT count(*) FROM resources WHERE component IS NOT NULL").fetchone()[0]
    except sqlite3.DatabaseError:
        return 0, 0
    return int(calendars), int(objects)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
