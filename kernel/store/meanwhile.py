"""Work run while the database answers (``Store.meanwhile``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Later(Generic[T]):
    """A piece of work that runs once, as soon as a round trip leaves time for it or when its
    result is first asked for, whichever comes first."""

    __slots__ = ("_error", "_result", "_work", "ran")

    def __init__(self, work: Callable[[], T]) -> None:
        self._work: Callable[[], T] | None = work
        self._result: T | None = None
        self._error: Exception | None = None
        #: Whether the work has run.
        self.ran = False

    def run(self) -> None:
        """Run the work unless it has run; what it raises is kept for :meth:`result`."""
        work, self._work = self._work, None
        if work is None:
            return
        try:
            self._result = work()
        except Exception as exc:  # noqa: BLE001 - raised where the result is asked for
            self._error = exc
        self.ran = True

    def result(self) -> T:
        """What the work returned (running it now if it has not run); what it raised, raised."""
        self.run()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]
