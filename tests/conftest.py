"""Test-suite configuration shared by every test module."""
from __future__ import annotations

import pytest


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - no torch or a broken CUDA install: no GPU tests
        return False


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` are skipped, with the reason, where PyTorch sees no CUDA device."""
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device: torch.cuda.is_available() is False on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def search_app_model(tmp_path_factory):
    """The search app's small trained model (tests/search_app_support.py), built once per session."""
    from search_app_support import build_test_model

    return build_test_model(str(tmp_path_factory.mktemp("search_app")))
