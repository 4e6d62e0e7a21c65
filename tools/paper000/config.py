"""Scales, experiments and paths of the paper-000 reproduction (one place for every number).

Scales
------
tiny   "AlexNet-narrow": AlexNet's topology (conv1 11/4, LRN, max-pool 3/2, grouped conv2/4/5,
       dropout 0.5 on fc6/fc7) with 32-96-128-128-96 filters and fc6/fc7 of 256, input 128 -> crop
       112; CI on 2 CPU cores.
ci     the tiny net and data with a tenth of tiny's iterations: a CI smoke test of the pipeline.
small  "AlexNet-mid": the same topology with 48-128-192-192-128 filters, fc6/fc7 of 1024, input
       144 -> crop 128; CPU demo (< 1 hour for a table).
full   AlexNet exactly as bvlc_alexnet / the paper: input 256 -> crop 227 (Caffe's AlexNet crop; the
       paper's "224" with AlexNet's layer sizes 253,440 -> 186,624 -> ... is the 227 arithmetic),
       96/256/384/384/256 filters, fc6/fc7 4096, batch 256, the paper's schedule: @i20 / @i45 read as
       20,000 / 45,000 iterations of batch 256 (the paper gives no unit).

The narrow scales initialise with MSRA fillers and scale the mean-subtracted pixels by 1/64 (unit-ish
variance) so that a few hundred iterations from scratch learn; full scale keeps bvlc_alexnet's
gaussian fillers and raw pixel range.

Iterations keep the paper's 20 : 45 ratio between the multi-label net and the multi-task /
multi-weight nets at every scale.
"""
import os
import re

from . import paper

VARIANTS = ["multilabel", "multitask", "multiweight", "ratio13"]
VARIANT_TITLES = {"multilabel": "Multi-label", "multitask": "Multi-task", "multiweight": "Multi-weight",
                  "ratio13": "1/3 Ratio"}
# gamma mode of the gamma-task layer per variant (multi-label has no per-task losses)
GAMMA_MODE = {"multitask": "uniform", "multiweight": "proportion", "ratio13": "smoothed"}
SMOOTHING_C = 3.0

SCALES = {
    "tiny": dict(
        arch="AlexNet-narrow (conv 32-96-128-128-96, fc 256, crop 112 of 128)", resize=128, crop=112,
        conv=(32, 96, 128, 128, 96), fc=256, filler="msra", input_scale=0.015625,
        batch=32, test_batch=50, base_lr=0.01, momentum=0.9, weight_decay=5e-4,
        iters={"multilabel": 80, "multitask": 180, "multiweight": 180, "ratio13": 180},
        stepsize_frac=0.75, display=20, seeds=[1],
    ),
    "small": dict(
        arch="AlexNet-mid (conv 48-128-192-192-128, fc 1024, crop 128 of 144)", resize=144, crop=128,
        conv=(48, 128, 192, 192, 128), fc=1024, filler="msra", input_scale=0.015625,
        batch=32, test_batch=50, base_lr=0.01, momentum=0.9, weight_decay=5e-4,
        iters={"multilabel": 240, "multitask": 540, "multiweight": 540, "ratio13": 540},
        stepsize_frac=0.75, display=50, seeds=[1, 2, 3],
    ),
    "full": dict(
        arch="AlexNet (bvlc_alexnet shapes, crop 227 of 256)", resize=256, crop=227,
        conv=(96, 256, 384, 384, 256), fc=4096, filler="gaussian",
        batch=256, test_batch=100, base_lr=0.01, momentum=0.9, weight_decay=5e-4,
        iters=dict(paper.PAPER_ITERS), stepsize_frac=0.5, display=100, seeds=[1, 2, 3],
        snapshot=5000, gpu=True,
    ),
}

# ratio of the task layers' learning rate to the shared layers' (eps_t / eps_c of Algorithm 1);
# the paper gives neither value.  lr_mult (weights, biases): shared 1/2, task 2/4.
TASK_LR_RATIO = 2.0

# datasets ("experiments" on the data side): all groups, or two groups at a 10:1 ratio
DATASETS = {
    "all": dict(groups=None, ratio=None),
    "coat_pantsuit": dict(groups=["Coat", "Pantsuit"], ratio=10.0),
    "lengthofsleeve_sleeve": dict(groups=["Length of Sleeve", "Sleeve"], ratio=10.0),
}

TABLES = {
    "table2": dict(dataset="all", variants=["multilabel", "multitask", "multiweight"]),
    "table3": dict(dataset="all", variants=["multilabel", "multitask", "multiweight", "ratio13"]),
    "table4": dict(dataset="coat_pantsuit", variants=["multilabel", "multitask", "multiweight"]),
    "table5": dict(dataset="lengthofsleeve_sleeve", variants=["multilabel", "multitask", "multiweight"]),
    "fig2": dict(dataset="all", variants=["multilabel", "multitask", "multiweight", "ratio13"]),
}

# "ci": the tiny net and data with a tenth of the iterations (an end-to-end smoke test for CI; its
# numbers mean nothing).  Its nets are generated into the run folders, not committed.
SCALES["ci"] = dict(SCALES["tiny"], iters={"multilabel": 8, "multitask": 18, "multiweight": 18, "ratio13": 18},
                    display=4, data_scale="tiny")
COMMITTED_SCALES = ["tiny", "small", "full"]

RUNS_ROOT = "runs/paper000"


def slug(name: str) -> str:
    """A group name as a layer-name fragment: "Length of Sleeve" -> "length_of_sleeve"."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def data_tag(data: str) -> str:
    if data in ("", "synthetic"):
        return "synthetic"
    return "real-" + slug(os.path.basename(os.path.normpath(data)))


def data_root(data: str, scale: str) -> str:
    """Where the LMDBs of this data source at this scale live (relative to the repository root)."""
    return f"{RUNS_ROOT}/data/{data_tag(data)}-{SCALES[scale].get('data_scale', scale)}"


def dataset_dir(data: str, scale: str, dataset: str) -> str:
    return f"{data_root(data, scale)}/p000" + ("" if dataset == "all" else f"_{dataset}")


def run_dir(data: str, scale: str, dataset: str, variant: str, seed: int) -> str:
    return f"{RUNS_ROOT}/{data_tag(data)}-{scale}/{dataset}_{variant}/seed{seed}"


def net_name(dataset: str, variant: str) -> str:
    return f"{dataset}_{variant}"
