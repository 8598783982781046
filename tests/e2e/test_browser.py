"""Every page in Chromium against a real `streamlit run app.py`: it renders with no exception box, a
calculator input changes the numbers shown, a shared analyzer link opens the same network, and a tiny
training run launched from the page shows its curve. Screenshots: test-artifacts/screenshots/."""
import re
import time

import pytest

from .conftest import assert_no_exception, shot, wait_for_app

pytestmark = pytest.mark.e2e

PAGES = {"": "cnncalc", "calculator": "Layer calculator", "analyzer": "Network analyzer",
         "receptive_field": "Receptive", "training": "Training", "dense_maps": "Dense score maps",
         "activations": "What each layer sees",
         "demos": "Why convolutions", "companion": "Lab companion", "class_quiz": "Class quiz"}


@pytest.mark.parametrize("path", list(PAGES))
def test_page_renders_without_exception(page, app_url, path):
    page.goto(f"{app_url}/{path}")
    wait_for_app(page)
    page.get_by_role("heading", name=re.compile(PAGES[path])).first.wait_for()
    assert_no_exception(page)
    shot(page, f"page-{path or 'home'}")


def test_sidebar_navigation_reaches_every_page(page, app_url):
    page.goto(app_url)
    wait_for_app(page)
    for label in ("Layer calculator", "Network analyzer", "Receptive fields", "Training", "Dense score maps",
                  "What each layer sees",
                  "Why convolutions", "Lab companion", "Class quiz"):
        page.get_by_test_id("stSidebarNav").get_by_text(label, exact=True).click()
        wait_for_app(page)
        assert_no_exception(page)


def test_calculator_input_changes_the_output(page, app_url):
    page.goto(f"{app_url}/calculator")
    wait_for_app(page)
    main = page.get_by_test_id("stMain")
    main.get_by_text("32×32×32").first.wait_for()                  # 3×32×32, k=5, p=2, s=1, N=32 (waits: a busy CPU)
    box = page.get_by_role("spinbutton", name="Padding p")
    box.fill("0")
    box.press("Enter")
    wait_for_app(page)
    main.get_by_text("32×28×28").first.wait_for()                  # C×H×W: ⌊(32 − 5)/1⌋ + 1 = 28
    assert_no_exception(page)
    shot(page, "calculator-padding-0")


def test_shared_analyzer_link_opens_the_same_network(page, app_url):
    page.goto(f"{app_url}/analyzer?spec=conv%208%20k%3D3%20p%3D1%3B%20relu%3B%20fc%2010&input=1x28x28")
    wait_for_app(page)
    page.get_by_test_id("stMain").get_by_text("62,810").first.wait_for()  # 80 + 8·28·28·10 + 10 parameters
    assert_no_exception(page)
    shot(page, "analyzer-shared-link")


def test_tiny_training_run_shows_its_curve(page, app_url):
    page.goto(f"{app_url}/training")
    wait_for_app(page)
    sign_in(page, "Tess")
    page.get_by_role("combobox", name="Data").click()
    page.get_by_role("option", name=re.compile("synthetic")).click()
    for label, value in (("Examples per split (0 = all)", "200"), ("Epochs", "2"), ("Batch size (images)", "32")):
        box = page.get_by_role("spinbutton", name=label)
        box.fill(value)
        box.press("Tab")
    page.get_by_role("button", name="Queue this run").click()
    deadline = time.time() + 240
    main = page.get_by_test_id("stMain")
    while time.time() < deadline and main.get_by_text(re.compile(r"\bdone\b")).count() == 0:
        page.wait_for_timeout(2000)
    assert main.get_by_text(re.compile(r"\bdone\b")).count() > 0, "the run did not finish in 4 minutes"
    wait_for_app(page)
    assert page.locator(".vega-embed").count() >= 2    # the loss and the accuracy charts
    assert_no_exception(page)
    shot(page, "training-tiny-run")


def sign_in(page, name: str) -> None:
    page.get_by_role("textbox", name="Display name").fill(name)
    page.get_by_role("button", name="Use this name").click()
    page.get_by_test_id("stMain").get_by_text(f"Signed in as {name}").first.wait_for()
    wait_for_app(page)


def test_a_reload_and_a_new_tab_keep_the_owner(browser, app_url):
    """The display name lives in a signed cookie: a reload and a second tab are the same student; another
    browser (a new context: no cookie) is nobody until it picks a name; the token is never in the URL."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    try:
        page = context.new_page()
        page.goto(f"{app_url}/training")
        wait_for_app(page)
        sign_in(page, "Ada Lovelace")
        page.reload()
        wait_for_app(page)
        page.get_by_test_id("stMain").get_by_text("Signed in as Ada Lovelace").first.wait_for()
        tab = context.new_page()
        tab.goto(f"{app_url}/training")
        wait_for_app(tab)
        tab.get_by_test_id("stMain").get_by_text("Signed in as Ada Lovelace").first.wait_for()
        assert "cnncalc_id" not in page.url and "cnncalc_id" not in tab.url
        shot(tab, "training-signed-in")
    finally:
        context.close()
    other = browser.new_context()
    try:
        page = other.new_page()
        page.goto(f"{app_url}/training")
        wait_for_app(page)
        page.get_by_role("textbox", name="Display name").wait_for()
        assert page.get_by_test_id("stMain").get_by_text("Signed in as").count() == 0
    finally:
        other.close()


def test_table_editor_changes_the_network(page, app_url):
    """Edit the first layer in the analyzer's table editor (a canvas grid): the analysis and the URL follow."""
    page.goto(f"{app_url}/analyzer")
    wait_for_app(page)
    page.get_by_test_id("stMain").get_by_text("Table", exact=True).click()
    wait_for_app(page)
    box = page.get_by_test_id("stDataFrame").first.bounding_box()
    page.mouse.dblclick(box["x"] + 80, box["y"] + 35 + 17)   # below the header row: the first layer's cell
    page.wait_for_timeout(800)
    page.keyboard.press("Control+A")
    page.keyboard.type("conv 16 k=5 p=2", delay=30)
    page.keyboard.press("Enter")
    page.wait_for_timeout(1500)
    wait_for_app(page)
    # 16·3·25 + 16 = 1,216 and 64·16·25 + 64 = 25,664 instead of 2,432 and 51,264: 1,164,354 in all
    page.get_by_test_id("stMain").get_by_text("1,164,354").first.wait_for()
    assert "spec=conv+16+k%3D5+p%3D2" in page.url
    assert_no_exception(page)
    shot(page, "analyzer-table-edit")
    page.get_by_test_id("stMain").get_by_text("Text spec", exact=True).click()
    wait_for_app(page)
    assert page.get_by_role("textbox", name=re.compile("Layers")).input_value().startswith("conv 16 k=5 p=2\nrelu")
