"""Sign-in: the form, the signed session cookie, CSRF, expiry, sign-out, throttling; CalDAV unchanged."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from kernel.passwords import hash_password
from kernel.testing import LiveServer, add_user, make_host
from tests.web.conftest import PASSWORD, Deployment, csrf_of, login_csrf, make_deployment, sign_in

PROPFIND = b'<?xml version="1.0"?><propfind xmlns="DAV:"><prop><current-user-principal/></prop></propfind>'


def test_root_sends_a_signed_out_browser_to_sign_in_and_a_signed_in_one_to_its_calendars(
    deployment: Deployment,
) -> None:
    with deployment.browser() as browser:
        first = browser.get("/")
        assert first.status_code == 303 and first.headers["location"] == "/web/login"
        page = browser.get("/web/login")
        assert page.status_code == 200 and 'id="login"' in page.text and "User name" in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        answer = sign_in(browser, "alice", PASSWORD)
        assert answer.status_code == 303 and answer.headers["location"] == "/web/calendars"
        assert browser.get("/").headers["location"] == "/web/calendars"
        calendars = browser.get("/web/calendars")
        assert calendars.status_code == 200 and "Alice Liddell" in calendars.text
        # a signed-in browser opening the sign-in page goes on to its calendars
        assert browser.get("/web/login").headers["location"] == "/web/calendars"


def test_the_session_cookie_is_signed_httponly_and_samesite(deployment: Deployment) -> None:
    with deployment.browser() as browser:
        answer = sign_in(browser, "alice", PASSWORD)
        cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and "teamcal_session=" in v)
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
        assert "secure" not in flags  # plain HTTP: a Secure cookie would never come back
        value = browser.cookies["teamcal_session"]
        sid, _, signature = value.rpartition(".")
        assert len(sid) >= 43 and signature
    # the id with a changed signature, a valid-looking unknown id, garbage: all signed out
    for forged in (f"{sid}.{'A' * len(signature)}", f"{'x' * 43}.{signature}", "nonsense", "a." * 300):
        with httpx.Client(base_url=deployment.url, cookies={"teamcal_session": forged}) as other:
            assert other.get("/").headers["location"] == "/web/login", forged
            assert other.get("/web/calendars").status_code == 303


def test_the_cookie_is_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path, kernel='base_url = "https://cal.example.org"')
    with dep.server, dep.browser() as browser:
        page = browser.get("/web/login")
        assert "secure" in page.headers["set-cookie"].lower()
        # this test talks plain HTTP to the server behind the https URL: send the cookie back by hand
        answer = httpx.post(
            dep.url + "/web/login", headers={"Cookie": f"teamcal_login={csrf_of(page.text)}"},
            data={"csrf": csrf_of(page.text), "username": "alice", "password": PASSWORD},
        )
        cookies = [v for k, v in answer.headers.multi_items() if k == "set-cookie" and "teamcal_session=" in v]
        assert answer.status_code == 303 and cookies and "secure" in cookies[0].lower()
    dep.host.close()


def test_wrong_password_unknown_user_and_empty_fields_are_refused(deployment: Deployment) -> None:
    with deployment.browser() as browser:
        for user, password, status in (("alice", "wrong", 401), ("nobody", "x", 401), ("", "", 400), ("a:b", "x", 400)):
            answer = sign_in(browser, user, password)
            assert answer.status_code == status, (user, answer.text)
            assert "teamcal_session" not in browser.cookies
            assert 'role="alert"' in answer.text
        assert "Wrong user name or password." in sign_in(browser, "alice", "wrong").text


def test_the_sign_in_form_needs_its_login_csrf_value(deployment: Deployment) -> None:
    with deployment.browser() as browser:
        # a cross-site form post carries no teamcal_login cookie (SameSite) and cannot know the value
        answer = browser.post("/web/login", data={"csrf": "guess", "username": "alice", "password": PASSWORD})
        assert answer.status_code == 403 and "teamcal_session" not in browser.cookies
        login_csrf(browser)
        wrong = browser.post("/web/login", data={"csrf": "guess", "username": "alice", "password": PASSWORD})
        assert wrong.status_code == 403 and "teamcal_session" not in browser.cookies


def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(deployment: Deployment) -> None:
    with deployment.browser() as browser:
        asked = browser.get("/web/calendars?done=saved")
        assert asked.status_code == 303
        assert asked.headers["location"] == "/web/login?next=%2Fweb%2Fcalendars%3Fdone%3Dsaved"
        login = browser.get(asked.headers["location"])
        assert 'name="next" value="/web/calendars?done=saved"' in login.text
        answer = sign_in(browser, "alice", PASSWORD, next="/web/calendars?done=saved")
        assert answer.headers["location"] == "/web/calendars?done=saved"
    for target in ("//evil.example/x", "https://evil.example/", "/dav/", "/web/\\evil"):
        with deployment.browser() as browser:
            answer = sign_in(browser, "alice", PASSWORD, next=target)
            assert answer.headers["location"] == "/web/calendars", target


def test_sign_out_needs_the_csrf_token_and_ends_the_session_on_the_server(deployment: Deployment) -> None:
    with deployment.signed_in("alice") as signed:
        browser = signed.client
        stolen = browser.cookies["teamcal_session"]
        refused = browser.post("/web/logout", data={})
        assert refused.status_code == 403
        assert browser.get("/web/calendars").status_code == 200
        out = browser.post("/web/logout", data={"csrf": signed.csrf})
        assert out.status_code == 303 and out.headers["location"] == "/web/login"
        assert "teamcal_session" not in browser.cookies
    # the old cookie, replayed, no longer works: the session is gone on the server
    with httpx.Client(base_url=deployment.url, cookies={"teamcal_session": stolen}) as replay:
        assert replay.get("/web/calendars").status_code == 303


def test_sessions_expire_on_the_server(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path, '[web]\nsession_lifetime = "2h"\n')
    with dep.server, dep.browser() as browser:
        answer = sign_in(browser, "alice", PASSWORD)
        assert "max-age=7200" in answer.headers["set-cookie"].lower()
        assert browser.get("/web/calendars").status_code == 200
        cookie = browser.cookies["teamcal_session"]
        # two hours later (the row's expiry moved into the past): a replay of the cookie is refused
        with dep.host.store.transaction():
            dep.host.store.execute("UPDATE web_sessions SET expires = ?", (time.time() - 1,))
        with httpx.Client(base_url=dep.url, cookies={"teamcal_session": cookie}) as replay:
            assert replay.get("/web/calendars").status_code == 303
        # and the hourly job forgets it
        from plugins.web.sessions import purge

        assert purge(dep.host) == 1
        assert dep.host.store.execute("SELECT count(*) FROM web_sessions").fetchone()[0] == 0
    dep.host.close()


def test_a_new_password_ends_the_users_sessions(deployment: Deployment) -> None:
    with deployment.signed_in("carol") as signed:
        browser = signed.client
        assert browser.get("/web/calendars").status_code == 200
        host = deployment.host
        carol = host.store.principal("carol")
        assert carol is not None
        with host.store.transaction():
            host.store.update_principal(carol.id, password_hash=hash_password("new password"))
        try:
            assert browser.get("/web/calendars").status_code == 303
        finally:
            with host.store.transaction():
                host.store.update_principal(carol.id, password_hash=hash_password(PASSWORD))


def test_failed_sign_ins_are_throttled_with_the_kernels_counters(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path, kernel="auth_user_failures = 3\nauth_address_failures = 0")
    with dep.server, dep.browser() as browser:
        for _ in range(3):
            assert sign_in(browser, "alice", "wrong").status_code == 401
        throttled = sign_in(browser, "alice", PASSWORD)  # even the right password now waits
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
        assert "Too many failed sign-ins" in throttled.text and "teamcal_session" not in browser.cookies
        # the same counters as CalDAV's Basic logins: alice's client is throttled too
        with dep.server.client("alice", PASSWORD) as dav:
            assert dav.request("PROPFIND", "/dav/", headers={"Depth": "0"}).status_code == 429
        # another user is not
        assert sign_in(browser, "bob", PASSWORD).status_code == 303
    dep.host.close()


def test_an_oversized_sign_in_form_is_refused(deployment: Deployment) -> None:
    with deployment.browser() as browser:
        token = login_csrf(browser)
        answer = browser.post("/web/login", data={"csrf": token, "username": "alice", "password": "x" * 10_000})
        assert answer.status_code == 413 and "teamcal_session" not in browser.cookies


def test_caldav_clients_behave_as_before(deployment: Deployment) -> None:
    with deployment.server.client("alice", PASSWORD) as dav:
        root = dav.request("PROPFIND", "/", headers={"Depth": "0"}, content=PROPFIND)
        assert root.status_code == 207 and "/dav/principals/alice/" in root.text
        assert dav.request("OPTIONS", "/").status_code in (200, 204)
        assert dav.get("/.well-known/caldav", follow_redirects=False).status_code == 301
        moved = dav.request("PROPFIND", "/.well-known/caldav", headers={"Depth": "0"}, content=PROPFIND)
        assert moved.status_code == 308
        assert dav.request("PROPFIND", "/dav/", headers={"Depth": "0"}, content=PROPFIND).status_code == 207
    with deployment.browser() as anonymous:
        assert anonymous.request("PROPFIND", "/", headers={"Depth": "0"}).status_code == 401
    # a signed-in browser's cookie is no key to the DAV tree: CalDAV still wants credentials
    with deployment.signed_in("alice") as signed:
        browser = signed.client
        assert browser.request("PROPFIND", "/dav/", headers={"Depth": "0"}).status_code == 401
        assert browser.get("/dav/cal/alice/").status_code == 401


def test_the_signing_key_is_encrypted_with_the_kernels_secret_key(tmp_path: Path) -> None:
    from kernel.encryption import generate_key, is_encrypted

    host = make_host(tmp_path, ["web"], kernel=f'secret_key = "{generate_key()}"')
    add_user(host, "alice", PASSWORD)
    with LiveServer(host) as server, httpx.Client(base_url=server.url) as browser:
        assert sign_in(browser, "alice", PASSWORD).status_code == 303
        assert browser.get("/web/calendars").status_code == 200
    stored = host.store.execute("SELECT value FROM web_keys").fetchall()
    assert len(stored) == 1 and is_encrypted(stored[0][0])
    host.close()


def test_pages_need_a_session(deployment: Deployment) -> None:
    with deployment.browser() as browser:
        for path in ("/web/calendars",):
            answer = browser.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/web/login?next=")
        assert csrf_of(browser.get("/web/login").text)


def test_a_session_made_on_one_server_works_on_another_of_the_deployment(deployment: Deployment) -> None:
    # a second process on the same database (as a second node would be): same key, same sessions
    with deployment.signed_in("alice") as signed, LiveServer(deployment.host) as other:
        cookie = signed.client.cookies["teamcal_session"]
        with httpx.Client(base_url=other.url, cookies={"teamcal_session": cookie}) as elsewhere:
            assert elsewhere.get("/web/calendars").status_code == 200
            assert elsewhere.post("/web/logout", data={"csrf": signed.csrf}).status_code == 303
        assert signed.client.get("/web/calendars").status_code == 303  # signed out everywhere


def test_guessing_passwords_through_the_form_slows_no_one_else(tmp_path: Path) -> None:
    from kernel.testing import latency_during

    dep = make_deployment(tmp_path, kernel="auth_user_failures = 5\nauth_address_failures = 0")
    with dep.server, dep.signed_in("carol") as carol, dep.browser() as attacker:

        def attack() -> list[int]:
            return [sign_in(attacker, "alice", f"guess {n}").status_code for n in range(25)]

        statuses, took = latency_during(attack, lambda: carol.client.get("/web/calendars"), probes=5)
        assert set(statuses) <= {401, 429} and statuses.count(401) == 5 and statuses[-1] == 429
        assert "teamcal_session" not in attacker.cookies
        assert max(took) < 1.0, took
    dep.host.close()


def test_the_next_field_is_inert(deployment: Deployment) -> None:
    with deployment.browser() as browser:
        target = '/web/calendars?x="><script>alert(1)</script>'
        page = browser.get("/web/login", params={"next": target})
        assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
        answer = sign_in(browser, "alice", PASSWORD, next=target + "\r\nSet-Cookie: evil=1")
        assert answer.status_code == 303 and "\n" not in answer.headers["location"]
        assert "evil" not in browser.cookies
