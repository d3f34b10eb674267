"""`teamcal store copy`: a populated deployment copied SQLite -> PostgreSQL -> SQLite answers the same.

The tests build one deployment through its real interfaces (CalDAV over HTTP, the
CLI, the export's pull API, a subscription to a real feed server), copy it to a
private PostgreSQL cluster and from there back into a SQLite file, and ask all
three the same questions. They manage both backends themselves, so they run once
(``sqlite_only``: the source is a SQLite file).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kernel import Column, Migrations, Migrator, Table, hookimpl
from kernel.cli import main
from kernel.host import Host
from kernel.store import Store
from kernel.store.copy import copy_store
from kernel.testing import LiveServer, add_group, add_user, free_port, make_host
from kernel.testing.postgres import PostgresCluster
from plugins.caldav_subscription import manage
from plugins.caldav_subscription.runs import sync_now
from tests.caldav_subscription.peers import FeedServer

pytestmark = pytest.mark.sqlite_only

PLUGINS = ["caldav_server", "caldav_subscription", "limits", "default_calendar", "atlassian_export"]
EXTRA = '[caldav_subscription]\nallow_private_networks = true\nmin_interval = "0"\njitter = "0"\n'
KERNEL = 'secret_key = "PGFf7Fl9wk77lQ4O0Dhwp8j5na5adSh733sfuJ3jsHQ="'
WORK = "/dav/cal/alice/work/"
TEAM = "/dav/cal/team/planning/"
LOCKINFO = (
    '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
    "<D:locktype><D:write/></D:locktype><D:owner><D:href>mailto:alice@example.com</D:href></D:owner></D:lockinfo>"
)


def ics(uid: str, body: str) -> bytes:
    """A calendar object with one VEVENT made of ``body`` lines."""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//teamcal tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n{body}END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


EVENTS = {
    "single.ics": ics("single", "DTSTART:20240305T090000Z\r\nDTEND:20240305T100000Z\r\nSUMMARY:Single\r\n"),
    "weekly.ics": ics(
        "weekly",
        "DTSTART:20240101T080000Z\r\nDTEND:20240101T083000Z\r\nRRULE:FREQ=WEEKLY;COUNT=30\r\n"
        "EXDATE:20240212T080000Z\r\nSUMMARY:Standup\r\n",
    ),
    "forever.ics": ics("forever", "DTSTART:20200106T120000Z\r\nDTEND:20200106T130000Z\r\nRRULE:FREQ=DAILY\r\nSUMMARY:Lunch\r\n"),
    "allday.ics": ics("allday", "DTSTART;VALUE=DATE:20240306\r\nDTEND;VALUE=DATE:20240307\r\nSUMMARY:Holiday\r\n"),
    "floating.ics": ics("floating", "DTSTART:20240307T230000\r\nDTEND:20240308T010000\r\nSUMMARY:Late\r\n"),
}
FEED = ics("remote-1", "DTSTART:20240305T140000Z\r\nDTEND:20240305T150000Z\r\nSUMMARY:Remote\r\n")


def query(start: str, end: str) -> str:
    """A calendar-query for VEVENTs in [start, end) with ETags and data."""
    return (
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
        '<C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'<C:time-range start="{start}" end="{end}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>'
    )


def sync_report(token: str = "") -> str:
    """A sync-collection REPORT from ``token`` (initial when empty)."""
    return (
        f'<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>'
        "<D:prop><D:getetag/></D:prop></D:sync-collection>"
    )


PROPS = (
    '<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/" xmlns:X="urn:x-test">'
    "<D:prop><CS:getctag/><D:sync-token/><D:displayname/><X:note/><D:lockdiscovery/><D:getetag/></D:prop></D:propfind>"
)


def canonical(response: httpx.Response) -> list[tuple[str, str]]:
    """A multistatus as sorted (href, the rest of its response as text) pairs (order-free; a lock's
    remaining seconds, which count down between the deployments' answers, as "Second-left")."""
    assert response.status_code == 207, response.text
    root = ET.fromstring(response.content)
    found = []
    for item in root.findall("{DAV:}response"):
        href = item.findtext("{DAV:}href") or ""
        item.remove(item.find("{DAV:}href"))
        found.append((href, re.sub(r"Second-\d+", "Second-left", ET.tostring(item, encoding="unicode"))))
    token = root.findtext("{DAV:}sync-token")
    return sorted(found) + ([("sync-token", token)] if token else [])


def run_cli(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    """``teamcal --config CONFIG ARGS`` in-process: (status, stdout, stderr)."""
    capsys.readouterr()
    status = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return status, out, err


def tallies(out: str) -> dict[str, tuple[int, str]]:
    """The per-table rows and checksums a successful copy printed."""
    found = {}
    for line in out.splitlines():
        match = re.fullmatch(r"(\w+)\s+([\d,]+)\s+([0-9a-f]{32})", line.strip())
        if match:
            found[match[1]] = (int(match[2].replace(",", "")), match[3])
    return found


def populate(host: Host, feeds: FeedServer, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """Fill the deployment through its interfaces; returns facts the answers are checked against."""
    alice = add_user(host, "alice", admin=True)
    bob = add_user(host, "bob")
    add_group(host, "team", [bob], admins=[alice])
    facts: dict[str, str] = {}
    with LiveServer(host) as server:
        with server.client("alice") as client:
            assert client.request("MKCALENDAR", WORK).status_code == 201
            assert client.request("MKCALENDAR", TEAM).status_code == 201
            for name, data in EVENTS.items():
                assert client.put(WORK + name, content=data).status_code == 201
            assert client.put(TEAM + "single.ics", content=EVENTS["single.ics"]).status_code == 201
            assert client.put(WORK + "gone.ics", content=ics("gone", "DTSTART:20240305T110000Z\r\n")).status_code == 201
            assert client.delete(WORK + "gone.ics").status_code == 204
            patch = (
                '<D:propertyupdate xmlns:D="DAV:" xmlns:X="urn:x-test"><D:set><D:prop><X:note>{}</X:note>'
                "</D:prop></D:set></D:propertyupdate>"
            )
            for path in (WORK, WORK + "single.ics", "/dav/principals/alice/"):
                assert client.request("PROPPATCH", path, content=patch.format("kept " + path)).status_code == 207
            locked = client.request("LOCK", WORK + "weekly.ics", content=LOCKINFO, headers={"Timeout": "Second-3600"})
            assert locked.status_code == 200, locked.text
            facts["lock"] = locked.headers["Lock-Token"]
        with server.client("alice") as client:
            pulled = client.get("/api/atlassian/objects", params={"limit": "2"})
            assert pulled.status_code == 200, pulled.text
            again = client.get("/api/atlassian/objects", params={"limit": "2", "cursor": pulled.json()["cursor"]})
            assert again.status_code == 200 and again.json()["requests"]
    config = host.config.path
    assert run_cli(capsys, config, "grant", "add", "alice/work", "bob", "read")[0] == 0
    assert run_cli(capsys, config, "grant", "add", "team/planning", "everyone", "read")[0] == 0
    status, out, _ = run_cli(capsys, config, "feed", "create", "alice/work")
    assert status == 0
    facts["feed"] = httpx.URL(out.strip()).path
    assert run_cli(capsys, config, "limits", "set", "alice", "--max-events", "500")[0] == 0
    url = feeds.publish("/holidays.ics", FEED)
    sub = asyncio.run(manage.create(host, None, calendar="alice/holidays", url=url))
    assert asyncio.run(sync_now(host, sub.id)).error is None
    return facts


def answers(host: Host, facts: dict[str, str]) -> dict[str, Any]:
    """What a deployment answers: reports, syncs, properties, the feed, access, and CLI listings."""
    got: dict[str, Any] = {}
    with LiveServer(host) as server:
        with server.client("alice") as alice, server.client("bob") as bob, server.client() as anonymous:
            for name, (start, end) in {
                "week": ("20240304T000000Z", "20240311T000000Z"),
                "late": ("20240308T000000Z", "20240309T000000Z"),
                "far": ("20310101T000000Z", "20310108T000000Z"),
            }.items():
                got[name] = canonical(alice.request("REPORT", WORK, content=query(start, end), headers={"Depth": "1"}))
            assert len(got["week"]) == 5 and len(got["far"]) == 1  # single, weekly, forever, allday, floating
            got["sync"] = canonical(alice.request("REPORT", WORK, content=sync_report()))
            got["props"] = canonical(alice.request("PROPFIND", WORK, content=PROPS, headers={"Depth": "1"}))
            got["home"] = canonical(alice.request("PROPFIND", "/dav/cal/alice/", headers={"Depth": "1"}))
            got["principal"] = canonical(alice.request("PROPFIND", "/dav/principals/alice/", content=PROPS))
            got["bob"] = canonical(bob.request("REPORT", WORK, content=query("20240304T000000Z", "20240311T000000Z"), headers={"Depth": "1"}))
            got["bob_writes"] = bob.put(WORK + "nope.ics", content=EVENTS["single.ics"]).status_code
            got["everyone"] = canonical(bob.request("PROPFIND", TEAM, content=PROPS, headers={"Depth": "1"}))
            got["locked_put"] = alice.put(WORK + "weekly.ics", content=EVENTS["weekly.ics"]).status_code
            feed = anonymous.get(facts["feed"])
            got["feed"] = (feed.status_code, feed.content)
            got["holidays"] = canonical(alice.request("REPORT", "/dav/cal/alice/holidays/", content=sync_report()))
            # links name the port each test server listens on, which the copy has nothing to do with
            pulled = alice.get("/api/atlassian/objects", params={"limit": "1000"}).text
            got["pull"] = re.sub(r"http://127\.0\.0\.1:\d+", "http://SERVER", pulled)
    assert got["bob_writes"] == 403 and got["locked_put"] == 423 and got["feed"][0] == 200
    assert facts["lock"].strip("<>") in str(got["props"])
    return got


def cli_answers(capsys: pytest.CaptureFixture[str], config: Path) -> dict[str, str]:
    """The CLI's listings of the deployment's plugins' state."""
    found = {}
    for args in (("limits", "show", "alice"), ("subscription", "list"), ("grant", "list", "alice/work"),
                 ("feed", "list"), ("group", "list"), ("user", "list")):
        status, out, _ = run_cli(capsys, config, *args)
        assert status == 0, args
        found[" ".join(args)] = out
    return found


def folder(path: Path) -> Path:
    """``path``, created."""
    path.mkdir(parents=True, exist_ok=True)
    return path


def deployment(directory: Path, database: str, plugins: list[str] = PLUGINS) -> Path:
    """A plugins.toml for these plugins on ``database`` (a SQLite file or a PostgreSQL URL)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "plugins.toml"
    names = ", ".join(f'"{n}"' for n in plugins)
    config.write_text(
        f'enabled = [{names}]\n\n[kernel]\nhost = "127.0.0.1"\ndatabase = "{database}"\n{KERNEL}\n\n{EXTRA}',
        encoding="utf-8",
    )
    return config


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    """A static ICS feed server the subscription follows."""
    with FeedServer() as server:
        yield server


def test_copy_to_postgresql_and_back_answers_the_same(
    tmp_path: Path, postgresql_cluster: PostgresCluster, feeds: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """SQLite -> PostgreSQL -> SQLite: every table's count and checksum match at each step, and the three
    deployments answer calendar-query, sync-collection, ctags, properties, locks, the feed, grants, the
    export's pull and the plugins' CLI listings the same; afterwards new writes continue the sequences."""
    source = make_host(folder(tmp_path / "src"), PLUGINS, EXTRA, kernel=KERNEL)
    try:
        facts = populate(source, feeds, capsys)
    finally:
        source.close()
    src_config = tmp_path / "src" / "plugins.toml"

    url = postgresql_cluster.new_schema()
    status, out, err = run_cli(capsys, src_config, "store", "copy", "--to", url)
    assert status == 0, err
    first = tallies(out)
    assert {"principals", "resources", "instances", "changes", "properties", "grants", "memberships",
            "caldav_server_locks", "caldav_server_feeds", "caldav_server_properties", "limits_overrides",
            "caldav_subscription_subscriptions", "caldav_subscription_items", "atlassian_export_journal",
            "atlassian_export_objects", "atlassian_export_consumers"} <= set(first)
    assert all(first[t][0] > 0 for t in ("caldav_server_locks", "caldav_server_feeds", "caldav_subscription_items",
                                         "atlassian_export_journal", "atlassian_export_objects", "limits_overrides"))
    assert "B-tree index instances_window" in out and "counts and checksums match" in out

    pg_config = deployment(tmp_path / "pg", url)
    back_file = tmp_path / "back" / "copy.sqlite3"
    back_file.parent.mkdir()
    status, out, err = run_cli(capsys, pg_config, "store", "copy", "--to", str(back_file))
    assert status == 0, err
    assert tallies(out) == first
    assert "B-tree index instances_window" in out
    back_config = deployment(tmp_path / "back", str(back_file))

    source = Host.from_config(src_config)
    try:
        expected = answers(source, facts)  # asked after the copies: the export's pull keeps state
    finally:
        source.close()
    expected_cli = cli_answers(capsys, src_config)
    for config in (pg_config, back_config):
        host = Host.from_config(config)
        try:
            assert answers(host, facts) == expected, config
        finally:
            host.close()
        assert cli_answers(capsys, config) == expected_cli

    host = Host.from_config(pg_config)
    try:
        token = dict(expected["sync"])["sync-token"]
        old_ids = {p.id for p in host.store.principals("user")}
        with LiveServer(host) as server, server.client("alice") as alice:
            assert alice.put(WORK + "after.ics", content=ics("after", "DTSTART:20240306T100000Z\r\n")).status_code == 201
            changed = canonical(alice.request("REPORT", WORK, content=sync_report(token)))
        assert [href for href, _ in changed if href != "sync-token"] == [WORK + "after.ics"]
        assert dict(changed)["sync-token"] != token
        assert add_user(host, "carol").id > max(old_ids)
    finally:
        host.close()


def test_copy_refuses_a_non_empty_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A target holding tables is refused with one line and exit status 2, and left as it was."""
    host = make_host(folder(tmp_path / "src"), ["caldav_server"])
    add_user(host, "alice")
    host.close()
    other = make_host(folder(tmp_path / "other"), ["caldav_server"])
    add_user(other, "zed")
    other.close()
    target = tmp_path / "other" / "teamcal.sqlite3"
    before = target.read_bytes()
    status, out, err = run_cli(capsys, tmp_path / "src" / "plugins.toml", "store", "copy", "--to", str(target))
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "is not empty" in err and str(target) in err
    assert target.read_bytes() == before
    assert not list(target.parent.glob(".*partial*"))
    status, _, err = run_cli(capsys, tmp_path / "src" / "plugins.toml", "store", "copy", "--to",
                             str(tmp_path / "src" / "teamcal.sqlite3"))
    assert status == 2 and "not empty" in err


def test_copy_to_a_bad_url_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unreachable server or a wrong scheme: exit status 2, one line, the password never shown."""
    make_host(tmp_path, ["caldav_server"]).close()
    config = tmp_path / "plugins.toml"
    port = free_port()
    status, out, err = run_cli(capsys, config, "store", "copy", "--to", f"postgresql://copier:s3cret-pw@127.0.0.1:{port}/db")
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "cannot connect to" in err
    assert "s3cret-pw" not in err and f"postgresql://copier:***@127.0.0.1:{port}/db" in err
    status, _, err = run_cli(capsys, config, "store", "copy", "--to", "mysql://copier:s3cret-pw@localhost/db")
    assert status == 2 and err.count("\n") == 1 and "neither a postgresql:// URL" in err and "s3cret-pw" not in err


def test_copy_while_the_server_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The source server keeps answering PUTs during the copy (SQLite WAL: the copy reads one snapshot),
    and the copy is consistent: its counts and checksums match that snapshot."""
    host = make_host(folder(tmp_path / "src"), ["caldav_server"])
    add_user(host, "alice")
    stop = threading.Event()
    written: list[int] = []
    try:
        with LiveServer(host) as server, server.client("alice") as client:
            assert client.request("MKCALENDAR", WORK).status_code == 201
            for i in range(150):
                assert client.put(WORK + f"s{i}.ics", content=ics(f"s{i}", "DTSTART:20240305T090000Z\r\n")).status_code == 201

            def writer() -> None:
                with server.client("alice") as own:
                    deadline = time.monotonic() + 60
                    for i in range(2000):
                        if stop.is_set() or time.monotonic() > deadline:
                            return
                        data = ics(f"w{i}", "DTSTART:20240306T090000Z\r\n")
                        written.append(own.put(WORK + f"w{i}.ics", content=data).status_code)

            thread = threading.Thread(target=writer)
            thread.start()
            try:
                deadline = time.monotonic() + 30
                while not written and time.monotonic() < deadline:
                    time.sleep(0.01)
                status, out, err = run_cli(
                    capsys, tmp_path / "src" / "plugins.toml", "store", "copy", "--to", str(tmp_path / "copy.sqlite3")
                )
                during = len(written)
            finally:
                stop.set()
                thread.join(timeout=60)
    finally:
        host.close()
    assert status == 0, err
    assert written and set(written) == {201}
    copied = tallies(out)["resources"][0]
    assert 150 <= copied <= 150 + during + 1
    copy = Host.from_config(deployment(tmp_path / "copy", str(tmp_path / "copy.sqlite3"), ["caldav_server"]))
    try:
        names = {r.name for r in copy.store.resources(copy.store.collection(copy.store.principal("alice").id, "work").id)}
        assert len(names) == copied and {f"s{i}.ics" for i in range(150)} <= names
    finally:
        copy.close()


def test_rows_a_migration_seeds_are_the_sources(tmp_path: Path) -> None:
    """A plugin whose migration seeds a row: the copy holds the source's rows (changed and added), once,
    and a plugin table is found through its declaration, not by name."""
    migrations = Migrations("seeded")

    @migrations()
    def m001_settings(m: Migrator) -> None:
        m.create_table(Table("seeded_settings", (Column("key", "text", primary_key=True), Column("value", "text"))))
        m.execute("INSERT INTO seeded_settings (key, value) VALUES ('colour', 'blue')")

    @migrations()
    def m002_weight(m: Migrator) -> None:
        m.add_column("seeded_settings", Column("weight", "float", default=0.5))

    class Seeded:
        @hookimpl
        def register_migrations(self, host: Host) -> Migrations:
            return migrations

    host = make_host(folder(tmp_path / "src"), [], plugins=[("seeded", Seeded())])
    target = Store(tmp_path / "copy.sqlite3")
    try:
        with host.store.transaction():
            host.store.execute("UPDATE seeded_settings SET value = 'green', weight = 0.1")
            host.store.execute("INSERT INTO seeded_settings (key, value, weight) VALUES ('size', 'large', 2.75)")
        report = copy_store(host.store, target, host.migration_sets())
        rows = target.execute("SELECT key, value, weight FROM seeded_settings ORDER BY key").fetchall()
        assert [tuple(r) for r in rows] == [("colour", "green", 0.1), ("size", "large", 2.75)]
        tally = next(t for t in report.tables if t.name == "seeded_settings")
        assert tally.rows == 2 and tally.matches
    finally:
        target.close()
        host.close()
