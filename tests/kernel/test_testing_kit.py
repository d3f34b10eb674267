"""kernel.testing, the kit plugin authors test with: hosts with chosen plugins and settings, the
in-process client with its lifespan, DAV helpers, run_job, the hook recorder, assert_config_error."""

from __future__ import annotations

import asyncio
import types
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from kernel import Job, Rejected, hookimpl
from kernel.testing import (
    HostFactory,
    app_client,
    assert_config_error,
    event_object,
    record_hooks,
    run_job,
    run_job_async,
)
from kernel.testing.dav import (
    calendar_query,
    error_elements,
    get_event,
    mkcalendar,
    parse_multistatus,
    prop_xml,
    propfind,
    put_event,
)


@dataclass
class EchoSettings:
    word: str = field(default="hi", metadata={"doc": "what /echo answers"})
    times: int = field(default=1, metadata={"doc": "how often"})


class Echo:
    """Settings, a route naming the user, lifespan hooks, a plain and an async job, a veto."""

    def __init__(self) -> None:
        self.events: list[str] = []

    @hookimpl
    def register_settings(self) -> dict[str, type]:
        return {"echo": EchoSettings}

    @hookimpl
    def register_routes(self, host: Any) -> list[Route]:
        async def echo(request: Request) -> PlainTextResponse:
            principal = await host.require_principal(request)
            return PlainTextResponse(f"{host.settings('echo').word * host.settings('echo').times} {principal.name}")

        return [Route("/echo", echo)]

    @hookimpl
    async def startup(self, host: Any) -> None:
        self.events.append("startup")

    @hookimpl
    async def shutdown(self, host: Any) -> None:
        self.events.append("shutdown")

    @hookimpl
    def register_jobs(self, host: Any) -> list[Job]:
        def count(host: Any) -> int:
            self.events.append("count")
            return len(self.events)

        async def spawn(host: Any) -> str:
            async def later() -> None:
                await asyncio.sleep(0)
                self.events.append("spawned task done")

            asyncio.get_running_loop().create_task(later())
            return "spawned"

        return [Job("echo.count", 3600, count), Job("echo.spawn", 3600, spawn)]

    @hookimpl
    def validate_object(self, host: Any, write: Any) -> None:
        if write.calendar is not None and "nope" in str(write.calendar.walk("VEVENT")[0].get("SUMMARY", "")):
            raise Rejected(403, "{urn:x}nope", "Nope.")


def test_make_teamcal_builds_hosts_with_named_and_direct_plugins_and_settings(make_teamcal: HostFactory) -> None:
    echo = Echo()
    host = make_teamcal(
        ["limits", echo], {"echo": {"word": "moin", "times": 2}, "kernel": {"team_member_privilege": "read"}},
        users=["alice"],
    )
    assert host.settings("echo").word == "moin" and host.settings("echo").times == 2
    assert host.kernel.team_member_privilege == "read"
    assert {"limits", "echo"} <= set(host.plugin_names())
    assert host.store.principal("alice") is not None
    other = make_teamcal()
    assert other.store.principal("alice") is None  # a fresh database for each host
    assert host.store.dialect == other.store.dialect


def test_a_module_plugin_is_named_after_its_module(make_teamcal: HostFactory) -> None:
    module = types.ModuleType("acme.stamp")
    module.register_settings = hookimpl(lambda: {"stamp": EchoSettings})  # type: ignore[attr-defined]
    host = make_teamcal([module], {"stamp": {"word": "ok"}})
    assert "stamp" in host.plugin_names() and host.settings("stamp").word == "ok"


def test_app_client_runs_the_lifespan_and_acts_as_the_user(make_teamcal: HostFactory) -> None:
    echo = Echo()
    host = make_teamcal([echo], {"echo": {"word": "ahoy"}}, users=["alice", "bob"])
    with app_client(host, "alice") as http:
        assert echo.events == ["startup"]
        assert http.get("/echo").text == "ahoy alice"
        assert http.get("/echo", auth=("bob", "password")).text == "ahoy bob"
        assert http.as_user(None).get("/echo").status_code == 401
        assert http.as_user("alice", "wrong").get("/echo").status_code == 401
    assert echo.events == ["startup", "shutdown"]  # no job ran in the background


def test_app_client_raises_what_escapes_the_app(make_teamcal: HostFactory) -> None:
    class Broken:
        @hookimpl
        def register_routes(self, host: Any) -> list[Route]:
            def boom(request: Request) -> PlainTextResponse:
                raise ZeroDivisionError("boom")

            return [Route("/boom", boom)]

    host = make_teamcal([Broken()])
    with app_client(host) as http, pytest.raises(ZeroDivisionError):
        http.get("/boom")
    with app_client(host, raise_app_exceptions=False) as http:
        assert http.get("/boom").status_code == 500


