"""The [default_calendar] table is checked at start-up: a bad value stops `teamcal` with one line, status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kernel import ConfigError
from kernel.testing import make_host, write_config
from plugins.default_calendar.settings import Settings


def test_defaults(tmp_path: Path) -> None:
    host = make_host(tmp_path, ["default_calendar"])
    settings: Settings = host.settings("default_calendar")
    host.close()
    assert (settings.href_name, settings.display_name, settings.group_display_name) == (
        "default", "Team Calendar", "{display_name}")
    assert (settings.color, settings.timezone, tuple(settings.components), settings.for_groups) == (
        "", "", ("VEVENT", "VTODO"), False)


def test_values_are_normalised(tmp_path: Path) -> None:
    host = make_host(tmp_path, ["default_calendar"], '[default_calendar]\ncolor = "#a1b2c3ff"\n'
                                                     'components = ["vevent", "VEVENT", "vjournal"]\n')
    settings: Settings = host.settings("default_calendar")
    host.close()
    assert settings.color == "#A1B2C3FF"
    assert tuple(settings.components) == ("VEVENT", "VJOURNAL")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('href_name = "a/b"', "href_name: must be one path segment"),
        ('href_name = ".."', "href_name: must be one path segment"),
        ("href_name = 5", "href_name: must be a string, got 5"),
        ('display_name = "{owner}"', "display_name: unknown placeholder {owner}"),
        ('group_display_name = "{name"', "group_display_name: has a bad placeholder"),
        ('color = "blue"', "color: must be a colour such as #1F6FEB"),
        ('timezone = "Mars/Olympus"', "timezone: unknown IANA time zone 'Mars/Olympus'"),
        ("components = []", "components: must be a non-empty list"),
        ('components = ["VEVENT", "VCARD"]', "components: unknown component 'VCARD'"),
        ('components = "VEVENT"', "components: must be a non-empty list"),
        ('for_groups = "yes"', "for_groups: must be true or false"),
        ("default = true", "default: unknown key"),
    ],
)
def test_bad_values_stop_start_up(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_host(tmp_path, ["default_calendar"], f"[default_calendar]\n{toml}\n")
    assert f"[default_calendar] {message}" in str(info.value)
    assert "\n" not in str(info.value)


def test_check_exits_2_with_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, ["default_calendar"], '[default_calendar]\ntimezone = "Europe/Atlantis"\n')
    result = subprocess.run([sys.executable, "-m", "kernel.cli", "--config", str(config), "check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == (f"teamcal: {config.resolve()}: [default_calendar] timezone: unknown IANA time zone"
                             " 'Europe/Atlantis' (for example Europe/Berlin or UTC)\n")
