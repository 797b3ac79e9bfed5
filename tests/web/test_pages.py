"""A newcomer's first pages: `/` links what matters, `/docs` renders offline from the platform's assets."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Route, sync_playwright

from essc.core.platform import Platform
from factories import app_client, served

CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _chromium() -> str:
    """The system Chromium; missing it fails CI (PostgreSQL set) and skips elsewhere."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    reason = f"no Chromium at {CHROMIUM}: install Debian's chromium package (scripts/test.sh does)"
    if os.environ.get("ESSC_TEST_POSTGRES_URL"):
        pytest.fail(reason)
    pytest.skip(reason)


def test_the_landing_page_links_the_docs_the_public_list_and_health(platform: Platform) -> None:
    http = app_client(platform)
    page = http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for link in ("/docs", "/openapi.json", "/channel-apps", "/healthz", "/readyz"):
        assert f'href="{link}"' in page.text
        assert http.get(link).status_code == 200, link


def test_the_docs_page_names_no_other_host(platform: Platform) -> None:
    page = app_client(platform).get("/docs").text
    assert "/docs/assets/swagger-ui-bundle.js" in page
    assert "/docs/assets/swagger-ui.css" in page
    assert "https://" not in page
    assert "http://" not in page
    assert app_client(platform).get("/redoc").status_code == 404


def test_the_docs_page_renders_every_operation_with_no_network_but_the_platform(platform: Platform) -> None:
    executable = _chromium()
    elsewhere: list[str] = []
    with served(platform) as url, sync_playwright() as playwright:
        assert httpx.get(f"{url}/docs/assets/swagger-ui-bundle.js").status_code == 200
        ours = urlsplit(url).netloc

        def offline(route: Route) -> None:
            if urlsplit(route.request.url).netloc == ours:
                route.continue_()
            else:  # as on a machine without internet access
                elsewhere.append(route.request.url)
                route.abort()

        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            page = browser.new_page()
            page.route("**/*", offline)
            page.goto(f"{url}/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            operations = page.locator(".opblock").count()
            title = page.inner_text(".info .title")
        finally:
            browser.close()
    assert operations >= 50
    assert "essc" in title
    assert not elsewhere, elsewhere
