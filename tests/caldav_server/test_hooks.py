"""The hooks the CalDAV plugin offers: dav_properties, dav_reports, dav_methods, dav_extend,
dav_reads_ahead."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.responses import PlainTextResponse, Response

from kernel import Rejected, hookimpl
from kernel.testing import event_object as event
from kernel.testing.dav import CALDAV, mkcalendar, parse_multistatus, prop_xml, propfind, unique
from tests.caldav_server.conftest import Deployment, make_deployment

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


class Extender:
    """A third-party plugin adding to the DAV server through dav_extend."""

    @hookimpl(optionalhook=True)
    def dav_extend(self, host: Any, dav: Any) -> None:
        """A resource type, a PUT check, a compliance class, a renderer, a property and a privilege."""

        def journal_type(target: Any) -> str:
            name = target.collection.name if target.collection is not None else ""
            return '<X:journal xmlns:X="urn:ext"/>' if name.startswith("journal-") else ""

        def no_plain_text(ctx: Any, collection: Any, content_type: str | None) -> None:
            if (content_type or "").startswith("text/plain"):
                raise Rejected(415, "{urn:ext}no-plain-text", "Plain text is not taken here.")

        def summary(ctx: Any, target: Any) -> Response | None:
            if "text/x-summary" not in ctx.request.headers.get("accept", ""):
                return None
            return PlainTextResponse(f"{ctx.host.store.count_resources(target.collection.id)} objects")

        dav.add_resource_type(journal_type)
        dav.add_put_check(no_plain_text)
        dav.add_compliance_class("urn:ext:journals")
        dav.add_collection_renderer(summary)
        dav.add_property("{urn:ext}kind", lambda ctx, t: t.kind if t.collection is not None else None)

        def size_class(ctx: Any, target: Any) -> str | None:
            return None if target.resource is None else ("big" if target.resource.size > 400 else "small")

        # from the row alone for small objects; big ones go through size_class (the same value)
        dav.add_property("{urn:ext}size-class", size_class, row=lambda r: "small" if r.size <= 400 else None,
                         row_fields=("size",))
        dav.add_privilege("write", '<X:annotate xmlns:X="urn:ext"/>')


@pytest.fixture(scope="module")
def extender(tmp_path_factory: pytest.TempPathFactory, teamcal_backend: str) -> Iterator[Deployment]:
    """A deployment with the dav_extend plugin registered."""
    dep = make_deployment(Path(tmp_path_factory.mktemp("extend")), plugins=(("extender", Extender()),))
    with dep.server:
        yield dep
    dep.host.close()


def test_hook_dav_extend(extender: Deployment) -> None:
    with extender.client("alice") as alice:
        journal = mkcalendar(alice, name="journal-2026")
        other = mkcalendar(alice)
        assert alice.put(journal + "e.ics", content=event("kept")).status_code == 201
        # the resource type, on the calendar it applies to only
        types = parse_multistatus(propfind(alice, journal, "<D:prop><D:resourcetype/></D:prop>"))[journal]
        assert "{urn:ext}journal" in {child.tag for child in types.value("{DAV:}resourcetype")}
        types = parse_multistatus(propfind(alice, other, "<D:prop><D:resourcetype/></D:prop>"))[other]
        assert "{urn:ext}journal" not in {child.tag for child in types.value("{DAV:}resourcetype")}
        # the PUT check refuses before the body is stored, with its precondition element
        files = f"/dav/cal/alice/{unique('files')}/"
        assert alice.request("MKCOL", files).status_code == 201
        assert alice.put(files + "n.md", content=b"# hello", headers={"Content-Type": "text/markdown"}).status_code == 201
        refused = alice.put(files + "n.txt", content=b"hello", headers={"Content-Type": "text/plain"})
        assert refused.status_code == 415 and "no-plain-text" in refused.text
        assert alice.get(files + "n.txt").status_code == 404
        # the compliance class, the renderer (and the built-in one when it declines), the property
        assert "urn:ext:journals" in alice.request("OPTIONS", journal).headers["DAV"]
        assert alice.get(journal, headers={"Accept": "text/x-summary"}).text == "1 objects"
        assert alice.get(journal).headers["content-type"].startswith("text/calendar")
        found = parse_multistatus(propfind(alice, journal, '<D:prop><X:kind xmlns:X="urn:ext"/></D:prop>'))
        assert found[journal].text("{urn:ext}kind") == "collection"
        privileges = propfind(alice, journal, "<D:prop><D:current-user-privilege-set/></D:prop>").text
        assert "annotate" in privileges
        # a property a plugin computes from the row: the same values in a listing as one by one
        assert alice.put(journal + "big.ics", content=event("x" * 600)).status_code == 201
        asked = '<D:prop><D:getetag/><X:size-class xmlns:X="urn:ext"/></D:prop>'
        listed = parse_multistatus(propfind(alice, journal, asked, depth="1"))
        assert {href: r.text("{urn:ext}size-class") for href, r in listed.items() if href != journal} == {
            journal + "e.ics": "small", journal + "big.ics": "big"}
        for href in (journal + "e.ics", journal + "big.ics"):
            alone = parse_multistatus(propfind(alice, href, asked, depth="0"))[href]
            assert alone.text("{DAV:}getetag") == listed[href].text("{DAV:}getetag") == alice.get(href).headers["etag"]
        # and in an initial sync-collection, which lists the collection the same way
        sync = ('<D:sync-collection xmlns:D="DAV:" xmlns:X="urn:ext"><D:sync-token/><D:sync-level>1</D:sync-level>'
                "<D:prop><D:getetag/><X:size-class/></D:prop></D:sync-collection>")
        synced = parse_multistatus(alice.request("REPORT", journal, content=sync))
        assert {href: (r.text("{DAV:}getetag"), r.text("{urn:ext}size-class")) for href, r in synced.items()} == {
            href: (r.text("{DAV:}getetag"), r.text("{urn:ext}size-class")) for href, r in listed.items() if href != journal}
        # the same in a calendar-query with calendar-data (the report's own element beside the rows)
        query = ('<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:X="urn:ext">'
                 "<D:prop><D:getetag/><X:size-class/><C:calendar-data/></D:prop><C:filter>"
                 '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20000101T000000Z"'
                 ' end="20300101T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>')
        found = parse_multistatus(alice.request("REPORT", journal, content=query, headers={"Depth": "1"}))
        for href, size_class in ((journal + "e.ics", "small"), (journal + "big.ics", "big")):
            got = alice.get(href)
            assert found[href].text("{urn:ext}size-class") == size_class
            assert found[href].text("{DAV:}getetag") == got.headers["etag"]
            assert found[href].text("{urn:ietf:params:xml:ns:caldav}calendar-data") == got.text
    with extender.client("carol") as carol:  # carol may not read alice's calendar: no summary for her
        assert carol.get(journal, headers={"Accept": "text/x-summary"}).status_code in (403, 404)


#: The read a third-party plugin names ahead and later runs.
OWNER_READ = "SELECT display_name FROM principals WHERE name = ?"


class ReadAhead:
    """A third-party plugin that names ahead the read its property makes of a home's owner."""

    def __init__(self) -> None:
        self.named: list[tuple[str, str, list[str]]] = []

    @hookimpl(optionalhook=True)
    def dav_reads_ahead(self, host: Any, method: str, owner: str, path: list[str]) -> list[tuple[str, Any]]:
        self.named.append((method, owner, path))
        return [(OWNER_READ, (owner,))]

    @hookimpl(optionalhook=True)
    def dav_properties(self, host: Any, principal: Any, collection: Any, resource: Any) -> dict[str, Any]:
        """The calendar owner's display name, read by the owner's name."""
        (name,) = host.store.execute(OWNER_READ, (collection.owner.name,)).fetchone()
        return {"{urn:ext}owner-display-name": name}


def test_hook_dav_reads_ahead(tmp_path: Path) -> None:
    """On PostgreSQL the plugin's read goes with the account's, and its own run of it is
    answered without running it again; on SQLite the hook is not even asked."""
    ext = ReadAhead()
    dep = make_deployment(tmp_path, plugins=(("read-ahead", ext),))
    try:
        with dep.server, dep.client("bob") as bob:
            path = mkcalendar(bob, "bob", "work")
            with dep.server.host.store.traced() as statements:  # the server's own host
                answer = propfind(bob, path, prop_xml('<X:owner-display-name xmlns:X="urn:ext"/>'))
            found = parse_multistatus(answer)
    finally:
        dep.host.close()
    assert found[path].value("{urn:ext}owner-display-name").text == "Bob Builder"
    runs = [s for s in statements if s.startswith("SELECT display_name FROM principals")]
    assert len(runs) == 1, statements  # named ahead and answered, or simply run
    if dep.host.store.dialect == "postgresql":
        assert ("PROPFIND", "bob", ["work"]) in ext.named
        # sent with the account's read and the URL's, before anything the request reads later
        assert statements.index(runs[0]) == 2, statements
    else:
        assert ext.named == []
