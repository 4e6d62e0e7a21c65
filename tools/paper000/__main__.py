"""``python -m tools.paper000 data|nets|train|evaluate|report|all [flags]`` (see tools/repro/cli.py)."""
from tools.repro.cli import run_module

run_module("000")
