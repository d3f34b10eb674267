"""The hello plugin on a real teamcal host, with kernel.testing only (each test on a fresh database)."""

import teamcal_hello
from kernel.testing import HostFactory, add_user, app_client, assert_config_error, event_object, record_hooks
from kernel.testing.dav import error_elements, get_event, mkcalendar, put_event

SETTINGS = {"hello": {"greeting": "Moin", "forbidden_words": ["Lorem"]}}


def test_hello_greets_counts_calendars_and_visits(make_teamcal: HostFactory) -> None:
    host = make_teamcal(["caldav_server", teamcal_hello], SETTINGS)
    add_user(host, "alice", display_name="Alice A.")
    with app_client(host, "alice") as http:
        mkcalendar(http)
        assert http.get("/hello").text == "Moin, Alice A.! You have 1 calendars (visit 1)."
        assert http.get("/hello").text.endswith("(visit 2).")
        assert http.get("/hello/stats").json() == {"visits": 2}
        assert http.as_user(None).get("/hello").status_code == 401


def test_forbidden_words_are_refused_whichever_way_events_come(make_teamcal: HostFactory) -> None:
    host = make_teamcal(["caldav_server", teamcal_hello], SETTINGS, users=["alice"])
    with app_client(host, "alice") as http, record_hooks(host, "validate_object") as calls:
        calendar = mkcalendar(http)
        assert put_event(http, calendar + "ok.ics", event_object("ok", summary="Standup")).status_code == 201
        refused = put_event(http, calendar + "no.ics", event_object("no", summary="lorem ipsum"))
        assert refused.status_code == 403 and error_elements(refused)[0] == "{urn:teamcal:hello}forbidden-word"
        assert get_event(http, calendar + "no.ics").status_code == 404
    assert [call["write"].name for call in calls] == ["ok.ics", "no.ics"]
    assert calls[1].error is not None and calls[1].error.status == 403


def test_without_forbidden_words_everything_is_stored(make_teamcal: HostFactory) -> None:
    host = make_teamcal(["caldav_server", teamcal_hello], users=["alice"])
    with app_client(host, "alice") as http:
        calendar = mkcalendar(http)
        assert put_event(http, calendar + "e.ics", event_object("e", summary="lorem ipsum")).status_code == 201
        assert http.get("/hello").text.startswith("Hello, alice!")


def test_forbidden_words_must_be_a_list() -> None:
    assert_config_error(
        "[hello] forbidden_words: must be a list", plugins=[teamcal_hello], settings={"hello": {"forbidden_words": "x"}}
    )
