from tools.repro.cli import run_module

run_module("002")
