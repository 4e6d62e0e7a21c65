"""Experiment driver of the paper-000 reproduction: data → training → mAP@50 → tables and plot.

    python -m tools.paper000.run data   --scale tiny --data synthetic
    python -m tools.paper000.run table2 --scale tiny --data synthetic [--seeds 1,2,3] [--gpu 0]
    python -m tools.paper000.run table3 | table4 | table5 | fig2 | all   (same options)

``--data synthetic`` generates the wardrobe (``python -m data_prep.wardrobe``) unless it exists;
``--data PATH`` takes an e-Clothing-style folder (labels.txt, keyword catalogue, images).  Either way
the LMDBs come from ``data_prep.eclothing`` (see :mod:`tools.paper000.data`).

A run (dataset, variant, seed) trains with ``python -m fashioncaffe train --solver S [--gpu G]``
(log: ``<run>/train.log``) on the committed prototxt for synthetic data (the generator's output for
the data's own catalogue otherwise), then evaluates the final weights on the test split: the TEST net
is run over the whole test LMDB and mAP@50 (eq. 10) is computed per group on fc7 and on the group's
output (sigmoid scores); ``<run>/result.json`` holds both.  Runs with a result are not repeated
(``--force`` repeats them).  Tables are written to ``runs/paper000/<source>-<scale>/``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from data_prep import wardrobe

from . import config, data as pdata, netgen

PY = sys.executable


def log(msg):
    print(f"[paper000] {msg}", flush=True)


# ----------------------------------------------------------------------------------------------
# data
def wardrobe_dir(scale):
    return os.environ.get("P000_WARDROBE") or wardrobe.default_dir(scale)


def prepare_data(scale, data, force=False, workers=None):
    """Make every dataset dir of this source/scale (LMDB links + stats.json); returns their paths."""
    cfg = config.SCALES[scale]
    if data in ("", "synthetic"):
        size = cfg.get("data_scale", scale)
        wd = wardrobe_dir(size)
        if not os.path.isfile(os.path.join(wd, "README.md")):
            log(f"generating the synthetic wardrobe ({size}) in {wd}")
        wardrobe.ensure(wd, size, workers=workers)
        ecl = os.path.join(wd, "eClothing")
    else:
        ecl = data
    root = config.data_root(data, scale)
    lists = os.path.join(root, "lists")
    out = {}
    todo = [d for d in config.DATASETS
            if force or not os.path.isfile(os.path.join(config.dataset_dir(data, scale, d), "stats.json"))]
    if todo:
        pdata.write_lists(ecl, lists)
    for dataset in config.DATASETS:
        ddir = config.dataset_dir(data, scale, dataset)
        if dataset in todo:
            lst = os.path.join(lists, dataset)
            if not os.path.isfile(os.path.join(lst, "labels.txt")):
                log(f"dataset {dataset}: not available in {ecl}; skipped")
                continue
            conv = os.path.join(root, "conv", dataset)
            log(f"converting {dataset} with data_prep.eclothing -> {conv}")
            cmd = [PY, "-m", "data_prep.eclothing", "--root", ecl, "--list", os.path.join(lst, "labels.txt"),
                   "--catalog", os.path.join(lst, "catalog.json"), "--out", conv, "--resize", str(cfg["resize"]),
                   "--overwrite", "--no-progress"]
            if workers:
                cmd += ["--workers", str(workers)]
            subprocess.run(cmd, check=True)
            s = pdata.finalize(conv, ddir)
            log(f"{ddir}: {s['n_train']} train / {s['n_test']} test images, {len(s['groups'])} groups")
        out[dataset] = ddir
    return out


# ----------------------------------------------------------------------------------------------
# nets
def groups_of(ddir):
    s = pdata.load_stats(ddir)
    return list(zip(s["groups"], s["group_sizes"]))


def net_files(scale, data, dataset, variant, rdir):
    """(train_val path, note): the committed net when it matches this data, else one generated here."""
    ddir = config.dataset_dir(data, scale, dataset)
    groups = groups_of(ddir)
    texts = netgen.render(scale, dataset, variant, groups, ddir)
    committed = netgen.committed_paths(scale, dataset, variant)["train_val"]
    if os.path.isfile(committed) and open(committed).read() == texts["train_val"]:
        return committed, "committed"
    path = os.path.join(rdir, "train_val.prototxt")
    with open(path, "w") as f:
        f.write(texts["train_val"])
    return path, "generated for this data's catalogue"


def write_solver(scale, variant, net_path, rdir, seed, gpus, n_test):
    cfg = config.SCALES[scale]
    test_iter = max(1, -(-n_test // cfg["test_batch"]))
    text = netgen.HEADER + netgen.solver_text(cfg, variant, net_path, os.path.join(rdir, "snap"), seed=seed,
                                              gpu=bool(gpus), test_iter=test_iter)
    path = os.path.join(rdir, "solver.prototxt")
    with open(path, "w") as f:
        f.write(text)
    return path


# ----------------------------------------------------------------------------------------------
# evaluation
def extract(net_path, weights, n_test, groups, variant, gpus=None):
    """Run the TEST net over the test LMDB: (fc7 N×D, outputs N×K sigmoid scores, labels N×K)."""
    import fashioncaffe as caffe

    if gpus:
        caffe.set_device(gpus[0])
        caffe.set_mode_gpu()
    net = caffe.Net(net_path, weights, caffe.TEST)
    batch = net.blobs["data"].shape[0]
    feats, outs, labels = [], [], []
    names = [config.slug(g) for g, _ in groups]
    seen = 0
    while seen < n_test:
        net.forward()
        feats.append(np.array(net.blobs["fc7"].data, dtype=np.float32).reshape(batch, -1))
        if variant == "multilabel":
            o = np.array(net.blobs["fc8"].data).reshape(batch, -1)
        else:
            o = np.concatenate([np.array(net.blobs["fc8_" + s].data).reshape(batch, -1) for s in names], 1)
        outs.append(1.0 / (1.0 + np.exp(-o.astype(np.float64))))
        labels.append(np.array(net.blobs["label"].data).reshape(batch, -1))
        seen += batch
    f = np.concatenate(feats)[:n_test]
    o = np.concatenate(outs)[:n_test].astype(np.float32)
    y = np.concatenate(labels)[:n_test]
    return f, o, y


def evaluate(net_path, weights, ddir, groups, variant, gpus=None, r=50):
    from .eval_map import map_per_group

    stats = pdata.load_stats(ddir)
    n_test = stats["n_test"]
    t0 = time.time()
    f, o, y = extract(net_path, weights, n_test, groups, variant, gpus)
    # the label blob must be the test LMDB in key order: the evaluation is aligned with the data
    _, y_ref = pdata.read_labels(os.path.join(ddir, "test_labels_lmdb"))
    if not np.array_equal(y, y_ref):
        raise SystemExit("the TEST net's labels are not the test LMDB in order; cannot evaluate")
    sizes = [m for _, m in groups]
    names = [g for g, _ in groups]
    offs = np.cumsum([0] + sizes)
    device = f"cuda:{gpus[0]}" if gpus else "cpu"
    res = {
        "fc7": map_per_group(lambda gi: f, y, sizes, names, r=r, device=device),
        "output": map_per_group(lambda gi: o[:, offs[gi]:offs[gi + 1]], y, sizes, names, r=r, device=device),
        "n_eval": {g: int((y[:, offs[i]:offs[i + 1]] >= 0).all(1).sum()) for i, g in enumerate(names)},
        "n_test": int(n_test), "R": r, "distance": "euclidean",
        "fc7_dead_fraction": float((f.max(0) <= 0).mean()),
        "seconds_eval": round(time.time() - t0, 2),
    }
    return res


# ----------------------------------------------------------------------------------------------
def run_one(scale, data, dataset, variant, seed, gpus, force=False):
    rdir = config.run_dir(data, scale, dataset, variant, seed)
    res_path = os.path.join(rdir, "result.json")
    if os.path.isfile(res_path) and not force:
        with open(res_path) as f:
            return json.load(f)
    os.makedirs(rdir, exist_ok=True)
    ddir = config.dataset_dir(data, scale, dataset)
    stats = pdata.load_stats(ddir)
    groups = groups_of(ddir)
    net_path, note = net_files(scale, data, dataset, variant, rdir)
    solver = write_solver(scale, variant, net_path, rdir, seed, gpus, stats["n_test"])
    iters = config.SCALES[scale]["iters"][variant]
    log(f"train {dataset}/{variant} seed {seed}: {iters} iterations on {net_path} ({note})")
    cmd = [PY, "-m", "fashioncaffe", "train", "--solver", solver]
    if gpus:
        cmd += ["--gpu", ",".join(str(g) for g in gpus)]
    import resource

    t0 = time.time()
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.path.join(rdir, "train.log"), "w") as lf:
        p = _train_showing_progress(cmd, lf, iters)
    t_train = time.time() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_train = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    if p.returncode != 0:
        tail = open(os.path.join(rdir, "train.log")).read()[-3000:]
        raise SystemExit(f"training failed ({rdir}/train.log):\n{tail}")
    weights = os.path.join(rdir, f"snap_iter_{iters}.caffemodel")
    if not os.path.isfile(weights):
        raise SystemExit(f"training finished without {weights}")
    log(f"  trained in {t_train:.0f}s; evaluating mAP@50 on {stats['n_test']} test images")
    res = evaluate(net_path, weights, ddir, groups, variant, gpus)
    gamma = None
    if variant != "multilabel":
        from layers.gamma_task import gamma_from_counts

        gamma = gamma_from_counts(stats["counts"], config.GAMMA_MODE[variant], config.SMOOTHING_C).tolist()
    res.update(scale=scale, data=data, dataset=dataset, variant=variant, seed=seed, iters=iters,
               batch=config.SCALES[scale]["batch"], net=net_path, net_source=note, weights=weights,
               seconds_train=round(t_train, 1), cpu_seconds_train=round(cpu_train, 1), gamma=gamma, groups=[g for g, _ in groups],
               train_counts=stats["counts"], proportions=stats["proportions"], final_loss=_final_loss(rdir),
               device=f"cuda:{','.join(map(str, gpus))}" if gpus else "cpu")
    with open(res_path, "w") as f:
        json.dump(res, f, indent=1)
    return res


def _train_showing_progress(cmd, log_file, iters):
    """Run the training command with its whole log in ``log_file`` and its loss lines on the console."""
    import re

    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    for line in p.stdout:
        log_file.write(line)
        m = re.search(r"Iteration (\d+), loss = (\S+)", line)
        if m:
            log(f"  iteration {m.group(1)}/{iters}, loss {m.group(2)}")
    p.wait()
    return p


def chance_map(ddir, dim=64, seed=0):
    """mAP@50 per group of random Gaussian features on the test split: the level a representation
    that knows nothing about the images reaches (label frequencies alone)."""
    from .eval_map import map_per_group

    stats = pdata.load_stats(ddir)
    _, y = pdata.read_labels(os.path.join(ddir, "test_labels_lmdb"))
    f = np.random.RandomState(seed).randn(len(y), dim)
    return map_per_group(lambda gi: f, y, stats["group_sizes"], stats["groups"])


def _final_loss(rdir):
    import re

    last = None
    try:
        for line in open(os.path.join(rdir, "train.log")):
            m = re.search(r"Iteration (\d+).*, loss = ([-0-9.eE+naif]+)", line)
            if m:
                last = float(m.group(2))
    except (OSError, ValueError):
        pass
    return last


def run_table(table, scale, data, seeds, gpus, force=False, rep="fc7"):
    from . import report

    spec = config.TABLES[table]
    prepare_data(scale, data)
    results = {}
    for variant in spec["variants"]:
        for seed in seeds:
            results.setdefault(variant, []).append(run_one(scale, data, spec["dataset"], variant, seed, gpus, force))
    out_dir = f"{config.RUNS_ROOT}/{config.data_tag(data)}-{scale}"
    os.makedirs(out_dir, exist_ok=True)
    if table == "fig2":
        path = os.path.join(out_dir, f"fig2_{rep}.png")
        report.fig2(results, path, scale=scale, data=data, seeds=seeds, rep=rep)
        log(f"wrote {path}")
        return path
    text = report.table(table, results, scale=scale, data=data, seeds=seeds, rep=rep,
                        chance=chance_map(config.dataset_dir(data, scale, spec["dataset"])))
    path = os.path.join(out_dir, f"{table}_{rep}.md")
    with open(path, "w") as f:
        f.write(text)
    print(text)
    log(f"wrote {path}")
    return path


def parse_seeds(text, scale):
    text = (text or "").replace(",", " ").split()
    return [int(s) for s in text] if text else list(config.SCALES[scale]["seeds"])


def parse_gpus(text):
    text = (text or "").replace(" ", "")
    return [int(g) for g in text.split(",") if g != ""]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.paper000.run", description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["data", "table2", "table3", "table4", "table5", "fig2", "all"])
    ap.add_argument("--scale", default="tiny", choices=list(config.SCALES))
    ap.add_argument("--data", default="synthetic", help="'synthetic' or an e-Clothing-style folder")
    ap.add_argument("--seeds", default="", help="e.g. '1 2 3' (default: 1 at tiny, 1 2 3 at small/full)")
    ap.add_argument("--gpu", default="", help="GPU ids, e.g. 0 or 0,1 (default: CPU)")
    ap.add_argument("--rep", default="fc7", choices=["fc7", "output"],
                    help="representation searched for mAP@50: fc7 (default) or the group's output")
    ap.add_argument("--force", action="store_true", help="re-train runs that have a result")
    ap.add_argument("--workers", type=int, default=None, help="processes for data generation/conversion")
    a = ap.parse_args(argv)
    os.environ.setdefault("PYTHONPATH", os.getcwd())
    if a.what == "data":
        prepare_data(a.scale, a.data, workers=a.workers)
        return 0
    seeds = parse_seeds(a.seeds, a.scale)
    gpus = parse_gpus(a.gpu)
    tables = ["table2", "table3", "table4", "table5", "fig2"] if a.what == "all" else [a.what]
    for t in tables:
        run_table(t, a.scale, a.data, seeds, gpus, a.force, a.rep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
