"""``python -m bench.ceiling``: how far the benchmark's own client can go on this machine.

The mixed load (8 clients; 40% week queries, 40% GETs, 20% PUTs) is run against teamcal,
then against ``bench.replay``, which answers every request from memory with teamcal's
own answers. What the client reaches against the replay is the most any server can show
on this machine with this client: its threads parse every week answer (hundreds of
kilobytes at 10,000 events) under one interpreter lock, on the same cores as the server.
The rounds alternate; the CPU each side spent per operation is reported beside the rate.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import shared
from bench.servers import Replay, Server, Teamcal


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=10_000, help="calendar size (default 10,000)")
    p.add_argument("--concurrency", type=int, default=8, help="clients of the mixed load (default 8)")
    p.add_argument("--mixed-seconds", type=float, default=20.0, help="length of each mixed load (default 20)")
    p.add_argument("--rounds", type=int, default=2, help="rounds, teamcal and the replay alternating (default 2)")
    p.add_argument("--warm-seconds", type=float, default=5.0,
                   help="mixed load that fills the replay with teamcal's answers before any is timed (default 5)")
    p.add_argument("--shared-bench", help="caldav_bench.py (default ../shared/bench/caldav_bench.py)")
    p.add_argument("--workdir", help="keep data and logs here (default: a temporary folder)")
    p.add_argument("--json", help="write the results here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Fill teamcal, start the replay in front of it, run the mixed load against each in turn."""
    args = parse_args(argv)
    script = shared.locate(args.shared_bench)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="teamcal-ceiling-"))
    try:
        files = shared.write_events(script, workdir / f"ics-{args.events}", args.events)
        (workdir / "teamcal").mkdir(parents=True, exist_ok=True)
        (workdir / "replay").mkdir(parents=True, exist_ok=True)
        teamcal = Teamcal(workdir / "teamcal")
        teamcal.prepare()
        teamcal.seed_files(files)
        teamcal.start()
        replay = Replay(workdir / "replay", teamcal, workdir / f"ics-{args.events}")
        try:
            replay.start()
            mixed(args, script, replay, workdir / "warm.json", args.warm_seconds)
            runs: dict[str, list[dict[str, Any]]] = {"teamcal": [], "replay": []}
            for round_no in range(args.rounds):
                order = [teamcal, replay] if round_no % 2 == 0 else [replay, teamcal]
                for server in order:
                    out = workdir / f"{server.name}-{round_no}.json"
                    runs[server.name].append(mixed(args, script, server, out, args.mixed_seconds))
        finally:
            replay.stop()
            teamcal.stop()
        print(table(runs))
        if args.json:
            Path(args.json).write_text(json.dumps(runs, indent=1))
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def mixed(args: argparse.Namespace, script: Path, server: Server, out: Path, seconds: float) -> dict[str, Any]:
    """One mixed load against ``server``: ops/s, errors, wrong answers, and the CPU seconds per
    operation the client (a finished child) and the server (by its PID) spent."""
    server_before = _cpu_of(server.pid)
    client_before = _children_cpu()
    target = shared.Target(server.calendar_url(), *(server.credentials or (None, None)))
    started = time.perf_counter()
    result = shared.run(script, target, out, events=args.events, concurrency=args.concurrency, repeat=1,
                        mixed_seconds=seconds, phases="mixed", assume_seeded=True)
    load = result["mixed"]
    ops = max(load["ops_total"], 1)
    return {
        "ops_per_s": load["ops_per_s"], "errors": load["errors"], "mismatches": load["mismatches"],
        "client_cpu_ms_per_op": round((_children_cpu() - client_before) * 1000 / ops, 3),
        "server_cpu_ms_per_op": round((_cpu_of(server.pid) - server_before) * 1000 / ops, 3),
        "wall_s": round(time.perf_counter() - started, 1),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_of(pid: int | None) -> float:
    """CPU seconds a running process has used (utime + stime of /proc/PID/stat)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def table(runs: dict[str, list[dict[str, Any]]]) -> str:
    """The rounds as a Markdown table."""
    lines = ["| server | round | ops/s | errors / wrong | client CPU ms/op | server CPU ms/op |",
             "|---|---|---|---|---|---|"]
    for name, results in runs.items():
        for round_no, r in enumerate(results, 1):
            lines.append(f"| {name} | {round_no} | {r['ops_per_s']:.0f} | {r['errors']} / {r['mismatches']} |"
                         f" {r['client_cpu_ms_per_op']:.2f} | {r['server_cpu_ms_per_op']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
