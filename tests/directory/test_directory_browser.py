"""The public page in headless Chromium (Debian's, via Playwright): choose a province, see who is in force."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import sync_playwright

import factories
from essc.core.platform import Platform
from essc.shared.policy import Function
from factories import app_client, channel, ministry

CHROMIUM = "/usr/bin/chromium"


def _chromium() -> str:
    """The system Chromium; missing it fails CI (PostgreSQL set) and skips elsewhere."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    reason = f"no Chromium at {CHROMIUM}: install Debian's chromium package (scripts/test.sh does)"
    if os.environ.get("ESSC_TEST_POSTGRES_URL"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def served(platform: Platform) -> Iterator[str]:
    with factories.served(platform) as url:
        yield url


def test_the_page_in_a_browser_follows_a_suspension_on_reload(platform: Platform, served: str) -> None:
    executable = _chromium()
    http = app_client(platform)
    registry = ministry(platform, http)
    kept = channel(platform, http, functions=[Function.QR], provinces=("44",)).label.removeprefix("channel/")
    gone = channel(platform, http, functions=[Function.QR, Function.PAYMENT], provinces=("44",))
    gone_no = gone.label.removeprefix("channel/")
    # Login is enabled in 11 only, qr and payment in 44 only: each province lists its own.
    login = channel(platform, http, functions=[Function.LOGIN], provinces=("11",))
    elsewhere = login.label.removeprefix("channel/")

    url = served
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{url}/channel-apps")
            assert "Choose a province" in page.inner_text("main")
            page.select_option("#province", "44")
            with page.expect_navigation():
                page.click("button[type=submit]")
            assert page.url.endswith("/channel-apps?province=44")
            assert page.inner_text("#province-heading") == "广东省 (44)"
            rows = page.locator("#channel-apps tbody tr")
            listed = {rows.nth(i).get_attribute("data-channel-no") for i in range(rows.count())}
            assert {kept, gone_no} <= listed
            assert elsewhere not in listed
            gone_row = page.locator(f'tr[data-channel-no="{gone_no}"]')
            assert "Payment" in gone_row.inner_text()
            assert "支付" in gone_row.inner_text()

            registry.client.put(
                f"/v1/ministry/channels/{gone_no}/status", {"status": "suspended", "reason": "risk"}
            )
            page.reload()
            assert page.locator(f'tr[data-channel-no="{gone_no}"]').count() == 0
            assert page.locator(f'tr[data-channel-no="{kept}"]').count() == 1
            assert page.locator("#province").input_value() == "44"

            page.select_option("#province", "11")
            with page.expect_navigation():
                page.click("button[type=submit]")
            assert page.locator(f'tr[data-channel-no="{elsewhere}"]').count() == 1
            assert page.locator(f'tr[data-channel-no="{kept}"]').count() == 0
        finally:
            browser.close()
