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
