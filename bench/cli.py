"""``python -m bench``: teamcal beside Radicale, Xandikos and the floor, in one run.

For each calendar size, and each round, every server is started fresh on a
free 127.0.0.1 port, filled, measured with the shared ``caldav_bench.py``
(seeding, GET, PROPFIND, queries, expand, multiget, sync, PUT, DELETE, the
mixed load, every time-range answer checked against its own expansion),
probed with the fixed-answer week, and stopped; the servers take turns (the
order reverses every round), so that a noisy machine hurts them alike. Sizes
up to ``--put-seed-max`` are seeded by PUT (8 clients, plus a 1-client run
into a second calendar); bigger ones are filled directly (teamcal through its
write pipeline in-process, the peers by writing files into their storage)
and measured with ``--assume-seeded``.

Exit status 1 when any teamcal answer was wrong or any request failed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import probes, report, shared
from bench.servers import PEERS, Floor, Server, Teamcal, peers_missing

#: teamcal's backends and the server name each is reported under.
BACKENDS = {"sqlite": "teamcal", "postgresql": "teamcal-pg"}

#: teamcal on SQLite with the web plugin too (``--with-web``).
WITH_WEB = "teamcal+web"

CALENDAR_C1 = "bench-c1"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=1000, help="calendar size (default 1000)")
    p.add_argument("--sizes", help="several sizes, e.g. 1000,10000,100000 (overrides --events)")
    p.add_argument("--backend", default="sqlite",
                   help="teamcal's store, or several to run side by side: sqlite, postgresql or"
                        " sqlite,postgresql (PostgreSQL: a private cluster started for the run; default sqlite)")
    p.add_argument("--with-web", action="store_true",
                   help="also run teamcal with the web plugin enabled (reported as teamcal+web), to show what it costs CalDAV")
    p.add_argument("--peers", action=argparse.BooleanOptionalAction, default=False,
                   help="also run Radicale and Xandikos (pip install teamcal[bench])")
    p.add_argument("--floor", action=argparse.BooleanOptionalAction, default=True,
                   help="also measure the floor (shared floor.py)")
    p.add_argument("--shared-bench", help="caldav_bench.py (default ../shared/bench/caldav_bench.py)")
    p.add_argument("--rounds", type=int, default=1, help="rounds per size, servers alternating (default 1)")
    p.add_argument("--repeat", type=int, default=30, help="repetitions per operation (default 30)")
    p.add_argument("--concurrency", type=int, default=8, help="clients for seeding and the mixed load")
    p.add_argument("--mixed-seconds", type=float, default=20.0, help="length of the mixed load (default 20)")
    p.add_argument("--put-seed-max", type=int, default=1000,
                   help="largest size seeded by PUT; bigger sizes are filled directly (default 1000)")
    p.add_argument("--peer-max-events", type=int, default=10000,
                   help="largest size the peers are run at (default 10000: their queries take seconds beyond)")
    p.add_argument("--seed-max-seconds", type=float, default=600.0, help="PUT seeding stops after this")
    p.add_argument("--op-max-seconds", type=float, default=60.0, help="one operation's loop stops after this")
    p.add_argument("--teamcal-kernel", action="append", default=[], metavar="LINE",
                   help='an extra [kernel] line for teamcal, e.g. \'synchronous = "normal"\' (repeatable)')
    p.add_argument("--workdir", help="keep servers' data and logs here (default: a temporary folder)")
    p.add_argument("--json", help="write every result here")
    p.add_argument("--markdown", help="write the tables as Markdown here")
    args = p.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [args.events]
    if any(n < 1 for n in args.sizes) or args.rounds < 1:
        p.error("sizes and rounds must be positive")
    args.backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    unknown = set(args.backends) - set(BACKENDS)
    if unknown or not args.backends:
        p.error(f"--backend: one or more of {', '.join(BACKENDS)}, comma-separated")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the tables; 1 when teamcal answered wrongly or failed."""
    args = parse_args(argv)
    try:
        script = shared.locate(args.shared_bench)
    except shared.MissingBenchmark as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    names = [BACKENDS[b] for b in args.backends] + ([WITH_WEB] if args.with_web else [])
    if args.peers:
        missing = peers_missing()
        if missing:
            print(f"bench: {', '.join(missing)} not installed: pip install 'teamcal[bench]'", file=sys.stderr)
            return 2
        names += list(PEERS)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="teamcal-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    Teamcal(workdir).compile()
    results: dict[str, Any] = {"meta": _meta(args), "sizes": {}}
    failed = False
    cluster = _cluster() if "postgresql" in args.backends else None
    args.new_database = cluster.new_schema if cluster is not None else None
    try:
        for size in args.sizes:
            servers, floor = run_size(args, script, workdir, size, names)
            results["sizes"][str(size)] = {"servers": servers, "floor": floor}
            print(report.table(size, servers, floor), flush=True)
            for name in names:
                if name.startswith("teamcal"):
                    mismatches, errors = report.correctness(servers[name]["runs"])
                    failed = failed or bool(mismatches or errors)
        print(report.scaling(results["sizes"]), flush=True)
    finally:
        if cluster is not None:
            cluster.stop()
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1, default=str))
        if args.markdown:
            Path(args.markdown).write_text(
                "\n".join(
                    report.table(int(size), data["servers"], data["floor"], markdown=True)
                    for size, data in results["sizes"].items()
                )
                + (f"\n```\n{growth}```\n" if (growth := report.scaling(results["sizes"])) else "")
            )
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


