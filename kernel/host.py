"""The Host: one deployment's config, plugin manager, store and write pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from kernel import tracing, turns
from kernel.auth import CHALLENGE, BasicAuth, PasswordCheck, PasswordChecks
from kernel.budget import Budget, Limits
from kernel.config import Config, ConfigError, KernelSettings, SecretUnavailable, config_path, read_config, validate
from kernel.encryption import SecretBox, SecretColumn
from kernel.feed import FeedFollower
from kernel.jobs import JobSchedule
from kernel.leases import Leases
from kernel.plugins import available_plugins, declared_settings, load_plugins, new_manager, register
from kernel.request_state import request_state, request_state_known
from kernel.store import EVERYONE, Reach, Store, StoreUnavailable, open_backend
from kernel.store.backup import keep_automatic
from kernel.store.tables import Migrations, SchemaError
from kernel.types import PRIVILEGES, Change, Collection, Principal, Privilege
from kernel.writes import Writes

if TYPE_CHECKING:
    from starlette.requests import Request

    from kernel.protocols import HostAPI

log = logging.getLogger("teamcal")
READ_ONLY = frozenset({"read"})
T = TypeVar("T")


class _RolledBack(Exception):
    """Ends :meth:`Host.try_migrations`'s transaction without committing it."""


class Host:
    """Everything one running teamcal is made of. Plugins receive it in every hook.

    Build one with :meth:`Host.from_config` (or ``kernel.testing``). Nothing is
    global: two hosts in one process are independent.
    """

    def __init__(
        self,
        config: Config,
        pm: pluggy.PluginManager,
        settings: dict[str, Any],
        extra_plugins: Iterable[tuple[str, Any]] = (),
    ) -> None:
        self.config = config
        self.extra_plugins = list(extra_plugins)
        self.pm = pm
        self.hook = pm.hook
        self._settings = settings
        self.kernel: KernelSettings = settings["kernel"]
        try:
            backend = open_backend(
                config.database_path(self.kernel),
                password=self.kernel.database_password,
                max_connections=self.kernel.database_connections,
                synchronous=self.kernel.synchronous,
            )
        except StoreUnavailable as exc:
            raise ConfigError(config.path, "kernel", "database", str(exc)) from None
        self.store = Store(backend)
        #: Encrypts the secrets plugins store (``[kernel] secret_key``); see kernel.encryption.
        self.secrets = SecretBox(self.kernel.secret_key, config.path)
        self.passwords = PasswordChecks(self.kernel, self.store)
        self.limits = Limits.from_settings(self.kernel)
        #: Named leases shared by every process on the database (kernel.leases).
        self.leases = Leases(self.store)
        #: The periodic jobs' schedule, shared by every process (kernel.jobs).
        self.jobs = JobSchedule(self)
        #: Passes other processes' changes to ``changes_committed`` (kernel.feed).
        self.feed = FeedFollower(self)
        self._tasks: set[asyncio.Task[Any]] = set()
        #: The event loop serving requests (known once the first request or the lifespan ran).
        self.loop: asyncio.AbstractEventLoop | None = None
        self.writes: Writes = Writes(self)
        self._state: dict[str, Any] = {}
        self._state_lock = threading.Lock()

    # -- building -----------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        path: str | Path | None = None,
        *,
        extra_plugins: Iterable[tuple[str, Any]] = (),
        migrate: bool = True,
        lazy_secrets: bool = False,
    ) -> Host:
        """Read plugins.toml, load the enabled plugins, validate settings, open and migrate the store.

        ``extra_plugins`` are (name, object) pairs registered as well, for tests.
        Raises :class:`ConfigError` on any configuration problem.
        """
        extra_plugins = list(extra_plugins)
        config, pm = cls.load(path, extra_plugins)
        return cls.from_plugins(config, pm, extra_plugins, migrate=migrate, lazy_secrets=lazy_secrets)

    @staticmethod
    def load(
        path: str | Path | None = None, extra_plugins: Iterable[tuple[str, Any]] = ()
    ) -> tuple[Config, pluggy.PluginManager]:
        """Read plugins.toml and import, register and check the enabled plugins; nothing is opened.

        The first half of :meth:`from_config`: the CLI asks the loaded plugins for
        their commands before it parses arguments and opens a store.
        """
        config = read_config(config_path(str(path) if path else None))
        pm = new_manager()
        register(pm, BasicAuth(), "kernel.basic_auth", config.path)
        for name, plugin in extra_plugins:
            register(pm, plugin, name, config.path)
        load_plugins(pm, config.enabled, config.path)
        if tracing.wanted():
            tracing.trace_hooks(pm)
        return config, pm

    @classmethod
    def from_plugins(
        cls,
        config: Config,
        pm: pluggy.PluginManager,
        extra_plugins: Iterable[tuple[str, Any]] = (),
        *,
        migrate: bool = True,
        lazy_secrets: bool = False,
    ) -> Host:
        """The second half of :meth:`from_config`: validate settings, open (and migrate) the store.

        With ``lazy_secrets``, a plugin's ``{env = ...}``/``{file = ...}`` secret that
        cannot be read stops only what uses that plugin's table (:meth:`settings`
        raises then), so one plugin's unset secret does not block unrelated CLI
        commands; ``[kernel]`` secrets are always read (every command opens the store).
        """
        settings = validate_settings(config, pm, lazy_secrets)
        host = cls(config, pm, settings, extra_plugins)
        if migrate:
            host.migrate()
        return host

    def migrate(self) -> None:
        """Apply the kernel's and every enabled plugin's pending migrations, then seal plaintext secrets.

        Before migrating a SQLite file that holds data, a backup goes to
        ``backups/`` beside it (``[kernel] migration_backups`` newest kept); a
        PostgreSQL database is backed up by its own tools (docs/deployment.md).
        With ``[kernel] secret_key`` set, secret columns still holding
        plaintext (from before a key was set) are encrypted; without it, a
        warning says how many there are.
        """
        sets = self.migration_sets()
        pending = self.store.pending_migrations(sets)
        if pending and self.store.dialect == "sqlite" and not self.store.is_new():
            saved = keep_automatic(self.store.path, "before-migration", self.kernel.migration_backups)
            if saved is not None:
                log.warning(
                    "teamcal: backed up the database to %s before migrating (%s)", saved.path, ", ".join(pending)
                )
        with self._schema_errors():
            self.store.migrate(sets)
        self._seal_secrets()

    def try_migrations(self) -> None:
        """Apply the pending migrations in one transaction and roll it all back (``teamcal check``).

        A declaration start-up would refuse raises the same one-line ConfigError;
        the database is left as it was. (Sets of the deprecated sqlite-utils kind
        are skipped on SQLite: they commit on their own.)
        """
        sets = [s for s in self.migration_sets() if isinstance(s, Migrations) or self.store.dialect != "sqlite"]
        with self._schema_errors(), contextlib.suppress(_RolledBack), self.store.transaction():
            self.store.migrate(sets)
            raise _RolledBack

    def migration_sets(self) -> list[Any]:
        """Every enabled plugin's migration sets (``register_migrations``), in plugin order."""
        sets: list[Any] = []
        for result in self.hook.register_migrations(host=self):
            sets.extend(result if isinstance(result, (list, tuple)) else [result])
        return sets

    @contextlib.contextmanager
    def _schema_errors(self) -> Iterator[None]:
        """A SchemaError from migrating (a plugin's table declared wrongly) as a one-line ConfigError."""
        try:
            yield
        except SchemaError as exc:
            raise ConfigError(self.config.path, None, "enabled", f"cannot migrate: {exc}") from None

    def secret_columns(self) -> list[SecretColumn]:
        """Every column plugins declared (``register_secret_columns``) as holding encrypted secrets."""
        return [column for result in self.hook.register_secret_columns() for column in (result or [])]

    def _seal_secrets(self) -> None:
        columns = self.secret_columns()
        if not columns:
            return
        sealed = self.secrets.seal_plaintext(self.store, columns)
        if sealed:
            log.warning("teamcal: encrypted %d stored secrets that were in plaintext", sealed)
        counts = self.secrets.counts(self.store, columns)
        if counts.plaintext:
            log.warning(
                "teamcal: %d stored secrets are in plaintext: set [kernel] secret_key to encrypt them"
                " (docs/security.md)", counts.plaintext,
            )
        if counts.unreadable:
            log.warning(
                "teamcal: %d stored secrets cannot be decrypted with [kernel] secret_key (was a key removed?)",
                counts.unreadable,
            )

    def settings(self, table: str) -> Any:
        """The validated settings dataclass of a plugin (its defaults when the table is absent).

        Raises the table's :class:`kernel.config.SecretUnavailable` when the host was
        built with ``lazy_secrets`` and a secret of the table cannot be read.
        """
        found = self._settings[table]
        if isinstance(found, SecretUnavailable):
            raise found
        return found

    def state(self, key: str, factory: Callable[[], T]) -> T:
        """A plugin's in-memory state for this host: ``factory()``'s result, made on the first
        call for ``key`` (name it after the plugin) and returned to every later one, from any
        thread. It lives as long as the host; state every node must see belongs in the store."""
        with self._state_lock:
            if key not in self._state:
                self._state[key] = factory()
            state: T = self._state[key]
            return state

    def request_state(self, key: str, factory: Callable[[], T]) -> T:
        """A value for the current HTTP request: ``factory()``'s result, made on the first call
        for ``key`` (name it after the plugin) in the request and returned to every later one in
        it, in any of its worker threads; made afresh on every call outside a request. For what
        several hooks of one request derive alike, not for anything a write must read inside
        its own transaction to be consistent (counts, conditions)."""
        return request_state(key, factory)

    def request_state_known(self, key: str) -> bool:
        """Whether the current HTTP request already holds a value for ``key`` (see
        :meth:`request_state`; False outside a request): to name a read ahead only when the
        value will be read."""
        return request_state_known(key)

    @property
    def base_url(self) -> str:
        """The server's public URL without trailing slash."""
        if self.kernel.base_url:
            return self.kernel.base_url.rstrip("/")
        scheme = "https" if self.kernel.tls_certificate else "http"
        return f"{scheme}://{self.kernel.host}:{self.kernel.port}"

    def budget(self) -> Budget:
        """A fresh budget for one request, with the deployment's limits (see ``kernel.budget``)."""
        return Budget(self.limits)

    def plugin_names(self) -> list[str]:
        """Names of the registered plugins (the enabled ones plus the kernel's own)."""
        return [name for name, _ in self.pm.list_name_plugin()]

    # -- running work off the event loop ----------------------------------------------

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run blocking work (store access, parsing, expansion) in a worker thread and await it.

        Request handlers call this for everything but waiting: the event loop
        only accepts connections and moves bytes. Pieces of work take turns
        (``kernel.turns``): one runs at a time, and another starts whenever
        every running one has run long, so no request, however heavy, holds
        up another's answer for more than that. Each worker thread has its own
        store connection.
        """
        self.loop = asyncio.get_running_loop()
        return await turns.run(func, *args, at_once=self.store.backend.at_once)

    # -- identity and access ------------------------------------------------------

    async def authenticate(self, request: Request) -> Principal | None:
        """The principal a request authenticates as (first ``authenticate`` answer), or None.

        The hooks (which read the store) run in a worker thread, with
        ``principal_accessed`` in the same hop when they answer at once; a
        password the kernel's Basic implementation must verify is verified in
        threads of its own (:class:`kernel.auth.PasswordChecks`), and a
        throttled client or user name raises HTTP 429 with Retry-After.
        """
        answer = await self.run(self.identify, request)
        if not isinstance(answer, PasswordCheck):
            return answer
        principal = await self.passwords.complete(answer, self)
        if principal is not None:
            await self.run(self.accessed, principal)
        return principal

    def identify(self, request: Request) -> Principal | PasswordCheck | None:
        """In a worker thread: the ``authenticate`` hooks' answer, after ``principal_accessed``
        when it is a principal; a :class:`kernel.auth.PasswordCheck` when a password must
        first be verified (``await host.passwords.complete(check, host)``, then
        :meth:`accessed`). :meth:`authenticate` does all of this for an async endpoint."""
        answer: Principal | PasswordCheck | None = self.hook.authenticate(host=self, request=request)
        if isinstance(answer, Principal):
            self.accessed(answer)
        return answer

    def accessed(self, principal: Principal) -> None:
        """Run the ``principal_accessed`` hooks (in a worker thread: they may write). What they
        read may be newer than the reads named ahead of authentication (another process may
        have just made the account's default calendar), so those are read again when they do
        read (``store.in_order``)."""
        with self.store.in_order():
            self.hook.principal_accessed(host=self, principal=principal)

    async def require_principal(self, request: Request) -> Principal:
        """The authenticated principal, or an HTTP 401 with a Basic challenge (429 when throttled)."""
        from starlette.exceptions import HTTPException

        principal = await self.authenticate(request)
        if principal is None:
            raise HTTPException(401, "Authentication required.", headers={"WWW-Authenticate": CHALLENGE})
        return principal

    def privileges(self, principal: Principal | None, collection: Collection) -> frozenset[str]:
        """What ``principal`` may do on ``collection``: "read" (see it and its objects), "write"
        (create, change and delete its objects) and "admin" (change the collection itself:
        delete, move, rename, recolour, its properties and grants, anyone's locks).

        The owner and server admins hold all three, and so do the admins of a group on the
        group's (team) calendars; plain members of the group hold ``team_member_privilege``.
        Grants add to that; ``calendar_privileges`` hooks may narrow the result.
        """
        return self.privileges_of(principal, [collection])[collection.id]

    def privileges_of(
        self, principal: Principal | None, collections: list[Collection], *, reach: Reach | None = None
    ) -> dict[int, frozenset[str]]:
        """:meth:`privileges` of several collections, by id: the principal's groups and the
        collections' grants read once for all of them (a listing of what one may see).

        ``reach``: ``store.reach`` of ``principal``, read already (for a page that asks many
        such questions): nothing more is read. It holds every grant that can count, since a
        collection granted to the principal, one of its groups or everyone is in it.
        """
        if principal is None:
            return {c.id: frozenset() for c in collections}
        if reach is not None:
            return self._privileges_from(principal, collections, reach.roles, reach.grants)
        foreign = [c for c in collections if not (principal.is_admin or c.owner.id == principal.id)]
        roles = self.store.group_roles(principal.id) if foreign else {}
        grants = self.store.grants_of([c.id for c in foreign]) if foreign else {}
        return self._privileges_from(principal, collections, roles, grants)

    def _privileges_from(
        self, principal: Principal, collections: list[Collection], roles: dict[int, bool],
        grants: dict[int, list[tuple[int, Privilege]]],
    ) -> dict[int, frozenset[str]]:
        """:meth:`privileges_of` from what it reads: the principal's group ``roles`` and the
        collections' ``grants`` (``store.reach`` reads both for ``reachable_collections``)."""
        return {
            c.id: self._narrowed(
                principal, c, len(PRIVILEGES) if principal.is_admin or c.owner.id == principal.id
                else self._level(principal, c, roles, grants.get(c.id, [])),
            )
            for c in collections
        }

    def _level(
        self, principal: Principal, collection: Collection, roles: dict[int, bool], grants: Sequence[tuple[int, str]]
    ) -> int:
        """How many of PRIVILEGES a principal not owning ``collection`` holds on it, from its
        group ``roles`` and the collection's ``grants``."""
        level = self._member_level(roles[collection.owner.id]) if collection.owner.id in roles else 0
        ids = [principal.id, *roles]
        for grantee, privilege in grants:
            if grantee in ids or grantee == EVERYONE:
                level = max(level, PRIVILEGES.index(privilege) + 1)
        return level

    def _narrowed(self, principal: Principal, collection: Collection, level: int) -> frozenset[str]:
        """The first ``level`` privileges, as the ``calendar_privileges`` hooks narrow them."""
        privileges = frozenset(PRIVILEGES[:level])
        if privileges:
            for kept in self.hook.calendar_privileges(
                host=self, principal=principal, calendar=collection, privileges=privileges
            ):
                if kept is not None:
                    privileges &= frozenset(kept)
        return privileges

    def home_privileges(
        self, principal: Principal | None, owner: Principal, *, reach: Reach | None = None
    ) -> frozenset[str]:
        """What ``principal`` may do in ``owner``'s home itself (not in its collections).

        A home holds only collections, so "admin" there means creating, deleting and moving
        collections in it: the owner, server admins, and for a group's home its admins (and
        every member when ``team_member_privilege`` is "admin"). Other members, and anyone
        who may read a collection of the home, may only list it ("read"). ``reach``: as for
        :meth:`privileges_of` (nothing more is read).
        """
        if principal is None:
            return frozenset()
        if principal.is_admin or principal.id == owner.id:
            return frozenset(PRIVILEGES)
        roles = reach.roles if reach is not None else self.store.group_roles(principal.id)
        if owner.id in roles:
            return frozenset(PRIVILEGES) if self._member_level(roles[owner.id]) == len(PRIVILEGES) else READ_ONLY
        if any(c.owner.id == owner.id for c in self.reachable_collections(principal, reach=reach)):
            return READ_ONLY
        return frozenset()

    def container_privileges(
        self, principal: Principal | None, owner: Principal, path: str, *, reach: Reach | None = None
    ) -> frozenset[str]:
        """What ``principal`` may do where a collection at ``path`` in ``owner``'s home is bound:
        the parent collection, or the home for a top-level one (empty when the parent is
        missing). ``reach``: as for :meth:`privileges_of` (only a parent collection is read)."""
        parent_path = path.rpartition("/")[0]
        if not parent_path:
            return self.home_privileges(principal, owner, reach=reach)
        parent = self.store.collection(owner.id, parent_path)
        if parent is None:
            return frozenset()
        return self.privileges_of(principal, [parent], reach=reach)[parent.id]

    def _member_level(self, group_admin: bool) -> int:
        """How many of PRIVILEGES membership in a group gives on the group's collections."""
        if group_admin:
            return len(PRIVILEGES)
        return PRIVILEGES.index(self.kernel.team_member_privilege) + 1

    def object_size_limit(self, principal: Principal | None, collection: Collection) -> int:
        """The largest object ``principal`` may store in ``collection``: the smallest of the
        ``object_size_limit`` answers and the kernel's body cap."""
        answers = self.hook.object_size_limit(host=self, principal=principal, collection=collection)
        return min([int(self.kernel.max_body_size), *(int(a) for a in answers if a is not None)])

    def reachable_collections(self, principal: Principal, *, reach: Reach | None = None) -> list[Collection]:
        """Collections ``principal`` can read outside its own home: its groups' top-level
        ones, then those granted to it, its groups or everyone (``store.reach``: one round trip
        on PostgreSQL, none when named ahead by the account's name, or given as ``reach``)."""
        if reach is None:
            reach = self.store.reach(principal.name)
        allowed = self._privileges_from(principal, reach.collections, reach.roles, reach.grants)
        return [c for c in reach.collections if "read" in allowed[c.id]]

    # -- notifications ---------------------------------------------------------------

    def notify(self, changes: list[Change], *, local: bool = True) -> None:
        """Call ``changes_committed``; awaitables are scheduled on the serving loop (or run,
        when there is none). ``local`` is False for changes other processes committed
        (read from the feed by :class:`kernel.feed.FeedFollower`)."""
        if not changes:
            return
        try:
            results = self.hook.changes_committed(host=self, changes=changes)
        except Exception:
            log.exception("changes_committed hook failed")
            return
        for result in results:
            if inspect.isawaitable(result):
                self._schedule(result)

    def _schedule(self, awaitable: Any) -> None:
        async def guarded() -> None:
            try:
                await awaitable
            except Exception:
                log.exception("changes_committed hook failed")

        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self._spawn(guarded())
        elif self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self._spawn, guarded())
        else:
            asyncio.run(guarded())

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for scheduled notification tasks (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def close(self) -> None:
        """Close the store and stop the password-hashing threads."""
        self.passwords.close()
        self.store.close()


def validate_settings(config: Config, pm: pluggy.PluginManager, lazy_secrets: bool = False) -> dict[str, Any]:
    """Every declared settings table validated: {table: dataclass instance}.

    With ``lazy_secrets``, a plugin table whose secret cannot be read maps to its
    :class:`SecretUnavailable` instead (see :meth:`Host.from_plugins`).
    """
    declared = declared_settings(pm, config.path)
    installed = set(available_plugins())
    settings: dict[str, Any] = {}
    for table, _data in config.tables.items():
        if table not in declared and table not in installed:
            raise ConfigError(config.path, table, None, "unknown table (no enabled or installed plugin has it)")
    for table, (cls, plugin) in declared.items():
        try:
            settings[table] = validate(cls, config.tables.get(table, {}), config.path, table, plugin)
        except SecretUnavailable as exc:
            if not lazy_secrets or table == "kernel":
                raise
            settings[table] = exc
    return settings


if TYPE_CHECKING:

    def _implements_host_api(host: Host) -> HostAPI:
        """Never called: mypy checks here that Host has every member of :class:`kernel.HostAPI`."""
        return host
