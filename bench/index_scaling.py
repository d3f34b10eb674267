"""Does a week's time-range query cost the same on a big calendar as on a small one?

Seeds a calendar straight through the kernel's write pipeline (no HTTP):
N background events (single and weekly series) spread over ten years but
never in the measured week, plus the same 20 events inside that week, so the
answer's size is held equal. Then times ``store.time_range`` plus fetching the
answers' data, the work behind a CalDAV week query, alternating between the
sizes, and reports the peak memory of the process and the size of the database.

    python -m bench.index_scaling --events 1000 100000
    python -m bench.index_scaling --events 1000000 --calendars 1000   # 1,000 calendars of 1,000
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kernel.testing import add_user, make_host

DAY = 86400
EPOCH = 1704067200  # 2024-01-01T00:00:00Z, a Monday
WEEK_START = EPOCH + 52 * 7 * DAY  # the measured week: 2024-12-30
IN_WEEK = 20


def _stamp(seconds: int) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))


def _event(uid: str, start: int, weekly: int = 0) -> bytes:
    rule = f"RRULE:FREQ=WEEKLY;COUNT={weekly}\r\n" if weekly else ""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//teamcal bench//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:{_stamp(start)}\r\nDTEND:{_stamp(start + 3600)}\r\n"
        f"{rule}SUMMARY:event {uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def seed(events: int, directory: Path, calendars: int = 1) -> tuple[Any, int, dict[str, float]]:
    """Seed ``events`` events in a fresh host under ``directory`` (spread over ``calendars``
    calendars; the measured week's 20 in the last one): (host, that calendar's id, figures)."""
    host = make_host(directory)
    alice = add_user(host, "alice")
    cals = [host.writes.create_collection(alice, f"big{k}", "calendar", principal=alice) for k in range(calendars)]
    cal = cals[-1]
    rnd = random.Random(42)
    started = time.perf_counter()
    background = events - IN_WEEK
    batch = 1000
    for first in range(0, background, batch):
        with host.writes.transaction():
            for i in range(first, min(background, first + batch)):
                day = rnd.randrange(0, 3650)
                if WEEK_START - 30 * 7 * DAY <= EPOCH + day * DAY < WEEK_START + 7 * DAY:
                    day += 400  # keep weekly series of up to 20 weeks out of the measured week
                start = EPOCH + day * DAY + rnd.randrange(0, 96) * 900
                host.writes.put_object(cals[i % calendars], f"b{i}.ics", _event(f"b{i}", start, 20 if i % 10 == 0 else 0),
                                       principal=alice)
    with host.writes.transaction():
        for i in range(IN_WEEK):
            start = WEEK_START + (i % 7) * DAY + 9 * 3600 + (i // 7) * 3600
            host.writes.put_object(cal, f"w{i}.ics", _event(f"w{i}", start), principal=alice)
    seeded = time.perf_counter() - started
    size = sum(f.stat().st_size for f in directory.iterdir() if f.name.startswith("teamcal.sqlite3"))
    return host, cal.id, {
        "events": events,
        "calendars": calendars,
        "database_mb": size / 2**20,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "seed_seconds": seeded,
        "seed_per_second": events / seeded,
    }


def week_query(host: Any, collection_id: int) -> tuple[float, int]:
    """(seconds, answers) of one week query: the index, then the answers' rows with their data."""
    t = time.perf_counter()
    ids = host.store.time_range(collection_id, WEEK_START, WEEK_START + 7 * DAY)
    rows = host.store.resources_by_ids(ids, with_data=True)
    return time.perf_counter() - t, len(rows)


def main(argv: list[str] | None = None) -> int:
    """Run the measurement for each size and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1000, 100000])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--calendars", type=int, default=1, help="spread the events over this many calendars")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        seeded = []
        for n in args.events:
            directory = Path(tmp) / str(n)
            directory.mkdir()
            seeded.append(seed(n, directory, args.calendars))
        # the sizes' queries alternate, so that the machine's drift over a long seeding does not
        # land on one size (timed one after the other, two runs differed by 2x)
        timings: list[list[float]] = [[] for _ in seeded]
        answers = [0 for _ in seeded]
        for k in range(args.repeat):
            order = range(len(seeded)) if k % 2 else reversed(range(len(seeded)))
            for j in order:
                host, collection_id, _ = seeded[j]
                elapsed, answers[j] = week_query(host, collection_id)
                timings[j].append(elapsed)
        for (host, _, figures), times, found in zip(seeded, timings, answers, strict=True):
            host.close()
            rows.append({**figures, "week_query_ms": statistics.median(times) * 1000, "answers": found})
            r = rows[-1]
            print(
                f"{r['events']:>8} events in {r['calendars']} calendar(s): seeded at {r['seed_per_second']:.0f}/s,"
                f" week query {r['week_query_ms']:.3f} ms median ({r['answers']} answers),"
                f" peak RSS after seeding {r['peak_rss_mb']:.0f} MB, database {r['database_mb']:.0f} MB",
                flush=True,
            )
    if len(rows) > 1:
        print(f"ratio largest/smallest: {rows[-1]['week_query_ms'] / rows[0]['week_query_ms']:.2f}")
    print(f"peak RSS of the run: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0 if all(r["answers"] == IN_WEEK for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
