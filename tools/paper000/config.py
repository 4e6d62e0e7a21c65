"""Scales, experiments and paths of the paper-000 reproduction (one place for every number).

Scales
------
tiny   "AlexNet-narrow": AlexNet's topology (conv1 11/4, LRN, max-pool 3/2, grouped conv2/4/5,
       dropout 0.5 on fc6/fc7) with 32-96-128-128-96 filters and fc6/fc7 of 256, input 128 -> crop
       112; CI on 2 CPU cores.
ci     the tiny net and data with a tenth of tiny's iterations, the Table II data set only and two
       of its variants: the end-to-end smoke run of the pipeline (its numbers mean nothing).
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

Variants (runs): ``<dataset>_<method>``; the dataset is one of :data:`DATASETS` (all 24 groups, or
two groups at Tables IV / V's 10:1 ratio), the method one of :data:`METHODS`.
"""
from . import paper

METHODS = ["multilabel", "multitask", "multiweight", "ratio13"]
METHOD_TITLES = {"multilabel": "Multi-label", "multitask": "Multi-task", "multiweight": "Multi-weight",
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

DATASET_TITLES = {"all": "all groups", "coat_pantsuit": "Coat vs Pantsuit 10:1",
                  "lengthofsleeve_sleeve": "Length of Sleeve vs Sleeve 10:1"}

# the runs: every method on all groups, the three nets of Tables IV / V on the 10:1 data sets
VARIANTS = [f"all_{m}" for m in METHODS] + [f"{d}_{m}" for d in DATASETS if d != "all" for m in METHODS[:3]]
VARIANT_TITLES = {v: METHOD_TITLES[v.rsplit("_", 1)[1]] + ("" if v.startswith("all_") else
                                                           f" ({DATASET_TITLES[v.rsplit('_', 1)[0]]})")
                  for v in VARIANTS}

# "ci": the tiny net and data with a tenth of the iterations, two runs of Table II (an end-to-end
# smoke test for CI; its numbers mean nothing).  Its nets are generated into the run folders.
SCALES["ci"] = dict(SCALES["tiny"], iters={"multilabel": 8, "multitask": 18, "multiweight": 18, "ratio13": 18},
                    display=4, data_scale="tiny", variants=["all_multilabel", "all_multiweight"], smoke=True)


def split_variant(variant: str):
    """``"coat_pantsuit_multiweight"`` -> ("coat_pantsuit", "multiweight")."""
    dataset, method = variant.rsplit("_", 1)
    if dataset not in DATASETS or method not in METHODS:
        raise ValueError(f"not a paper-000 variant: {variant!r}")
    return dataset, method


def variant_name(dataset: str, method: str) -> str:
    return f"{dataset}_{method}"
