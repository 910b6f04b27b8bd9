import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def torch():
    return pytest.importorskip("torch")
