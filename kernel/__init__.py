"""teamcal's kernel: the public API for plugins.

A plugin writes ``from kernel import hookimpl`` and implements hooks from
:mod:`kernel.hookspecs`; it reaches the database through ``host.store`` (reads,
its own tables) and ``host.writes`` (every object and collection write).
"""

from kernel.config import ByteSize, ConfigError, Duration
from kernel.encryption import SecretColumn
from kernel.hookspecs import hookimpl
from kernel.host import Host
from kernel.jobs import Job
from kernel.store.tables import Column, Index, Migrations, Migrator, Table
from kernel.types import (
    CalendarOp,
    Change,
    Collection,
    Instance,
    ObjectInfo,
    ObjectWrite,
    Principal,
    PropertyWrite,
    Rejected,
    Resource,
)

__all__ = [
    "ByteSize",
    "CalendarOp",
    "Change",
    "Collection",
    "Column",
    "ConfigError",
    "Duration",
    "Host",
    "Index",
    "Instance",
    "Job",
    "Migrations",
    "Migrator",
    "ObjectInfo",
    "ObjectWrite",
    "Principal",
    "PropertyWrite",
    "Rejected",
    "Resource",
    "SecretColumn",
    "Table",
    "hookimpl",
]
