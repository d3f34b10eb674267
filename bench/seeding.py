"""Filling a teamcal calendar fast: the kernel's write pipeline in-process, no HTTP.

Every object still goes through ``host.writes.put_object`` (parsing,
validation hooks, the instance index, the change feed), only many of them to
one transaction, so a 100,000-event calendar is the same database a client's
PUTs would have left. On PostgreSQL the tables are vacuumed and analysed after the load.
"""

from __future__ import annotations

import time
from pathlib import Path

#: Objects written per transaction.
BATCH = 500


def seed_teamcal(config: Path, user: str, calendar: str, files: list[Path]) -> float:
    """Create ``user``'s calendar (if needed) and write every file into it; objects per second."""
    from kernel.host import Host

    host = Host.from_config(config)
    try:
        owner = host.store.principal(user)
        if owner is None:
            raise RuntimeError(f"no user {user!r} in {config}")
        collection = host.store.collection(owner.id, calendar)
        if collection is None:
            collection = host.writes.create_collection(
                owner, calendar, "calendar", principal=owner,
                attrs={"display_name": calendar, "components": ("VEVENT",)}, source="bench",
            )
        started = time.perf_counter()
        for first in range(0, len(files), BATCH):
            with host.writes.transaction():
                for path in files[first : first + BATCH]:
                    host.writes.put_object(collection, path.name, path.read_bytes(), principal=owner, source="bench")
        elapsed = time.perf_counter() - started
        if host.store.dialect == "postgresql":
            # what autovacuum does within a minute of a bulk load (and `teamcal store copy` at its
            # end): without it, it would run during the measurement, on the same cores
            host.store.execute("VACUUM (ANALYZE)")
    finally:
        host.close()
    return len(files) / elapsed if elapsed > 0 else 0.0
