"""What a section gets to record its results with, and the process a section runs in.

A section module defines ``TITLE``, ``CAP_S = {"gpu": seconds, "dry": seconds}`` and ``run(ctx)``.
``run`` records through the :class:`Context`; every record is written to the section's result file
at once (atomically), so the parent still finds what was measured when the section later fails,
hangs or hits its cap.

    python -m tools.gpu_check.context SECTION --mode gpu|dry --result FILE --work DIR

runs one section (the parent, :mod:`tools.gpu_check.cli`, starts it so).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

OK, FAILED, SKIPPED, ERROR, TIMEOUT = "ok", "failed", "skipped", "error", "timeout"


def write_json(path, obj) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=_jsonable))
    os.replace(tmp, path)


def _jsonable(x):
    if hasattr(x, "item"):          # numpy / torch scalars
        return x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)


class Context:
    """A running section's view: where it is (``dry``, ``device``, ``work``) and how it records.

    * ``set(key, value)`` – a result (JSON-able), shown in the JSON;
    * ``row(table, dict)`` – one row of a named table, shown in the summary as a markdown table;
    * ``goal(what, goal, measured, met)`` – a goal of the issue against what was measured;
    * ``check(what, passed, detail)`` – a correctness check; a failed one makes the section FAILED;
    * ``skip(part, reason)`` – a part that did not run, and why (e.g. "no CUDA");
    * ``note(text)`` – anything a reader of the summary should know (scale, synthetic data, ...);
    * ``skip_section(reason)`` – the whole section cannot run here (status SKIPPED).
    """

    def __init__(self, name, mode, result_file, work):
        import torch

        self.name = name
        self.dry = mode == "dry"
        self.cuda = torch.cuda.is_available() and not self.dry
        self.device = "cuda" if self.cuda else "cpu"
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.root = ROOT
        self.result_file = Path(result_file)
        self.data = {"name": name, "mode": mode, "status": None, "results": {}, "tables": {}, "goals": [],
                     "checks": [], "skipped": [], "notes": [], "started": time.time()}
        self.save()

    def save(self):
        self.data["seconds"] = round(time.time() - self.data["started"], 2)
        write_json(self.result_file, self.data)

    def set(self, key, value):
        self.data["results"][key] = value
        self.save()

    def row(self, table, row: dict):
        self.data["tables"].setdefault(table, []).append(row)
        self.save()

    def goal(self, what, goal, measured, met):
        self.data["goals"].append({"what": what, "goal": goal, "measured": measured, "met": met})
        self.save()

    def check(self, what, passed, detail=""):
        self.data["checks"].append({"what": what, "passed": bool(passed), "detail": detail})
        self.save()
        return bool(passed)

    def skip(self, part, reason):
        self.data["skipped"].append({"part": part, "reason": reason})
        self.save()

    def note(self, text):
        self.data["notes"].append(text)
        self.save()

    def skip_section(self, reason):
        self.data["status"] = SKIPPED
        self.data["reason"] = reason
        self.save()

    def log(self, text):
        print(f"[{self.name} {time.time() - self.data['started']:6.1f}s] {text}", flush=True)

    def remaining(self, cap_s) -> float:
        """Seconds left of ``cap_s`` since the section started (to plan optional work)."""
        return cap_s - (time.time() - self.data["started"])

    def finish(self):
        if self.data["status"] is None:
            failed = [c for c in self.data["checks"] if not c["passed"]]
            self.data["status"] = FAILED if failed else OK
        self.save()


def run_section(name, mode, result_file, work, cap_s=None) -> int:
    os.chdir(ROOT)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    ctx = Context(name, mode, result_file, work)
    ctx.cap_s = cap_s
    try:
        module = importlib.import_module(f"tools.gpu_check.sec_{name}")
        ctx.data["title"] = module.TITLE
        ctx.save()
        module.run(ctx)
    except Exception as e:  # noqa: BLE001 - the report names the error; the other sections still run
        ctx.data["status"] = ERROR
        ctx.data["reason"] = f"{type(e).__name__}: {e}"
        ctx.data["traceback"] = traceback.format_exc()[-4000:]
        ctx.save()
        traceback.print_exc()
        return 1
    ctx.finish()
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description="run one section of the GPU check")
    ap.add_argument("section")
    ap.add_argument("--mode", choices=["gpu", "dry"], required=True)
    ap.add_argument("--result", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--cap-s", type=float, default=None)
    a = ap.parse_args(argv)
    return run_section(a.section, a.mode, a.result, a.work, a.cap_s)


if __name__ == "__main__":
    sys.exit(main())
