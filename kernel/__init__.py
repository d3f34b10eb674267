"""teamcal's kernel: the public API for plugins.

A plugin writes ``from kernel import hookimpl`` and implements hooks from
:mod:`kernel.hookspecs`; it reaches the database through ``host.store`` (reads,
its own tables) and ``host.writes`` (every object and collection write).

Plugins import only the names in ``__all__`` below and the modules in
:data:`PUBLIC_MODULES`; everything else in the kernel may change without
notice (``tests/kernel/test_public_api.py`` holds the tree to this).
docs/plugins.md, "Public API", says what each name is for.
"""

from kernel.accounts import find_collection
from kernel.app import read_body
from kernel.auth import CHALLENGE, PasswordCheck
from kernel.budget import Budget, OverBudget
from kernel.config import ByteSize, ConfigError, Duration
from kernel.encryption import MissingKey, SecretColumn, UnreadableSecret, generate_key
from kernel.hookspecs import hookimpl
from kernel.host import Host
from kernel.ical import COMPONENTS, end_of, floating_to_utc, occurs_in
from kernel.ingest import Ingested, line_breaks, repair
from kernel.jobs import Job
from kernel.leases import Leases
from kernel.names import canonical_name, check_segment
from kernel.protocols import HostAPI
from kernel.store import EVERYONE, Reach, Store
from kernel.store.meanwhile import Later
from kernel.store.tables import Column, Index, Migrations, Migrator, Table
from kernel.subcommands import Commands
from kernel.types import (
    FLOATING,
    INCLUSIVE_END,
    INCLUSIVE_START,
    NEG_INF,
    POS_INF,
    PRIVILEGES,
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
from kernel.writes import ABSENT, Parsed, etag_matches, make_etag
from kernel.zones import ZoneRefused

#: Kernel modules plugins may import as a whole (``from kernel import recurrence``,
#: ``from kernel.icaltext import read_calendar``): their names without a leading
#: underscore are public. ``kernel.testing`` (and its submodules) is for tests.
PUBLIC_MODULES = (
    "kernel.accounts",    # users, groups, grants and their checks, as the CLI and the web console do them
    "kernel.enabling",    # plugins.toml's enabled list edited in place: set_plugin_enabled, enabled_in_file
    "kernel.hookspecs",   # the hook specifications (the plugin API's reference)
    "kernel.introspection",  # what GET /api/plugins answers: describe_plugins (secrets masked)
    "kernel.icaltext",    # reading iCalendar text: read_calendar, timezone_of, crlf_lines
    "kernel.netguard",    # outbound HTTP that refuses private addresses: check_url, GuardedTransport
    "kernel.recurrence",  # bounded RRULE/RDATE expansion: build_series, scan, to_key
    "kernel.testing",     # the pytest plugin and helpers for plugins' tests
    "kernel.turns",       # blocking work taking turns in worker threads: run (host.run without a host)
)

__all__ = [
    "ABSENT",
    "CHALLENGE",
    "COMPONENTS",
    "EVERYONE",
    "FLOATING",
    "INCLUSIVE_END",
    "INCLUSIVE_START",
    "NEG_INF",
    "POS_INF",
    "PRIVILEGES",
    "PUBLIC_MODULES",
    "Budget",
    "ByteSize",
    "CalendarOp",
    "Change",
    "Collection",
    "Column",
    "Commands",
    "ConfigError",
    "Duration",
    "Host",
    "HostAPI",
    "Index",
    "Ingested",
    "Instance",
    "Job",
    "Later",
    "Leases",
    "Migrations",
    "Migrator",
    "MissingKey",
    "ObjectInfo",
    "ObjectWrite",
    "OverBudget",
    "Parsed",
    "PasswordCheck",
    "Principal",
    "PropertyWrite",
    "Reach",
    "Rejected",
    "Resource",
    "SecretColumn",
    "Store",
    "Table",
    "UnreadableSecret",
    "ZoneRefused",
    "canonical_name",
    "check_segment",
    "end_of",
    "etag_matches",
    "find_collection",
    "floating_to_utc",
    "generate_key",
    "hookimpl",
    "line_breaks",
    "make_etag",
    "occurs_in",
    "read_body",
    "repair",
]
