"""The comparison table: one row per operation, a column per server, and the ratios.

A ratio says how many times better teamcal did than the other server on that
row (its time divided by teamcal's, or teamcal's throughput divided by its):
above 1 teamcal is faster. Beside the floor it says how many times the
floor's cost teamcal pays. With several backends (``--backend sqlite,postgresql``)
the first column is teamcal on the first, and teamcal on the others is compared
with it like a peer. When a size ran several rounds, each cell is the median of
the rounds.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    """One line of the table and how to read it from a server's results."""

    key: str
    label: str
    higher_is_better: bool
    read: Callable[[dict[str, Any]], float | None]


def _op(name: str, field: str = "median_ms") -> Callable[[dict[str, Any]], float | None]:
    def read(result: dict[str, Any]) -> float | None:
        value = result.get("bench", {}).get("ops", {}).get(name, {}).get(field)
        return float(value) if isinstance(value, (int, float)) else None

    return read


def _seed_rate(key: str) -> Callable[[dict[str, Any]], float | None]:
    def read(result: dict[str, Any]) -> float | None:
        seed = result.get(key, {}).get("ops", {}).get("seed_put", {})
        if seed.get("mode", "").startswith("preseeded"):
            return None
        value = seed.get("ops_per_s")
        return float(value) if value else None

    return read


def _mixed(result: dict[str, Any]) -> float | None:
    value = result.get("bench", {}).get("mixed", {}).get("ops_per_s")
    return float(value) if isinstance(value, (int, float)) else None


def _plain(key: str, *path: str) -> Callable[[dict[str, Any]], float | None]:
    def read(result: dict[str, Any]) -> float | None:
        value: Any = result.get(key)
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        return float(value) if isinstance(value, (int, float)) else None

    return read


ROWS = (
    Row("seed_c1", "PUT while seeding, 1 client (per s)", True, _seed_rate("seed_c1")),
    Row("seed_c8", "PUT while seeding, 8 clients (per s)", True, _seed_rate("bench")),
    Row("get", "GET (ms)", False, _op("get")),
    Row("propfind", "PROPFIND Depth 1 (ms)", False, _op("propfind_depth1")),
    Row("week", "week calendar-query + data (ms)", False, _op("query_week")),
    Row("fixed_week", "week of 20 fixed answers (ms)", False, _plain("probe", "median_ms")),
    Row("month", "month calendar-query (ms)", False, _op("query_month")),
    Row("expand", "week query + expand (ms)", False, _op("query_week_expand")),
    Row("multiget", "multiget of 50 (ms)", False, _op("multiget_50")),
    Row("sync_initial", "sync-collection initial (ms)", False, _op("sync_initial")),
    Row("sync_10", "sync-collection, 10 changes (ms)", False, _op("sync_incremental_10")),
    Row("put_update", "PUT with If-Match (ms)", False, _op("put_update_ifmatch")),
    Row("delete", "DELETE (ms)", False, _op("delete")),
    Row("mixed", "mixed 8 clients 80/20 (ops/s)", True, _mixed),
    Row("ready", "start to first answer (ms)", False, _plain("ready_ms")),
    Row("rss", "peak memory (MB)", False, _plain("peak_rss_mb")),
)


def floor_value(row: Row, floor: list[dict[str, Any]]) -> float | None:
    """The floor's number for the rows it has one for (GET latency, concurrent throughput)."""
    if row.key == "get":
        values = [f["ops"]["raw_get_seq"]["median_ms"] for f in floor if f.get("ops", {}).get("raw_get_seq")]
    elif row.key == "mixed":
        values = [f["ops"]["raw_get_conc"]["ops_per_s"] for f in floor if f.get("ops", {}).get("raw_get_conc")]
    else:
        return None
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


def cell(row: Row, runs: list[dict[str, Any]]) -> float | None:
    """The median over rounds of one row for one server."""
    values = [v for v in (row.read(r) for r in runs) if v is not None]
    return statistics.median(values) if values else None


