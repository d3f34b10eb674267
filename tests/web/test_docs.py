"""docs/web.md documents every [web] setting; the vendored FullCalendar is the version and licence noted."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from plugins.web.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "plugins" / "web" / "static" / "vendor"


def test_every_setting_is_in_the_docs_table() -> None:
    docs = (ROOT / "docs" / "web.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip() for line in docs.splitlines() if line.startswith("| ")}
    missing = [f.name for f in dataclasses.fields(Settings) if f.name not in rows]
    assert not missing, f"[web] settings missing from docs/web.md: {missing}"


def test_the_vendored_fullcalendar_is_the_noted_version_under_its_licence() -> None:
    built = (VENDOR / "fullcalendar" / "index.global.min.js").read_text(encoding="utf-8")
    version = re.search(r"FullCalendar Standard Bundle v(\d+\.\d+\.\d+)", built[:300])
    assert version, "the bundle's banner names no version"
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    docs = (ROOT / "docs" / "web.md").read_text(encoding="utf-8")
    assert f"| {version.group(1)} | MIT" in readme and f"FullCalendar](https://fullcalendar.io/) {version.group(1)}" in docs
    assert (VENDOR / "fullcalendar" / "LICENSE.md").read_text(encoding="utf-8").startswith("MIT License")
