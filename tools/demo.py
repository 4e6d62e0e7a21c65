"""`make demo`: the whole chain on the embedded synthetic wardrobe, in about ten minutes on 2 CPU cores.

    generate the tiny wardrobe → convert to LMDBs → train paper 000's multi-weight AlexNet (narrow,
    tiny) → mAP@50 per group → table + training-curve plot → ONNX export → onnxruntime predictions

Every stage reuses the project's own entry points (data_prep.wardrobe, data_prep.eclothing through
tools.paper000's data adapter, the reproduction framework's training (`fashioncaffe train`) and
evaluation (predictions.npz, results.json) of tools/repro, `fashioncaffe export`, fashioncaffe.infer),
so the demo shows exactly what `python -m tools.paper000 all` and a user by hand would run.  Outputs go to ``--out`` (default runs/demo); a stage whose
output exists is not repeated unless ``--force`` is given.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

PY = sys.executable


def stage(n, title):
    print(f"\n\033[1m[{n}/6] {title}\033[0m", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/demo")
    ap.add_argument("--scale", default="tiny", help="tiny (default) or ci (a tenth of the iterations)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--images", type=int, default=6, help="how many test images to predict with onnxruntime")
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args(argv)
    t_start = time.time()
    os.makedirs(a.out, exist_ok=True)

    from tools.paper000 import data as pdata
    from tools.repro import evaluation, report, training
    from tools.repro.layout import Experiment, python_env

    variant = "all_multiweight"
    exp = Experiment("000", a.scale, seeds=[a.seed], variants=[variant], force=a.force)

    stage("1-2", "generate the synthetic wardrobe, then convert it to Caffe LMDBs")
    pdata.prepare(Experiment("000", a.scale, variants=[variant]))  # --force retrains, it does not reconvert
    ddir = pdata.dataset_dir(exp, "all")
    wardrobe = exp.wardrobe()
    print(f"  wardrobe: {wardrobe} (contact sheet: {os.path.join(wardrobe, 'contact_sheet.png')})")
    print(f"  LMDBs:    {ddir}")

    stage(3, "train paper 000's multi-weight AlexNet (fashioncaffe train, Caffe-format log)")
    rec = training.train_run(exp, variant, a.seed)
    rdir = exp.run_dir(variant, a.seed)
    trained = rec["stages"][-1]
    curve = os.path.join(a.out, "training_curve.png")
    subprocess.run([PY, "-m", "tools.plot_training", trained["log"], curve], check=True, env=python_env())
    print(f"  {trained['iterations']} iterations of batch {exp.cfg['batch']} in {trained['seconds'] or 0:.0f}s; "
          f"final loss {trained['final_loss']}; curve: {curve}")

    stage(4, "evaluate mAP@50 per attribute group (eq. 10) and write the table")
    evaluation.evaluate_run(exp, variant, a.seed)
    table_path = os.path.join(a.out, "table.md")
    shutil.copyfile(report.write_report(exp, ["table2"])[0], table_path)

    stage(5, "export the trained net to ONNX")
    onnx_path = os.path.join(a.out, "model.onnx")
    meta = os.path.join(os.path.realpath(os.path.join(ddir, "train_images_lmdb")), os.pardir, "meta.json")
    net_path, weights = os.path.join(rdir, "train_val.prototxt"), trained["weights"]
    cmd = [PY, "-m", "fashioncaffe", "export", "--from-train-val", "--model", net_path, "--weights", weights,
           "-o", onnx_path]
    if os.path.isfile(meta):
        cmd += ["--labels", meta]
    subprocess.run(cmd, check=True, env=python_env())
    print(f"  {onnx_path} ({os.path.getsize(onnx_path) / 1e6:.1f} MB)")

    stage(6, "predict test images with onnxruntime")
    images = _test_images(wardrobe, a.images)
    img_dir = os.path.join(a.out, "images")
    os.makedirs(img_dir, exist_ok=True)
    local = []
    for p in images:
        dst = os.path.join(img_dir, os.path.basename(p))
        shutil.copyfile(p, dst)
        local.append(dst)
    r = subprocess.run([PY, "-m", "fashioncaffe", "infer", "--onnx", onnx_path, *local, "--top-k", "2"],
                       check=False, env=python_env())
    from fashioncaffe import logging_caffe

    logging_caffe.set_min_level(1)  # the weight copy's per-layer INFO lines would bury the result
    agreement = _check_against_engine(onnx_path, net_path, weights, local)
    print(f"  onnxruntime vs the engine on these images: max relative difference {agreement:.2e}")

    print("\n\033[1mOutputs\033[0m")
    for label, path in [("wardrobe (generated data)", wardrobe), ("contact sheet", os.path.join(wardrobe, "contact_sheet.png")),
                        ("LMDBs + meta.json", ddir), ("solver, log, snapshots", rdir),
                        ("training curve", curve), ("mAP@50 table", table_path), ("ONNX model", onnx_path),
                        ("predicted images", img_dir)]:
        print(f"  {label:28s} {path}")
    print(f"done in {time.time() - t_start:.0f}s")
    return r.returncode


def _test_images(wardrobe, n):
    labels = os.path.join(wardrobe, "eClothing", "partition.txt")
    picks = []
    if os.path.isfile(labels):
        for line in open(labels):
            path, _, split = line.rstrip("\n").partition("\t")
            if split.strip() == "test":
                picks.append(os.path.join(wardrobe, "eClothing", path))
            if len(picks) >= n:
                break
    if not picks:
        picks = sorted(glob.glob(os.path.join(wardrobe, "eClothing", "images", "*.jpg")))[:n]
    return picks


def _check_against_engine(onnx_path, net_path, weights, images):
    """Run the same preprocessed images through the engine's deploy net; the largest relative gap."""
    from fashioncaffe.infer import Predictor
    from fashioncaffe.onnx.api import build_net

    pred = Predictor(onnx_path, provider="cpu")
    batch = np.stack([pred.preprocess(pred.load_image(p))[0] for p in images])
    outs = pred.run(batch)
    net, _, _, _ = build_net(net_path, weights, from_train_val=True)
    name = net.inputs[0]
    net.blobs[name].reshape(*batch.shape)
    net.reshape()
    got = net.forward(**{name: batch})
    worst = 0.0
    for key, o in outs.items():
        if key in net.blobs:
            e = np.asarray(got.get(key, net.blobs[key].data))
            worst = max(worst, float(np.max(np.abs(o - e)) / max(1e-6, float(np.max(np.abs(e))))))
    return worst


if __name__ == "__main__":
    sys.exit(main())
