"""Export throughput for the issue note: 10,000 events, mapping + batching, no rate limiter.

Run: ``python -m tests.atlassian_export.measure_throughput [EVENTS]``. Seeds the
events through ``host.writes`` (one in ten a weekly series), then times (1) the
first full export through the journal (pull pages of 500, acknowledged) and (2)
`teamcal export atlassian`'s full export, both with the JSON encoding of the
requests; prints objects per second.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from plugins.atlassian_export.batches import set_objects_requests
from plugins.atlassian_export.plan import full_export
from plugins.atlassian_export.pull import page

from .conftest import NOW, ics, make_world


def main(events: int = 10_000) -> None:
    """Seed, export twice, print the numbers."""
    with tempfile.TemporaryDirectory() as directory:
        world = make_world(Path(directory))
        started = time.perf_counter()
        with world.host.writes.transaction():
            for n in range(events):
                rule = "FREQ=WEEKLY;COUNT=20" if n % 10 == 0 else ""
                world.put(f"e{n}.ics", ics(f"e{n}", NOW + timedelta(minutes=7 * n), rrule=rule,
                                           extra=f"DESCRIPTION:Agenda {n}\nLOCATION:Room {n % 40}"))
        seeded = time.perf_counter() - started

        deployment = world.deployment
        started = time.perf_counter()
        cursor, objects, size = None, 0, 0
        for _ in range(events):
            answer = page(deployment, cursor, 500, NOW)
            objects += sum(len(r["objects"]) for r in answer["requests"])
            size += len(json.dumps(answer))
            cursor = answer["cursor"]
            if not answer["more"]:
                break
        page(deployment, cursor, 500, NOW)
        pulled = time.perf_counter() - started

        started = time.perf_counter()
        upserts = []
        for _, _, found, _ in full_export(deployment, [deployment.calendar(world.calendar.id)], 1, NOW):
            upserts.extend(("alice/work", o) for o in found)
        document = json.dumps({"requests": set_objects_requests(upserts), "deletions": [], "cursor": 1})
        full = time.perf_counter() - started
        world.host.close()
    print(f"{events} events seeded in {seeded:.1f} s")
    print(f"journal + pull pages: {objects} objects in {pulled:.2f} s = {objects / pulled:,.0f} objects/s"
          f" ({size / 1e6:.1f} MB JSON)")
    print(f"full export (CLI path): {len(upserts)} objects in {full:.2f} s = {len(upserts) / full:,.0f} objects/s"
          f" ({len(document) / 1e6:.1f} MB JSON)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
