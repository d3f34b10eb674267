"""The default calendar end to end: real uvicorn, the CalDAV plugin, raw HTTP and the caldav library."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import caldav
import httpx
import pytest

from kernel import Host, Principal, hookimpl
from kernel.testing import LiveServer, add_user, asgi_client, free_port, make_host
from plugins.default_calendar import creation

EVENT = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:e\r\n"
         b"DTSTAMP:20240101T000000Z\r\nDTSTART:20300101T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
PROPFIND = (b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:displayname/><D:resourcetype/>'
            b"</D:prop></D:propfind>")


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    """caldav_server and default_calendar with a custom display name."""
    h = make_host(tmp_path, ["caldav_server", "default_calendar"], '[default_calendar]\ndisplay_name = "Our Team"\n')
    yield h
    h.close()


def listing(client: httpx.Client, name: str) -> dict[str, str | None]:
    """PROPFIND Depth 1 on a home: calendar href -> display name."""
    response = client.request("PROPFIND", f"/dav/cal/{name}/", headers={"Depth": "1"}, content=PROPFIND)
    assert response.status_code == 207, response.text
    found = {}
    for item in ET.fromstring(response.content).iter("{DAV:}response"):
        if item.find(".//{urn:ietf:params:xml:ns:caldav}calendar") is not None:
            found[item.findtext("{DAV:}href") or ""] = item.findtext(".//{DAV:}displayname")
    return found


def calendar_count(host: Host, name: str) -> int:
    """How many calendars ``name`` owns."""
    principal = host.store.principal(name)
    assert principal is not None
    return host.store.count_collections(principal.id, kind="calendar")


def test_first_propfind_lists_the_default_calendar(host: Host) -> None:
    add_user(host, "alice")
    with LiveServer(host) as server, server.client("alice") as client:
        assert listing(client, "alice") == {"/dav/cal/alice/default/": "Our Team"}


def test_a_client_finds_it_on_first_connection(host: Host) -> None:
    """The caldav library discovers the principal from the server root and sees one calendar."""
    add_user(host, "alice")
    with LiveServer(host) as server:
        with caldav.DAVClient(url=server.url, username="alice", password="password", timeout=30) as client:
            calendars = client.principal().calendars()
            assert [c.get_display_name() for c in calendars] == ["Our Team"]
            assert str(calendars[0].url).endswith("/dav/cal/alice/default/")


def test_a_first_request_into_the_default_calendar_finds_it(host: Host) -> None:
    """The URL of a client's very first request is read ahead with its account (on
    PostgreSQL), before the calendar it names is made for the account: it is read again."""
    add_user(host, "alice")
    with LiveServer(host) as server, server.client("alice") as client:
        put = client.put("/dav/cal/alice/default/e.ics", content=EVENT, headers={"Content-Type": "text/calendar"})
        assert put.status_code == 201, put.text
        assert client.get("/dav/cal/alice/default/e.ics").content == EVENT


def test_disabled_leaves_an_empty_home(tmp_path: Path) -> None:
    host = make_host(tmp_path, ["caldav_server", "default_calendar"], '[default_calendar]\nhref_name = ""\n')
    add_user(host, "alice")
    try:
        with LiveServer(host) as server:
            with server.client("alice") as client:
                assert listing(client, "alice") == {}
                put = client.put("/dav/cal/alice/default/e.ics", content=EVENT,
                                 headers={"Content-Type": "text/calendar"})
                assert put.status_code == 409, "a client writing into a calendar it assumes gets a clear error"
                assert "parent collection does not exist" in put.text
            with caldav.DAVClient(url=server.url, username="alice", password="password", timeout=30) as client:
                assert client.principal().calendars() == []
    finally:
        host.close()


def test_failed_logins_create_nothing(host: Host) -> None:
    add_user(host, "alice")
    with LiveServer(host) as server, server.client("alice", "wrong") as client:
        assert client.request("PROPFIND", "/dav/cal/alice/", headers={"Depth": "1"}).status_code == 401
    assert calendar_count(host, "alice") == 0


def fire(urls: list[str], user: str, requests: int) -> list[dict[str, str | None]]:
    """``requests`` PROPFINDs as ``user``, spread over the servers, released at the same instant."""
    barrier = threading.Barrier(requests, timeout=30)

    def one(i: int) -> dict[str, str | None]:
        with httpx.Client(base_url=urls[i % len(urls)], auth=(user, "password"), timeout=30) as client:
            barrier.wait()
            return listing(client, user)

    with ThreadPoolExecutor(max_workers=requests) as pool:
        return list(pool.map(one, range(requests), timeout=60))


def test_concurrent_first_requests_make_one_calendar(host: Host) -> None:
    add_user(host, "alice")
    with LiveServer(host) as server:
        answers = fire([server.url], "alice", 20)
    assert all(a == {"/dav/cal/alice/default/": "Our Team"} for a in answers)
    assert calendar_count(host, "alice") == 1


def test_two_hosts_on_one_database_make_one_calendar(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two servers (each its own Host and SQLite connection) race for several new accounts."""
    monkeypatch.setattr(creation, "REMEMBER_SECONDS", 0.0)
    names = [f"user{i}" for i in range(3)]
    for name in names:
        add_user(host, name)
    with LiveServer(host) as one, LiveServer(host) as two:
        for name in names:
            answers = fire([one.url, two.url], name, 12)
            assert all(a == {f"/dav/cal/{name}/default/": "Our Team"} for a in answers), answers
    assert [calendar_count(host, n) for n in names] == [1] * len(names)


