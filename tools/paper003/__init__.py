"""Paper 003 (Liu et al., Extreme-WJLD, JD AI Fashion Challenge): 13-style recognition, F2, Tables II-IV
and Figs. 1-2.  Run with ``python -m tools.paper003`` (the framework's command shape, tools/repro)."""
