"""The suite's ``gpu``-marked tests (pytest -m gpu over the test files that have such tests).

Results come from pytest's JUnit XML: one row per test with its outcome and, for a failure or skip,
the first line of the message.  Without CUDA they are all skipped by the suite's own rule, and the
section says so.
"""
from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

TITLE = "the gpu-marked tests"


def gpu_test_files(root):
    return sorted(str(p.relative_to(root)) for p in (root / "tests").glob("test_*.py")
                  if "pytest.mark.gpu" in p.read_text(errors="replace"))


def parse_junit(path):
    rows = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (el.get("message") or el.text or "").strip().splitlines()
                message = message[0][:200] if message else ""
                break
        rows.append({"test": f"{case.get('classname', '').split('.')[-1]}::{case.get('name')}",
                     "outcome": outcome, "seconds": float(case.get("time") or 0), "message": message})
    return rows


def run(ctx):
    files = gpu_test_files(ctx.root)
    ctx.set("files", files)
    if not files:
        ctx.skip_section("no test file has a gpu-marked test")
        return
    xml = ctx.work / "junit.xml"
    ctx.work.mkdir(parents=True, exist_ok=True)
    cap = (ctx.cap_s or 120) - 10
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", f"--junitxml={xml}",
           "-o", f"timeout={max(30, int(cap))}"] + files
    ctx.log(" ".join(cmd))
    res = subprocess.run(cmd, cwd=ctx.root, capture_output=True, text=True, timeout=cap)
    print(res.stdout[-6000:], res.stderr[-2000:], flush=True)
    rows = parse_junit(xml) if xml.exists() else []
    if not rows:
        ctx.check("pytest ran the gpu-marked tests", False, f"exit code {res.returncode}; no JUnit report")
        return
    for r in rows:
        ctx.row("gpu-marked tests", r)
    counts = {k: sum(r["outcome"] == k for r in rows) for k in ("passed", "failed", "error", "skipped")}
    ctx.set("counts", counts)
    if counts["skipped"] == len(rows) and not ctx.cuda:
        ctx.skip_section(f"skipped: no CUDA ({len(rows)} gpu-marked tests collected, all skipped by the suite)")
        return
    for r in rows:
        if r["outcome"] in ("failed", "error"):
            ctx.check(r["test"], False, r["message"])
    ctx.check(f"gpu-marked tests: {counts['passed']} passed, {counts['failed']} failed, {counts['error']} errors, "
              f"{counts['skipped']} skipped", counts["failed"] == 0 and counts["error"] == 0)
