"""Every kernel hook: this file is the plugin API.

Names say when a hook runs: ``register_*`` once at start-up, returning data;
``validate_*`` inside the write transaction, free to veto by raising
:class:`kernel.Rejected`; past tense after the fact. pluggy has no async, so
first-result hooks and hooks inside a transaction are plain functions;
notification hooks marked :func:`may_return_awaitable` (``startup``,
``shutdown``, ``changes_committed``) may be ``async def``, and the kernel
awaits them. An ``async def`` implementation of any other hook stops start-up.

An implementation may accept any subset of a hook's arguments, so hooks can
gain arguments without breaking plugins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.routing import BaseRoute

    from kernel.encryption import SecretColumn
    from kernel.jobs import Job
    from kernel.protocols import HostAPI
    from kernel.store import Store
    from kernel.types import CalendarOp, Change, Collection, ObjectWrite, Principal, PropertyWrite, Resource

hookspec = pluggy.HookspecMarker("teamcal")
#: The marker plugins put on their implementations (re-exported as ``kernel.hookimpl``).
hookimpl = pluggy.HookimplMarker("teamcal")

F = TypeVar("F", bound=Callable[..., Any])
#: The attribute :func:`may_return_awaitable` sets on a hookspec.
AWAITABLE = "teamcal_may_return_awaitable"


def may_return_awaitable(spec: F) -> F:
    """Mark a hookspec whose implementations may be ``async def``: the caller awaits them.

    Every other hook (the kernel's and those plugins declare) is called
    synchronously, so an ``async def`` implementation of it would return a
    coroutine nobody runs; the host refuses such a plugin at load
    (:func:`kernel.plugins.check_coroutines`). Put it under ``@hookspec``.
    """
    setattr(spec, AWAITABLE, True)
    return spec


# -- start-up -------------------------------------------------------------


@hookspec
def register_settings() -> dict[str, type]:
    """Declare the plugin's settings before plugins.toml is validated.

    Return ``{table name: dataclass}``. Each field is one key of that table,
    with its type, its default and a one-line doc in
    ``field(metadata={"doc": ...})``; nested dataclasses and
    ``dict[str, SomeDataclass]`` describe sub-tables. Start-up stops with exit
    status 2 on an unknown key or a wrongly typed value. The validated instance
    is ``host.settings(table)``.
    """


@hookspec
def register_hookspecs() -> Any:
    """Return a module (or a list of them) of hookspecs the plugin declares for others.

    Lets a plugin offer its own extension points (the CalDAV plugin's
    ``dav_properties``); implementations of such hooks in other plugins are
    marked ``optionalhook=True`` so they load when the declaring plugin is off.
    """


@hookspec
def register_migrations(host: HostAPI) -> Any:
    """Return the plugin's :class:`kernel.Migrations` set (or a list of them).

    Called once at start-up, after the kernel's own set. The tables are declared
    with :class:`kernel.Table` and run on SQLite and PostgreSQL alike; they carry
    the plugin's name as prefix, and a plugin never alters the kernel's. (A
    ``sqlite_utils.Migrations`` set still runs on SQLite, deprecated.)
    """


@hookspec
def register_secret_columns() -> Iterable[SecretColumn]:
    """Return the columns of the plugin's tables that hold secrets encrypted with ``host.secrets``.

    Each is a ``kernel.SecretColumn(table, key, column)``: ``key`` names the
    row's primary key. The plugin encrypts with ``host.secrets.encrypt`` when it
    writes and decrypts with ``host.secrets.decrypt`` right before use; the kernel
    encrypts values still in plaintext at start-up (when a key is set) and
    re-encrypts all of them under a new key (``teamcal secrets rotate``).
    """


@hookspec
def register_routes(host: HostAPI) -> Iterable[BaseRoute]:
    """Return Starlette routes or mounts to add to the app.

    Called once when the app is built. Routes are mounted in plugin order;
    authenticate inside the endpoint with ``await host.require_principal(request)``.
    """


@hookspec
def register_metrics(host: HostAPI, registry: Any) -> None:
    """Add the plugin's metrics to ``/metrics``: create prometheus-client metrics (or register
    a collector) in ``registry``, a ``prometheus_client.CollectorRegistry`` of this host.

    Called once when the app is built. Prefer a collector that reads the store when scraped
    for figures every node shares (a backlog), and counters in the process for events it saw.
    """


@hookspec
def register_jobs(host: HostAPI) -> Iterable[Job]:
    """Return periodic background jobs (``kernel.Job(name, interval, func)``).

    Called in the app's lifespan; each job's ``func(host)`` (plain or async)
    runs every ``interval`` seconds until shutdown. Errors are logged, never
    raised, and the job keeps its schedule.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add sub-commands to the ``teamcal`` command line.

    ``cli`` is the root ``argparse`` sub-parsers object wrapped in
    :class:`kernel.cli.Commands`; call ``cli.add(name, help, configure, run)``
    where ``run(host, args) -> int``.
    """


@hookspec
@may_return_awaitable
def startup(host: HostAPI) -> Any:
    """Run once when the server starts, after migrations; may return an awaitable."""


@hookspec
@may_return_awaitable
def shutdown(host: HostAPI) -> Any:
    """Run once when the server stops; may return an awaitable."""


# -- requests ---------------------------------------------------------------


@hookspec(firstresult=True)
def authenticate(host: HostAPI, request: Request) -> Principal | None:
    """Return the principal a request authenticates as, or None.

    First result wins; the kernel's HTTP Basic implementation runs last. A
    plugin adding another scheme (tokens, a proxy header) implements this.
    Runs on the event loop, so keep it cheap. The kernel's own implementation
    may answer a :class:`kernel.auth.PasswordCheck`, which
    ``host.authenticate`` completes in its hashing threads: call that, not
    the hook.
    """


@hookspec
def principal_accessed(host: HostAPI, principal: Principal) -> None:
    """An authenticated principal is about to be used (each authenticated request).

    Runs outside any transaction and must be cheap in the common case; write
    through ``host.writes`` when something must be created. Runs in
    ``store.in_order()``: when it reads, the reads named ahead of
    authentication are read again, so the request sees what it saw.
    """


@hookspec
def object_size_limit(host: HostAPI, principal: Principal | None, collection: Collection) -> int | None:
    """Return the largest object (bytes) ``principal`` may store in ``collection``, or None.

    Asked before a body is read, so an oversized body is refused without
    reading more than the limit. The smallest answer wins; the kernel's own
    body cap always holds.
    """


# -- the write pipeline -------------------------------------------------------


@hookspec
def validate_calendar(host: HostAPI, tx: Store, op: CalendarOp) -> None:
    """Inspect a collection create, change or delete inside its transaction.

    Raise :class:`kernel.Rejected` to refuse it: the transaction rolls back
    and nothing is written. ``tx`` is the store inside the transaction.
    """


@hookspec
def validate_object(host: HostAPI, tx: Store, write: ObjectWrite) -> None:
    """Inspect an object write (create, update, delete) inside its transaction.

    Every way data gets in passes here: CalDAV, subscriptions, imports.
    Raise :class:`kernel.Rejected` to refuse it; a refused write leaves no
    trace in resources, index or change feed. A refusal that only depends on
    whether a row exists can go with the write's rows instead of a read of
    its own: ``tx.refuse_if((sql, params), Rejected(...))``.
    """


@hookspec
def object_reads_ahead(host: HostAPI, collection: Collection, deleting: bool) -> list[tuple[str, Any]] | None:
    """Reads your ``validate_object`` will run in the transaction that stores an object in
    ``collection`` (created or replaced) or, when ``deleting``, deletes one from it: a list of
    (sql, params), or None.

    They are named ahead (``store.expecting``): on PostgreSQL they go to the database with
    the transaction's first round trip, after its write lock, and your read, the same text
    with the same parameters, is answered from what came back instead of waiting a round
    trip of its own. Name only reads the write's own statements do not change (they run
    before any). One your hook does not run costs only the database's work; one that fails
    fails only when your hook runs it. The limits plugin names its count of the owner's
    objects (read when an object is created) and, unless the HTTP request holds them already
    (``host.request_state_known``), the owner's limits.
    """


@hookspec
def object_stored(host: HostAPI, tx: Store, write: ObjectWrite, resource: Resource) -> None:
    """An object was created or replaced, inside its transaction: ``resource`` is its new row
    (its id, ETag), ``write`` what ``validate_object`` saw.

    For data a plugin derives from objects and keeps in its own tables (keyed by the
    resource's id, with ``on_delete="cascade"``): written here, it commits or rolls back
    with the object, so it is never ahead of or behind it. Every way an object gets
    stored passes here (PUT, COPY and MOVE, subscriptions, imports). Raising refuses the
    write like a ``validate_object`` veto; do only what must be atomic with it. It may run
    inside ``tx.deferred()``: reads see the write, ``rowcount`` is not to be relied on.
    """


@hookspec
def validate_properties(host: HostAPI, tx: Store, write: PropertyWrite) -> None:
    """Inspect dead-property changes of a collection, a resource (or a plugin's own target)
    inside their transaction.

    Every way properties get stored passes here: PROPPATCH, the initial properties of
    MKCOL and MKCALENDAR, and the properties COPY and MOVE carry along. Raise
    :class:`kernel.Rejected` to refuse them (the limits plugin's quotas do); nothing of
    the write is kept.
    """


@hookspec
@may_return_awaitable
def changes_committed(host: HostAPI, changes: list[Change]) -> Any:
    """The given change-feed rows were committed (by this process, or by another one of
    the deployment: see :mod:`kernel.feed`); may return an awaitable.

    Only a nudge: durable consumers read the feed with their own cursor
    (``host.store.changes_since``), so a crash here loses nothing. Errors are
    logged, never raised.
    """


# -- access -------------------------------------------------------------------


@hookspec
def calendar_privileges(
    host: HostAPI, principal: Principal, calendar: Collection, privileges: frozenset[str]
) -> Iterable[str] | None:
    """Narrow what ``principal`` may do on ``calendar``.

    ``privileges`` is what grants give ("read", "write", "admin"). Return the
    privileges to keep, or None to leave them; the kernel intersects every
    answer, so a plugin can only take away (a read-only subscription calendar
    keeps "read").
    """
