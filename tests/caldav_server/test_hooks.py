"""The hooks the CalDAV plugin offers: dav_properties, dav_reports, dav_methods."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.responses import PlainTextResponse, Response

from kernel import hookimpl
from tests.caldav_server.conftest import (
    CALDAV,
    Deployment,
    event,
    make_deployment,
    mkcalendar,
    parse_multistatus,
    propfind,
)

C = "{" + CALDAV + "}"


class Extension:
    """A third-party plugin extending the DAV server through the three hooks."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None]] = []

    @hookimpl(optionalhook=True)
    def dav_properties(self, host: Any, principal: Any, collection: Any, resource: Any) -> dict[str, Any]:
        """A text property on calendars, an element property on resources."""
        self.asked.append((collection.path, resource.name if resource else None))
        if resource is not None:
            elem = ET.Element("{urn:ext}badge")
            ET.SubElement(elem, "{urn:ext}colour").text = "green"
            return {"{urn:ext}badge": elem}
        return {C + "max-resource-size": "1024", "{urn:ext}owner-name": principal.display_name}

    @hookimpl(optionalhook=True)
    def dav_reports(self, host: Any) -> dict[str, Any]:
        """A report counting a calendar's objects (a plain function: it runs off the event loop)."""

        def count(ctx: Any, body: ET.Element) -> Response:
            try:
                asyncio.get_running_loop()
                where = "on the loop"
            except RuntimeError:
                where = "in a worker"
            return PlainTextResponse(f"{ctx.host.store.count_resources(ctx.target.collection.id)} {where}")

        return {"{urn:ext}count": count}

    @hookimpl(optionalhook=True)
    def dav_methods(self, host: Any) -> dict[str, Any]:
        """A method answering who asks about what (an async handler: it runs on the loop)."""

        async def whoami(ctx: Any) -> Response:
            asyncio.get_running_loop()
            return PlainTextResponse(f"{ctx.principal.name} {ctx.target.kind} {ctx.depth} {len(ctx.body)}")

        return {"SEARCH": whoami}


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory, teamcal_backend: str) -> Iterator[tuple[Deployment, Extension]]:
    """A deployment with the extension plugin registered."""
    ext = Extension()
    dep = make_deployment(Path(tmp_path_factory.mktemp("hooks")), plugins=(("extension", ext),))
    with dep.server:
        yield dep, ext
    dep.host.close()


def test_hook_dav_properties(extended: tuple[Deployment, Extension]) -> None:
    dep, ext = extended
    with dep.client("alice") as alice:
        cal = mkcalendar(alice)
        alice.put(cal + "e.ics", content=event("hooked"))
        plain = propfind(alice, cal, "<D:prop><D:resourcetype/></D:prop>", depth="1")
        assert parse_multistatus(plain) and ext.asked == []
        asked = '<D:prop><C:max-resource-size/><X:owner-name xmlns:X="urn:ext"/><X:badge xmlns:X="urn:ext"/></D:prop>'
        found = parse_multistatus(propfind(alice, cal, asked, depth="1"))
        assert found[cal].text(C + "max-resource-size") == "1024"
        assert found[cal].text("{urn:ext}owner-name") == "Alice Liddell"
        assert found[cal].props["{urn:ext}badge"][0] == 404
        badge = found[cal + "e.ics"].value("{urn:ext}badge")
        assert badge.findtext("{urn:ext}colour") == "green"


def test_hook_dav_reports(extended: tuple[Deployment, Extension]) -> None:
    dep, _ = extended
    with dep.client("alice") as alice:
        cal = mkcalendar(alice)
        alice.put(cal + "e.ics", content=event("counted"))
        r = alice.request("REPORT", cal, content=b'<X:count xmlns:X="urn:ext"/>')
        assert r.status_code == 200 and r.text == "1 in a worker"
        reports = parse_multistatus(propfind(alice, cal, "<D:prop><D:supported-report-set/></D:prop>"))[cal]
        assert "{urn:ext}count" in {rep[0][0].tag for rep in reports.value("{DAV:}supported-report-set")}


def test_hook_dav_methods(extended: tuple[Deployment, Extension]) -> None:
    dep, _ = extended
    with dep.client("bob") as bob:
        r = bob.request("SEARCH", "/dav/cal/bob/", headers={"Depth": "1"}, content=b"<q/>")
        assert r.status_code == 200 and r.text == "bob home 1 4"
        assert "SEARCH" in bob.request("OPTIONS", "/dav/cal/bob/").headers["Allow"]
