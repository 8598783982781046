"""Projector and phone (#13): at 1280×720 each demo tab shows its result in the first screen and no metric is cut
with "…"; at 390×844 a formula is not clipped (it fits, or its box scrolls sideways)."""
import pytest

from .conftest import assert_no_exception, wait_for_app

pytestmark = pytest.mark.e2e

PROJECTOR = {"width": 1280, "height": 720}
PHONE = {"width": 390, "height": 844}

# per tab, the element that shows what the demo demonstrates (before any training for tab ③)
RESULTS = {0: '[data-testid="stAlertContentSuccess"]', 1: '[data-testid="stAlertContentSuccess"]',
           2: '[data-testid="stAlertContentInfo"]', 3: '[data-testid="stAlertContentSuccess"]'}

CUT_METRICS = """() => [...document.querySelectorAll('[data-testid="stMetricValue"], [data-testid="stMetricLabel"]')]
  .filter(e => e.offsetParent !== null)
  .flatMap(e => [e, ...e.querySelectorAll('*')])
  .filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(e => e.innerText)"""


@pytest.fixture
def sized(browser):
    contexts = []

    def make(viewport):
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        return pg
    yield make
    for context in contexts:
        context.close()


def test_demos_fit_a_projector(sized, app_url):
    page = sized(PROJECTOR)
    page.goto(f"{app_url}/demos")
    wait_for_app(page, timeout=90_000)
    for i, selector in RESULTS.items():
        page.get_by_role("tab").nth(i).click()
        page.wait_for_timeout(800)
        panel = page.locator('[role="tabpanel"]:visible').first
        result = panel.locator(selector).first
        result.wait_for()
        box = result.bounding_box()
        assert box and box["y"] + box["height"] <= PROJECTOR["height"], f"tab {i + 1}: result below the fold {box}"
        assert page.evaluate(CUT_METRICS) == [], f"tab {i + 1}: a metric is cut"
    assert_no_exception(page)


def test_formulas_are_not_clipped_on_a_phone(sized, app_url):
    page = sized(PHONE)
    page.goto(f"{app_url}/calculator")
    wait_for_app(page, timeout=90_000)
    formula = page.locator(".katex-display").first
    formula.wait_for()
    fits, overflow = formula.evaluate("e => [e.scrollWidth <= e.clientWidth + 1, getComputedStyle(e).overflowX]")
    assert fits or overflow in ("auto", "scroll"), f"a formula wider than its box is clipped (overflow-x {overflow})"
    box = formula.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1, f"the formula's box leaves the screen {box}"
    assert_no_exception(page)
