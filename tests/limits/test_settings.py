"""The [limits] table is checked at start-up: a bad value stops `teamcal` with one line and status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kernel import ConfigError
from kernel.testing import make_host, write_config
from plugins.limits.settings import Settings


def test_defaults(tmp_path: Path) -> None:
    host = make_host(tmp_path, ["limits"])
    settings: Settings = host.settings("limits")
    host.close()
    assert (settings.max_icalendar_size, settings.max_attendees, settings.max_recurrence_expansions,
            settings.max_calendars, settings.max_events) == (512 * 1024, 20, 3000, 250, 10000)
    assert settings.accounts == {} and settings.groups == {}


def test_sizes_and_overrides_parse(tmp_path: Path) -> None:
    host = make_host(tmp_path, ["limits"], '[limits]\nmax_icalendar_size = "1mb"\n'
                                           '[limits.accounts.alice]\nmax_icalendar_size = "900b"\nmax_events = 0\n'
                                           "[limits.groups.devs]\nmax_attendees = 100\n")
    settings: Settings = host.settings("limits")
    host.close()
    assert settings.max_icalendar_size == 1024 * 1024
    assert settings.accounts["alice"].values() == {"max_icalendar_size": 900, "max_events": 0}
    assert settings.groups["devs"].values() == {"max_attendees": 100}


def test_date_limits_parse_as_utc(tmp_path: Path) -> None:
    host = make_host(tmp_path, ["limits"], '[limits]\nmin_date_time = "19000101T000000Z"\n'
                                           "max_date_time = 2100-01-01T01:00:00+01:00\n")
    settings: Settings = host.settings("limits")
    host.close()
    assert (settings.min_date_time, settings.max_date_time) == ("19000101T000000Z", "21000101T000000Z")
    assert settings.min_date_time.epoch == -2208988800


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[limits]\nmax_icalendar_size = "12 parsecs"', "[limits] max_icalendar_size: expected a size such as 512kb"),
        ("[limits]\nmax_icalendar_size = 0", "[limits] max_icalendar_size: must be at least 1 byte"),
        ("[limits]\nmax_attendees = 0", "[limits] max_attendees: must be at least 1, got 0"),
        ("[limits]\nmax_recurrence_expansions = true", "[limits] max_recurrence_expansions: must be an integer"),
        ("[limits]\nmax_events = -1", "[limits] max_events: must be at least 0, got -1"),
        ('[limits]\nmax_calendars = "10"', "[limits] max_calendars: must be an integer, got '10'"),
        ("[limits]\nmax_pizzas = 3", "[limits] max_pizzas: unknown key"),
        ("[limits.accounts.bob]\nmax_attendes = 3", "[limits.accounts.bob] max_attendes: unknown key"),
        ('[limits.groups.devs]\nmax_attendees = "many"', "[limits.groups.devs] max_attendees: must be an integer"),
        ("[limits]\naccounts = 3", "[limits] accounts: must be a table"),
        ('[limits]\nmin_date_time = "soon"', "[limits] min_date_time: expected a UTC date-time"),
    ],
)
def test_bad_values_stop_start_up(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_host(tmp_path, ["limits"], toml)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_check_exits_2_with_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, ["limits"], "[limits]\nmax_attendees = -5\n")
    result = subprocess.run([sys.executable, "-m", "kernel.cli", "--config", str(config), "check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == f"teamcal: {config.resolve()}: [limits] max_attendees: must be at least 1, got -5\n"
    good = write_config(tmp_path, ["limits"], "[limits]\nmax_attendees = 5\n")
    ok = subprocess.run([sys.executable, "-m", "kernel.cli", "--config", str(good), "check"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
