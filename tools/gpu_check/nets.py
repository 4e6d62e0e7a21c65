"""Which tiny nets the correctness section trains, and how their synthetic data is made.

The nets are found, not listed: every committed tiny solver ``solvers/paper*/tiny/*_solver.prototxt``
(each names its ``net``).  A paper joins the check by committing its tiny solvers; its data comes from
the reproduction framework's one command, ``python -m tools.paperNNN data --scale tiny``.

Per paper at most ``per_paper`` solvers are taken, chosen greedily to cover the most distinct layers
(layer types, and Python layers by module:class): the one adding most new layers first.
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

from .context import ROOT

TINY_SOLVERS = "solvers/paper*/tiny/*_solver.prototxt"



def paper_of(path) -> str:
    return Path(path).relative_to(ROOT).parts[1] if Path(path).is_absolute() else Path(path).parts[1]


def read_solver_and_net(solver_path):
    from fashioncaffe.prototxt import read_net_param, read_solver_param

    sp = read_solver_param(str(solver_path))
    net = sp.net or sp.train_net
    return sp, read_net_param(net), net


def train_layers(net_param):
    """The layers of the TRAIN phase (include/exclude rules on phase only)."""
    from fashioncaffe.proto import caffe_pb2

    out = []
    for lp in net_param.layer:
        inc = [r for r in lp.include if r.HasField("phase")]
        exc = [r for r in lp.exclude if r.HasField("phase")]
        if inc and all(r.phase != caffe_pb2.TRAIN for r in inc):
            continue
        if any(r.phase == caffe_pb2.TRAIN for r in exc):
            continue
        out.append(lp)
    return out


def layer_kinds(net_param) -> set:
    kinds = set()
    for lp in train_layers(net_param):
        kinds.add(f"Python:{lp.python_param.module}.{lp.python_param.layer}" if lp.type == "Python" else lp.type)
    return kinds


def data_files(net_param) -> list[str]:
    """The files the TRAIN net reads that a data preparation makes (LMDB sources, mean files, the
    JSON files named in Python layers' param_str)."""
    import json

    files = []
    for lp in train_layers(net_param):
        if lp.HasField("data_param") and lp.data_param.source:
            files.append(lp.data_param.source)
        if lp.HasField("transform_param") and lp.transform_param.mean_file:
            files.append(lp.transform_param.mean_file)
        if lp.type == "Python" and lp.python_param.param_str.strip().startswith("{"):
            try:
                ps = json.loads(lp.python_param.param_str)
            except ValueError:
                continue
            files += [v for k, v in ps.items() if isinstance(v, str) and k.endswith(("_file", "_source"))]
    return files


def missing_files(net_param) -> list[str]:
    return [f for f in data_files(net_param) if not os.path.exists(f)]


def select(per_paper: int, papers=None) -> dict[str, list[str]]:
    """{paper: [solver paths]} covering the most distinct layers per paper."""
    by_paper: dict[str, list] = {}
    for path in sorted(glob.glob(str(ROOT / TINY_SOLVERS))):
        paper = paper_of(path)
        if papers and paper not in papers:
            continue
        try:
            _, net, _ = read_solver_and_net(path)
        except Exception as e:  # noqa: BLE001 - reported by the section as an unreadable solver
            by_paper.setdefault(paper, []).append((path, None, str(e)))
            continue
        by_paper.setdefault(paper, []).append((path, layer_kinds(net), None))
    chosen = {}
    for paper, cands in by_paper.items():
        seen, picks = set(), []
        pool = [c for c in cands if c[1] is not None]
        while pool and len(picks) < per_paper:
            best = max(pool, key=lambda c: (len(c[1] - seen), -len(c[1])))
            if picks and not best[1] - seen:
                break
            picks.append(best[0])
            seen |= best[1]
            pool.remove(best)
        chosen[paper] = [os.path.relpath(p, ROOT) for p in picks]
    return chosen


def prepare_data(paper: str, log_file, timeout) -> tuple[bool, str]:
    """Make the paper's tiny synthetic data; (ok, how)."""
    cmd = [sys.executable, "-m", f"tools.{paper}", "data", "--scale", "tiny", "--data", "synthetic"]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + (os.pathsep + os.environ["PYTHONPATH"]
                                                   if os.environ.get("PYTHONPATH") else ""))
    try:
        res = subprocess.run(cmd, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"`{' '.join(cmd)}` did not finish in {timeout:.0f} s"
    return res.returncode == 0, " ".join(cmd) + ("" if res.returncode == 0 else f" (exit code {res.returncode})")


def comparison_param(solver_path, iters):
    """The solver as a message that trains ``iters`` iterations and does nothing else: no tests, no
    snapshots, loss not averaged, Dropout off (its masks come from the device's own random
    generator, which differs between CPU and CUDA in BVLC Caffe too)."""
    sp, net, _ = read_solver_and_net(solver_path)
    for lp in net.layer:
        if lp.type == "Dropout":
            lp.dropout_param.dropout_ratio = 0.0
    for field in ("net", "train_net", "test_net", "test_net_param", "train_net_param", "test_iter", "test_state",
                  "weights", "snapshot_format"):
        sp.ClearField(field)
    sp.net_param.CopyFrom(net)
    sp.test_interval = 0
    sp.test_initialization = False
    sp.max_iter = int(iters)
    sp.display = 0
    sp.average_loss = 1
    sp.snapshot = 0
    sp.snapshot_after_train = False
    sp.snapshot_prefix = str(Path(os.environ.get("TMPDIR", "/tmp")) / "gpu_check_snapshot")
    if sp.random_seed < 0:
        sp.random_seed = 1
    return sp
