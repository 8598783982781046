from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def open_page():
    """AppTest of app.py switched to one page: ``open_page("ui/pages/analyzer.py", query={"spec": …})``."""
    def _open(page: str, query: dict | None = None, timeout: float = 60) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=timeout)
        for key, value in (query or {}).items():
            at.query_params[key] = value
        at.run()
        return at.switch_page(page).run()
    return _open


def plain(markdown: str) -> str:
    """The text a reader sees of Markdown source written by ui.widgets.escape (backslash escapes and the
    zero-width space after a colon removed)."""
    import re
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u200b", "")


@pytest.fixture
def fresh_limits():
    """The server reads its limits once per process (ui.budget.limits): a test that sets CNNCALC_<LIMIT>
    takes this fixture so the page reads them again, and the next test gets the defaults back."""
    from ui import budget
    budget.limits.clear()
    yield
    budget.limits.clear()
