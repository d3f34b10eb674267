"""A server that answers the benchmark's mixed load from memory: the client's own ceiling.

``python -m bench.replay --port P --upstream URL --ics DIR`` answers on 127.0.0.1:

* GET of ``<calendar>/<file>.ics``: the file's bytes from DIR, with an ETag of them;
* PUT: 204 with an ETag of the body sent (nothing is stored);
* MKCALENDAR: 405 (the calendar exists);
* any other request (PROPFIND, the week queries' REPORTs): the upstream server's answer
  to the same method, path and body, asked once and then kept in memory.

The mixed load never moves an event in time, so an upstream answer to a week query stays
right for the whole run. Each answer costs the server a dictionary lookup and a write, so
what the benchmark measures against it is what its client alone can do on this machine:
parsing the week answers, building requests, its threads under one interpreter lock.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import signal
import urllib.parse
from pathlib import Path

#: Bytes one request's head or body may take.
MAX_REQUEST = 1 << 20
#: Answers kept from upstream at most (the mixed load asks about 60 distinct ones).
MAX_KEPT = 10_000

Answer = tuple[int, list[tuple[str, str]], bytes]


class Replay:
    """The answers: files by name, upstream answers by request."""

    def __init__(self, upstream: str, files: dict[str, bytes]) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.files = {name: (data, _etag(data)) for name, data in files.items()}
        self.kept: dict[tuple[str, str, bytes], Answer] = {}

    async def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """The answer to one request."""
        name = path.rsplit("/", 1)[-1]
        if method == "GET" and name in self.files:
            data, etag = self.files[name]
            return 200, [("Content-Type", "text/calendar; charset=utf-8"), ("ETag", etag)], data
        if method == "PUT":
            return 204, [("ETag", _etag(body))], b""
        if method == "MKCALENDAR":
            return 405, [], b""
        key = (method, path, body)
        kept = self.kept.get(key)
        if kept is None:
            kept = await asyncio.to_thread(self._upstream, method, path, headers, body)
            if len(self.kept) < MAX_KEPT:
                self.kept[key] = kept
        return kept

    def _upstream(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        try:
            sent = {k: v for k, v in headers.items() if k in ("authorization", "content-type", "depth")}
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() in ("content-type", "etag")]
            return response.status, kept, data
        finally:
            conn.close()


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha1(data).hexdigest() + '"'


async def serve_connection(replay: Replay, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer the requests of one keep-alive connection until the client closes it."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > MAX_REQUEST:
                break
            first, *lines = head[:-4].decode("latin-1").split("\r\n")
            method, target, _ = first.split(" ", 2)
            headers = {}
            for line in lines:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if not 0 <= length <= MAX_REQUEST:
                break
            body = await reader.readexactly(length) if length else b""
            status, extra, data = await replay.answer(method, target, headers, body)
            out = [f"HTTP/1.1 {status} {http.client.responses.get(status, '')}", f"Content-Length: {len(data)}"]
            out += [f"{key}: {value}" for key, value in extra]
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + data)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main_async(port: int, replay: Replay) -> None:
    """Serve on 127.0.0.1:port until SIGTERM or SIGINT."""
    server = await asyncio.start_server(
        lambda r, w: serve_connection(replay, r, w), "127.0.0.1", port, limit=MAX_REQUEST + 4
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Parse the options and serve."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the server whose answers are replayed (http://127.0.0.1:P)")
    parser.add_argument("--ics", required=True, type=Path, help="the benchmark's events (--write-ics)")
    args = parser.parse_args(argv)
    files = {path.name: path.read_bytes() for path in args.ics.glob("*.ics")}
    asyncio.run(main_async(args.port, Replay(args.upstream, files)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
