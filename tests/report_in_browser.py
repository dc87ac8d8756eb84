"""What a person sees of a report.html in a real browser (headless Chromium)."""
import pathlib

SEEN = """
const imgs = [...document.querySelectorAll('img')];
const rows = [...document.querySelectorAll('#checks tbody tr')];
return {
  title: document.title,
  verdict: document.getElementById('verdict').innerText,
  images: imgs.map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth,
                          shown: i.getBoundingClientRect().width})),
  rows: rows.map(r => [...r.cells].map(c => c.innerText.trim())),
  nodes: [...document.querySelectorAll('svg.topology [data-node]')].map(
      n => [n.dataset.node, n.getAttribute('class')]),
  links: [...document.querySelectorAll('svg.topology [data-link]')].map(
      l => [l.dataset.link, l.getAttribute('class')]),
  pcaps: [...document.querySelectorAll('a.pcap')].map(a => a.getAttribute('href')),
  scripts: document.scripts.length,
  height: document.body.scrollHeight,
};
"""


def look_at(driver, html_path, screenshot):
    """Open the page, read what is on it, save a full-page screenshot."""
    driver.get(pathlib.Path(html_path).resolve().as_uri())
    seen = driver.execute_script(SEEN)
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, min(seen["height"] + 140, 12000))
    driver.save_screenshot(str(screenshot))
    return seen
