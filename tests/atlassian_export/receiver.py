"""A real HTTP receiver on 127.0.0.1 standing in for the push relay.

It records every envelope it is sent (with the test clock's time) and answers
from a script: a function of (request number, envelope) returning (status,
headers, JSON body), by default 200 with ``{"success": true}``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str], Any]
Script = Callable[[int, dict], Answer]


def accept_all(number: int, envelope: dict) -> Answer:
    """The default: every request accepted."""
    return 200, {}, {"success": True}


@dataclass
class Received:
    """One request as the receiver saw it."""

    number: int
    operation: str
    request: dict
    headers: dict[str, str]
    at: float
    status: int


@dataclass
class Receiver:
    """The server, its script and what it received; use as a context manager."""

    script: Script = accept_all
    clock: Callable[[], float] = time.time
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                envelope = json.loads(self.rfile.read(length) or b"{}")
                with receiver.lock:
                    number = len(receiver.received)
                    status, headers, body = receiver.script(number, envelope)
                    receiver.received.append(Received(
                        number, envelope.get("operation", ""), envelope.get("request", {}),
                        {k.lower(): v for k, v in self.headers.items()}, receiver.clock(), status,
                    ))
                if receiver.delay:
                    time.sleep(receiver.delay)
                payload = json.dumps(body).encode() if body is not None else b""
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client was killed mid-request (the resume test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/relay"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def accepted(self, operation: str) -> list[Received]:
        """The requests of one operation answered 2xx."""
        return [r for r in self.received if r.operation == operation and 200 <= r.status < 300]

    def object_ids(self) -> set[str]:
        """Every object id delivered in an accepted setObjects request."""
        return {o["id"] for r in self.accepted("setObjects") for o in r.request["objects"]}

    def deleted_ids(self) -> set[str]:
        """Every id in an accepted deleteObjectsByExternalId request."""
        return {i for r in self.accepted("deleteObjectsByExternalId") for i in r.request["externalIds"]}
