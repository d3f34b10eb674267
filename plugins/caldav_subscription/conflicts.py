"""Who wins when both sides changed the same object since the last sync.

Kinds of conflict: ``both-modified`` (edited on both sides), ``local-deleted``
(deleted here, edited there), ``remote-deleted`` (edited here, deleted there).

- ``remote-wins``: the remote's state stays (the default: the remote is the source of truth).
- ``local-wins``: the local state stays and is pushed.
- ``newest-wins``: for two edits, the version with the later LAST-MODIFIED wins, then
  the higher SEQUENCE, and the remote on a tie; an edit always beats a deletion
  (the deletion's time is unknown, and keeping data is the safer mistake).
"""

from __future__ import annotations

from datetime import UTC, datetime

from kernel.icaltext import read_calendar
from plugins.caldav_subscription.feeds import COMPONENTS


def winner(policy: str, kind: str, local: bytes | None, remote: bytes | None) -> str:
    """"local" or "remote": whose version of a conflicting object stays."""
    if policy == "local-wins":
        return "local"
    if policy == "remote-wins":
        return "remote"
    if kind == "local-deleted":
        return "remote"
    if kind == "remote-deleted":
        return "local"
    local_key, remote_key = freshness(local), freshness(remote)
    if local_key[0] is not None and remote_key[0] is not None and local_key[0] != remote_key[0]:
        return "local" if local_key[0] > remote_key[0] else "remote"
    if local_key[1] != remote_key[1]:
        return "local" if local_key[1] > remote_key[1] else "remote"
    return "remote"


def freshness(data: bytes | None) -> tuple[float | None, int]:
    """(latest LAST-MODIFIED as a UTC timestamp or None, highest SEQUENCE) of an object."""
    if not data:
        return None, -1
    try:
        calendar = read_calendar(data)
    except Exception:  # noqa: BLE001 - whatever a remote sends, this must not raise
        return None, -1
    modified: float | None = None
    sequence = -1
    for component in calendar.walk():
        if component.name not in COMPONENTS:
            continue
        value = component.get("LAST-MODIFIED")
        stamp = _timestamp(getattr(value, "dt", None))
        if stamp is not None and (modified is None or stamp > modified):
            modified = stamp
        try:
            sequence = max(sequence, int(component.get("SEQUENCE", -1)))
        except (TypeError, ValueError):
            pass
    return modified, sequence


def _timestamp(value: object) -> float | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()
