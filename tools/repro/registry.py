"""The papers reproduced on the framework, and the modules each one provides.

Adding a paper = adding its number to :data:`PAPERS` (the make help, the shared tests in
``tests/test_papers.py`` and ``python -m tools.paperNNN`` all read it) and writing the modules
listed in :data:`MODULES` under ``tools/paperNNN/`` (docs/ADDING_A_PAPER.md).
"""
from __future__ import annotations

import importlib

#: every paper on the framework, in order
PAPERS = ("000", "001", "004")

#: the modules a paper package provides (each only what is the paper's own)
MODULES = ("paper", "config", "data", "netgen", "evaluate", "metrics", "report")


class Paper:
    """One paper's package ``tools.paperNNN`` with its modules imported on first use."""

    def __init__(self, number: str):
        number = str(number)
        if number not in PAPERS:
            raise SystemExit(f"paper {number!r} is not registered in tools/repro/registry.py PAPERS "
                             f"({', '.join(PAPERS)})")
        self.number = number
        self.name = f"paper{number}"
        self.package = f"tools.{self.name}"

    def module(self, name: str):
        if name not in MODULES:
            raise ValueError(f"{name!r} is not one of a paper's modules {MODULES}")
        return importlib.import_module(f"{self.package}.{name}")

    def __getattr__(self, name):
        """``paper.config``, ``paper.data``, ``paper.netgen``, ... : the paper's modules by name
        (``paper.numbers`` for its ``paper.py``)."""
        if name == "numbers":
            return self.module("paper")
        if name in MODULES:
            return self.module(name)
        raise AttributeError(name)

    def __repr__(self):
        return f"Paper({self.number!r})"


def load(number) -> Paper:
    return Paper(number)
