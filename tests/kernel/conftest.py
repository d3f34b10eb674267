"""Fixtures for kernel tests: hosts with a recording test plugin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel import Rejected, hookimpl
from kernel.host import Host
from kernel.testing import event_object as event  # noqa: F401  (tests import it from here)
from kernel.testing import make_host


class Recorder:
    """A test plugin that records notifications and vetoes what it is told to."""

    def __init__(self) -> None:
        self.committed: list[Any] = []
        self.veto_summary: str | None = None
        self.veto_calendar: str | None = None
        self.seen_writes: list[Any] = []
        #: (name, resource id, ETag, the row as the transaction reads it) of each object_stored
        self.stored: list[tuple[str, int, str, Any]] = []
        self.fail_stored = False

    @hookimpl
    def validate_object(self, host: Host, tx: Any, write: Any) -> None:
        """Refuse objects whose SUMMARY is the veto word."""
        self.seen_writes.append(write)
        if self.veto_summary and write.calendar is not None:
            for comp in write.calendar.walk("VEVENT"):
                if str(comp.get("SUMMARY")) == self.veto_summary:
                    raise Rejected(403, "{urn:teamcal:test}no-" + self.veto_summary, "Vetoed by the test.")

    @hookimpl
    def object_stored(self, tx: Any, write: Any, resource: Any) -> None:
        """Remember the stored row (and what the transaction reads of it); fail when told to."""
        self.stored.append((write.name, resource.id, resource.etag, tx.resource(write.collection.id, write.name)))
        if self.fail_stored:
            raise RuntimeError("object_stored failed")

    @hookimpl
    def validate_calendar(self, host: Host, tx: Any, op: Any) -> None:
        """Refuse collections at the veto path."""
        if self.veto_calendar and op.path == self.veto_calendar:
            raise Rejected(403, None, "Vetoed by the test.")

    @hookimpl
    def changes_committed(self, host: Host, changes: list[Any]) -> None:
        """Remember what was committed."""
        self.committed.extend(changes)


@pytest.fixture
def recorder() -> Recorder:
    """A fresh recording plugin."""
    return Recorder()


@pytest.fixture
def host(tmp_path: Path, recorder: Recorder) -> Iterator[Host]:
    """A migrated host with no built-in plugins and the recorder."""
    h = make_host(tmp_path, plugins=[("recorder", recorder)])
    yield h
    h.close()
