"""The main pages fit a 360 px wide phone, in English and Arabic: nothing scrolls sideways.

Wide tables may scroll inside their own box (``.table-scroll``); the page itself must not.
"""
from __future__ import annotations

import secrets

import pytest

from tests.browser.conftest import connect_vendor, log_in, make_customer

PAGES = ("/me/", "/me/connections", "/me/profile", "/me/preferences", "/me/activity", "/me/export",
         "/me/security", "/me/terms", "/me/cases")


@pytest.mark.parametrize("language", ["en", "ar"])
def test_main_pages_have_no_horizontal_overflow_at_360_px(browser, live_server, language):
    account = make_customer(live_server, f"phone-{language}-{secrets.token_hex(4)}@example.com", locale=language)
    _vendor, grant_id = connect_vendor(live_server, account)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        for path in ("/login", "/signup"):
            page.goto(path)
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
        log_in(page, account.email)
        for path in PAGES + (f"/me/connections/{grant_id}",):
            page.goto(path)
            assert page.locator("html").get_attribute("lang") == language
            width = page.evaluate("document.documentElement.scrollWidth")
            widest = page.evaluate("""() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > 361 || e.getBoundingClientRect().left < -1)
                .slice(0, 3).map(e => e.tagName + '.' + e.className).join(', ')""")
            assert width <= 360, f"{path} is {width}px wide at 360 px: {widest}"
    finally:
        context.close()
