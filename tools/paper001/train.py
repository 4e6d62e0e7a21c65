"""Driver of FashionNet's two-step iterative training (DeepFashion Sec. 3) and benchmark fine-tuning.

    python -m tools.paper001.train --scale tiny [--data synthetic] [--variants fn,global,...]
                                   [--seed 1] [--gpu 0[,1]] [--weights VGG_ILSVRC_16_layers.caffemodel]

Per variant (config.stages): step1 → step2 (× rounds) → ft, each a solver prototxt rendered into
``runs/paper001/<data>-<scale>/seed<S>/<variant>/`` (the committed prototxt/solvers under
prototxt/paper001/ and solvers/paper001/ are the same files for the synthetic data), each stage
starting from the previous stage's final weights (``<stage>_r<round>_iter_<N>.caffemodel``).
A stage whose final caffemodel exists is skipped (the run resumes).  ``--weights``: the
first stage starts from these weights; a BVLC VGG-16 caffemodel is first mapped onto FashionNet's
branches by :mod:`tools.paper001.vgg_init`.  One GPU id trains in-process; several run
``fashioncaffe train --gpu ids`` (data-parallel).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from . import config, netgen


def run_dir(data, scale, seed, variant, root="."):
    return os.path.join(root, config.run_root(data, scale, seed), variant)


def render_variant(data, scale, seed, variant, gpu=False, root="."):
    """Write the variant's nets + solvers into its run dir; returns {kind: path}."""
    ddir = config.data_root(data, scale) + "/p001"
    stats = json.load(open(os.path.join(root, ddir, "stats.json")))
    rd = run_dir(data, scale, seed, variant, root)
    os.makedirs(rd, exist_ok=True)
    rel = os.path.relpath(rd, root)
    paths = {k: f"{rel}/{os.path.basename(p)}" for k, p in netgen.committed_paths(scale, variant).items()}
    texts = netgen.render(scale, variant, ddir, stats["A"], run_prefix=rel, seed=seed, gpu=gpu, paths=paths)
    for kind, text in texts.items():
        with open(os.path.join(root, paths[kind]), "w") as f:
            f.write(text)
    return paths


def final_model(prefix, iters):
    return f"{prefix}_iter_{iters}.caffemodel"


def train_stage(solver_path, prefix, iters, weights, gpus, log_path):
    import fashioncaffe as caffe
    from fashioncaffe.solvers import get_solver

    out = final_model(prefix, iters)
    if os.path.exists(out):
        print(f"  {out} exists; skipping")
        return out
    overrides = {"snapshot_prefix": prefix}
    if len(gpus) > 1:
        cmd = [sys.executable, "-m", "fashioncaffe", "train", "--solver", solver_path, "--gpu",
               ",".join(map(str, gpus))]
        if weights:
            cmd += ["--weights", weights]
        with open(log_path, "w") as lf:
            subprocess.run(cmd, check=True, stdout=lf, stderr=subprocess.STDOUT)
        # the CLI uses the solver file's prefix
        return out
    if gpus:
        caffe.set_device(gpus[0])
        caffe.set_mode_gpu()
    else:
        caffe.set_mode_cpu()
    solver = get_solver(solver_path, overrides)
    if weights:
        solver.net.copy_from(weights)
    solver.solve()
    return out


def train_variant(data, scale, seed, variant, gpus=(), weights=None, root="."):
    cfg = config.SCALES[scale]
    paths = render_variant(data, scale, seed, variant, gpu=bool(gpus), root=root)
    rd = run_dir(data, scale, seed, variant, root)
    w = weights
    timings = {}
    for stage, rnd in config.stages(variant, cfg["rounds"]):
        iters = config.stage_iters(cfg, variant, stage)
        prefix = os.path.join(rd, f"{stage}_r{rnd}")
        # the solver file names the stage prefix; override it per round
        t = time.time()
        print(f"[{variant}] {stage} round {rnd}: {iters} iterations from {w or 'scratch'}", flush=True)
        sp = os.path.join(root, paths[f"solver_{stage}"])
        if len(gpus) > 1:  # the CLI takes the prefix from the file: write a per-round copy
            txt = open(sp).read().replace(f'snapshot_prefix: "{os.path.relpath(rd, root)}/{stage}"',
                                          f'snapshot_prefix: "{os.path.relpath(prefix, root)}"')
            sp = os.path.join(rd, f"{stage}_r{rnd}_solver.prototxt")
            open(sp, "w").write(txt)
        w = train_stage(sp, prefix, iters, w, list(gpus), prefix + ".log")
        timings[f"{stage}_r{rnd}"] = round(time.time() - t, 2)
    models = {"cat": final_model(os.path.join(rd, f"step2_r{cfg['rounds'] if variant != 'global' else 1}"),
                                 config.stage_iters(cfg, variant, "step2")),
              "retrieval": w}
    with open(os.path.join(rd, "models.json"), "w") as f:
        json.dump({"models": models, "train_seconds": timings, "deploy": paths["deploy"]}, f, indent=1)
    return models


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="tiny", choices=list(config.SCALES))
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--variants", default="", help="comma-separated (default: the scale's variants)")
    ap.add_argument("--seed", type=int, default=0, help="0: the scale's seeds")
    ap.add_argument("--gpu", default="")
    ap.add_argument("--weights", default="", help="initial weights (BVLC VGG-16 caffemodel or a FashionNet one)")
    a = ap.parse_args(argv)
    sys.path.insert(0, os.getcwd())
    gpus = [int(g) for g in a.gpu.split(",") if g.strip()]
    seeds = [a.seed] if a.seed else config.SCALES[a.scale]["seeds"]
    for seed in seeds:
        for v in [x for x in (a.variants or ",".join(config.scale_variants(a.scale))).split(",") if x]:
            w = a.weights or None
            if w:
                from .vgg_init import maybe_map_vgg

                w = maybe_map_vgg(w, a.scale, v, run_dir(a.data, a.scale, seed, v))
            train_variant(a.data, a.scale, seed, v, gpus, w)
    return 0


if __name__ == "__main__":
    sys.exit(main())