def test_two_processes_on_one_database_make_one_calendar(host: Host) -> None:
    """A `teamcal serve` process and an in-process server race for new accounts on one SQLite file."""
    names = [f"proc{i}" for i in range(3)]
    for name in names:
        add_user(host, name)
    port = free_port()
    with ExitStack() as stack:
        process = subprocess.Popen(
            [sys.executable, "-m", "kernel.cli", "--config", str(host.config.path), "serve", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        stack.callback(stop, process)
        wait_for_port(port, process)
        server = stack.enter_context(LiveServer(host))
        for name in names:
            answers = fire([f"http://127.0.0.1:{port}", server.url], name, 12)
            assert all(a == {f"/dav/cal/{name}/default/": "Our Team"} for a in answers), answers
    assert [calendar_count(host, n) for n in names] == [1] * len(names)


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    """Wait (at most 30 s) until the server process accepts connections."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"teamcal serve exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("teamcal serve did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server process we started, by its PID."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
    if process.stderr:
        process.stderr.close()


class OtherProcess:
    """A plugin standing in for another server process on the same database: while armed,
    it makes the account's default calendar there, through a host of its own, as this
    process's first access to the account begins."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.armed = False

    @hookimpl(tryfirst=True)
    def principal_accessed(self, host: Host, principal: Principal) -> None:
        """Make ``principal``'s default calendar in the other process, once."""
        if not self.armed:
            return
        self.armed = False
        other = Host.from_config(self.config)
        try:
            creation.ensure_defaults(other, principal, other.settings("default_calendar"))
        finally:
            other.close()


@pytest.mark.parametrize(("path", "depth"), [("/dav/cal/alice/default/", "0"), ("/dav/cal/alice/", "1")])
def test_a_calendar_made_by_another_process_at_first_access_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str, depth: str
) -> None:
    """On PostgreSQL a request's URL (and a listing's members) are read ahead with its
    account, before the account's first access; when that access finds the calendar
    another process has just made, they are read again rather than answered from the older
    read (a 404, or a home listed without its calendar)."""
    monkeypatch.setattr(creation, "REMEMBER_SECONDS", 0.0)
    other = OtherProcess(tmp_path / "plugins.toml")
    host = make_host(tmp_path, ["caldav_server", "default_calendar"], plugins=[("other_process", other)])
    alice = add_user(host, "alice")

    async def run() -> httpx.Response:
        async with asgi_client(host, "alice") as client:
            first = await client.request("PROPFIND", "/dav/cal/alice/", headers={"Depth": "0"}, content=PROPFIND)
            assert first.status_code == 207
            made = host.store.collection(alice.id, "default")
            assert made is not None
            host.writes.delete_collection(made, principal=None)  # gone again; the password is now cached
            other.armed = True
            return await client.request("PROPFIND", path, headers={"Depth": depth}, content=PROPFIND)

    try:
        answer = asyncio.run(run())
        assert not other.armed, "the other process made the calendar during the request"
        assert answer.status_code == 207, answer.text
        hrefs = [item.findtext("{DAV:}href") for item in ET.fromstring(answer.content).iter("{DAV:}response")]
        assert "/dav/cal/alice/default/" in hrefs, hrefs
        assert calendar_count(host, "alice") == 1
    finally:
        host.close()
