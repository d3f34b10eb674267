"""Real remote servers for subscription tests: Radicale and Xandikos as subprocesses, a static feed server.

Each peer listens on a free 127.0.0.1 port and is stopped by its PID.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self
from urllib.parse import unquote

import httpx

from kernel.testing import free_port

EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//teamcal tests//EN\r\nBEGIN:VEVENT\r\n"
    "UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\n"
    "SUMMARY:{summary}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def event(uid: str, summary: str = "event", *, day: int = 1, extra: str = "") -> bytes:
    """A one-event calendar object on 2024-03-<day> 10:00 UTC; ``extra`` is more VEVENT lines (CRLF-ended)."""
    start = f"202403{day:02d}T100000Z"
    end = f"202403{day:02d}T110000Z"
    return EVENT.format(uid=uid, start=start, end=end, summary=summary, extra=extra).encode()


def summary_of(data: bytes) -> str:
    """The SUMMARY of a one-event object."""
    for line in data.decode().splitlines():
        if line.startswith("SUMMARY:"):
            return line[8:]
    raise AssertionError("no SUMMARY")


def _wait_port(port: int, proc: subprocess.Popen | None, name: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        try:
            httpx.request("OPTIONS", f"http://127.0.0.1:{port}/", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not come up on port {port}")


@dataclass
class Peer:
    """A running CalDAV server: its process, base URL, credentials and where calendars go."""

    name: str
    proc: subprocess.Popen
    url: str
    home: str
    auth: tuple[str, str] | None
    log: Path
    counter: list[int] = field(default_factory=lambda: [0])
    _http: httpx.Client | None = None

    @property
    def http(self) -> httpx.Client:
        """A raw HTTP client with the peer's credentials (kept open: new connections are slow on peers)."""
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, auth=self.auth, timeout=30)
        return self._http

    def new_calendar(self, prefix: str = "cal") -> RemoteCalendar:
        """MKCALENDAR a fresh calendar in alice's home."""
        self.counter[0] += 1
        path = f"{self.home}{prefix}{self.counter[0]}/"
        r = self.http.request("MKCALENDAR", path)
        assert r.status_code == 201, (r.status_code, r.text)
        return RemoteCalendar(self, path)

    def stop(self) -> None:
        """Stop the server by its PID."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


@dataclass
class RemoteCalendar:
    """A calendar collection on a peer, written with raw PUT / DELETE."""

    peer: Peer
    path: str

    @property
    def url(self) -> str:
        """The collection's absolute URL."""
        return self.peer.url + self.path

    def put(self, name: str, data: bytes, **headers: str) -> httpx.Response:
        """PUT an object; returns the response (asserting success)."""
        r = self.peer.http.put(self.path + name, content=data, headers={"Content-Type": "text/calendar", **headers})
        assert r.status_code in (201, 204), (r.status_code, r.text)
        return r

    def delete(self, name: str) -> None:
        """DELETE an object."""
        r = self.peer.http.delete(self.path + name)
        assert r.status_code in (200, 204), (r.status_code, r.text)

    def get(self, name: str) -> bytes | None:
        """The object's data, or None when absent."""
        r = self.peer.http.get(self.path + name)
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.status_code
        return r.content

    def names(self) -> set[str]:
        """Names of the objects in the collection (PROPFIND Depth 1)."""
        body = b'<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getetag/></prop></propfind>'
        headers = {"Depth": "1", "Content-Type": "application/xml"}
        r = self.peer.http.request("PROPFIND", self.path, headers=headers, content=body)
        assert r.status_code == 207
        hrefs = re.findall(r"<(?:\w+:)?href>([^<]+)</(?:\w+:)?href>", r.text)
        return {unquote(h).rsplit("/", 1)[-1] for h in hrefs if unquote(h).rstrip("/") != self.path.rstrip("/")}


def start_radicale(directory: Path, port: int | None = None) -> Peer:
    """Radicale 3 with htpasswd (plain) auth: user alice / alice-pw, owner-only rights.

    Give ``port`` (and the same ``directory``) to restart a stopped Radicale with its data.
    """
    port = port or free_port()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "users").write_text("alice:alice-pw\n")
    (directory / "config").write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n\n[auth]\ntype = htpasswd\n"
        f"htpasswd_filename = {directory / 'users'}\nhtpasswd_encryption = plain\ndelay = 0\n\n"
        "[rights]\ntype = owner_only\n\n[storage]\ntype = multifilesystem\n"
        f"filesystem_folder = {directory / 'collections'}\n\n[logging]\nlevel = warning\n"
    )
    log = directory / "radicale.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "radicale", "-C", str(directory / "config")], stdout=out, stderr=subprocess.STDOUT
        )
    _wait_port(port, proc, "radicale")
    peer = Peer("radicale", proc, f"http://127.0.0.1:{port}", "/alice/", ("alice", "alice-pw"), log)
    peer.http.request("PROPFIND", "/alice/", headers={"Depth": "0"})
    return peer


def start_xandikos(directory: Path) -> Peer:
    """Xandikos with its defaults; principal /alice/, calendars under /alice/calendars/ (no auth)."""
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "xandikos.log"
    command = [
        sys.executable, "-m", "xandikos", "serve", "--defaults", "-d", str(directory / "data"),
        "-l", "127.0.0.1", "-p", str(port), "--current-user-principal", "/alice/", "--no-detect-systemd",
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    _wait_port(port, proc, "xandikos")
    return Peer("xandikos", proc, f"http://127.0.0.1:{port}", "/alice/calendars/", None, log)


class FeedServer:
    """A static HTTP server for ICS feeds with ETag and If-Modified-Since; counts requests."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str, float]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.redirects: dict[str, str] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append(("GET", self.path, dict(self.headers)))
                if self.path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                found = server.files.get(self.path)
                if found is None:
                    self.send_error(404)
                    return
                body, ctype, mtime = found
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                modified = email.utils.formatdate(mtime, usegmt=True)
                inm = self.headers.get("If-None-Match")
                ims = self.headers.get("If-Modified-Since")
                if (inm and inm == etag) or (not inm and ims and email.utils.parsedate_to_datetime(ims).timestamp() >= int(mtime)):
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", modified)
                self.end_headers()
                self.wfile.write(body)

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def publish(self, path: str, body: bytes, ctype: str = "text/calendar; charset=utf-8") -> str:
        """Serve ``body`` at ``path`` (a new modification time); returns its URL."""
        previous = self.files.get(path)
        mtime = max(time.time(), (previous[2] + 1) if previous else 0)
        self.files[path] = (body, ctype, mtime)
        return self.url + path

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def peer_fixture(start, directory: Path) -> Iterator[Peer]:
    """Start a peer, yield it, stop it (also when the test fails)."""
    peer = start(directory)
    try:
        yield peer
    finally:
        peer.stop()
