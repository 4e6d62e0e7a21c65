"""Training one paper-004 variant: its nets and solvers rendered for a data root, then the stages of
Section 6 in order (``attr`` → ``joint``), each starting from the previous stage's final weights; AMNet's
memory is initialised with the attribute prototypes between the stages (tools/paper004/amnet.py).

    from tools.paper004.train import train_variant
    models = train_variant("runs/paper004/data/synthetic-tiny", "tiny", 1, "proposed", "runs/p004/seed1")

A stage whose final caffemodel exists is skipped (the run resumes).  ``weights``: the first stage
starts from them (e.g. BVLC's bvlc_alexnet.caffemodel at full scale: conv1-conv5 are copied by name).
"""
from __future__ import annotations

import json
import os

from . import amnet, amnet_init, config, netgen


def attr_spec(droot, special=None):
    """The AttrSpec of an adapted data root (its stats.json)."""
    stats = json.load(open(os.path.join(droot, "p004", "stats.json")))
    return netgen.AttrSpec(stats["groups"], stats["sizes"], special or stats["special"]), stats


def render_variant(droot, scale, seed, variant, run_dir, gpu=False):
    """Write the variant's nets and solvers into ``run_dir``; returns {kind: path}."""
    spec, _ = attr_spec(droot)
    os.makedirs(run_dir, exist_ok=True)
    paths = {k: os.path.join(run_dir, os.path.basename(p)) for k, p in netgen.committed_paths(scale, variant).items()}
    texts = netgen.render(scale, variant, os.path.join(droot, "p004"), spec, os.path.dirname(run_dir.rstrip("/")),
                          seed=seed, gpu=gpu, paths=paths)
    for kind, text in texts.items():
        with open(paths[kind], "w") as f:
            f.write(text)
    return paths


def final_model(prefix, iters):
    return f"{prefix}_iter_{iters}.caffemodel"


def train_variant(droot, scale, seed, variant, run_root, weights=None, gpu=None, log=print):
    """Train every stage of ``variant``; returns {"deploy": path, "weights": final caffemodel, ...}."""
    import fashioncaffe as caffe
    from fashioncaffe.solvers.sgd_solver import get_solver

    cfg = config.SCALES[scale]
    run_dir = os.path.join(run_root, variant)
    paths = render_variant(droot, scale, seed, variant, run_dir, gpu is not None)
    if gpu is not None:
        caffe.set_device(gpu)
        caffe.set_mode_gpu()
    else:
        caffe.set_mode_cpu()
    w = weights
    models = {}
    for stage in config.stages(variant):
        iters = config.stage_iters(cfg, variant, stage)
        prefix = os.path.join(run_dir, stage)
        out = final_model(prefix, iters)
        models[stage] = out
        if os.path.exists(out):
            log(f"[{variant}] {stage}: {out} exists; skipping")
            w = out
            continue
        log(f"[{variant}] {stage}: {iters} iterations from {w or 'scratch'}")
        solver = get_solver(paths[f"solver_{stage}"], {"snapshot_prefix": prefix})
        if w:
            solver.net.copy_from(w)
        if variant == "amnet" and stage == "joint":
            amnet.init_memory(solver.net, amnet_prototypes(droot, scale, variant, paths["deploy"], w))
        solver.solve()
        w = out
    info = {"deploy": paths["deploy"], "weights": w, "stages": models, "variant": variant, "scale": scale,
            "seed": seed}
    with open(os.path.join(run_dir, "models.json"), "w") as f:
        json.dump(info, f, indent=1)
    return info


def amnet_prototypes(droot, scale, variant, deploy, weights):
    """AMNet's initial memory: the mean fc7 per special attribute value over the training images, from
    the ``attr`` stage's model."""
    spec, _ = attr_spec(droot)
    # the attr-stage AMNet net is classic's (the same layers): read fc7 with classic's deploy net
    attr_deploy = os.path.join(os.path.dirname(deploy), "attr_stage_deploy.prototxt")
    with open(attr_deploy, "w") as f:
        f.write(netgen.attr_stage_deploy(config.SCALES[scale], spec))
    return amnet_init.prototypes(droot, scale, spec, attr_deploy, weights)
