"""Headless Chromium for the explorer's page tests, driven through WebDriver (Selenium).

The tests use the Debian packages ``chromium`` and ``chromium-driver``, which ``make test``
installs where it can; where either is missing, every page test fails with one line naming it.
The browser starts with a fresh profile and without any of its background network traffic, since
the page must work with no network at all.
"""

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator

import pytest

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1200",
)
# What the tests need, and the Debian package or pip requirement that provides it.
NEEDED = {
    "chromium": "the Debian package chromium",
    "chromedriver": "the Debian package chromium-driver",
}


def missing() -> list[str]:
    """What of the browser, its driver and Selenium is not installed, each with where it comes
    from."""
    lacking = [
        f"{program} ({source})" for program, source in NEEDED.items() if not shutil.which(program)
    ]
    try:
        import selenium  # noqa: F401
    except ImportError:
        lacking.append("selenium (pip install -r requirements-dev.txt)")
    return lacking


@contextlib.contextmanager
def chromium() -> Iterator:
    """A headless Chromium under WebDriver, which records the console of the pages it opens.

    Fails the calling test with one line if the browser, its driver or Selenium is missing.
    """
    lacking = missing()
    if lacking:
        pytest.fail(
            f"the explorer's page tests need a headless browser; missing: {', '.join(lacking)}",
            pytrace=False,
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # The driver is named, so that Selenium never looks for one on the network.
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def open_page(driver, path, timeout: float = 20.0) -> None:
    """Opens a page file and waits until its script says it has drawn everything.

    Raises:
        AssertionError: if it has not within ``timeout`` seconds.
    """
    driver.get(path.resolve().as_uri())
    deadline = time.monotonic() + timeout
    while driver.execute_script("return document.body.dataset.ready") != "true":
        assert time.monotonic() < deadline, driver.find_element("id", "summary").text
        time.sleep(0.05)


def actions(driver):
    """A chain of mouse and keyboard actions on the driver's page (Selenium's ``ActionChains``)."""
    from selenium.webdriver.common.action_chains import ActionChains

    return ActionChains(driver)


def keys():
    """The codes of special keys (Selenium's ``Keys``)."""
    from selenium.webdriver.common.keys import Keys

    return Keys
