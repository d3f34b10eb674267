"""A few checks in a real headless Chromium (Debian's chromium and chromium-driver, via selenium).

Bounded: each wait ends after WAIT seconds; one browser serves the module.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
import zoneinfo
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from kernel import Collection
from tests.web.conftest import PASSWORD, Deployment

pytestmark = pytest.mark.browser

#: Longest wait for anything in the page, in seconds.
WAIT = 15
ZONE = "Europe/Berlin"


@pytest.fixture(scope="module")
def driver() -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the module, its clock in Europe/Berlin."""
    chromedriver = shutil.which("chromedriver")
    assert chromedriver, "chromium-driver is not installed (apt-get install chromium chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=chromedriver, env={"TZ": ZONE})
    browser = webdriver.Chrome(service=service, options=options)
    browser.set_page_load_timeout(WAIT)
    try:
        yield browser
    finally:
        browser.quit()


def wait(driver: webdriver.Chrome) -> WebDriverWait:
    return WebDriverWait(driver, WAIT)


def sign_in(driver: webdriver.Chrome, dep: Deployment, user: str, then: str = "") -> None:
    driver.delete_all_cookies()
    driver.get(dep.url + then)
    wait(driver).until(EC.presence_of_element_located((By.ID, "login")))
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
    wait(driver).until(EC.presence_of_element_located((By.CSS_SELECTOR, "form.signout")))


def screenshot(driver: webdriver.Chrome, name: str) -> None:
    """Save the page as ``name``.png in $TEAMCAL_SCREENSHOTS when it is set (docs/web.md's pictures:
    ``TEAMCAL_SCREENSHOTS=docs/img python3 -m pytest tests/web -m browser -o teamcal_backends=sqlite``)."""
    folder = os.environ.get("TEAMCAL_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        assert driver.save_screenshot(os.path.join(folder, f"{name}.png"))


def texts(driver: webdriver.Chrome, selector: str) -> list[str]:
    """The text of every element matching ``selector``, read at once (FullCalendar re-renders)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent)", selector
    )


def weekly_calendar(dep: Deployment, summary: str = "standup") -> Collection:
    """A calendar of alice's with a ``summary`` event every week at 10:00 Berlin time, from two weeks ago."""
    alice = dep.host.store.principal("alice")
    assert alice is not None
    cal = dep.host.writes.create_collection(
        alice, f"b-{uuid.uuid4().hex[:8]}", "calendar", principal=None, attrs={"display_name": "Browser"}
    )
    start = dt.datetime.now(zoneinfo.ZoneInfo(ZONE)).replace(hour=10, minute=0, second=0, microsecond=0)
    start -= dt.timedelta(days=14)
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uuid.uuid4().hex}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART;TZID={ZONE}:{start:%Y%m%dT%H%M%S}\r\nDURATION:PT30M\r\nRRULE:FREQ=WEEKLY\r\n"
        f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    dep.host.writes.put_object(cal, "standup.ics", text.encode(), principal=None)
    return cal


def test_sign_in_and_see_a_recurring_event_in_month_view(driver: webdriver.Chrome, deployment: Deployment) -> None:
    cal = weekly_calendar(deployment)
    sign_in(driver, deployment, "alice")
    assert driver.current_url.endswith("/web/calendars")
    assert "Browser" in driver.find_element(By.TAG_NAME, "main").text
    driver.get(f"{deployment.url}/web/view?calendars={cal.id}")
    wait(driver).until(lambda d: len(texts(d, ".fc-daygrid-event .fc-event-title")) >= 3)
    titles = texts(driver, ".fc-daygrid-event .fc-event-title")
    assert titles and set(titles) == {"standup"}
    times = set(texts(driver, ".fc-daygrid-event .fc-event-time"))
    assert times == {"10a"}, times  # 10:00 in the browser's zone, as written
    screenshot(driver, "web-month-view")
    refused = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
    assert not refused, refused  # the page's own scripts, styles and fonts all load


def test_an_event_title_is_shown_as_text(driver: webdriver.Chrome, deployment: Deployment) -> None:
    payload = "<img src=x onerror=window.pwned=1>"
    cal = weekly_calendar(deployment, payload)
    sign_in(driver, deployment, "alice", f"/web/view?calendars={cal.id}")
    wait(driver).until(lambda d: payload in texts(d, ".fc-daygrid-event .fc-event-title"))
    assert driver.execute_script("return window.pwned === undefined")
    assert not driver.find_elements(By.CSS_SELECTOR, ".fc-event-title img")


