"""One budget for the work a request may do on calendar data.

A calendar object can cost far more than its size: a 300-byte event may repeat
every second, a 500-byte time zone may change its offset every second since
1601. Every CPU-heavy path counts its work on a :class:`Budget` and stops with
:class:`OverBudget` once a limit is passed, so what a request costs follows
the limits, not the density of the calendar it touches. A request gets one
budget, shared by every object it touches (``Host.budget()``); code called
without one gets a fresh budget with the default limits.

Counters (``Limits`` fields, from the ``budget_*`` settings of ``[kernel]``):

* ``instances``: recurrence instances examined, of events (indexing on write,
  queries past the index horizon, free-busy, expand) and of time zone
  observances (one per rule period when a custom VTIMEZONE is tabulated);
* ``nodes``: components generated for an answer (each expanded instance is one);
* ``bytes``: calendar data generated for an answer (expand and subsets).

Two more limits are checked per time zone rather than counted per request
(``kernel.zones``): its observances and its possible transitions.

``OverBudget`` is a ``Rejected`` answering 507 (RFC 4918: the server cannot
complete the request within its resources) with a sentence naming the limit;
writes turn it into a 403 with the CalDAV precondition that fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from kernel.config import KernelSettings
from kernel.types import Rejected

#: What each counter counts, for messages.
_UNITS = {
    "instances": "recurrence instances",
    "nodes": "generated calendar components",
    "bytes": "bytes of generated calendar data",
}


@dataclass(frozen=True)
class Limits:
    """The budget of one request, and the limits on one time zone."""

    instances: int
    nodes: int
    bytes: int
    zone_observances: int
    zone_transitions: int

    @classmethod
    def from_settings(cls, kernel: KernelSettings) -> Limits:
        """The limits configured in the ``[kernel]`` table."""
        return cls(
            instances=kernel.budget_instances,
            nodes=kernel.budget_nodes,
            bytes=int(kernel.budget_bytes),
            zone_observances=kernel.zone_max_observances,
            zone_transitions=kernel.zone_max_transitions,
        )


@cache
def default_limits() -> Limits:
    """The limits of a ``[kernel]`` table that sets none."""
    return Limits.from_settings(KernelSettings())


class OverBudget(Rejected):
    """A request that needs more work than its budget allows (507 with a clear sentence)."""

    def __init__(self, counter: str, limit: int, message: str) -> None:
        super().__init__(507, None, message)
        self.counter = counter
        self.limit = limit


class Budget:
    """The work one request has done so far, against its :class:`Limits`."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or default_limits()
        self.used = dict.fromkeys(_UNITS, 0)
        self._limit: dict[str, int] = {counter: getattr(self.limits, counter) for counter in _UNITS}

    def spend(self, counter: str, amount: int = 1) -> None:
        """Count ``amount`` units of work; raise :class:`OverBudget` past the limit."""
        used = self.used[counter] = self.used[counter] + amount
        if used > self._limit[counter]:
            limit = self._limit[counter]
            raise OverBudget(
                counter,
                limit,
                f"This request needs more than {limit:,} {_UNITS[counter]}, the most one request may use"
                f" (setting budget_{counter}); ask for a shorter time range or fewer objects.",
            )

    def left(self, counter: str) -> int:
        """How many units of ``counter`` the request may still spend."""
        limit: int = getattr(self.limits, counter)
        return limit - self.used[counter]
