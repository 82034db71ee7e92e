"""The refocus gallery in a real browser: Debian's Chromium driven by selenium, the page opened from file://.

Clicking a near object, then a far one, changes the displayed image and leaves it sharpest where it was
clicked; stepping the aperture slider from f/16 to f/1.4 blurs what is out of focus more at every stop;
holding "original" shows the photo as shot; the page loads nothing but its own files. Sharpness is read off
screenshots of the displayed image (a canvas cannot read file:// pixels). Skipped where selenium, chromium
or chromedriver is missing (`apt-get install chromium chromium-driver`, `pip install selenium`).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SIZE = (384, 256)  # the photo; its preview is the photo itself (smaller than the preview side)
WINDOW = 8  # half side of the square whose sharpness is measured around a clicked point


@pytest.fixture
def chromium(tmp_path: Path):
    """Headless Chromium with a fresh profile, no background traffic, logging every network request."""
    driver = _browser(tmp_path)
    try:
        yield driver
    finally:
        driver.quit()


def _browser(tmp_path: Path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    for exe in (CHROMIUM, CHROMEDRIVER):
        if not (Path(exe).is_file() or shutil.which(Path(exe).name)):
            pytest.skip(f"{exe} not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--force-device-scale-factor=1", "--window-size=1200,1000",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver_path = CHROMEDRIVER if Path(CHROMEDRIVER).is_file() else shutil.which("chromedriver")
    return webdriver.Chrome(service=Service(driver_path), options=options)


def _scene():
    """A generated hedge scene with a flower (fixed seed, no sensor noise) and two points to click: the most
    textured spot of a near object and of the far background, each where the disparity is flat around it."""
    from bokehpipe.data.synthetic import generate_pair

    pair = generate_pair(7, 7, *SIZE, defects=False)
    d = pair.disparity
    kernel = np.ones((2 * WINDOW + 5, 2 * WINDOW + 5), np.uint8)
    flat = (cv2.dilate(d, kernel) - cv2.erode(d, kernel)) < 0.05
    texture = _local_sharpness(pair.input)
    inner = np.zeros_like(flat)
    inner[3 * WINDOW:-3 * WINDOW, 3 * WINDOW:-3 * WINDOW] = True  # the measured square well inside the photo
    points = []
    for region in (inner & flat & (d >= 0.6), inner & flat & (d <= 0.25)):
        assert region.any(), "the scene generator changed: no flat near/far region in the test scene"
        y, x = np.unravel_index(int(np.argmax(np.where(region, texture, -1))), d.shape)
        points.append((int(x), int(y)))
    return pair, points[0], points[1]


def _local_sharpness(image: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(np.clip(image * 255, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = cv2.Laplacian(gray, cv2.CV_32F)
    return cv2.blur(lap * lap, (2 * WINDOW + 1, 2 * WINDOW + 1))


def _sharpness(shot: np.ndarray, point: tuple[int, int]) -> float:
    """Mean squared Laplacian of the screenshot in the square around `point` (image pixels)."""
    x, y = point
    return float(_local_sharpness(shot)[y, x])


class Page:
    """The first photo's card: click, slider, hold button, and the displayed image as pixels."""

    def __init__(self, driver, url: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver, self.url = driver, url
        driver.get(url)
        self.card = driver.find_element(By.CSS_SELECTOR, ".photo")
        self.img = self.card.find_element(By.CSS_SELECTOR, ".view img")
        self.slider = self.card.find_element(By.CSS_SELECTOR, "input.aperture")
        self.hold_button = self.card.find_element(By.CSS_SELECTOR, "button.hold")
        self.command = self.card.find_element(By.CSS_SELECTOR, ".cmd")
        driver.execute_script("document.head.insertAdjacentHTML('beforeend', '<style>.mark{display:none}</style>')")
        self.settle()

    def settle(self) -> None:
        """Wait until the image the page chose is the one decoded and shown."""
        for _ in range(200):
            if self.driver.execute_script(
                    "const i = arguments[0]; return i.complete && i.naturalWidth > 0 && "
                    "i.getAttribute('src') === i.closest('.photo').dataset.src", self.img):
                return
            time.sleep(0.02)
        raise AssertionError("the displayed image never finished loading")

    def shot(self) -> np.ndarray:
        """The displayed image as RGB floats, at the photo's size (the preview is the photo here)."""
        png = np.frombuffer(self.img.screenshot_as_png, np.uint8)
        rgb = cv2.cvtColor(cv2.imdecode(png, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert rgb.shape[:2] == (SIZE[1], SIZE[0]), f"displayed at {rgb.shape[1]}x{rgb.shape[0]}, not 1:1"
        return rgb.astype(np.float32) / 255.0

    def click(self, point: tuple[int, int]) -> None:
        from selenium.webdriver import ActionChains

        rect = self.img.rect  # offsets from the element's centre (selenium 4)
        x = point[0] * rect["width"] / SIZE[0] - rect["width"] / 2 + 0.5
        y = point[1] * rect["height"] / SIZE[1] - rect["height"] / 2 + 0.5
        ActionChains(self.driver).move_to_element_with_offset(self.img, int(x), int(y)).click().perform()
        self.settle()

    def key(self, key: str) -> None:
        self.slider.send_keys(key)
        self.settle()

    def focus_point(self) -> tuple[int, int] | None:
        """The X,Y of the command shown under the photo (None: auto-focus)."""
        words = self.command.text.split()
        if "--focus-at" not in words:
            return None
        x, y = words[words.index("--focus-at") + 1].split(",")
        return int(x), int(y)

    def f_number(self) -> str:
        return self.card.get_attribute("data-f")

    def original(self) -> np.ndarray:
        """The displayed image while the "original" button is held down."""
        from selenium.webdriver import ActionChains

        ActionChains(self.driver).click_and_hold(self.hold_button).perform()
        self.settle()
        assert self.card.get_attribute("data-original") == "true"
        shot = self.shot()
        ActionChains(self.driver).release(self.hold_button).perform()
        self.settle()
        assert self.card.get_attribute("data-original") == "false"
        return shot


def _write(tmp_path: Path, pair) -> Path:
    from bokehpipe.infer.refocus import RefocusPhoto, write_refocus_gallery
    from bokehpipe.render import render

    def scatter(image, disparity, focus, aperture):
        return render(image, disparity, "scatter", focus=focus, aperture=aperture)

    return write_refocus_gallery(tmp_path / "gallery", [RefocusPhoto("hedge", pair.input, pair.disparity)], scatter,
                                 command="bokehpipe infer photos/ --depth depth/")


def _requests(driver) -> list[tuple[str, str]]:
    """(document URL, request URL) of every request the browser logged (CDP Network.requestWillBeSent)."""
    out = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            params = message["params"]
            out.append((params.get("documentURL", ""), params["request"]["url"]))
    return out


def _close(point: tuple[int, int] | None, target: tuple[int, int]) -> bool:
    """The command's --focus-at is the clicked photo pixel (to the pixel a click lands on)."""
    return point is not None and abs(point[0] - target[0]) <= 1 and abs(point[1] - target[1]) <= 1


def test_refocus_page_in_chromium(tmp_path: Path, chromium):
    from selenium.webdriver.common.keys import Keys

    driver = chromium
    pair, near, far = _scene()
    assert pair.disparity[near[1], near[0]] - pair.disparity[far[1], far[0]] > 0.4
    page_path = _write(tmp_path, pair)
    page = Page(driver, page_path.resolve().as_uri())
    assert page.f_number() == "1.8" and "--aperture f/1.8" in page.command.text  # infer's default view
    original = page.original()
    base = {p: _sharpness(original, p) for p in (near, far)}

    page.click(near)
    at_near = page.shot()
    src_near = page.card.get_attribute("data-src")
    assert _close(page.focus_point(), near) and page.command.text.endswith("--aperture f/1.8")
    page.click(far)
    at_far = page.shot()
    assert page.card.get_attribute("data-src") != src_near
    assert _close(page.focus_point(), far) and page.command.text.endswith("--aperture f/1.8")
    assert np.abs(at_near - at_far).mean() > 0.01  # the displayed image changed

    kept = {name: {p: _sharpness(shot, p) / base[p] for p in (near, far)}
            for name, shot in (("near", at_near), ("far", at_far))}
    assert kept["near"][near] > 0.8 and kept["near"][near] > 2 * kept["near"][far], kept  # sharpest where clicked
    assert kept["far"][far] > 0.8 and kept["far"][far] > 2 * kept["far"][near], kept
    assert kept["near"][far] < kept["far"][far] and kept["far"][near] < kept["near"][near], kept

    page.click(near)
    page.key(Keys.END)  # the last stop: f/16, the photo as shot
    assert page.f_number() == "16" and "no blur to add" in page.command.text
    assert np.abs(page.shot() - original).max() < 1e-6
    blur = []
    for _ in range(6):  # f/8, f/5.6, f/4, f/2.8, f/1.8, f/1.4
        page.key(Keys.ARROW_LEFT)
        blur.append((page.f_number(), _sharpness(page.shot(), far)))
    assert [f for f, _ in blur] == ["8", "5.6", "4", "2.8", "1.8", "1.4"]
    values = [s for _, s in blur]
    assert all(b < a for a, b in zip(values, values[1:], strict=False)), blur  # the blur grows at every stop
    assert values[0] < 0.9 * base[far] and values[-1] < 0.3 * base[far], (blur, base[far])
    assert _close(page.focus_point(), near) and page.command.text.endswith("--aperture f/1.4")

    logged = _requests(driver)
    mine = [url for doc, url in logged if doc == page.url]
    mine += driver.execute_script("return performance.getEntries().map(e => e.name).filter(n => n.includes(':'))")
    assert sum(u.startswith("file:") and u.endswith(".jpg") for u in mine) >= 8, mine  # the log sees requests
    assert all(u.startswith(("file:", "data:")) for u in mine), [u for u in mine if not u.startswith("file:")]
    assert not [u for _, u in logged if u.split(":")[0] in ("http", "https", "ws", "wss", "ftp")], logged
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
