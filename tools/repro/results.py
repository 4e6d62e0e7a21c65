"""``results.json`` (one per evaluated run) and ``predictions.npz`` (the raw outputs it is computed from).

results.json (schema :data:`SCHEMA`), written atomically::

    schema        "fashioncaffe-results/1"
    paper         "000"                 variant   "all_multiweight"     variant_title  "Multi-weight"
    scale         "tiny"                seed      1
    data          "synthetic" | "real-<folder>"      data_source  where the data came from
    synthetic     true | false
    device        "cpu" | "cuda:0" | "cuda:0,1"      precision    "fp32" (the engine's faithful default)
    arch          the scale's net, in words
    iterations    {stage: iterations}                 (training order)
    wall_seconds  {"train": {stage: s}, "train_total": s, "evaluate": s}
    cpu_seconds   {"train": {stage: s}, "train_total": s}
    weights       {stage: final caffemodel}
    commit        the git commit of the code ("<sha>" or "<sha>+dirty"; "unknown" outside git)
    created       ISO time
    metrics       the paper's metrics (``metrics.score(predictions)``: nested dicts / lists of numbers)
    info          anything else the paper's ``evaluate.predict`` returns about the run (sizes, names)

predictions.npz: named *tasks*, each a group of arrays stored as ``<task>.<field>``::

    <task>.ids            (N,) str     the evaluated items (image keys / names), in evaluation order
    <task>.labels         (N, ...)     ground truth of each item
    <task>.scores         (N, ...)     the model's raw outputs for each item     (classification)
    <task>.ranked         (N, R) int   per query, the gallery indices in rank order (retrieval)
    <task>.gallery_ids    (G,) str     the gallery of ``ranked`` (retrieval)
    <task>.gallery_labels (G, ...)     its ground truth (retrieval)
    <task>.<other>        anything else a paper's metric needs (documented by the paper)

Every task has ``ids`` and ``labels`` and at least one of ``scores`` / ``ranked``; ``ranked`` comes
with ``gallery_ids`` and ``gallery_labels``; every per-item array has N rows.  String arrays are
stored as numpy unicode (``allow_pickle`` is never needed to read the file).
"""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import tempfile

import numpy as np

from .layout import repo_root

SCHEMA = "fashioncaffe-results/1"
REQUIRED = ("schema", "paper", "variant", "variant_title", "scale", "seed", "data", "data_source", "synthetic",
            "device", "precision", "arch", "iterations", "wall_seconds", "cpu_seconds", "weights", "commit",
            "created", "metrics", "info")
PREDICTIONS = "predictions.npz"
RESULTS = "results.json"


# ----------------------------------------------------------------------------------------------
# atomic writes
def _atomic(path, write, suffix=""):
    """Call ``write(temporary path)`` for a file in ``path``'s folder, then rename it into place: a
    reader never sees a half-written file, and a crash leaves the old one."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp_", suffix=suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # the permissions of a plain open()
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _dump(obj):
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1, default=_json_default)
    return write


def write_json(path: str, obj) -> str:
    """Write ``obj`` as JSON, atomically."""
    return _atomic(path, _dump(obj), ".json")


def write_text(path: str, text: str) -> str:
    """Write ``text``, atomically."""
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
    return _atomic(path, write)


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"{type(x).__name__} is not JSON serialisable")


def git_commit(root: str | None = None) -> str:
    root = root or repo_root()
    try:
        sha = subprocess.run(["git", "-C", root, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


# ----------------------------------------------------------------------------------------------
# results.json
def make_results(exp, variant, seed, training, metrics, info, evaluate_seconds, precision="fp32") -> dict:
    """The results.json record of one run (``training``: the run's training.json)."""
    stages = training["stages"]
    return {
        "schema": SCHEMA, "paper": exp.paper.number, "variant": variant,
        "variant_title": exp.config.VARIANT_TITLES.get(variant, variant),
        "scale": exp.scale, "seed": int(seed), "data": exp.data_tag, "data_source": exp.source(),
        "synthetic": exp.synthetic, "device": exp.device, "precision": precision, "arch": exp.cfg.get("arch", ""),
        "iterations": {s["name"]: s["iterations"] for s in stages},
        "wall_seconds": {"train": {s["name"]: s["seconds"] for s in stages},
                         "train_total": round(sum(s["seconds"] or 0 for s in stages), 2),
                         "evaluate": round(float(evaluate_seconds), 2)},
        "cpu_seconds": {"train": {s["name"]: s.get("cpu_seconds") for s in stages},
                        "train_total": round(sum(s.get("cpu_seconds") or 0 for s in stages), 2)},
        "weights": {s["name"]: s["weights"] for s in stages},
        "commit": git_commit(), "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "metrics": metrics, "info": info,
    }


def check_results(res: dict, where: str = "results.json") -> dict:
    """``res`` when it follows the schema; a clear error naming the file and the missing fields otherwise."""
    missing = [k for k in REQUIRED if k not in res]
    if missing or res.get("schema") != SCHEMA:
        raise SystemExit(f"{where}: not a {SCHEMA} record (missing {', '.join(missing) or 'nothing'}; schema "
                         f"{res.get('schema')!r}); re-run the evaluation with this version of the code")
    return res


def load_results(path: str) -> dict:
    with open(path) as f:
        return check_results(json.load(f), path)


# ----------------------------------------------------------------------------------------------
# predictions.npz
def check_predictions(tasks: dict, where: str = PREDICTIONS) -> dict:
    """``tasks`` ({task: {field: array}}) when it follows the schema above; a clear error otherwise."""
    if not tasks:
        raise ValueError(f"{where}: no tasks")
    for name, t in tasks.items():
        if "." in name or not name:
            raise ValueError(f"{where}: task name {name!r} must be non-empty and without '.'")
        for need in ("ids", "labels"):
            if need not in t:
                raise ValueError(f"{where}: task {name!r} has no {need!r}")
        if "scores" not in t and "ranked" not in t:
            raise ValueError(f"{where}: task {name!r} has neither 'scores' nor 'ranked'")
        if "ranked" in t and not ("gallery_ids" in t and "gallery_labels" in t):
            raise ValueError(f"{where}: task {name!r} has 'ranked' without 'gallery_ids' and 'gallery_labels'")
        n = len(t["ids"])
        for field in ("labels", "scores", "ranked"):
            if field in t and len(t[field]) != n:
                raise ValueError(f"{where}: task {name!r}: {field} has {len(t[field])} rows, ids has {n}")
        if "ranked" in t and len(t["ranked"]) and np.asarray(t["ranked"]).max(initial=-1) >= len(t["gallery_ids"]):
            raise ValueError(f"{where}: task {name!r}: ranked points past the gallery ({len(t['gallery_ids'])})")
    return tasks


def _storable(a):
    a = np.asarray(a)
    if a.dtype == object:
        a = a.astype(str)
    return a


def save_predictions(path: str, tasks: dict) -> str:
    """Write ``{task: {field: array}}`` as ``<task>.<field>`` arrays (atomically)."""
    check_predictions(tasks, path)
    flat = {f"{t}.{f}": _storable(a) for t, fields in tasks.items() for f, a in fields.items()}
    return _atomic(path, lambda tmp: np.savez_compressed(tmp, **flat), ".npz")


def load_predictions(path: str) -> dict:
    """``{task: {field: array}}`` of a predictions.npz."""
    out: dict = {}
    with np.load(path, allow_pickle=False) as z:
        for key in z.files:
            task, _, field = key.partition(".")
            out.setdefault(task, {})[field] = z[key]
    return check_predictions(out, path)
