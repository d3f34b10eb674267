"""The admin console in a real headless Chromium: an admin adds a user who then signs in; phone width.

Uses test_browser's Chromium (one per module) and its helpers; every wait is bounded.
"""

from __future__ import annotations

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from kernel.testing import add_user
from tests.web.conftest import PASSWORD, Deployment
from tests.web.test_browser import driver, screenshot, sign_in, wait  # noqa: F401 - driver is a fixture

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def admin_name(deployment: Deployment) -> str:
    """A server admin of the deployment (the module has a deployment of its own)."""
    add_user(deployment.host, "ada", PASSWORD, admin=True, display_name="Ada Admin")
    return "ada"


def test_an_admin_adds_a_user_who_then_signs_in(
    driver: webdriver.Chrome, deployment: Deployment, admin_name: str  # noqa: F811
) -> None:
    name = "dora"
    sign_in(driver, deployment, admin_name)
    driver.find_element(By.LINK_TEXT, "Admin").click()
    wait(driver).until(EC.presence_of_element_located((By.ID, "health")))
    driver.find_element(By.LINK_TEXT, "Users").click()
    wait(driver).until(EC.presence_of_element_located((By.ID, "add-user")))
    driver.find_element(By.ID, "new-user-name").send_keys(name)
    driver.find_element(By.ID, "new-user-display").send_keys("Dora Explorer")
    driver.find_element(By.ID, "new-user-email").send_keys("dora@example.com")
    driver.find_element(By.ID, "new-user-password").send_keys("dora-password")
    # the keyboard submits the form, as for anyone not using a mouse
    driver.find_element(By.ID, "new-user-password2").send_keys("dora-password", Keys.ENTER)
    wait(driver).until(EC.presence_of_element_located((By.ID, "notice")))
    assert driver.find_element(By.ID, "notice").text == "User added: they can sign in now."
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-user="{name}"]')
    assert "Dora Explorer" in row.text
    screenshot(driver, "web-admin-console")

    driver.delete_all_cookies()
    driver.get(deployment.url + "/")
    wait(driver).until(EC.presence_of_element_located((By.ID, "login")))
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys("dora-password", Keys.ENTER)
    wait(driver).until(EC.presence_of_element_located((By.CSS_SELECTOR, "form.signout")))
    assert driver.current_url.endswith("/web/calendars")
    assert driver.find_element(By.CSS_SELECTOR, ".who").text == "Dora Explorer"
    assert not driver.find_elements(By.LINK_TEXT, "Admin")  # not a server admin
    driver.get(deployment.url + "/web/admin/users")
    assert "for server admins only" in driver.find_element(By.ID, "message").text


def test_the_console_fits_a_phone(
    driver: webdriver.Chrome, deployment: Deployment, admin_name: str  # noqa: F811
) -> None:
    sign_in(driver, deployment, admin_name)
    driver.set_window_size(390, 844)
    try:
        for path, marker in (("", "health"), ("/users", "add-user"), ("/groups", "add-group"),
                             ("/grants", "add-grant"), ("/plugins", "plugins-title")):
            driver.get(f"{deployment.url}/web/admin{path}")
            wait(driver).until(EC.presence_of_element_located((By.ID, marker)))
            scroll, client = driver.execute_script(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert scroll <= client, f"/web/admin{path} scrolls sideways at phone width ({scroll}px in {client}px)"
    finally:
        driver.set_window_size(1280, 900)
    refused = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
    assert not refused, refused
