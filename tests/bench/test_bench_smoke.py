"""`python -m bench` at a smoke size: it runs end to end against a real `teamcal serve`
and every answer the shared benchmark checks is right."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.shared import DEFAULT_SHARED_BENCH, PROJECT

#: The runs need the shared benchmark, which lives beside the checkout (../shared in CI).
needs_shared_bench = pytest.mark.skipif(
    not DEFAULT_SHARED_BENCH.is_file(),
    reason=f"the shared benchmark {DEFAULT_SHARED_BENCH} is absent (it lives in ../shared/bench beside the project)",
)


@needs_shared_bench
def test_smoke_run_reports_no_wrong_answers(tmp_path: Path) -> None:
    """50 events, teamcal only: exit status 0, zero mismatches and zero errors in every phase."""
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--events", "50", "--no-peers", "--no-floor", "--repeat", "5",
         "--mixed-seconds", "2", "--json", str(out)],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "answers wrong / errors" in done.stdout
    run = json.loads(out.read_text())["sizes"]["50"]["servers"]["teamcal"]["runs"][0]
    bench = run["bench"]
    assert bench["dataset"]["single"] + bench["dataset"]["recurring"] + bench["dataset"]["allday"] == 50
    assert all(v == 0 for v in bench["correctness_mismatches"].values()), bench["correctness_mismatches"]
    assert all(op["errors"] == 0 for op in bench["ops"].values())
    assert bench["mixed"]["errors"] == 0 and bench["mixed"]["ops_total"] > 0
    assert run["seed_c1"]["ops"]["seed_put"]["seeded"] == 50
    assert run["probe"]["n"] >= 5 and run["probe"]["mismatches"] == 0 and run["probe"]["errors"] == 0
    assert run["ready_status"] in (200, 401) and run["peak_rss_mb"] > 0


def test_missing_shared_bench_is_a_clear_error(tmp_path: Path) -> None:
    """A wrong --shared-bench path stops the run with status 2 and names the path."""
    missing = tmp_path / "nowhere" / "caldav_bench.py"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--events", "5", "--shared-bench", str(missing)],
        cwd=PROJECT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert str(missing) in done.stderr


@needs_shared_bench
@pytest.mark.sqlite_only  # the run starts its own PostgreSQL cluster beside the SQLite server
def test_smoke_run_on_both_backends(tmp_path: Path) -> None:
    """--backend sqlite,postgresql: teamcal on a private PostgreSQL cluster is measured beside SQLite,
    compared with it in the table, and every answer on both is right."""
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--events", "30", "--no-peers", "--no-floor", "--repeat", "3",
         "--mixed-seconds", "1", "--backend", "sqlite,postgresql", "--json", str(out),
         "--workdir", str(tmp_path / "work")],
        cwd=PROJECT, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "teamcal-pg / teamcal" in done.stdout
    servers = json.loads(out.read_text())["sizes"]["30"]["servers"]
    for name in ("teamcal", "teamcal-pg"):
        bench = servers[name]["runs"][0]["bench"]
        assert all(v == 0 for v in bench["correctness_mismatches"].values()), (name, bench["correctness_mismatches"])
        assert all(op["errors"] == 0 for op in bench["ops"].values()), name
        assert servers[name]["runs"][0]["seed_c1"]["ops"]["seed_put"]["seeded"] == 30
    configs = {n: (tmp_path / "work" / "30" / "round0" / n / "plugins.toml").read_text() for n in servers}
    assert 'database = "teamcal.sqlite3"' in configs["teamcal"]
    assert 'database = "postgresql://' in configs["teamcal-pg"]


def test_unknown_backend_is_a_usage_error() -> None:
    """--backend names only sqlite and postgresql: anything else stops with status 2 before any server starts."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--events", "5", "--backend", "sqlite,mysql"],
        cwd=PROJECT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2 and "--backend" in done.stderr


@needs_shared_bench
@pytest.mark.sqlite_only  # the run starts its own servers; one backend is enough to prove the tool works
def test_workers_run_measures_each_worker_count(tmp_path: Path) -> None:
    """`python -m bench.workers`: teamcal served by 1 and 2 worker processes takes the mixed load
    without an error or a wrong answer, and the table compares 2 workers with 1."""
    table = tmp_path / "workers.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench.workers", "--sizes", "40", "--workers", "1,2", "--backend", "sqlite",
         "--rounds", "1", "--mixed-seconds", "1", "--markdown", str(table)],
        cwd=PROJECT, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split("|")[1:-1] for line in table.read_text().splitlines() if line.startswith("| sqlite")]
    cells = [[c.strip() for c in r] for r in rows]
    assert [c[:2] for c in cells] == [["sqlite", "1"], ["sqlite", "2"]]
    assert cells[0][3] == "1.00x" and cells[1][3].endswith("x") and float(cells[1][3][:-1]) > 0
    assert all(float(c[2].replace(",", "")) > 0 and c[-2] == "0" and c[-1] == "0" for c in cells)
    assert all(float(c[4].replace(",", "")) > 0 and float(c[5].replace(",", "")) > 0 for c in cells)  # reads and writes


@needs_shared_bench
@pytest.mark.sqlite_only  # one teamcal on SQLite and the replay in front of it
def test_ceiling_run_measures_teamcal_and_the_replay(tmp_path: Path) -> None:
    """`python -m bench.ceiling`: the mixed load against teamcal and against the replay of its
    answers, both with every answer right; the replay spends less CPU per operation than
    teamcal (it looks answers up), which is what makes its rate the client's ceiling."""
    out = tmp_path / "ceiling.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.ceiling", "--events", "50", "--mixed-seconds", "2", "--rounds", "1",
         "--warm-seconds", "1", "--json", str(out)],
        cwd=PROJECT, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| replay | 1 |" in done.stdout and "| teamcal | 1 |" in done.stdout
    runs = json.loads(out.read_text())
    teamcal, replay = runs["teamcal"][0], runs["replay"][0]
    for run in (teamcal, replay):
        assert run["ops_per_s"] > 0 and run["errors"] == 0 and run["mismatches"] == 0, run
    assert replay["server_cpu_ms_per_op"] < teamcal["server_cpu_ms_per_op"]