def ratio(row: Row, ours: float | None, theirs: float | None) -> float | None:
    """How many times better teamcal did than ``theirs`` (above 1: teamcal is better)."""
    if not ours or not theirs:
        return None
    return ours / theirs if row.higher_is_better else theirs / ours


def correctness(runs: list[dict[str, Any]]) -> tuple[int, int]:
    """(mismatches, errors) summed over a server's rounds: caldav_bench's and the probe's."""
    mismatches = errors = 0
    for run in runs:
        for key in ("bench", "seed_c1"):
            result = run.get(key) or {}
            mismatches += sum(v for v in (result.get("correctness_mismatches") or {}).values() if v)
            errors += sum(op.get("errors") or 0 for op in result.get("ops", {}).values())
            mixed = result.get("mixed") or {}
            errors += mixed.get("errors") or 0
        probe = run.get("probe") or {}
        mismatches += probe.get("mismatches") or 0
        errors += probe.get("errors") or 0
    return mismatches, errors


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def table(size: int, servers: dict[str, dict[str, Any]], floor: list[dict[str, Any]], *, markdown: bool = False) -> str:
    """The comparison table of one calendar size as text (or Markdown)."""
    names = [n for n in servers if servers[n].get("runs")]
    base = names[0] if names else "teamcal"  # teamcal on the first backend asked for
    peers = [n for n in names if n != base]
    header = ["operation", *names, *(f"{p} / {base}" for p in peers)]
    if floor:
        header += ["floor", "teamcal / floor"]
    lines: list[list[str]] = []
    for row in ROWS:
        values = {n: cell(row, servers[n]["runs"]) for n in names}
        if all(v is None for v in values.values()):
            continue
        ours = values.get(base)
        line = [row.label, *(_fmt(values[n]) for n in names), *(_fmt_ratio(ratio(row, ours, values[p])) for p in peers)]
        if floor:
            low = floor_value(row, floor)
            cost = None if low is None or not ours else (low / ours if row.higher_is_better else ours / low)
            line += [_fmt(low), _fmt_ratio(cost)]
        lines.append(line)
    checks = ["answers wrong / errors", *("{} / {}".format(*correctness(servers[n]["runs"])) for n in names)]
    lines.append(checks + [""] * (len(header) - len(checks)))
    notes = [f"{n}: {servers[n]['skipped']}" for n in servers if servers[n].get("skipped")]
    title = f"{size:,} events"
    if markdown:
        out = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        out += [""] + [f"- {note}" for note in notes]
        return "\n".join(out) + "\n"
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    out = [f"== {title}", fmt.format(*header), "-" * (sum(widths) + 2 * (len(widths) - 1))]
    out += [fmt.format(*line) for line in lines]
    out += notes
    return "\n".join(out) + "\n"


def scaling(sizes: dict[str, dict[str, Any]]) -> str:
    """How teamcal's costs grow with the calendar, on each backend: each size against the smallest."""
    names = sorted(sizes, key=int)
    if len(names) < 2:
        return ""
    rows = [r for r in ROWS if r.key in ("fixed_week", "week", "propfind", "sync_10", "put_update", "rss")]
    lines: list[str] = []
    for server in (s for s in sizes[names[0]]["servers"] if s.startswith("teamcal")):
        first = sizes[names[0]]["servers"][server]["runs"]
        lines.append(f"== {server} from {int(names[0]):,} events to " + ", ".join(f"{int(n):,}" for n in names[1:]))
        for row in rows:
            base = cell(row, first)
            values = [cell(row, sizes[n]["servers"][server]["runs"]) for n in names[1:]]
            growth = ", ".join(f"{_fmt(v)} ({v / base:.2f}x)" if v and base else "-" for v in values)
            lines.append(f"{row.label}: {_fmt(base)} -> {growth}")
    return "\n".join(lines) + "\n"
