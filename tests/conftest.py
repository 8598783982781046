import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"


def pytest_sessionstart(session):
    import torch
    session.config.stash[TORCH_THREADS] = torch.get_num_threads()  # PyTorch's own default on this machine


TORCH_THREADS = pytest.StashKey[int]()


@pytest.fixture(autouse=True)
def _torch_threads_back_to_default(request):
    """ui/budget sets PyTorch's threads for the whole process (``torch_threads`` per heavy computation on the
    server); an AppTest that runs a page leaves the pytest process so, and a later test that times training —
    tests/test_quick_recipe.py, whose recipe runs in a worker process with the default threads — would train on
    one core. Every test starts with PyTorch's default."""
    yield
    torch = sys.modules.get("torch")
    default = request.config.stash.get(TORCH_THREADS, None)
    if torch is not None and default and torch.get_num_threads() != default:
        torch.set_num_threads(default)
