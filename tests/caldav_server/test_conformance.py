"""The independent suites: litmus (RFC 4918) and caldav-server-tester, against `teamcal serve`.

They live in the shared conformance folder beside the checkout (``../shared``
in CI, or ``$CONFORMANCE``); run_conformance.sh starts a server on a free port,
runs the suite, checks every result and stops the server by PID.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SUITES = Path(os.environ.get("CONFORMANCE", HERE.parents[2] / "shared" / "conformance"))

needs_suites = pytest.mark.skipif(
    not (SUITES / "run-litmus.sh").exists(),
    reason=f"the shared conformance runners are not at {SUITES} (set CONFORMANCE=dir)",
)


def run(which: str) -> subprocess.CompletedProcess:
    """Run one suite through run_conformance.sh."""
    return subprocess.run(
        ["bash", str(HERE / "run_conformance.sh"), which], capture_output=True, text=True, timeout=1500,
        env={**os.environ, "CONFORMANCE": str(SUITES)},
    )


@needs_suites
def test_litmus_every_group_passes_nothing_skipped() -> None:
    assert shutil.which("litmus") or Path("/usr/lib/litmus").exists() or Path("/usr/libexec/litmus").exists(), (
        "litmus is not installed: apt-get install -y litmus"
    )
    result = run("litmus")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "skipped (not counted): 0" in result.stdout


@needs_suites
def test_caldav_server_tester_reports_every_feature_full() -> None:
    result = run("cst")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
