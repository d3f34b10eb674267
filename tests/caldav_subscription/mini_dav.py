"""A small in-test CalDAV calendar without sync-collection, and a misbehaving remote.

It offers what older servers do: getctag, PROPFIND Depth 1 with ETags,
calendar-multiget (switchable off, forcing GETs), GET / PUT / DELETE with
If-Match / If-None-Match. ``fault`` makes it answer garbage, HTML, an XML
bomb, too much data, or too slowly, to test that remote trouble never
touches local data. It runs under a real uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from typing import Self
from urllib.parse import unquote
from xml.sax.saxutils import escape

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kernel.testing import free_port

BASE = "/cal/"
BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]><d:multistatus xmlns:d="DAV:">&lol3;</d:multistatus>'
)


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:20] + '"'


class MiniDav:
    """The server's state; ``url`` is the calendar's URL. Use as a context manager."""

    def __init__(self, *, multiget: bool = True) -> None:
        self.objects: dict[str, bytes] = {}
        self.ctag = 1
        self.multiget = multiget
        self.fault: str | None = None
        self.delay = 0.0
        self.requests: list[tuple[str, str]] = []
        self.redirects: dict[str, str] = {}
        self.digest: tuple[str, str] | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{BASE}"
        app = Starlette(routes=[Route("/{path:path}", self.handle, methods=[
            "GET", "PUT", "DELETE", "PROPFIND", "REPORT", "OPTIONS"])])
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", timeout_graceful_shutdown=1
        ))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert time.monotonic() < deadline, "mini dav did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def put(self, name: str, data: bytes) -> None:
        """Change the remote directly (as another client would)."""
        self.objects[name] = data
        self.ctag += 1

    def delete(self, name: str) -> None:
        """Delete directly."""
        del self.objects[name]
        self.ctag += 1

    # -- the app -----------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        path = unquote(request.url.path)
        self.requests.append((request.method, path))
        if path in self.redirects:
            return Response(status_code=302, headers={"Location": self.redirects[path]})
        if self.digest and not self._digest_ok(request):
            challenge = 'Digest realm="mini", nonce="n0nce", qop="auth", algorithm=MD5'
            return Response(status_code=401, headers={"WWW-Authenticate": challenge})
        if self.delay:
            await asyncio.sleep(self.delay)
        faulty = self._fault()
        if faulty is not None:
            return faulty
        body = await request.body()
        name = path[len(BASE):] if path.startswith(BASE) else None
        if request.method == "PROPFIND" and path in (BASE, BASE.rstrip("/")):
            return self._propfind(request.headers.get("depth", "1"))
        if request.method == "REPORT":
            return self._report(body)
        if not name:
            return Response(status_code=404)
        current = self.objects.get(name)
        if request.method == "GET":
            if current is None:
                return Response(status_code=404)
            return Response(current, media_type="text/calendar", headers={"ETag": _etag(current)})
        if_match = request.headers.get("if-match")
        if if_match and (current is None or if_match != _etag(current)):
            return Response(status_code=412)
        if request.method == "PUT":
            if request.headers.get("if-none-match") == "*" and current is not None:
                return Response(status_code=412)
            self.put(name, body)
            return Response(status_code=204 if current else 201, headers={"ETag": _etag(body)})
        if request.method == "DELETE":
            if current is None:
                return Response(status_code=404)
            self.delete(name)
            return Response(status_code=204)
        return Response(status_code=405)

    def _digest_ok(self, request: Request) -> bool:
        """Check an RFC 7616 Digest (MD5, qop=auth) answer to our challenge."""
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("digest ") or self.digest is None:
            return False
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))
        user, password = self.digest
        def md5(text):
            return hashlib.md5(text.encode()).hexdigest()
        ha1 = md5(f"{user}:mini:{password}")
        ha2 = md5(f"{request.method}:{fields.get('uri', '')}")
        expected = md5(f"{ha1}:n0nce:{fields.get('nc')}:{fields.get('cnonce')}:auth:{ha2}")
        return fields.get("username") == user and fields.get("response") == expected

    def _fault(self) -> Response | None:
        if self.fault == "garbage":
            return Response(b"<<<this is not xml at all", status_code=207, media_type="application/xml")
        if self.fault == "html":
            return Response(b"<html><body>Maintenance</body></html>", status_code=200, media_type="text/html")
        if self.fault == "bomb":
            return Response(BOMB, status_code=207, media_type="application/xml")
        if self.fault == "huge":
            return Response(b"<d:multistatus xmlns:d='DAV:'>" + b" " * 3_000_000 + b"</d:multistatus>", status_code=207)
        if self.fault == "error":
            return Response(b"oops", status_code=500)
        return None

    def _propfind(self, depth: str) -> Response:
        multiget = "<d:supported-report><d:report><c:calendar-multiget/></d:report></d:supported-report>"
        reports = multiget if self.multiget else ""
        own = (
            f"<d:response><d:href>{BASE}</d:href><d:propstat><d:prop>"
            "<d:resourcetype><d:collection/><c:calendar/></d:resourcetype><d:displayname>Mini</d:displayname>"
            f"<cs:getctag>\"{self.ctag}\"</cs:getctag><d:supported-report-set>{reports}</d:supported-report-set>"
            "</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
        )
        parts = [own]
        if depth == "1":
            for name, data in sorted(self.objects.items()):
                parts.append(
                    f"<d:response><d:href>{BASE}{escape(name)}</d:href><d:propstat><d:prop>"
                    f"<d:getetag>{escape(_etag(data))}</d:getetag><d:resourcetype/></d:prop>"
                    "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
                )
        return _multistatus("".join(parts))

    def _report(self, body: bytes) -> Response:
        if b"calendar-multiget" not in body or not self.multiget:
            return Response(
                b'<?xml version="1.0"?><d:error xmlns:d="DAV:"><d:supported-report/></d:error>', status_code=403
            )
        parts = []
        for href in re.findall(rb"<d:href>([^<]+)</d:href>", body):
            name = unquote(href.decode())[len(BASE):]
            data = self.objects.get(name)
            if data is None:
                parts.append(f"<d:response><d:href>{escape(href.decode())}</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>")
                continue
            parts.append(
                f"<d:response><d:href>{escape(href.decode())}</d:href><d:propstat><d:prop>"
                f"<d:getetag>{escape(_etag(data))}</d:getetag><c:calendar-data>{escape(data.decode())}</c:calendar-data>"
                "</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
            )
        return _multistatus("".join(parts))


def _multistatus(inner: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="utf-8"?><d:multistatus xmlns:d="DAV:" '
        'xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/">'
        f"{inner}</d:multistatus>"
    )
    return Response(body.encode(), status_code=207, media_type="application/xml; charset=utf-8")
