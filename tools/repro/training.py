"""Training a run: the paper's plan (nets, solvers, stages) trained by ``fashioncaffe train``.

A paper's ``netgen.run_plan(exp, variant, seed)`` returns a :class:`RunPlan`: the files to write into
the run folder (its nets and solvers, rendered for this data, seed and device) and the training
stages in order.  Each stage is one ``python -m fashioncaffe train --solver S --snapshot_prefix
<run>/<stage> [--weights W | --snapshot <state>] [--gpu ids]`` in a subprocess -- exactly what a user
types -- with its Caffe-format log in ``<run>/<stage>.log``.  A stage starts from the previous stage's
final weights unless the plan says otherwise (the first stage: ``--weights`` of the experiment, if
given, else the fillers).

Resuming: a stage whose final caffemodel exists is not repeated (``--force`` repeats it); one that
stopped after a snapshot continues from its newest ``.solverstate``.  ``<run>/training.json`` records
every stage (iterations, initial and final weights, wall / CPU seconds, final loss).
"""
from __future__ import annotations

import glob
import json
import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from .layout import python_env
from .results import write_json

#: Stage.weights: start from the previous stage's final weights (the experiment's --weights for the first)
PREVIOUS = "previous"
TRAINING = "training.json"
_ITER = re.compile(r"Iteration (\d+).*, loss = ([-+0-9.eEnaifNA]+)")


@dataclass
class Stage:
    """One ``fashioncaffe train`` call.  ``name`` names the snapshots (``<run>/<name>_iter_N``) and the
    log (``<run>/<name>.log``); ``solver`` is a path (relative to the working directory);
    ``weights``: :data:`PREVIOUS`, None (fillers) or a caffemodel path."""
    name: str
    solver: str
    iterations: int
    weights: str | None = PREVIOUS
    #: optional ``prepare(init_weights) -> weights``: run before a stage starts afresh (not when it
    #: resumes from a .solverstate), e.g. to write values computed from the previous stage's model
    #: into the initial weights (paper 004's AMNet memory); returns the caffemodel to start from
    prepare: Callable | None = None


@dataclass
class RunPlan:
    """What a run trains: ``files`` {path: text} written first, then ``stages`` in order."""
    files: dict
    stages: list
    info: dict = field(default_factory=dict)


def final_weights(run_dir: str, stage: Stage) -> str:
    return f"{run_dir}/{stage.name}_iter_{int(stage.iterations)}.caffemodel"


def load_training(run_dir: str) -> dict:
    path = os.path.join(run_dir, TRAINING)
    if not os.path.isfile(path):
        raise SystemExit(f"{run_dir}: not trained ({TRAINING} missing); run the train step first")
    with open(path) as f:
        return json.load(f)


def _newest_state(prefix: str, before: int):
    best, path = -1, None
    for p in glob.glob(f"{glob.escape(prefix)}_iter_*.solverstate"):
        m = re.search(r"_iter_(\d+)\.solverstate$", p)
        if m and best < int(m.group(1)) < before:
            best, path = int(m.group(1)), p
    return path


def _run_logged(cmd, log_path, label, iterations, append):
    """Run ``cmd`` with its output in ``log_path``; loss lines as progress.  (returncode, final loss)."""
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    bar = tqdm(total=iterations, desc=label, unit="it", disable=not tty, leave=False)
    last_loss = None
    with open(log_path, "a" if append else "w") as lf:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=python_env())
        for line in p.stdout:
            lf.write(line)
            m = _ITER.search(line)
            if m:
                it, last_loss = int(m.group(1)), m.group(2)
                if tty:
                    bar.update(it - bar.n)
                    bar.set_postfix(loss=last_loss)
                else:
                    print(f"{label}: iteration {it}/{iterations}, loss {last_loss}", flush=True)
        p.wait()
    bar.close()
    try:
        loss = float(last_loss) if last_loss is not None else None
    except ValueError:
        loss = None
    return p.returncode, loss


def train_stage(exp, run_dir, stage, init, label):
    """Train one stage unless its final weights exist; its training.json record."""
    final = final_weights(run_dir, stage)
    prefix = f"{run_dir}/{stage.name}"
    log_path = f"{prefix}.log"
    state = None if exp.force else _newest_state(prefix, int(stage.iterations))
    cmd = [sys.executable, "-m", "fashioncaffe", "train", "--solver", stage.solver, "--snapshot_prefix", prefix]
    if state:
        cmd += ["--snapshot", state]
        print(f"{label}: resuming from {state}", flush=True)
    else:
        if init and not os.path.isfile(init):
            raise SystemExit(f"{label}: initial weights {init} do not exist")
        if stage.prepare is not None:
            init = stage.prepare(init)
        if init:
            cmd += ["--weights", init]
    if exp.gpus:
        cmd += ["--gpu", ",".join(map(str, exp.gpus))]
    print(f"{label}: {stage.iterations} iterations from {init or 'the fillers'} (log {log_path})", flush=True)
    t0, c0 = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    code, loss = _run_logged(cmd, log_path, label, int(stage.iterations), append=bool(state))
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        tail = open(log_path).read()[-3000:]
        raise SystemExit(f"{label}: training failed (exit status {code}; log {log_path}):\n{tail}")
    if not os.path.isfile(final):
        raise SystemExit(f"{label}: training finished without writing {final} (log {log_path})")
    return {"name": stage.name, "iterations": int(stage.iterations), "solver": stage.solver, "initial_weights": init,
            "resumed_from": state, "weights": final, "log": log_path, "seconds": round(time.time() - t0, 2),
            "cpu_seconds": round((c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime), 2), "final_loss": loss}


def train_run(exp, variant, seed) -> dict:
    """Train one run (variant, seed) of the experiment; returns its training.json record."""
    run_dir = exp.run_dir(variant, seed)
    os.makedirs(run_dir, exist_ok=True)
    plan = exp.paper.netgen.run_plan(exp, variant, seed)
    for path, text in plan.files.items():
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    old = {}
    if os.path.isfile(os.path.join(run_dir, TRAINING)):
        old = {s["name"]: s for s in load_training(run_dir)["stages"]}
    stages, previous = [], (exp.weights or None)
    for stage in plan.stages:
        init = previous if stage.weights == PREVIOUS else stage.weights
        label = f"[{exp.paper.name}] {variant} seed {seed} {stage.name}"
        final = final_weights(run_dir, stage)
        if os.path.isfile(final) and not exp.force:
            print(f"{label}: {final} exists; not repeated", flush=True)
            rec = dict(old.get(stage.name) or {"name": stage.name, "iterations": int(stage.iterations),
                                              "solver": stage.solver, "initial_weights": init, "weights": final,
                                              "log": f"{run_dir}/{stage.name}.log", "seconds": None,
                                              "cpu_seconds": None, "final_loss": None})
        else:
            rec = train_stage(exp, run_dir, stage, init, label)
        stages.append(rec)
        previous = final
    record = {"paper": exp.paper.number, "variant": variant, "seed": int(seed), "scale": exp.scale,
              "data": exp.data_tag, "device": exp.device, "stages": stages, "info": plan.info}
    write_json(os.path.join(run_dir, TRAINING), record)
    return record


def weights_of(training: dict, stage_name: str) -> str:
    """The final weights of a stage of a trained run."""
    for s in training["stages"]:
        if s["name"] == stage_name:
            return s["weights"]
    raise SystemExit(f"run {training.get('variant')} seed {training.get('seed')}: no training stage {stage_name!r} "
                     f"(stages: {', '.join(s['name'] for s in training['stages'])})")
