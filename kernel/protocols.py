"""What a plugin may use on a host: the :class:`HostAPI` protocol the hooks are typed against.

:class:`kernel.Host` implements it; a plugin annotating ``host: HostAPI`` sees only
the supported surface (its other attributes are the kernel's own and may change),
and a test may pass any object that has these members.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.requests import Request

    from kernel.auth import PasswordCheck, PasswordChecks
    from kernel.budget import Budget
    from kernel.config import KernelSettings
    from kernel.encryption import SecretBox
    from kernel.leases import Leases
    from kernel.store import Reach, Store
    from kernel.types import Collection, Principal
    from kernel.writes import Writes

T = TypeVar("T")


class HostAPI(Protocol):
    """The host as plugins see it: storage, the write pipeline, settings, identity and access."""

    @property
    def store(self) -> Store:
        """Reads, and the plugin's own tables (``execute``, ``transaction``); never kernel-table writes."""

    @property
    def writes(self) -> Writes:
        """The write pipeline: every object and collection write (validate hooks, change feed)."""

    @property
    def leases(self) -> Leases:
        """Named leases shared by every process on the database (one worker does a job)."""

    @property
    def secrets(self) -> SecretBox:
        """Encrypts and decrypts the secrets a plugin keeps in the database (``[kernel] secret_key``)."""

    @property
    def passwords(self) -> PasswordChecks:
        """Verifies a :class:`kernel.PasswordCheck` off the event loop (``await complete(check, host)``)."""

    @property
    def kernel(self) -> KernelSettings:
        """The validated ``[kernel]`` settings (read-only)."""

    @property
    def hook(self) -> Any:
        """pluggy's hook relay: call hooks other plugins declared (``host.hook.NAME(...)``)."""

    @property
    def base_url(self) -> str:
        """The server's public URL, without a trailing slash."""

    def settings(self, table: str) -> Any:
        """A plugin's validated settings dataclass (its defaults when plugins.toml has no table)."""

    def state(self, key: str, factory: Callable[[], T]) -> T:
        """Per-host in-memory plugin state: ``factory()`` made once for ``key``, then shared."""

    def request_state(self, key: str, factory: Callable[[], T]) -> T:
        """Per-request state: ``factory()`` made once for ``key`` in an HTTP request, then shared in it."""

    def request_state_known(self, key: str) -> bool:
        """Whether the current HTTP request already holds a value for ``key``."""

    def budget(self) -> Budget:
        """A fresh work budget for one request (parse and expansion limits)."""

    def plugin_names(self) -> list[str]:
        """Names of the registered plugins."""

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run blocking work (store, parsing) in a worker thread and await its result."""

    async def authenticate(self, request: Request) -> Principal | None:
        """The principal a request authenticates as, or None."""

    async def require_principal(self, request: Request) -> Principal:
        """The authenticated principal, or HTTP 401 with a Basic challenge."""

    def identify(self, request: Request) -> Principal | PasswordCheck | None:
        """In a worker thread: the ``authenticate`` hooks' answer (a PasswordCheck when one is pending)."""

    def accessed(self, principal: Principal) -> None:
        """Run the ``principal_accessed`` hooks for a principal about to be used."""

    def privileges(self, principal: Principal | None, collection: Collection) -> frozenset[str]:
        """What ``principal`` may do on ``collection``: a subset of ``kernel.PRIVILEGES``."""

    def privileges_of(
        self, principal: Principal | None, collections: list[Collection], *, reach: Reach | None = None
    ) -> dict[int, frozenset[str]]:
        """:meth:`privileges` of several collections, by id, their groups and grants read once
        (not at all with ``reach``, the principal's ``store.reach``)."""

    def home_privileges(
        self, principal: Principal | None, owner: Principal, *, reach: Reach | None = None
    ) -> frozenset[str]:
        """What ``principal`` may do in ``owner``'s home itself."""

    def container_privileges(
        self, principal: Principal | None, owner: Principal, path: str, *, reach: Reach | None = None
    ) -> frozenset[str]:
        """What ``principal`` may do where a collection at ``path`` in ``owner``'s home is bound."""

    def object_size_limit(self, principal: Principal | None, collection: Collection) -> int:
        """The largest object ``principal`` may store in ``collection``, in bytes."""

    def reachable_collections(self, principal: Principal, *, reach: Reach | None = None) -> list[Collection]:
        """Collections ``principal`` can read outside its own home: its groups' top-level ones,
        then those granted to it, its groups or everyone."""
