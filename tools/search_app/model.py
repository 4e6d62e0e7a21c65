"""The model the search app serves: paper 004's net trained by paper 004's own entry points when none
exists, exported to ONNX, and its card -- what the net is, at which scale, on which data, and its
measured top-20 accuracy -- so nobody mistakes a tiny demo for the paper's model.

    m = ensure_model(data="synthetic", scale="tiny", seed=1, variant="proposed")
    m.onnx, m.mean, m.data_root, m.card

Steps (each skipped when its output exists, so a second start is quick):

1. data: ``tools.paper004.data.prepare`` (the wardrobe's Shopping100k catalogue for ``synthetic``);
2. training: ``tools.paper004.train.train_variant`` (both stages, resumable);
3. export: ``tools.paper004.features.export_model`` → ``model.onnx`` (signatures, probabilities, the
   search's metadata);
4. accuracy: ``tools.paper004.evaluate.evaluate_variant`` on the query split against the gallery --
   the same splits the app searches -- saved as ``evaluation_results.json`` + ``evaluation_predictions.npz`` (paper 004's metrics: top-20 of
   direct search, of random single-attribute manipulations (``MANIPULATION_DRAWS`` per query) and of
   every single-attribute change, each beside a random ranking's).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from tools.paper004 import config, data, evaluate, train
from tools.paper004.features import export_model

APP_RUNS = "runs/search_app"
# random manipulations drawn per query (the paper draws one; a tiny query split needs more for a number)
MANIPULATION_DRAWS = 5
# the protocols of tools/paper004/metrics.py the page reports (top-20 accuracy each)
PROTOCOLS = {"direct": "search by the query image", "manip1": "after one random attribute change",
             "enumerated": "over every single-attribute change"}


@dataclass
class DemoModel:
    onnx: str
    mean: str
    data_root: str
    run_dir: str
    card: dict


def run_dir_of(data_source, scale, seed, variant, root="."):
    return os.path.join(root, APP_RUNS, f"{config.data_tag(data_source)}-{scale}-seed{seed}", variant)


def ensure_model(data_source="synthetic", scale="tiny", seed=1, variant="proposed", root=".", data_seed=0,
                 log=print):
    """Prepare, train, export and evaluate what is missing; returns the :class:`DemoModel`."""
    if scale not in config.SCALES:
        raise SystemExit(f"--scale {scale!r}: unknown; known: {', '.join(config.SCALES)}")
    if variant not in config.TWO_PATH_VARIANTS:
        raise SystemExit(f"--variant {variant!r}: the app manipulates attributes by prototypes, which needs a "
                         f"two-path variant ({', '.join(config.TWO_PATH_VARIANTS)})")
    droot = data.prepare(data_source, scale, seed=data_seed, root=root, progress=False)
    run_dir = run_dir_of(data_source, scale, seed, variant, root)
    onnx_path = os.path.join(run_dir, "model.onnx")
    card_path = os.path.join(run_dir, "card.json")
    mean = os.path.join(droot, "p004", "mean.binaryproto")
    if os.path.isfile(onnx_path) and os.path.isfile(card_path):
        return DemoModel(onnx_path, mean, droot, run_dir, json.load(open(card_path)))
    log(f"search app: no model in {run_dir}; training paper 004's {variant} net at scale {scale}")
    info = train.train_variant(droot, scale, seed, variant, os.path.dirname(run_dir), log=log)
    spec, stats = train.attr_spec(droot)
    cfg = config.SCALES[scale]
    tmp = onnx_path + ".tmp"
    export_model(info["deploy"], info["weights"], tmp, variant, stats, cfg["size"], cfg["input_scale"])
    os.replace(tmp, onnx_path)
    log("search app: measuring top-20 accuracy on the query split (paper 004's evaluation)")
    res, pred = evaluate.evaluate_variant(droot, scale, info["deploy"], info["weights"], variant, spec, seed=seed,
                                          repeats=MANIPULATION_DRAWS)
    evaluate.save(os.path.join(run_dir, "evaluation_"), res, pred)
    card = model_card(scale, variant, stats, info, res, seed)
    with open(card_path + ".tmp", "w") as f:
        json.dump(card, f, indent=1)
    os.replace(card_path + ".tmp", card_path)
    return DemoModel(onnx_path, mean, droot, run_dir, card)


def model_card(scale, variant, stats, info, results, seed):
    """What the page says about the model (every number measured by this run)."""
    cfg = config.SCALES[scale]
    iters = sum(config.stage_iters(cfg, variant, s) for s in config.stages(variant))
    acc = {}
    for proto, title in PROTOCOLS.items():
        r = results[proto]
        # no task (no query whose target the gallery holds): no number rather than NaN
        acc[proto] = {"title": title, "tasks": r["tasks"],
                      "top20": r["top20"] if r["tasks"] else None,
                      "random_top20": r["random_top20"] if r["tasks"] else None}
    return {
        "paper": "Ak et al., WACV 2018 (paper 004)",
        "variant": config.VARIANT_TITLES[variant],
        "net": cfg["arch"],
        "scale": scale,
        "iterations": iters,
        "seed": seed,
        "data": "synthetic (the embedded wardrobe)" if stats.get("synthetic") else "real",
        "synthetic": bool(stats.get("synthetic")),
        "counts": stats["counts"],
        "special": stats["special"],
        "accuracy": acc,
        "accuracy_source": ("computed when the app built this model: tools.paper004.evaluate.evaluate_variant "
                            "on the query split against the gallery the app searches, "
                            f"{MANIPULATION_DRAWS} random manipulations per query (no table run used)"),
        "weights": os.path.basename(info["weights"]),
    }
