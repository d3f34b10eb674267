"""Recording hook calls: which hooks ran, with what arguments, and what they answered."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pluggy

from kernel.host import Host


@dataclass(frozen=True)
class HookCall:
    """One call of a hook (all its implementations together): its name, the keyword
    arguments, the answer (a list, or one value for first-result hooks) or the error raised."""

    name: str
    kwargs: dict[str, Any]
    result: Any
    error: BaseException | None

    def __getitem__(self, argument: str) -> Any:
        """An argument of the call: ``call["write"]``."""
        return self.kwargs[argument]


class HookCalls(Sequence[HookCall]):
    """The calls recorded so far, in order (from any thread)."""

    def __init__(self) -> None:
        self._calls: list[HookCall] = []
        self._lock = threading.Lock()

    def _add(self, call: HookCall) -> None:
        with self._lock:
            self._calls.append(call)

    def __getitem__(self, index: Any) -> Any:
        with self._lock:
            return self._calls[index]

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls)

    def named(self, name: str) -> list[HookCall]:
        """The calls of one hook."""
        return [call for call in self if call.name == name]

    def names(self) -> list[str]:
        """The hooks called, in order, once per call."""
        return [call.name for call in self]


@contextlib.contextmanager
def record_hooks(host: Host, *names: str) -> Iterator[HookCalls]:
    """Record the calls of the hooks ``names`` (every hook when none is named) on ``host``
    while the block runs; ``with record_hooks(host, "validate_object") as calls: ...``.

    Hooks called by the kernel and by plugins are recorded, in any thread: requests of an
    :func:`kernel.testing.app_client` on this host too. (A :class:`kernel.testing.LiveServer`
    builds a host of its own: record on ``server.host``.) Recorders may nest.
    """
    unknown = [name for name in names if getattr(getattr(host.hook, name, None), "spec", None) is None]
    if unknown:
        raise LookupError(f"no hook named {unknown[0]!r} on this host (is the plugin declaring it enabled?)")
    wanted = set(names)
    calls = HookCalls()
    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Any) -> None:
        pass

    def after(outcome: pluggy.Result[Any], hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Any) -> None:
        if wanted and hook_name not in wanted:
            return
        error = outcome.exception
        calls._add(HookCall(hook_name, dict(kwargs), None if error else outcome.get_result(), error))

    undo = host.pm.add_hookcall_monitoring(before, after)
    try:
        yield calls
    finally:
        undo()
