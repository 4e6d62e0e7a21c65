"""``python -m tools.paper004 data|nets|train|evaluate|report|all [flags]`` (see tools/repro/cli.py)."""
from tools.repro.cli import run_module

run_module("004")
