"""Fixtures for the limits plugin: hosts with chosen [limits] settings, calendar objects of chosen shape."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kernel import Collection, Host, Principal
from kernel.testing import add_user, make_host

CALDAV = "{urn:ietf:params:xml:ns:caldav}"
TEAMCAL = "{urn:teamcal}"


def calendar_object(
    uid: str = "e1",
    *,
    attendees: int = 0,
    rrule: str | None = None,
    rdates: Iterable[str] = (),
    exdates: Iterable[str] = (),
    overrides: Iterable[tuple[str, int]] = (),
    start: str = "20300107T100000Z",
    summary: str = "meeting",
    component: str = "VEVENT",
) -> bytes:
    """A calendar object: a master with ``attendees`` ATTENDEEs, an optional rule, RDATEs and
    EXDATEs, and overridden instances given as (RECURRENCE-ID, attendees)."""

    def people(n: int) -> list[str]:
        return [f"ATTENDEE;CN=Person {i}:mailto:p{i}@example.com" for i in range(n)]

    end = "DTEND" if component == "VEVENT" else "DUE"
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//teamcal tests//limits//EN", f"BEGIN:{component}",
             f"UID:{uid}", "DTSTAMP:20240101T000000Z", f"DTSTART:{start}", f"{end}:{start[:9]}110000Z",
             f"SUMMARY:{summary}", *people(attendees)]
    if rrule:
        lines.append(f"RRULE:{rrule}")
    lines += [f"RDATE:{d}" for d in rdates]
    lines += [f"EXDATE:{d}" for d in exdates]
    lines.append(f"END:{component}")
    for rid, n in overrides:
        lines += [f"BEGIN:{component}", f"UID:{uid}", "DTSTAMP:20240101T000000Z", f"RECURRENCE-ID:{rid}",
                  f"DTSTART:{rid[:9]}120000Z", f"{end}:{rid[:9]}130000Z", "SUMMARY:moved", *people(n),
                  f"END:{component}"]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def sized_object(uid: str, size: int) -> bytes:
    """A one-event calendar object of exactly ``size`` bytes (its SUMMARY pads it)."""
    bare = len(calendar_object(uid, summary=""))
    data = calendar_object(uid, summary="x" * (size - bare))
    assert len(data) == size
    return data


@dataclass(frozen=True)
class Footprint:
    """What a write leaves behind: resources, index rows and change-feed rows."""

    resources: int
    instances: int
    changes: int


def footprint(host: Host) -> Footprint:
    """Count everything a write could have left in the database."""
    store = host.store
    return Footprint(
        resources=store.execute("SELECT count(*) FROM resources").fetchone()[0],
        instances=store.execute("SELECT count(*) FROM instances").fetchone()[0],
        changes=store.latest_seq(),
    )


@dataclass
class Deployment:
    """A host with the limits plugin, user alice and her calendar ``cal``."""

    host: Host
    alice: Principal
    cal: Collection

    def calendar(self, owner: Principal, path: str) -> Collection:
        """Create a calendar in ``owner``'s home."""
        return self.host.writes.create_collection(owner, path, "calendar", principal=owner)

    def put(self, data: bytes, name: str = "e1.ics", collection: Collection | None = None, **kw: object) -> object:
        """Store an object as alice (through the write pipeline)."""
        target = collection or self.cal
        return self.host.writes.put_object(target, name, data, principal=self.alice, source="caldav", **kw)


@pytest.fixture
def deploy(tmp_path: Path) -> Iterator[Callable[..., Deployment]]:
    """Build a deployment: ``extra`` is TOML appended to plugins.toml, ``kernel`` lines for [kernel]."""
    hosts: list[Host] = []

    def build(extra: str = "", enabled: Iterable[str] = ("limits",), kernel: str = "") -> Deployment:
        folder = tmp_path / f"d{len(hosts)}"
        folder.mkdir()
        host = make_host(folder, enabled, extra, kernel=kernel)
        hosts.append(host)
        alice = add_user(host, "alice")
        cal = host.writes.create_collection(alice, "cal", "calendar", principal=alice)
        return Deployment(host, alice, cal)

    yield build
    for host in hosts:
        host.close()
