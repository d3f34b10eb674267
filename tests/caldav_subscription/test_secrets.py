"""Remote credentials at rest: encrypted in the file, refused without a key, old plaintext rows sealed."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from pathlib import Path

import httpx
import pytest

from kernel.cli import main
from kernel.host import Host
from kernel.testing import asgi_client
from plugins.caldav_subscription import manage, records

from .conftest import build_host, local_objects, subscribe, sync
from .peers import FeedServer, Peer, RemoteCalendar, event
from .test_feeds import feed


def file_bytes(directory: Path) -> bytes:
    """The database file with its -wal and -shm, as they lie on disk. Closing the last
    connection removes the -wal and -shm, maybe between listing them and reading them: a
    file gone by then holds nothing."""
    assert (directory / "teamcal.sqlite3").exists(), "no SQLite file to read"
    found = []
    for path in sorted(directory.glob("teamcal.sqlite3*")):
        try:
            found.append(path.read_bytes())
        except FileNotFoundError:
            continue
    return b"".join(found)


def stored_credentials(host: Host) -> list[tuple[str | None, str | None]]:
    return host.store.execute(f"SELECT username, password FROM {records.SUBSCRIPTIONS}").fetchall()


def subscribed_with_password(tmp_path: Path, radicale: Peer) -> tuple[Host, RemoteCalendar, records.Subscription]:
    """A host subscribed, with Radicale's username and password, to a new remote calendar holding one event."""
    assert radicale.auth is not None
    cal = radicale.new_calendar()
    cal.put("a.ics", event("a"))
    host = build_host(tmp_path)
    return host, cal, subscribe(host, cal.url, auth=radicale.auth)


def test_the_file_holds_no_plaintext_password_and_sync_authenticates(
    tmp_path: Path, radicale: Peer, teamcal_backend: str
) -> None:
    on_file = teamcal_backend == "sqlite"  # the raw bytes can be read on SQLite only
    host, cal, sub = subscribed_with_password(tmp_path, radicale)
    username, password = radicale.auth
    out = sync(host, sub)
    assert out.error is None and out.report.pulled == 1 and len(local_objects(host, sub)) == 1
    [(stored_user, stored_password)] = stored_credentials(host)
    assert stored_user.startswith("fernet:") and stored_password.startswith("fernet:")
    assert manage.credentials(host, records.get(host.store, sub.id)) == (username, password)
    assert not on_file or password.encode() not in file_bytes(tmp_path)
    host.close()
    assert not on_file or password.encode() not in file_bytes(tmp_path)

    again = Host.from_config(tmp_path / "plugins.toml")  # a restart decrypts with the same key
    cal.put("b.ics", event("b"))
    assert sync(again, sub).report.pulled == 1
    again.close()


def test_without_a_key_no_credential_is_stored(
    tmp_path: Path, radicale: Peer, feeds: FeedServer, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cal = radicale.new_calendar()
    host = build_host(tmp_path, kernel="")

    async def post(body: dict) -> httpx.Response:
        async with asgi_client(host, "alice") as client:
            return await client.post("/api/subscriptions", content=json.dumps(body), timeout=30)

    answer = asyncio.run(post({"calendar": "alice/mirror", "url": cal.url, "username": "alice", "password": "pw"}))
    assert answer.status_code == 400
    assert "secret_key" in answer.json()["error"] and "\n" not in answer.json()["error"]
    assert str(tmp_path) not in answer.text  # the server's paths are the admin's business

    monkeypatch.setattr(sys, "stdin", io.StringIO("pw\n"))
    code = main(["--config", str(tmp_path / "plugins.toml"), "subscription", "add", "--calendar", "alice/mirror",
                 "--url", cal.url, "--username", "alice", "--password-stdin"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "[kernel] secret_key: not set" in err and "teamcal secrets generate-key" in err

    assert stored_credentials(host) == [] and host.store.collection("alice", "mirror") is None
    feeds.publish("/public.ics", feed())
    public = subscribe(host, feeds.url + "/public.ics")  # no credentials: nothing to encrypt, no key needed
    assert public.username is None and public.password is None
    host.close()


@pytest.mark.sqlite_only
def test_plaintext_rows_from_before_a_key_are_encrypted_at_start(
    tmp_path: Path, radicale: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    host, cal, sub = subscribed_with_password(tmp_path, radicale)
    username, password = radicale.auth
    records.update(host.store, sub.id, username=username, password=password)  # as an older teamcal stored them
    host.close()
    config = tmp_path / "plugins.toml"
    keyed = config.read_text()
    config.write_text(keyed.replace("secret_key", "# secret_key"))
    assert password.encode() in file_bytes(tmp_path)

    with caplog.at_level(logging.WARNING, logger="teamcal"):
        unkeyed = Host.from_config(config)
    assert "2 stored secrets are in plaintext: set [kernel] secret_key" in caplog.text
    assert sync(unkeyed, sub).report.pulled == 1  # plaintext still works until a key is set
    unkeyed.close()

    config.write_text(keyed)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="teamcal"):
        sealed = Host.from_config(config)
    assert "encrypted 2 stored secrets that were in plaintext" in caplog.text
    assert all(v.startswith("fernet:") for v in stored_credentials(sealed)[0])
    assert password.encode() not in file_bytes(tmp_path)
    cal.put("b.ics", event("b"))
    assert sync(sealed, sub).report.pulled == 1
    sealed.close()
    assert password.encode() not in file_bytes(tmp_path)
