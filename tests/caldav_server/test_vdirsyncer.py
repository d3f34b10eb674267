"""vdirsyncer two-way syncs between a local directory and a teamcal calendar: a round trip,
and issue 14's acceptance (UIDs with ``@ / + %``, spaces and non-ASCII, made by the
``caldav`` library on the server and by files on the local side)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import caldav
import httpx

from kernel.testing import event_object as event
from kernel.testing.dav import mkcalendar, parse_multistatus, propfind, unique
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


#: UIDs real clients make that need care in a URL.
AWKWARD_UIDS = ["meeting-42@example.com", "slash/in/uid", "plus+tag", "per%cent", "with space", "Grüße-café"]


def member_hrefs(alice: httpx.Client, cal: str) -> list[str]:
    """The member hrefs of a calendar, sorted."""
    answer = parse_multistatus(propfind(alice, cal, "<D:prop><D:getetag/></D:prop>", depth="1"))
    return sorted(href for href in answer if href != cal)


def test_two_way_sync_of_awkward_uids_is_complete_and_stable(tmp_path: Path, deployment: Deployment) -> None:
    """The acceptance of issue 14: the caldav library saves events with awkward UIDs on the
    server, vdirsyncer adds local events with the same kinds of UIDs; three syncs (with an
    edit on each side in the second) run without an error, leave every event on both sides,
    and keep every name, remote href and local file, as it was after the first."""
    cal_id = unique("vds-acceptance")
    path = f"/dav/cal/alice/{cal_id}/"
    remote_uids = [f"srv-{uid}" for uid in AWKWARD_UIDS]
    local_only = [f"loc-{uid}" for uid in AWKWARD_UIDS]
    with caldav.DAVClient(url=deployment.url + "/", username="alice", password=PASSWORD) as client:
        calendar = client.principal().make_calendar(name="Acceptance", cal_id=cal_id)
        try:
            for i, uid in enumerate(remote_uids):
                start = dt.datetime(2031, 6, 1 + i, 9)
                calendar.save_event(dtstart=start, dtend=start + dt.timedelta(hours=1), summary=f"s{i}", uid=uid)
            local = tmp_path / "local"
            local.mkdir()
            for i, uid in enumerate(local_only):
                (local / f"local-{i}.ics").write_bytes(event(uid, summary=f"l{i}"))
            config = pair_config(tmp_path, local, deployment.url + path)
            everything = {**{uid: f"s{i}" for i, uid in enumerate(remote_uids)},
                          **{uid: f"l{i}" for i, uid in enumerate(local_only)}}
            remote_names: list[list[str]] = []
            local_names: list[list[str]] = []
            with deployment.client("alice") as alice:
                for round_ in range(3):
                    if round_ == 1:  # an edit on each side
                        edited = calendar.event_by_uid(remote_uids[0])
                        edited.icalendar_component["SUMMARY"] = "edited on the server"
                        edited.save()
                        everything[remote_uids[0]] = "edited on the server"
                        mine = next(p for p in local.glob("*.ics") if f"UID:{local_only[1]}" in p.read_text("utf-8"))
                        mine.write_text(mine.read_text("utf-8").replace("SUMMARY:l1", "SUMMARY:edited here"), "utf-8")
                        everything[local_only[1]] = "edited here"
                    for command in (["discover"] if round_ == 0 else []) + ["sync"]:
                        output = run(config, command)
                        assert "error" not in output.lower(), output
                    assert local_uids(local) == everything, round_
                    assert server_uids(alice, path) == everything, round_
                    remote_names.append(member_hrefs(alice, path))
                    local_names.append(sorted(p.name for p in local.glob("*.ics")))
            assert remote_names[0] == remote_names[1] == remote_names[2]
            assert local_names[0] == local_names[1] == local_names[2]
            assert len(remote_names[0]) == len(local_names[0]) == len(everything)
        finally:
            calendar.delete()
