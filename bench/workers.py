"""``python -m bench.workers``: the mixed load with ``[kernel] workers = 1, 2, 4`` on each backend.

For each calendar size, teamcal is filled once per (backend, workers) pair
through the write pipeline, started with that many worker processes, and the
shared benchmark's mixed load (``--concurrency`` clients: GETs, week queries,
sync-collection and If-Match updates, every week answer checked) runs against
it for ``--mixed-seconds``. The pairs take turns, in reverse order every
round, so that a noisy machine hurts them alike; the table gives each pair's
median ops/s over the rounds, its errors and wrong answers, and its ratio to
one worker on the same backend.

Exit status 1 when any answer was wrong or any request failed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import shared
from bench.cli import log
from bench.seeding import seed_teamcal
from bench.servers import CALENDAR, PASSWORD, USER, Teamcal


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10000", help="calendar sizes (default 10000)")
    p.add_argument("--workers", default="1,2,4", help="worker counts (default 1,2,4)")
    p.add_argument("--backend", default="sqlite,postgresql", help="sqlite, postgresql or both (default both)")
    p.add_argument("--rounds", type=int, default=2, help="rounds, pairs alternating (default 2)")
    p.add_argument("--concurrency", type=int, default=8, help="clients of the mixed load (default 8)")
    p.add_argument("--mixed-seconds", type=float, default=20.0, help="length of each mixed load (default 20)")
    p.add_argument("--shared-bench", help="caldav_bench.py (default ../shared/bench/caldav_bench.py)")
    p.add_argument("--markdown", help="also write the table as Markdown here")
    args = p.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.worker_counts = [int(w) for w in args.workers.split(",")]
    args.backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    if set(args.backends) - {"sqlite", "postgresql"} or not args.backends:
        p.error("--backend: sqlite, postgresql or sqlite,postgresql")
    if args.rounds < 1 or min(args.sizes) < 1 or min(args.worker_counts) < 1:
        p.error("sizes, workers and rounds must be positive")
    return args


def mixed_once(
    args: argparse.Namespace, script: Path, server: Teamcal, files: list[Path], size: int
) -> dict[str, Any]:
    """Fill, start, run the mixed load and stop one server; the benchmark's mixed results."""
    server.folder.mkdir(parents=True, exist_ok=True)
    server.prepare()
    seed_teamcal(server.config, USER, CALENDAR, files)
    server.start()
    try:
        target = shared.Target(server.calendar_url(), USER, PASSWORD)
        result = shared.run(
            script, target, server.folder / "mixed.json", events=size, concurrency=args.concurrency,
            repeat=1, mixed_seconds=args.mixed_seconds, phases="mixed", assume_seeded=True, label=server.name,
        )
    finally:
        server.stop()
    return dict(result["mixed"])


def table(size: int, runs: dict[tuple[str, int], list[dict[str, Any]]], markdown: bool = False) -> str:
    """One size's results: median ops/s (all, reads: GET and week query, writes: If-Match PUT), the ratio to
    one worker, p50/p95 of the week query, p50 of the PUT, errors and wrong answers."""
    head = ["backend", "workers", "ops/s", "vs 1 worker", "reads/s", "writes/s", "week p50 ms", "week p95 ms",
            "PUT p50 ms", "errors", "wrong"]
    rows = []
    for (backend, workers), results in runs.items():
        ops = statistics.median(r["ops_per_s"] for r in results)
        one = runs.get((backend, 1))
        base = statistics.median(r["ops_per_s"] for r in one) if one else None
        week = [r["week_query"] for r in results]
        reads = statistics.median(r["week_query"].get("ops_per_s", 0) + r["get"].get("ops_per_s", 0) for r in results)
        writes = statistics.median(r["put_update"].get("ops_per_s", 0) for r in results)
        rows.append([
            backend, str(workers), f"{ops:,.0f}", f"{ops / base:.2f}x" if base else "", f"{reads:,.0f}", f"{writes:,.0f}",
            f"{statistics.median(w.get('median_ms') or 0 for w in week):.1f}",
            f"{statistics.median(w.get('p95_ms') or 0 for w in week):.1f}",
            f"{statistics.median(r['put_update'].get('median_ms') or 0 for r in results):.1f}",
            str(sum(r["errors"] for r in results)), str(sum(r["mismatches"] for r in results)),
        ])
    title = f"{size:,} events, {args_note(runs)}"
    if markdown:
        lines = [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    widths = [max(len(h), *(len(r[i]) for r in rows)) + 2 for i, h in enumerate(head)]
    out = [f"== {title}", "".join(h.rjust(w) for h, w in zip(head, widths))]
    out += ["".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out) + "\n"


def args_note(runs: dict[tuple[str, int], list[dict[str, Any]]]) -> str:
    """How many rounds and clients the numbers are over."""
    first = next(iter(runs.values()))
    return f"{len(first)} round(s) of {first[0]['concurrency']} clients for {first[0]['target_seconds']:g} s"


def main(argv: list[str] | None = None) -> int:
    """Run every (backend, workers) pair for every size; print the tables; 1 on any error or wrong answer."""
    args = parse_args(argv)
    script = shared.locate(args.shared_bench)
    workdir = Path(tempfile.mkdtemp(prefix="teamcal-workers-"))
    cluster = None
    failed = False
    tables = []
    try:
        if "postgresql" in args.backends:
            from kernel.testing.postgres import PostgresCluster

            cluster = PostgresCluster(durable=True).start()
        for size in args.sizes:
            files = shared.write_events(script, workdir / f"ics-{size}", size)
            pairs = [(b, w) for b in args.backends for w in args.worker_counts]
            runs: dict[tuple[str, int], list[dict[str, Any]]] = {pair: [] for pair in pairs}
            for round_no in range(args.rounds):
                for backend, workers in pairs if round_no % 2 == 0 else list(reversed(pairs)):
                    log(f"{size:,} events, round {round_no + 1}: {backend}, {workers} worker(s)")
                    folder = workdir / str(size) / f"round{round_no}" / f"{backend}-{workers}"
                    database = cluster.new_schema() if backend == "postgresql" and cluster else "teamcal.sqlite3"
                    server = Teamcal(folder, [f"workers = {workers}"], database=database, name=f"teamcal-{backend}-{workers}")
                    result = mixed_once(args, script, server, files, size)
                    runs[(backend, workers)].append(result)
                    failed = failed or bool(result["errors"] or result["mismatches"])
            tables.append((size, runs))
            print(table(size, runs), flush=True)
    finally:
        if cluster is not None:
            cluster.stop()
        if args.markdown:
            Path(args.markdown).write_text("\n".join(table(size, runs, markdown=True) for size, runs in tables))
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    log(f"done in {time.perf_counter() - started:.0f} s")
    sys.exit(code)
