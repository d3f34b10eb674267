"""A vdirsyncer two-way sync round trip between a local directory and a teamcal calendar."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx

from kernel.testing import event_object as event
from kernel.testing.dav import mkcalendar
from tests.caldav_server.conftest import PASSWORD, Deployment


def pair_config(tmp_path: Path, local: Path, url: str) -> Path:
    """A vdirsyncer config pairing the directory ``local`` with the calendar at ``url`` (alice's)."""
    config = tmp_path / "config"
    config.write_text(
        f'[general]\nstatus_path = "{tmp_path / "status"}"\n\n'
        '[pair cal]\na = "local"\nb = "remote"\ncollections = null\nconflict_resolution = "b wins"\n\n'
        f'[storage local]\ntype = "filesystem"\npath = "{local}"\nfileext = ".ics"\n\n'
        f'[storage remote]\ntype = "caldav"\nurl = "{url}"\n'
        f'username = "alice"\npassword = "{PASSWORD}"\n',
        encoding="utf-8",
    )
    return config


def run(config: Path, *args: str) -> str:
    """Run vdirsyncer (from the test extra; bounded), failing the test with its output on error;
    returns that output."""
    vdirsyncer = shutil.which("vdirsyncer")
    assert vdirsyncer, "vdirsyncer is missing: install the test extra"
    done = subprocess.run(
        [vdirsyncer, "-c", str(config), *args],
        input="y\n" * 4,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def local_uids(directory: Path) -> dict[str, str]:
    """UID -> SUMMARY of the events in the local directory."""
    found = {}
    for path in directory.glob("*.ics"):
        text = path.read_text(encoding="utf-8")
        uid = text.split("UID:", 1)[1].split("\n", 1)[0].strip()
        found[uid] = text.split("SUMMARY:", 1)[1].split("\n", 1)[0].strip()
    return found


def server_uids(alice: httpx.Client, cal: str) -> dict[str, str]:
    """UID -> SUMMARY of the events on the server."""
    text = alice.get(cal).text
    found = {}
    for block in text.split("BEGIN:VEVENT")[1:]:
        uid = block.split("UID:", 1)[1].split("\r\n", 1)[0].strip()
        found[uid] = block.split("SUMMARY:", 1)[1].split("\r\n", 1)[0].strip()
    return found


def test_two_way_round_trip(tmp_path: Path, deployment: Deployment, alice: httpx.Client) -> None:
    cal = mkcalendar(alice)
    alice.put(cal + "a.ics", content=event("vds-a", summary="from server"))
    local = tmp_path / "local"
    local.mkdir()
    config = pair_config(tmp_path, local, deployment.url + cal)
    run(config, "discover")
    run(config, "sync")
    assert local_uids(local) == {"vds-a": "from server"}

    (local / "b.ics").write_bytes(event("vds-b", summary="from local"))
    a_file = next(p for p in local.glob("*.ics") if "vds-a" in p.read_text(encoding="utf-8"))
    a_file.write_text(a_file.read_text(encoding="utf-8").replace("from server", "edited locally"), encoding="utf-8")
    run(config, "sync")
    assert server_uids(alice, cal) == {"vds-a": "edited locally", "vds-b": "from local"}

    listing = alice.request("PROPFIND", cal, headers={"Depth": "1"}).text
    members = [chunk.split("</D:href>")[0] for chunk in listing.split("<D:href>")[1:]]
    remote_b = next(href for href in members if href != cal and "vds-b" in alice.get(href).text)
    assert alice.delete(remote_b).status_code == 204
    alice.put(cal + "a.ics", content=event("vds-a", summary="edited on server"))
    run(config, "sync")
    assert local_uids(local) == {"vds-a": "edited on server"}

    for path in local.glob("*.ics"):
        path.unlink()
    (local / "c.ics").write_bytes(event("vds-c", summary="new local"))
    run(config, "sync")
    assert server_uids(alice, cal) == {"vds-c": "new local"}
