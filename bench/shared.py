"""The agreed benchmark in ../shared/bench: finding it and running it as a subprocess.

``caldav_bench.py`` seeds a calendar, times the CalDAV operations, checks every
time-range answer against its own expansion and writes its results as JSON;
``floor.py`` is the best case of a Python ASGI stack on the machine. Both stay
where they are: this package only runs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED_BENCH = PROJECT.parent / "shared" / "bench" / "caldav_bench.py"


class MissingBenchmark(RuntimeError):
    """caldav_bench.py is not where it was looked for."""


def locate(path: str | Path | None) -> Path:
    """The caldav_bench.py to use (``--shared-bench``, else ../shared/bench/caldav_bench.py)."""
    found = Path(path) if path else DEFAULT_SHARED_BENCH
    if not found.is_file():
        raise MissingBenchmark(
            f"{found} not found: pass --shared-bench PATH to the shared caldav_bench.py"
        )
    return found.resolve()


@dataclass(frozen=True)
class Target:
    """Where caldav_bench sends its requests."""

    url: str
    user: str | None = None
    password: str | None = None


def run(
    script: Path,
    target: Target,
    out: Path,
    *,
    events: int,
    concurrency: int,
    repeat: int,
    mixed_seconds: float,
    phases: str = "seed,ops,mixed",
    assume_seeded: bool = False,
    seed_max_seconds: float = 600.0,
    op_max_seconds: float = 60.0,
    label: str = "",
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run caldav_bench.py against one calendar URL and return its JSON results.

    ``timeout`` bounds the whole subprocess (default: generous for the phases asked).
    """
    cmd = [
        sys.executable, str(script), "--url", target.url, "--events", str(events),
        "--concurrency", str(concurrency), "--repeat", str(repeat), "--mixed-seconds", str(mixed_seconds),
        "--phases", phases, "--seed-max-seconds", str(seed_max_seconds),
        "--op-max-seconds", str(op_max_seconds), "--label", label, "--json", str(out), "--quiet",
    ]
    if target.user is not None:
        cmd += ["--user", target.user, "--password", target.password or ""]
    if assume_seeded:
        cmd.append("--assume-seeded")
    limit = timeout or (seed_max_seconds + 12 * op_max_seconds + mixed_seconds + 600)
    _call(cmd, limit, out)
    return json.loads(out.read_text())


def run_raw(script: Path, url: str, out: Path, *, repeat: int, concurrency: int, mixed_seconds: float) -> dict[str, Any]:
    """caldav_bench.py in floor mode: plain GETs of ``url`` ('{i}' counts up)."""
    cmd = [
        sys.executable, str(script), "--raw-get", url, "--repeat", str(repeat),
        "--concurrency", str(concurrency), "--mixed-seconds", str(mixed_seconds),
        "--json", str(out), "--quiet",
    ]
    _call(cmd, 300 + mixed_seconds, out)
    return json.loads(out.read_text())


def write_events(script: Path, directory: Path, events: int) -> list[Path]:
    """The benchmark's N generated events as files ``ev-NNNNNN.ics`` (its ``--write-ics``)."""
    cmd = [sys.executable, str(script), "--write-ics", str(directory), "--events", str(events)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=900)
    return sorted(directory.glob("ev-*.ics"))


def _call(cmd: list[str], timeout: float, out: Path) -> None:
    log = out.with_suffix(".log")
    with open(log, "wb") as fh:
        done = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout)
    if done.returncode != 0 or not out.is_file():
        tail = log.read_text(errors="replace")[-800:]
        raise RuntimeError(f"caldav_bench.py failed ({done.returncode}); see {log}:\n{tail}")