def test_create_a_weekly_event_in_the_dialog_and_find_it_with_caldav(
    driver: webdriver.Chrome, deployment: Deployment
) -> None:
    import caldav
    from selenium.webdriver.support.ui import Select

    cal = weekly_calendar(deployment)
    sign_in(driver, deployment, "alice", f"/web/view?calendars={cal.id}")
    wait(driver).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".fc-daygrid-event")))
    driver.find_element(By.ID, "new-event").click()
    wait(driver).until(EC.visibility_of_element_located((By.ID, "ev-title")))
    driver.find_element(By.ID, "ev-title").send_keys("Made in Chromium")
    driver.find_element(By.ID, "ev-location").send_keys("Room 7")
    Select(driver.find_element(By.ID, "ev-repeat")).select_by_value("WEEKLY")
    driver.find_element(By.ID, "ev-save").click()
    wait(driver).until(lambda d: "Made in Chromium" in texts(d, ".fc-event-title"))
    assert not driver.find_element(By.ID, "view-error").is_displayed()
    url = f"{deployment.url}/dav/cal/alice/{cal.path}/"
    with caldav.DAVClient(url, username="alice", password=PASSWORD) as client:
        found = [e.icalendar_component for e in client.calendar(url=url).events()]
    made = [c for c in found if str(c["SUMMARY"]) == "Made in Chromium"]
    assert len(made) == 1 and str(made[0]["LOCATION"]) == "Room 7" and made[0]["RRULE"]["FREQ"] == ["WEEKLY"]
    assert made[0]["DTSTART"].params["TZID"] == ZONE


def test_the_subscribe_dialog_shows_the_address_to_paste(driver: webdriver.Chrome, deployment: Deployment) -> None:
    from selenium.webdriver.support.ui import Select

    cal = weekly_calendar(deployment)
    sign_in(driver, deployment, "alice")
    driver.find_element(By.CSS_SELECTOR, f'button.subscribe[data-calendar="{cal.id}"]').click()
    wait(driver).until(EC.visibility_of_element_located((By.ID, "sub-app")))
    Select(driver.find_element(By.ID, "sub-app")).select_by_value("thunderbird")
    expected = f"{deployment.host.base_url}/dav/cal/alice/{cal.path}/"
    wait(driver).until(lambda d: d.find_element(By.ID, "sub-url").get_attribute("value") == expected)
    assert driver.find_element(By.ID, "sub-user").text == "alice"
    steps = texts(driver, "#sub-steps li")
    assert len(steps) == 3 and any(expected in step for step in steps)
    screenshot(driver, "web-subscribe-dialog")
    driver.find_element(By.ID, "sub-copy").click()
    wait(driver).until(lambda d: d.find_element(By.ID, "sub-copied").text == "Copied.")
    Select(driver.find_element(By.ID, "sub-app")).select_by_value("google")
    wait(driver).until(lambda d: d.find_element(By.ID, "sub-readonly").is_displayed())
    assert not driver.find_element(By.ID, "sub-url-row").is_displayed()


def test_a_read_only_feed_url_is_made_works_and_is_revoked(driver: webdriver.Chrome, deployment: Deployment) -> None:
    import httpx
    from selenium.webdriver.support.ui import Select

    cal = weekly_calendar(deployment, "feed standup")
    sign_in(driver, deployment, "alice")
    driver.find_element(By.CSS_SELECTOR, f'button.subscribe[data-calendar="{cal.id}"]').click()
    wait(driver).until(EC.visibility_of_element_located((By.ID, "sub-app")))
    Select(driver.find_element(By.ID, "sub-app")).select_by_value("outlook-com")
    wait(driver).until(lambda d: d.find_element(By.ID, "sub-feeds").is_displayed())
    wait(driver).until(lambda d: texts(d, "#sub-feed-list li") == ["You have no feed URL of this calendar."])
    driver.find_element(By.ID, "sub-feed-new").click()
    prefix = f"{deployment.host.base_url}/feeds/"
    wait(driver).until(lambda d: d.find_element(By.ID, "sub-url").get_attribute("value").startswith(prefix))
    url = driver.find_element(By.ID, "sub-url").get_attribute("value")
    assert driver.find_element(By.ID, "sub-url-row").is_displayed()
    assert "shown only once" in driver.find_element(By.ID, "sub-copied").text
    assert len(texts(driver, "#sub-feed-list li")) == 1
    fetched = httpx.get(url, timeout=30)
    assert fetched.status_code == 200 and "SUMMARY:feed standup" in fetched.text
    driver.find_element(By.CSS_SELECTOR, "#sub-feed-list button.revoke-feed").click()
    wait(driver).until(lambda d: texts(d, "#sub-feed-list li") == ["You have no feed URL of this calendar."])
    assert httpx.get(url, timeout=30).status_code == 404


def test_at_phone_width_the_view_starts_as_a_list_and_nothing_scrolls_sideways(driver: webdriver.Chrome, deployment: Deployment) -> None:
    cal = weekly_calendar(deployment)
    sign_in(driver, deployment, "alice")
    driver.set_window_size(390, 844)
    try:
        driver.get(f"{deployment.url}/web/view?calendars={cal.id}")
        wait(driver).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".fc-list")))
        wait(driver).until(lambda d: "standup" in texts(d, ".fc-list-event-title"))
        scroll, client = driver.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert scroll <= client, f"the view scrolls sideways at phone width ({scroll}px in {client}px)"
        driver.get(f"{deployment.url}/web/calendars")
        wait(driver).until(EC.presence_of_element_located((By.ID, "create-calendar")))
        scroll, client = driver.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert scroll <= client, f"the calendars page scrolls sideways at phone width ({scroll}px in {client}px)"
    finally:
        driver.set_window_size(1280, 900)