def test_run_job_runs_a_job_once_now(make_teamcal: HostFactory) -> None:
    echo = Echo()
    host = make_teamcal([echo])
    assert run_job(host, "echo.count") == 1 and echo.events == ["count"]
    assert run_job(host, "echo.spawn") == "spawned"
    assert echo.events == ["count", "spawned task done"]  # the task it started was waited for
    with pytest.raises(LookupError, match=r"no job named 'nope': the enabled plugins register \['echo.count'"):
        run_job(host, "nope")


def test_run_job_async_from_an_async_test(make_teamcal: HostFactory) -> None:
    echo = Echo()
    host = make_teamcal([echo])

    async def main() -> tuple[Any, Any]:
        with pytest.raises(RuntimeError, match="await run_job_async"):
            run_job(host, "echo.spawn")
        return await run_job_async(host, "echo.count"), await run_job_async(host, "echo.spawn")

    assert asyncio.run(main()) == (1, "spawned")
    assert echo.events == ["count", "spawned task done"]


def test_record_hooks_records_named_hooks_with_their_arguments_and_answers(make_teamcal: HostFactory) -> None:
    host = make_teamcal(["caldav_server", Echo()], users=["alice"])
    with app_client(host, "alice") as http, record_hooks(host, "validate_object", "changes_committed") as calls:
        calendar = mkcalendar(http)
        assert put_event(http, calendar + "ok.ics", event_object("ok", summary="fine")).status_code == 201
        assert put_event(http, calendar + "no.ics", event_object("no", summary="nope")).status_code == 403
    assert calls.names() == ["changes_committed", "validate_object", "changes_committed", "validate_object"]
    ok, refused = calls.named("validate_object")
    assert ok["write"].name == "ok.ics" and ok.error is None and ok.result == []  # pluggy keeps no None answers
    assert refused["write"].name == "no.ics" and isinstance(refused.error, Rejected)
    assert [c.name for c in calls.named("changes_committed")[1]["changes"]] == ["ok.ics"]
    with pytest.raises(LookupError, match="no hook named 'validate_objcet'"):
        with record_hooks(host, "validate_objcet"):
            pass


def test_assert_config_error_passes_on_one_line_errors_only(make_teamcal: HostFactory) -> None:
    message = assert_config_error("[echo] wrod: unknown key", plugins=[Echo()], settings={"echo": {"wrod": "x"}})
    assert message.endswith("plugins.toml: [echo] wrod: unknown key (known: word, times)")
    assert_config_error("[echo] times: must be an integer", toml='enabled = []\n[echo]\ntimes = "x"\n', plugins=[Echo()])
    assert_config_error("unknown plugin 'nope'", plugins=["nope"])
    with pytest.raises(pytest.fail.Exception, match="no ConfigError: the host was built"):
        assert_config_error("anything", plugins=[Echo()])
    with pytest.raises(AssertionError, match="is not in the ConfigError"):
        assert_config_error("something else", plugins=["nope"])


def test_dav_helpers_speak_caldav(make_teamcal: HostFactory) -> None:
    host = make_teamcal(["caldav_server", Echo()], users=["alice"])
    with app_client(host, "alice") as http:
        calendar = mkcalendar(http, name="work")
        assert calendar == "/dav/cal/alice/work/"
        put = put_event(http, calendar + "e1.ics", event_object("e1", "20240102T100000Z", "20240102T110000Z"))
        assert put.status_code == 201
        again = put_event(http, calendar + "e1.ics", event_object("e1"), if_none_match="*")
        assert again.status_code == 412
        got = get_event(http, calendar + "e1.ics")
        assert got.status_code == 200 and "UID:e1" in got.text and got.headers["ETag"]
        refused = put_event(http, calendar + "e2.ics", event_object("e2", summary="nope"))
        assert refused.status_code == 403 and error_elements(refused)[0] == "{urn:x}nope"
        listing = parse_multistatus(propfind(http, calendar, prop_xml("<D:displayname/><D:getetag/>"), depth="1"))
        assert set(listing) == {calendar, calendar + "e1.ics"}
        assert listing[calendar + "e1.ics"].text("{DAV:}getetag") == got.headers["ETag"]
        assert "{DAV:}getetag" not in listing[calendar].found()
        inside = parse_multistatus(calendar_query(http, calendar, start="20240102T000000Z", end="20240103T000000Z"))
        outside = parse_multistatus(calendar_query(http, calendar, start="20250101T000000Z"))
        assert list(inside) == [calendar + "e1.ics"] and outside == {}


def test_app_client_is_used_as_a_context_manager(make_teamcal: HostFactory) -> None:
    host = make_teamcal([Echo()], users=["alice"])
    http = app_client(host, "alice")
    with pytest.raises(RuntimeError, match="use the client as a context manager"):
        http.get("/echo")
    http.close()
