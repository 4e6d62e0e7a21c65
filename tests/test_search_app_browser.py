"""The search app in a real browser: headless Chromium (Debian's chromium + chromium-driver, which
.ci/run installs) driven by Selenium against the app served on a local port -- pick a query, change
a special attribute, give relevance feedback, and the page's errors -- each page state checked against
paper 004's search API and saved as a screenshot under the test's tmp dir.

Missing browser binaries fail the test (CI must run it); set FASHIONCAFFE_NO_BROWSER=1 to skip it on
purpose on a machine without them."""
import os
import shutil
import threading

import pytest

from tools.search_app.__main__ import build_app

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVERS = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
NO_BROWSER = os.environ.get("FASHIONCAFFE_NO_BROWSER", "") not in ("", "0")
K = 10


def _first(paths, name):
    for p in paths:
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return shutil.which(name)


@pytest.fixture(scope="module")
def served(search_app_model):
    from werkzeug.serving import make_server

    app = build_app(search_app_model, threads=1)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}", app.extensions["search_app"]["catalogue"]
    server.shutdown()
    thread.join(10)


@pytest.fixture
def browser():
    if NO_BROWSER:
        pytest.skip("FASHIONCAFFE_NO_BROWSER is set: the browser test is skipped on purpose")
    chromium, driver = _first(CHROMIUM, "chromium"), _first(DRIVERS, "chromedriver")
    if not chromium or not driver:
        pytest.fail("the browser test needs Debian's chromium and chromium-driver (apt-get install -y chromium "
                    f"chromium-driver; found chromium={chromium}, chromedriver={driver}); set "
                    "FASHIONCAFFE_NO_BROWSER=1 to skip it on purpose")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1100", "--disable-extensions"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def result_ids(drv):
    """The shown results' ids, read in one script (the page may re-render between element look-ups)."""
    return drv.execute_script("return Array.from(document.querySelectorAll('#results figure.result'), "
                              "f => f.dataset.id);")


def shot(drv, folder, name):
    path = os.path.join(folder, name)
    assert drv.save_screenshot(path)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    return path


def test_query_manipulate_feedback_and_errors_in_chromium(served, browser, tmp_path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait

    url, cat = served
    drv, wait = browser, WebDriverWait(browser, 60, ignored_exceptions=[StaleElementReferenceException])
    shots = tmp_path / "screenshots"
    shots.mkdir()
    drv.get(url + "/")
    card = drv.find_element(By.ID, "model-card").text
    assert "scale ci" in card and "synthetic" in card and "Measured top-20 accuracy" in card

    # 1. pick a query of the query set: its attributes and the top-k, left to right
    row = 2
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, f"img.query-choice[data-row='{row}']"))).click()
    wait.until(lambda d: len(result_ids(d)) == K)
    direct = cat.search.session(cat.queries["images"][row])
    assert result_ids(drv) == [h.id for h in direct.search(K)]
    ranks = [int(f.get_attribute("data-rank")) for f in drv.find_elements(By.CSS_SELECTOR, "#results figure")]
    xs = [f.location["x"] + 2000 * f.location["y"] for f in drv.find_elements(By.CSS_SELECTOR, "#results figure")]
    assert ranks == list(range(1, K + 1)) and xs == sorted(xs)          # reading order = rank order
    predicted = direct.attributes()
    for g in cat.groups:
        assert drv.find_element(By.CSS_SELECTOR, f"#attributes tr[data-group='{g}']").text.split()[1] == predicted[g][0]
    shot(drv, shots, "01_query.png")

    # 2. change a special attribute to a value the model can search for
    attr = cat.special[0]
    sel = Select(drv.find_element(By.ID, f"attr-{attr}"))
    new = next(o.get_attribute("value") for o in sel.options
               if o.is_enabled() and o.get_attribute("value") != predicted[attr][0])
    sel.select_by_value(new)
    drv.find_element(By.ID, "search-button").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "results-summary"), f"{attr}={new}"))
    direct.manipulate({attr: new})
    want = direct.search(K)
    assert result_ids(drv) == [h.id for h in want]
    target = {a: (new if a == attr else predicted[a][0]) for a in cat.special}
    marked = [f.get_attribute("data-id") for f in drv.find_elements(By.CSS_SELECTOR, "#results figure.exact")]
    assert marked == [h.id for h, e in zip(want, cat.exact_matches([h.index for h in want], target)) if e]
    assert len(drv.find_elements(By.CSS_SELECTOR, "#results .badge")) == len(marked)
    shot(drv, shots, "02_manipulated.png")

    # 3. relevance feedback: click two results, search again (eq. 5-6)
    picks = result_ids(drv)[0], result_ids(drv)[2]
    for pid in picks:
        drv.find_element(By.CSS_SELECTOR, f"#results figure[data-id='{pid}'] img").click()
    assert len(drv.find_elements(By.CSS_SELECTOR, "#results figure.picked")) == 2
    drv.find_element(By.ID, "feedback-button").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "weights"), "signature weights"))
    weights = direct.feedback(list(picks))
    assert result_ids(drv) == [h.id for h in direct.search(K)]
    for name, w in weights.items():
        assert f"{name} {w:.2f}" in drv.find_element(By.ID, "weights").text
    shot(drv, shots, "03_feedback.png")

    # 4. a file that is not an image: a clear message on the page
    notes = tmp_path / "notes.txt"
    notes.write_text("a shopping list, not a photo\n")
    drv.find_element(By.ID, "upload").send_keys(str(notes))
    drv.find_element(By.ID, "upload-button").click()
    wait.until(EC.visibility_of_element_located((By.ID, "error")))
    assert "notes.txt is not an image" in drv.find_element(By.ID, "error").text
    assert result_ids(drv) == [h.id for h in direct.search(K)]      # the last search stays on screen
    shot(drv, shots, "04_not_an_image.png")

    # 5. an attribute value the model does not know (a tampered control): a clear message
    drv.execute_script("const s = document.getElementById(arguments[0]); const o = new Option('plaid-ish', "
                       "'plaid-ish'); s.add(o); s.value = 'plaid-ish';", f"attr-{attr}")
    drv.find_element(By.ID, "search-button").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "error"), "'plaid-ish' is not a value of " + attr))
    shot(drv, shots, "05_unknown_value.png")

    # 6. an uploaded photo is a query (a gallery image finds itself first)
    import cv2

    photo = tmp_path / "mine.png"
    cv2.imwrite(str(photo), cat.gallery["images"][5])
    drv.find_element(By.ID, "upload").send_keys(str(photo))
    drv.find_element(By.ID, "upload-button").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "query-label"), "mine.png"))
    wait.until(lambda d: len(result_ids(d)) == K and result_ids(d)[0] == cat.gallery["names"][5])
    assert not drv.find_element(By.ID, "error").is_displayed()
    shot(drv, shots, "06_upload.png")
    assert sorted(os.listdir(shots)) == ["01_query.png", "02_manipulated.png", "03_feedback.png",
                                         "04_not_an_image.png", "05_unknown_value.png", "06_upload.png"]