def run_size(
    args: argparse.Namespace, script: Path, workdir: Path, size: int, names: list[str]
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Every round of one size: (per server {"runs": [...], "skipped": reason}, floor runs)."""
    servers: dict[str, dict[str, Any]] = {n: {"runs": []} for n in names}
    for name in names:
        if not name.startswith("teamcal") and size > args.peer_max_events:
            servers[name]["skipped"] = (
                f"not run at {size:,} events (--peer-max-events {args.peer_max_events:,}): at 10,000 one"
                " week query already takes about a second and grows with the calendar"
            )
    files: list[Path] = []
    if size > args.put_seed_max:
        files = shared.write_events(script, workdir / f"ics-{size}", size)
    floor: list[dict[str, Any]] = []
    for round_no in range(args.rounds):
        order = [n for n in names if "skipped" not in servers[n]]
        if round_no % 2:
            order.reverse()
        for name in order:
            folder = workdir / str(size) / f"round{round_no}" / name
            folder.mkdir(parents=True, exist_ok=True)
            log(f"{size:,} events, round {round_no + 1}: {name}")
            servers[name]["runs"].append(measure(args, script, _server(name, folder, args), size, files))
        if args.floor:
            folder = workdir / str(size) / f"round{round_no}" / "floor"
            folder.mkdir(parents=True, exist_ok=True)
            floor.append(measure_floor(args, script, folder))
    return servers, floor


def _server(name: str, folder: Path, args: argparse.Namespace) -> Server:
    if name == BACKENDS["sqlite"]:
        return Teamcal(folder, args.teamcal_kernel)
    if name == WITH_WEB:
        return Teamcal(folder, args.teamcal_kernel, name=name, plugins=("web",))
    if name == BACKENDS["postgresql"]:
        return Teamcal(folder, args.teamcal_kernel, database=args.new_database(), name=name)
    return PEERS[name](folder)


def _cluster() -> Any:
    """A private PostgreSQL cluster for the run (kernel.testing.postgres), started now, durable:
    each COMMIT waits for its WAL on disk, as SQLite's ``synchronous = FULL`` does."""
    from kernel.testing.postgres import PostgresCluster

    log("starting a private PostgreSQL cluster")
    return PostgresCluster(durable=True).start()


def measure(args: argparse.Namespace, script: Path, server: Server, size: int, files: list[Path]) -> dict[str, Any]:
    """Start, fill, benchmark, probe and stop one server; its results."""
    out: dict[str, Any] = {"server": server.name}
    server.prepare()
    seeded_directly = bool(files)
    if seeded_directly and isinstance(server, Teamcal):
        started = time.perf_counter()
        server.seed_files(files)
        out["direct_seed_s"] = round(time.perf_counter() - started, 1)
    server.start()
    try:
        out["ready_ms"] = round((server.ready_seconds or 0) * 1000, 1)
        out["ready_status"] = server.ready_status
        if seeded_directly and not isinstance(server, Teamcal):
            started = time.perf_counter()
            server.seed_files(files)
            out["direct_seed_s"] = round(time.perf_counter() - started, 1)
        target = shared.Target(server.calendar_url(), *(server.credentials or (None, None)))
        common = {"repeat": args.repeat, "op_max_seconds": args.op_max_seconds,
                  "seed_max_seconds": args.seed_max_seconds, "label": server.name}
        if not seeded_directly:
            c1 = shared.Target(server.calendar_url(CALENDAR_C1), target.user, target.password)
            out["seed_c1"] = shared.run(
                script, c1, server.folder / "seed-c1.json", events=size, concurrency=1,
                mixed_seconds=0, phases="seed", **common,
            )
        out["bench"] = shared.run(
            script, target, server.folder / "bench.json", events=size, concurrency=args.concurrency,
            mixed_seconds=args.mixed_seconds, assume_seeded=seeded_directly, **common,
        )
        out["probe"] = probes.fixed_week(server, max(args.repeat, 100), args.op_max_seconds)
        out["peak_rss_mb"] = server.peak_rss_mb()
    finally:
        server.stop()
    return out


def measure_floor(args: argparse.Namespace, script: Path, folder: Path) -> dict[str, Any]:
    """The floor's 10-row lookup GET, one client then ``--concurrency`` clients."""
    floor = Floor(folder, script.parent / "floor.py")
    floor.start()
    try:
        return shared.run_raw(
            script, floor.base_url + floor.calendar_path(), folder / "floor.json",
            repeat=max(args.repeat, 200), concurrency=args.concurrency, mixed_seconds=min(args.mixed_seconds, 10),
        )
    finally:
        floor.stop()


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _meta(args: argparse.Namespace) -> dict[str, Any]:
    import os
    import platform

    return {
        "sizes": args.sizes, "backends": args.backends, "rounds": args.rounds, "repeat": args.repeat, "concurrency": args.concurrency,
        "mixed_seconds": args.mixed_seconds, "teamcal_kernel": args.teamcal_kernel,
        "python": platform.python_version(), "cpus": os.cpu_count(), "loadavg": os.getloadavg(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
