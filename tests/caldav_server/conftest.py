"""Fixtures for the CalDAV server: a deployment under a real uvicorn, users, a team, raw clients."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kernel.host import Host
from kernel.testing import LiveServer, add_group, add_user, make_host
from kernel.testing import event_object as event  # noqa: F401  (tests import it from here)

CALDAV = "urn:ietf:params:xml:ns:caldav"
NS = {"D": "DAV:", "C": CALDAV, "CS": "http://calendarserver.org/ns/", "ICAL": "http://apple.com/ns/ical/"}
PASSWORD = "password"


@dataclass
class Deployment:
    """A running teamcal with the CalDAV plugin: its host (for setup) and its live server."""

    host: Host
    server: LiveServer

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.server.url

    def client(self, user: str | None = "alice", password: str = PASSWORD) -> httpx.Client:
        """A raw HTTP client, authenticated as ``user``."""
        return self.server.client(user, password)


def make_deployment(
    directory: Path, extra: str = "", plugins: tuple = (), *, kernel: str = "", enabled: tuple[str, ...] = ()
) -> Deployment:
    """A host with users alice (alice@example.com), bob and carol, and a group ``team`` of
    alice (its admin) and bob (a plain member), served by a real uvicorn; ``kernel`` holds
    more ``[kernel]`` lines, ``enabled`` names plugins to enable besides caldav_server."""
    host = make_host(directory, ["caldav_server", *enabled], extra, plugins=plugins, kernel=kernel)
    alice = add_user(host, "alice", PASSWORD, email="alice@example.com", display_name="Alice Liddell")
    bob = add_user(host, "bob", PASSWORD, email="bob@example.com", display_name="Bob Builder")
    add_user(host, "carol", PASSWORD)
    add_group(host, "team", [bob], admins=[alice])
    return Deployment(host, LiveServer(host))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, teamcal_backend: str) -> Iterator[Deployment]:
    """One deployment per test module; tests make their own uniquely named calendars."""
    dep = make_deployment(tmp_path_factory.mktemp("caldav"))
    with dep.server:
        yield dep
    dep.host.close()


@pytest.fixture
def alice(deployment: Deployment) -> Iterator[httpx.Client]:
    """alice's raw client."""
    with deployment.client("alice") as client:
        yield client


@pytest.fixture
def bob(deployment: Deployment) -> Iterator[httpx.Client]:
    """bob's raw client."""
    with deployment.client("bob") as client:
        yield client


def unique(prefix: str = "cal") -> str:
    """A fresh collection name."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def mkcalendar(client: httpx.Client, owner: str = "alice", name: str | None = None, body: str = "") -> str:
    """Make a calendar in ``owner``'s home; returns its URL path."""
    path = f"/dav/cal/{owner}/{name or unique()}/"
    r = client.request("MKCALENDAR", path, content=body.encode())
    assert r.status_code == 201, r.text
    return path


def propfind(
    client: httpx.Client, path: str, props: str = "<D:allprop/>", depth: str = "0", **headers: str
) -> httpx.Response:
    """A PROPFIND with the given DAV:propfind content."""
    body = f'<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="{CALDAV}" xmlns:CS="{NS["CS"]}" xmlns:ICAL="{NS["ICAL"]}">{props}</D:propfind>'
    return client.request("PROPFIND", path, content=body.encode(), headers={"Depth": depth, **headers})


def prop_xml(props: str) -> str:
    """``<D:prop>`` wrapping with the usual namespaces declared on the document root."""
    return f"<D:prop>{props}</D:prop>"


@dataclass
class DavResponse:
    """One DAV:response of a multistatus: its status (status-only answers) and properties."""

    href: str
    status: int | None
    props: dict[str, tuple[int, ET.Element]]

    def value(self, name: str) -> ET.Element:
        """A property found with 200 (fails the test otherwise)."""
        status, elem = self.props[name]
        assert status == 200, (name, status)
        return elem

    def text(self, name: str) -> str:
        """The text of a property found with 200."""
        return "".join(self.value(name).itertext())


def parse_multistatus(response: httpx.Response) -> dict[str, DavResponse]:
    """The responses of a 207, by href."""
    assert response.status_code == 207, (response.status_code, response.text)
    root = ET.fromstring(response.content)
    out: dict[str, DavResponse] = {}
    for resp in root.findall("D:response", NS):
        href = resp.findtext("D:href", namespaces=NS) or ""
        status_text = resp.findtext("D:status", namespaces=NS)
        props: dict[str, tuple[int, ET.Element]] = {}
        for propstat in resp.findall("D:propstat", NS):
            code = int((propstat.findtext("D:status", namespaces=NS) or "HTTP/1.1 0").split()[1])
            for prop in propstat.find("D:prop", NS) or []:
                props[prop.tag] = (code, prop)
        out[href] = DavResponse(href, int(status_text.split()[1]) if status_text else None, props)
    return out


def error_elements(response: httpx.Response) -> list[str]:
    """The Clark names of the children of a DAV:error body."""
    root = ET.fromstring(response.content)
    assert root.tag == "{DAV:}error", response.text
    return [child.tag for child in root]


def root_tag(response: httpx.Response) -> str:
    """The Clark name of an XML answer's root element."""
    return ET.fromstring(response.content).tag
