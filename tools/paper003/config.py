"""Scales, variants and protocol of the paper-003 reproduction (one place for every number).

Variants (runs) are the steps of Table IV, each a superset of the one before:

    none       no augmentation, no transfer learning, plain sigmoid cross-entropy
    augment    + random erasing, rotation within ±15°, random crop (Sec. II-A)
    transfer   + attribute pre-training on the 20 most balanced C&A attributes (Sec. II-C)
    cost       + false-negative penalty 1.5 for styles 1, 4, 7, 8, 11, 12, 13 (Sec. II-D)

"+ style relationship" (eqs. 1-2, Sec. II-E) is post-processing: it is evaluated on the ``cost``
run's fused probabilities (its ``final`` task), as is the 1-to-5 rule.  Every run trains the scale's
three backbones; its evaluation holds each backbone's probabilities, their mean (model fusion) and
the post-processed fusion, so Table II reads the ``augment`` run, Table III ``augment`` vs
``transfer``, Table IV every run.

Protocols.  ``per_style`` (``full``, the paper's): 13 binary style nets per backbone, each with the
per-style resampling of Sec. II-A, style 1 initialised from style 2's model and 4 from 8's.  ``shared``
(the CPU scales, cheaper, labelled in every table): one trunk per backbone with 13 sigmoid outputs
trained on every label at once (no per-style resampling, no 1 ← 2 / 4 ← 8 initialisation; the
cost-sensitive weight is per output column).

Scales: ``tiny`` (CI-sized nets, 83 px images), ``small`` (same nets, more data and iterations,
three seeds), ``full`` (the paper's backbones at 299 px, GPU), ``ci`` (tiny's nets and data, a few
iterations, two variants: the pipeline's smoke test; its numbers mean nothing).  The mean pixel
(ImageNet's BGR mean) and the schedules are ours: the paper gives neither.
"""
from __future__ import annotations

BACKBONES = ("resnet50", "densenet121", "inception_v4")
VARIANTS = ["none", "augment", "transfer", "cost"]
VARIANT_TITLES = {"none": "none", "augment": "+augmentation", "transfer": "+transfer learning",
                  "cost": "+cost-sensitive"}
STEPS = {"none": dict(augment=False, transfer=False, cost_sensitive=False),
         "augment": dict(augment=True, transfer=False, cost_sensitive=False),
         "transfer": dict(augment=True, transfer=True, cost_sensitive=False),
         "cost": dict(augment=True, transfer=True, cost_sensitive=True)}
PROTOCOL_TITLES = {"shared": "shared trunk, 13 sigmoid outputs (CPU protocol, no per-style resampling)",
                   "per_style": "13 per-style binary nets with per-style resampling (the paper's)"}
IMAGENET_MEAN = [104.0, 117.0, 123.0]      # BGR
#: what layers.style_data needs beside pycaffe under BVLC Caffe (it reads the LMDBs and decodes images)
LAYER_IMPORTS = ("cv2", "lmdb")

_NARROW = dict(
    protocol="shared", net_variant="narrow/8", resize=83, crop={"resnet50": 64, "densenet121": 64, "inception_v4": 75},
    backbones=list(BACKBONES), mean=IMAGENET_MEAN, input_scale=1 / 64.0, batch=16, test_batch=32, base_lr=0.05,
    bn_fraction=0.9, display=20, nominal_val=283, nominal_attr_val=250,
)
SCALES = {
    "tiny": dict(_NARROW, arch="ResNet-50-narrow/8, DenseNet-121-narrow/8, Inception-v4-narrow/8 (shared trunk)",
                 iters={"pretrain": 100, "styles": 200}, seeds=[1]),
    "small": dict(_NARROW, arch="ResNet-50-narrow/8, DenseNet-121-narrow/8, Inception-v4-narrow/8 (shared trunk)",
                  iters={"pretrain": 300, "styles": 800}, seeds=[1, 2, 3], nominal_val=2800, nominal_attr_val=2500),
    "full": dict(protocol="per_style", net_variant="full", resize=320,
                 crop={"resnet50": 299, "densenet121": 299, "inception_v4": 299}, backbones=list(BACKBONES),
                 mean=IMAGENET_MEAN, input_scale=1.0, batch=32, test_batch=50, base_lr=0.01, bn_fraction=None,
                 display=100, iters={"pretrain": 20000, "style": 4000}, snapshot=1000, seeds=[1, 2, 3], gpu=True,
                 arch="ResNet-50, DenseNet-121, Inception-v4 (13 per-style nets each)", nominal_val=10981,
                 nominal_attr_val=40000),
}
SCALES["ci"] = dict(SCALES["tiny"], iters={"pretrain": 2, "styles": 4}, display=2, data_scale="tiny", smoke=True,
                    variants=["augment", "cost"], seeds=[1])


def step(variant):
    if variant not in STEPS:
        raise ValueError(f"not a paper-003 variant: {variant!r} (one of {', '.join(VARIANTS)})")
    return STEPS[variant]
