"""Paper 001 (Liu et al., DeepFashion): FashionNet, Table 2 and Figs. 8-10.
Run with ``python -m tools.paper001`` (the framework's command shape, tools/repro)."""
