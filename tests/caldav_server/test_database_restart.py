"""PostgreSQL dropping every connection (a restart, a failover, a proxy's idle timeout): the
requests meeting a dropped connection get a 503, never a 500 or a reset, and the server
recovers by itself, connecting anew."""

from __future__ import annotations

import httpx
import pytest

from kernel.testing.dav import mkcalendar
from tests.caldav_server.conftest import Deployment

PROPFIND = {"Depth": "0"}


@pytest.mark.postgresql_only
def test_after_the_database_drops_its_connections_requests_recover(deployment: Deployment) -> None:
    store = deployment.server.host.store  # the served host's own store (its worker threads' connections)
    with deployment.client("alice") as alice:
        cal = mkcalendar(alice)
        assert [alice.request("PROPFIND", cal, headers=PROPFIND).status_code for _ in range(10)] == [207] * 10
        mine = store.conn.raw.info.backend_pid
        dropped = [conn.raw.info.backend_pid for conn in store.connections.live()]
        for pid in dropped:
            if pid != mine:
                store.execute("SELECT pg_terminate_backend(?)", (pid,)).fetchall()
        assert len(dropped) > 1
        # every worker thread meets its dropped connection at most once (a 503), then connects anew
        answers = [alice.request("PROPFIND", cal, headers=PROPFIND) for _ in range(80)]
        statuses = [answer.status_code for answer in answers]
        assert set(statuses) <= {207, 503} and 503 in statuses, statuses  # a dropped one was met
        assert all(answer.headers.get("Retry-After") == "1" for answer in answers if answer.status_code == 503)
        assert statuses[-20:] == [207] * 20, statuses
        assert alice.put(cal + "after.ics", content=b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
                         b"BEGIN:VEVENT\r\nUID:after\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240102T100000Z\r\n"
                         b"END:VEVENT\r\nEND:VCALENDAR\r\n").status_code == 201
    health = [httpx.get(deployment.url + "/healthz", timeout=30).status_code for _ in range(3)]
    assert health[-1] == 200, health
