"""Shared fixtures: every test gets its own SQLite file under tmp_path."""

from __future__ import annotations

import os

# Hypothesis keeps its example database under the test's cwd otherwise.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", "/tmp/teamcal-hypothesis")
