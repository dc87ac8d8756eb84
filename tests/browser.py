"""Headless Chromium for tests of what a person looks at (Debian's chromium and
chromium-driver, driven by Selenium). Missing pieces skip the test with the
reason, except in CI, where they are installed and a skip would hide a gap."""
import contextlib
import os
import shutil

import pytest

CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW = (1600, 1000)


def _missing():
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e .[test])"
    for tool in ("chromium", "chromedriver"):
        if not shutil.which(tool):
            return "%s is not installed (apt-get install chromium chromium-driver)" % tool
    return None


@contextlib.contextmanager
def headless_chromium(window=WINDOW):
    why = _missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    options = Options()
    options.binary_location = shutil.which("chromium")   # Debian's, never a downloaded one
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=%d,%d" % window):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or CHROMEDRIVER),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()
