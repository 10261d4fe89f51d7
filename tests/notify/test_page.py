"""The operator page's notification panel in headless Chromium: on call, routes and the delivery log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from store import alerts, apikeys, notifications
from store.db import connect
from tests.notify.conftest import FakeClock, make_sender
from tests.notify.receivers import SmtpReceiver
from tests.support import wait_until

pytestmark = pytest.mark.stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("chromium and chromium-driver are missing: run deploy/local/install-browser.sh (make system-deps)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--window-size=1400,1400", f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_panel_shows_on_call_routes_and_deliveries(
    browser: WebDriver, api_url: str, database_url: str, site: str, smtp: SmtpReceiver
) -> None:
    with connect(database_url) as conn:
        _, token = apikeys.create(conn, name="page", role="operator")
        a = notifications.create_contact(conn, name="Aino Page", language="fi", email=f"a@{site}.test")
        b = notifications.create_contact(conn, name="Bo Page", language="sv", email=f"b@{site}.test")
        group = notifications.create_group(
            conn,
            name="Page duty",
            member_ids=[a.contact_id, b.contact_id],
            rotation_start=datetime.now(UTC) - timedelta(hours=1),
            rotation_hours=12,
        )
        notifications.create_route(
            conn, name="Page route", match_sites=[site], group_ids=[group.group_id], quiet_from=None, repeat_every_s=900
        )
        alerts.raise_alert(
            conn, device_id=f"{site}-d00", site_id=site, type="pm10_limit", severity="major", value=70.0,
            threshold=50.0, at=datetime.now(UTC),
        )  # fmt: skip
        conn.commit()
        make_sender(database_url, smtp, FakeClock()).step(conn)
    assert len(smtp.messages) == 1
    browser.get(api_url + "/")
    browser.find_element(By.ID, "api-key").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    duty = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f"#oncall li[data-group-id='{group.group_id}']"))
    assert "Aino Page" in duty[0].text and "Bo Page" in duty[0].text  # on duty now, then the next
    route = browser.find_element(By.CSS_SELECTOR, "#routes li.route")
    assert "Page route" in route.text and "on call in Page duty" in route.text and "repeat every 15 min" in route.text
    row = browser.find_element(By.CSS_SELECTOR, "#deliveries tbody tr")
    assert "Aino Page" in row.text and "email" in row.text and "sent" in row.text
    assert "1 sent" in browser.find_element(By.ID, "notify-stats").text
