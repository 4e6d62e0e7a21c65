"""Run the GPU check's sections, each in its own process under a time cap, and write the report.

The caps (seconds) are per section and per mode; the whole check has a budget (``--budget-s``,
470 s on a GPU so that it ends within 8 minutes): before a section starts its cap is cut to what the
budget leaves after keeping ``MIN_S`` for each section still to come, and a section that would get
less than that is not started (reported so).  A section past its cap is stopped (its process group
killed) and reported as TIMEOUT with what it had recorded.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import SECTIONS
from .context import ERROR, FAILED, ROOT, SKIPPED, TIMEOUT, write_json
from .report import markdown

CAP_S = {  # per section: (on a GPU, dry on a CPU)
    "env": (40, 60),
    "tests": (60, 120),
    "correctness": (120, 400),
    "parallel": (45, 120),
    "knn": (80, 60),
    "onnx": (40, 90),
    "data": (60, 120),
    "training": (160, 300),
}
MIN_S = 15
BUDGET_S = {"gpu": 470, "dry": 1500}


def _cuda_visible() -> bool:
    code = "import torch; print(torch.cuda.is_available())"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return res.stdout.strip().endswith("True")


def _pump(stream, log, echo_prefix):
    for line in iter(stream.readline, ""):
        log.write(line)
        log.flush()
        if line.startswith(echo_prefix):
            print("  " + line.rstrip(), flush=True)


def run_child(name, mode, cap, result_file, work, log) -> tuple[int | None, bool]:
    """Run section ``name`` in a fresh process group; returns (exit code, timed out)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("GLOG_minloglevel", "1")
    if mode == "dry":
        # tiny work on a small shared CPU: one intra-op thread each (two threads on two busy cores ran a
        # tiny AlexNet step 10× slower than one)
        env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "tools.gpu_check.context", name, "--mode", mode, "--result", str(result_file),
           "--work", str(work), "--cap-s", str(cap)]
    log.write(f"\n===== section {name} (cap {cap:.0f} s): {' '.join(cmd)}\n")
    log.flush()
    return run_capped(cmd, cap, log, f"[{name} ", env)


def run_capped(cmd, cap, log, echo_prefix, env=None) -> tuple[int | None, bool]:
    """Run ``cmd`` in its own process group, its output into ``log`` (lines starting with
    ``echo_prefix`` also printed); at ``cap`` seconds the whole group is stopped (SIGTERM, then
    SIGKILL), and whatever the group left running afterwards is killed too."""
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    t = threading.Thread(target=_pump, args=(p.stdout, log, echo_prefix), daemon=True)
    t.start()
    timed_out = False
    try:
        p.wait(timeout=cap)
    except subprocess.TimeoutExpired:
        timed_out = True
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                break
            try:
                p.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    _reap_group(p.pid)
    t.join(5)
    return p.returncode, timed_out


def _reap_group(pgid):
    """Stop what a section left running in its process group (data workers, torchrun children)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _load(result_file, name):
    try:
        return json.loads(Path(result_file).read_text())
    except (OSError, ValueError):
        return {"name": name, "results": {}, "tables": {}, "goals": [], "checks": [], "skipped": [], "notes": []}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.gpu_check", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry", action="store_true", help="run on the CPU at tiny sizes (every path but CUDA)")
    ap.add_argument("--out", default=None, help="folder for gpu_check.json / .md / .log "
                                                "(default runs/gpu_check/gpu or runs/gpu_check/dry)")
    ap.add_argument("--sections", default="", help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--budget-s", type=float, default=None, help="the whole check's time budget "
                                                                 "(default 470 on a GPU, 1500 dry)")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one, removed at the end)")
    a = ap.parse_args(argv)

    mode = "dry" if a.dry else "gpu"
    names = [s for s in a.sections.split(",") if s] or list(SECTIONS)
    unknown = [s for s in names if s not in SECTIONS]
    if unknown:
        ap.error(f"unknown section(s) {unknown}; known: {', '.join(SECTIONS)}")
    if "env" not in names:
        names.insert(0, "env")
    if mode == "gpu" and not _cuda_visible():
        print("gpu-check: PyTorch sees no CUDA device here. Run `make gpu-check DRY=1` (or --dry) for the CPU "
              "dry mode, which exercises every section but the CUDA parts.", file=sys.stderr)
        return 2
    out = Path(a.out or ROOT / "runs" / "gpu_check" / mode)
    out.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.TemporaryDirectory(prefix="gpu_check_") if a.work is None else None
    work = Path(a.work) if a.work else Path(scratch.name)
    budget = a.budget_s or BUDGET_S[mode]
    start = time.time()
    report = {"mode": mode, "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "budget_s": budget, "command": " ".join([Path(sys.executable).name, "-m", "tools.gpu_check"] +
                                                      (argv if argv is not None else sys.argv[1:])),
              "sections": {}}
    print(f"gpu-check ({mode}): sections {', '.join(names)}; budget {budget:.0f} s; output {out}", flush=True)
    with open(out / "gpu_check.log", "w") as log:
        for i, name in enumerate(names):
            left = budget - (time.time() - start) - MIN_S * (len(names) - i - 1)
            cap = min(CAP_S[name][mode == "dry"], left)
            result_file = work / f"section_{name}.json"
            if cap < MIN_S:
                res = _load(result_file, name)
                res.update(status=SKIPPED, reason=f"not run: the check's {budget:.0f} s budget is spent", seconds=0)
            else:
                t0 = time.time()
                print(f"- {name} (cap {cap:.0f} s) ...", flush=True)
                rc, timed_out = run_child(name, mode, cap, result_file, work / name, log)
                res = _load(result_file, name)
                res["seconds"] = round(time.time() - t0, 1)
                res["cap_s"] = round(cap)
                if timed_out:
                    res["status"] = TIMEOUT
                    res["reason"] = f"stopped at its {cap:.0f} s cap; the results below are those recorded before"
                elif res.get("status") is None:
                    res["status"] = ERROR
                    res["reason"] = f"the section's process ended with exit code {rc} before reporting"
            report["sections"][name] = res
            report["seconds"] = round(time.time() - start, 1)
            print(f"  {name}: {res['status']} ({res.get('seconds', 0):.0f} s)"
                  + (f" - {res['reason']}" if res.get("reason") else ""), flush=True)
            write_json(out / "gpu_check.json", report)
            (out / "gpu_check.md").write_text(markdown(report))
    if scratch is not None:
        scratch.cleanup()
    print("\n" + markdown(report), flush=True)
    print(f"gpu-check: {report['seconds']:.0f} s; wrote {out / 'gpu_check.json'}, {out / 'gpu_check.md'}, "
          f"{out / 'gpu_check.log'}")
    bad = [n for n, r in report["sections"].items() if r.get("status") in (FAILED, ERROR, TIMEOUT)]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
