"""`make demo`: the whole chain on the embedded synthetic wardrobe, in a few minutes on 2 CPU cores.

    generate the tiny wardrobe → convert to LMDBs → train paper 000's multi-weight AlexNet (narrow,
    tiny) → mAP@50 per group → table + training-curve plot → ONNX export → onnxruntime predictions

Every stage reuses the project's own entry points (data_prep.wardrobe, data_prep.eclothing through
tools.paper000's data adapter, the reproduction framework's training (`fashioncaffe train`) and
evaluation (predictions.npz, results.json) of tools/repro, `fashioncaffe export`, fashioncaffe.infer),
so the demo shows exactly what `python -m tools.paper000 all` and a user by hand would run.  Outputs go
to ``--out`` (default runs/demo); a stage whose output exists is not repeated unless ``--force`` is
given.  The demo fails (exit 1) when onnxruntime's scores and the engine's differ by more than 1e-4
(relative) or when no output could be compared.
"""
from __future__ import annotations

import argparse
import glob
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
    ap.add_argument("--out", default="runs/demo", help="folder of the table, curve, ONNX model and predictions")
    ap.add_argument("--scale", default="tiny", help="tiny (default) or ci (a tenth of the iterations)")
    ap.add_argument("--seed", type=int, default=1, help="training seed (default 1; the wardrobe's is always 0)")
    ap.add_argument("--images", type=int, default=6, help="how many test images to predict with onnxruntime")
    ap.add_argument("--force", action="store_true", help="train and evaluate again even if the outputs exist")
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
    result = evaluation.evaluate_run(exp, variant, a.seed)
    table_path = os.path.join(a.out, "table.md")
    command = ("make demo" if a.scale == "tiny" and a.seed == 1
               else f"python -m tools.demo --scale {a.scale} --seed {a.seed}")
    what = _what_the_table_is(exp, a.seed, trained["iterations"])
    written = report.write_report(exp, ["table2"], generated_by=command, quiet=True, out_dir=a.out,
                                  only_variants=True, notes=[f"- **This table (`make demo`)**: {what}."])
    os.replace(written[0], table_path)
    _print_table_summary(exp, result, a.seed, trained["iterations"], table_path)

    stage(5, "export the trained net to ONNX")
    onnx_path = os.path.join(a.out, "model.onnx")
    meta = pdata.meta_path(exp, "all")
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
    drawn = os.path.join(a.out, "predicted")
    r = subprocess.run([PY, "-m", "fashioncaffe", "infer", "--onnx", onnx_path, *local, "--top-k", "2",
                        "--truth", pdata.labels_path(exp, "all"), "--draw", drawn], check=False, env=python_env())
    from fashioncaffe import logging_caffe
    from fashioncaffe.onnx.testing import check_agreement

    level = logging_caffe.min_level()
    logging_caffe.set_min_level(1)  # the weight copy's per-layer INFO lines would bury the result
    try:
        onnx_outputs, engine_outputs = _outputs_of_both(onnx_path, net_path, weights, local)
    finally:
        logging_caffe.set_min_level(level)
    try:
        errors = check_agreement(onnx_outputs, engine_outputs, tol=AGREEMENT_TOL)
    except AssertionError as e:
        print(f"  FAILED: onnxruntime vs the engine on these images: {e}", flush=True)
        return 1
    print(f"  onnxruntime vs the engine on these images: {len(errors)} outputs compared, largest relative "
          f"difference {max(errors.values()):.2e} (the demo fails above {AGREEMENT_TOL:g})")

    print("\n\033[1mOutputs\033[0m")
    for label, path in [("wardrobe (generated data)", wardrobe), ("contact sheet", os.path.join(wardrobe, "contact_sheet.png")),
                        ("LMDBs", ddir), ("meta.json (labels, preprocessing)", meta),
                        ("solver, log, snapshots", rdir), ("training curve", curve), ("mAP@50 table", table_path),
                        ("ONNX model", onnx_path), ("test images", img_dir), ("predictions drawn", drawn)]:
        print(f"  {label:34s} {path}")
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


def _what_the_table_is(exp, seed, iterations):
    return (f"paper 000's Table II for the one net the demo trains (multi-weight AlexNet-narrow), scale "
            f"{exp.scale}, {iterations} iterations, training seed {seed}, on the SYNTHETIC wardrobe (seed 0), "
            "beside the paper's numbers (e-Clothing, 45k iterations)")


def _print_table_summary(exp, result, seed, iterations, table_path):
    """What the table is, in a few lines: the one net the demo trains, at what scale, and its mean
    (``result``: the run's results.json record)."""
    from tools.paper000 import paper

    m = result["metrics"]
    shown = [g for g, v in m["map_fc7"].items() if v is not None and g not in m.get("degenerate", [])]
    print(f"  {table_path}: {_what_the_table_is(exp, seed, iterations)}.")
    print(f"  mean mAP@50 (fc7) over {len(shown)} of {len(m['map_fc7'])} groups: {100 * m['mean_map_fc7']:.2f} "
          f"(the paper's, over its 24 groups: {paper.TABLE2_MEANS[2]:.2f}); groups every ranking scores 100 on "
          f"(marked †): {', '.join(m.get('degenerate', [])) or 'none'}")


AGREEMENT_TOL = 1e-4  # relative, as the export tests


def _outputs_of_both(onnx_path, net_path, weights, images):
    """The same preprocessed images through onnxruntime and through the engine's net: two
    {output: array} dicts (the engine's holding the outputs it has a blob of)."""
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
    return outs, {k: np.array(got.get(k, net.blobs[k].data)) for k in outs if k in net.blobs}


if __name__ == "__main__":
    sys.exit(main())
