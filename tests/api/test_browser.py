"""The operator page in headless Chromium: plan and list load, a new alert appears live, acknowledging works.

Needs Debian's ``chromium`` and ``chromium-driver`` (``deploy/local/install-browser.sh``, run by
``make system-deps``); nothing is downloaded. A screenshot is left in ``tests/artifacts/operator-page.png``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from kipsense import park
from kipsense.records import DeviceKind, DustReading
from models.alerting.incidents import IncidentGrouping
from models.alerting.settings import AlertingSettings
from store import alerts as store_alerts
from store import devices as store_devices
from store import readings as store_readings
from store.db import connect
from tests.api.conftest import Keys
from tests.api.seed import Seeded, seed
from tests.support import wait_until

pytestmark = pytest.mark.stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def data(database_url: str) -> Seeded:
    """The seeded park plus a neighbour of the park sensor alarming too, grouped into an incident."""
    with connect(database_url) as conn:
        seeded = seed(conn, "br")
        store_devices.create(
            conn, device_id="br-dust-q", kind=DeviceKind.DUST, lat=park.to_lat(120.0), lon=park.to_lon(260.0)
        )
        store_readings.write_records(
            conn,
            [DustReading("br-dust-q", seeded.now - timedelta(seconds=10 * i), pm10=95.0) for i in range(60)],
            received_at=seeded.now,
        )
        store_alerts.raise_alert(
            conn,
            device_id="br-dust-q",
            site_id="park",
            type="pm10_limit",
            severity="warning",
            value=95.0,
            threshold=50.0,
            at=seeded.now - timedelta(minutes=25),
        )
        conn.commit()
        conn.autocommit = True
        IncidentGrouping(AlertingSettings())(conn, now=seeded.now)
    return seeded


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("chromium and chromium-driver are missing: run deploy/local/install-browser.sh (make system-deps)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_operator_page_live(browser: WebDriver, live_url: str, keys: Keys, data: Seeded, database_url: str) -> None:
    token = keys.tokens["operator"]
    browser.get(live_url + "/")
    browser.find_element(By.ID, "api-key").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()

    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#plan circle.sensor"), timeout=15)
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f"#alerts li[data-alert-id='{data.park_alert}']"))
    assert browser.find_elements(By.CSS_SELECTOR, "#plan .source-group")
    incident = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#incidents li.incident"))[0]
    assert "br-dust-p" in incident.text and "br-dust-q" in incident.text
    assert browser.find_element(By.ID, "wind-arrow").get_attribute("data-dir-from") == "225"
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#chart polyline.series"), timeout=15)
    assert browser.find_elements(By.CSS_SELECTOR, "#chart line.limit")
    sensor = browser.find_element(By.CSS_SELECTOR, f"#plan circle.sensor[data-device-id='{data.park_dust}']")
    assert sensor.get_attribute("fill") != "#9ca3af"  # coloured by its latest PM10
    assert browser.execute_script("return localStorage.getItem('kipsense.apiKey')") == token
    wait_until(lambda: browser.find_element(By.ID, "live").text == "live")

    with connect(database_url) as conn:
        new_id, _ = store_alerts.raise_alert(
            conn,
            device_id=data.park_dust,
            site_id="park",
            type="pm10_spike",
            severity="major",
            value=180.0,
            threshold=100.0,
            at=datetime.now(UTC),
        )
        conn.commit()
    selector = f"#alerts li[data-alert-id='{new_id}']"
    item = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, selector), timeout=15)[0]
    assert item.get_attribute("data-status") == "active"

    item.find_element(By.CSS_SELECTOR, "input").send_keys("checked from the page")
    item.find_element(By.CSS_SELECTOR, "button.ack").click()
    h = keys.headers("operator")

    def acknowledged() -> bool:
        body = httpx.get(f"{live_url}/alerts/{new_id}", headers=h, timeout=5).json()
        return bool(body["status"] == "acknowledged")

    wait_until(acknowledged, timeout=10)
    events = httpx.get(f"{live_url}/alerts/{new_id}", headers=h, timeout=5).json()["events"]
    assert events[-1]["kind"] == "acknowledged" and events[-1]["comment"] == "checked from the page"
    wait_until(lambda: browser.find_element(By.CSS_SELECTOR, selector).get_attribute("data-status") == "acknowledged")

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "operator-page.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    shutil.copyfile(shot, ARTIFACTS / f"operator-page-{new_id}.png")
