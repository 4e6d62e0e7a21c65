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
def paper_ci(tmp_path_factory):
    """``paper_ci("000")``: the folder in which ``python -m tools.paper000 all --scale ci`` ran (once per
    paper and test session) -- its runs/ holds the data, the runs and the report.  The papers share one
    synthetic wardrobe, generated on first use; nothing is written into the repository's runs/."""
    import os
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    from tools.repro import cli

    wardrobes = tmp_path_factory.mktemp("wardrobe")
    done = {}

    def run(number):
        if number not in done:
            folder = tmp_path_factory.mktemp(f"paper{number}_ci")
            (folder / "runs").mkdir()
            os.symlink(wardrobes, folder / "runs" / "wardrobe")
            cwd = os.getcwd()
            os.chdir(folder)
            try:
                status = cli.main(number, ["all", "--scale", "ci", "--workers", "2"])
            finally:
                os.chdir(cwd)
            assert status == 0
            done[number] = folder
        return done[number]

    return run


@pytest.fixture(scope="session")
def search_app_model(tmp_path_factory):
    """The search app's small trained model (tests/search_app_support.py), built once per session."""
    from search_app_support import build_test_model

    return build_test_model(str(tmp_path_factory.mktemp("search_app")))
