"""Adding a subscription in a real headless Chromium, against a real Radicale (marker ``browser``)."""

from __future__ import annotations

import uuid

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from plugins.caldav_subscription import records
from tests.web.conftest import Deployment
from tests.web.test_browser import driver, screenshot, sign_in, texts, wait  # noqa: F401 - driver is a fixture

from .peers import Peer
from .test_web import EVIL, named, site  # noqa: F401 - site is a fixture

pytestmark = pytest.mark.browser


def test_add_a_subscription_in_the_browser(driver, site: Deployment, radicale: Peer) -> None:  # noqa: F811
    remote = named(radicale, f"Holidays {EVIL}")
    user, password = radicale.auth or ("", "")
    name = f"b-{uuid.uuid4().hex[:6]}"
    sign_in(driver, site, "alice", "/web/subscriptions")
    form = driver.find_element(By.ID, "add-subscription-form")
    driver.find_element(By.ID, "sub-url").send_keys(remote.url)
    driver.find_element(By.ID, "sub-username").send_keys(user)
    driver.find_element(By.ID, "sub-password").send_keys(password)
    Select(driver.find_element(By.ID, "sub-owner")).select_by_value("alice")
    driver.find_element(By.ID, "sub-name").send_keys(name)
    form.find_element(By.CSS_SELECTOR, 'button[value="test"]').click()
    wait(driver).until(lambda d: any("Connection works" in t for t in texts(d, ".flash")))
    [said] = texts(driver, ".flash")
    assert f"Holidays {EVIL}" in said  # the remote's name, shown as text
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text
    assert driver.find_element(By.ID, "sub-url").get_attribute("value") == remote.url
    assert driver.find_element(By.ID, "sub-password").get_attribute("value") == ""
    driver.find_element(By.ID, "sub-password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, '#add-subscription-form button[value="add"]').click()
    wait(driver).until(lambda d: any("first sync starts shortly" in t for t in texts(d, ".flash")))
    alice = site.host.store.principal("alice")
    assert alice is not None
    local = site.host.store.collection(alice.id, name)
    assert local is not None
    sub = records.for_collection(site.host.store, local.id)
    assert sub is not None
    section = f'section[data-subscription="{sub.id}"]'
    assert texts(driver, f"{section} h2") == [f"Holidays {EVIL}"]
    driver.find_element(By.CSS_SELECTOR, f'{section} form[action$="/sync"] button').click()
    wait(driver).until(lambda d: any("pulled 1" in t for t in texts(d, ".flash")))
    assert texts(driver, f"{section} .state") == ["ok"]
    screenshot(driver, "web-subscriptions")
    driver.find_element(By.CSS_SELECTOR, f"{section} h2 a").click()
    wait(driver).until(lambda d: texts(d, "section.panel h2") == ["Subscription"])
    assert texts(driver, "section.panel .state") == ["ok"] and texts(driver, "#calendar-title")[0].strip().endswith(EVIL)
    screenshot(driver, "web-calendar-page")
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text
    # Remove asks first: dismissed, nothing happens; accepted, the subscription ends
    remove = 'section.panel form.remove button'
    driver.find_element(By.CSS_SELECTOR, remove).click()
    wait(driver).until(EC.alert_is_present())
    assert "stay" in driver.switch_to.alert.text
    driver.switch_to.alert.dismiss()
    assert records.get(site.host.store, sub.id) is not None
    driver.find_element(By.CSS_SELECTOR, remove).click()
    wait(driver).until(EC.alert_is_present())
    driver.switch_to.alert.accept()
    wait(driver).until(lambda d: any("ordinary calendar" in t for t in texts(d, ".flash")))
    assert records.get(site.host.store, sub.id) is None
