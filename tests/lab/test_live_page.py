"""The live page in a real browser, on a real lab: cut mx1's link from the page,
see it cut, watch the relay's queue fill with mail sent meanwhile, restore the
link from the page, and see the queue drain."""
import os

import pytest

from lab.testbed.mail_lab import Lab
from lab.web.server import LiveView
from tests.browser import headless_chromium

pytestmark = pytest.mark.lab

FAST_RETRY = ["--retry-interval", "1", "--max-retry-interval", "1"]
SHOWN = 10          # seconds the page may take to show what happened


def wait_for(driver, what, condition, timeout=SHOWN):
    """``condition`` until true; the page redraws on every change, so an element
    found may be replaced before it is read: that try does not count."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(StaleElementReferenceException,)).until(
        condition, message=what)


def click(driver, css):
    """Click what ``css`` finds; the page redraws on every change, so a found
    element may be replaced before the click lands: find it again."""
    from selenium.common.exceptions import StaleElementReferenceException

    def clicked(d):
        try:
            d.find_element("css selector", css).click()
            return True
        except StaleElementReferenceException:
            return False
    wait_for(driver, "clicking %s" % css, clicked)


def link_state(driver, link):
    els = driver.find_elements("css selector", '[data-link="%s"]' % link)
    return els[0].get_attribute("data-state") if els else None


def text_of(driver, element_id):
    return driver.find_element("id", element_id).text


def test_cut_a_link_from_the_page_and_watch_the_relay_queue(clean_machine, tmp_path):
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with Lab("one_dc", relay_args=FAST_RETRY) as lab, \
            LiveView("one_dc", port=0, allow_actions=True) as view, view.watch(lab), \
            headless_chromium() as driver:
        driver.get(view.url)
        wait_for(driver, "the drawing", lambda d: link_state(d, "mx1|s1") == "up")

        click(driver, '[data-link="mx1|s1"] path.hit')
        duration = driver.find_element("id", "duration")
        duration.clear()
        duration.send_keys("120")
        click(driver, '#selection-actions [data-action="cut"]')
        wait_for(driver, "mx1|s1 drawn cut", lambda d: link_state(d, "mx1|s1") == "cut")
        wait_for(driver, "the cut in the fault list", lambda d: "cut" in text_of(d, "faults"))

        count = driver.find_element("id", "send-count")
        count.clear()
        count.send_keys("3")
        click(driver, "#send")
        wait_for(driver, "the relay's queue filling", lambda d: int(text_of(d, "total-queued")) > 0,
                 timeout=30)
        driver.save_screenshot(str(shots / "1-cut-queue-fills.png"))

        driver.refresh()        # a reload rebuilds everything from the server
        wait_for(driver, "cut after a reload", lambda d: link_state(d, "mx1|s1") == "cut")

        click(driver, "#faults [data-stop]")
        wait_for(driver, "mx1|s1 drawn up", lambda d: link_state(d, "mx1|s1") == "up")
        wait_for(driver, "the queue drained to mx1",
                 lambda d: text_of(d, "total-queued") == "0"
                 and text_of(d, "total-delivered") == "3", timeout=30)
        driver.save_screenshot(str(shots / "2-restored-drained.png"))
        assert len(lab.messages("mx1")) == 3
    print("screenshots: %s" % shots)
    assert sorted(os.listdir(shots)) == ["1-cut-queue-fills.png", "2-restored-drained.png"]
