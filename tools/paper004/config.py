"""Scales, attribute roles, variants and stages of the paper-004 reproduction (Ak et al., "Efficient
multi-attribute similarity learning towards attribute-based fashion search", WACV 2018).

Attributes
----------
The paper splits Shopping100k's groups into general attributes (category, gender, ...) and special
ones, "more suitable for attribute manipulation"; its Table 1 marks them in bold, which its text
copy lost.  We take as special the five it manipulates in Table 2 and attaches parts to in Sections
4.3 / 6 -- pattern, collar, fastening, sleeve length, colour (``SPECIAL_SETS["paper"]``, the
default); the others (category, gender, fabric, fit, length, sport, neckline, pocket) are general.
The issue's reading (every group but category and gender special) is ``SPECIAL_SETS["issue11"]``;
with it, hardly any query has a gallery image that matches all 11 labels at our scales (measured on
the wardrobe: ~5 % of direct queries, ~0 % after a manipulation, against ~60 % / ~45 % with the five),
so the retrieval accuracy of Fig. 6 would be undefined.

Parts of each special attribute (Section 6: "for pattern and color special attributes, chest part of
the image is used"): ``PARTS_OF``.  The general path's triplet key is (category, gender) ("anchor and
positive must have same attribute label for each general attribute", with the general attributes the
paper names).

Scales (AlexNet's topology: conv1 11/4, LRN, pool 3/2, conv2 5 g2, conv3 3, conv4 3 g2, conv5 3 g2)
------------------------------------------------------------------------------------------------
tiny   "AlexNet-narrow/6": conv 16-32-48-48-32, input 127 px (conv5 7 × 7, pool5 / part ROIs 3 × 3),
       general fc 128, branch fc 64 → signature 32, batch 32; CI on 2 CPU cores
small  "AlexNet-narrow/6 at 227 px": tiny's widths (conv 16-32-48-48-32) at AlexNet's input size, so
       conv5 is 13 × 13 and the part ROIs pool 6 × 6 as in the paper's net; general fc 256, branch fc
       128 → signature 64, batch 32, 1,000 + 500 iterations on the small wardrobe (≈ 15 min per
       variant on one CPU core; a wider net -- conv 48-128-192-192-128 -- measured ≈ 2.5 s per
       iteration there, hours per variant, so it is left to a GPU)
full   AlexNet's conv1-conv5 exactly (names and shapes of BVLC's bvlc_alexnet, so ``--weights
       bvlc_alexnet.caffemodel`` initialises them; the paper: "we use the pre-trained AlexNet weights
       up until conv-5"), general fc 4096, branch fc 1024 → signature 256, batch 64
``manip_repeats``: random manipulations drawn per valid query (the paper: one; our small galleries
hold a target for few of them, so the smaller scales draw several, each a separate task).

ci     tiny's nets and data, a handful of iterations, proposed and w/o parts only (pipeline smoke test;
       its numbers mean nothing)

Narrow scales use MSRA fillers and scale mean-subtracted pixels by 1/64; full keeps AlexNet's raw
range and gaussian fillers.  No crop and no mirror (the part boxes stay aligned with the image).

Variants (Section 7's rows, Table 2's columns)
----------------------------------------------
proposed          parts (ROI pooling of the part boxes on conv5) + per-attribute triplet ranking
wo_parts          the same two-path net, every branch on the whole conv5 map (pool5), with ranking
wo_parts_ranking  the same, softmax losses only
classic           one AlexNet path (pool5 → fc6 → fc7 → one classifier per attribute); search as
                  ``tools/paper004/search.py`` documents
amnet             AMNet (Zhao et al., CVPR 2017) from its paper's description (tools/paper004/amnet.py)

Stages (Section 6): ``attr`` -- L_attribute (eq. 1-2; + the "Extract Parts?" head) at learning rate
0.01 ("30 epochs with learning rate 0.01"); ``joint`` -- L_attribute + L_triplet (eq. 3) from the
``attr`` weights at 0.001 ("while keeping the representations that is learned from the first
optimization").  Variants without ranking (classic, wo_parts_ranking) train ``attr`` for both
stages' iterations; amnet's ``joint`` stage has AMNet's losses.
"""
import os
import re

SPECIAL_SETS = {
    "paper": ["color", "pattern", "collar", "fastening", "sleeve_length"],
    "wardrobe7": ["color", "pattern", "collar", "neckline", "fastening", "sleeve_length", "pocket"],
    "issue11": ["collar", "color", "fabric", "fastening", "fit", "length", "neckline", "pattern", "pocket",
                "sleeve_length", "sport"],
}
SPECIAL = SPECIAL_SETS["paper"]
GENERAL_TRIPLET_KEY = ["category", "gender"]
# the part boxes (tools/paper004/parts.PARTS) each special attribute's branch pools; [] = the whole map
PARTS_OF = {"color": ["chest"], "pattern": ["chest"], "collar": ["collar"], "fastening": ["fastening"],
            "sleeve_length": ["left_sleeve", "right_sleeve"], "neckline": ["collar"], "pocket": ["torso"],
            "fabric": ["chest"], "fit": ["torso"], "sport": ["torso"], "length": []}
# categories whose garments are lower-body ("Extract Parts?" off); the wardrobe's names and common
# real ones (a real Shopping100k CSV's category names are matched in lower case)
LOWER_BODY = {"capris", "chinos", "culottes", "cutoffs", "jeans", "joggers", "leggings", "sarong", "shorts",
              "skirt", "sweatpants", "sweatshorts", "trousers", "pants", "skirts", "trouser"}

VARIANTS = ["classic", "wo_parts_ranking", "wo_parts", "amnet", "proposed"]
VARIANT_TITLES = {"classic": "Classic", "wo_parts_ranking": "w/o Ranking & Parts", "wo_parts": "w/o Parts",
                  "amnet": "AMNet [28]", "proposed": "Proposed"}
PARTS_VARIANTS = ("proposed",)
RANKING_VARIANTS = ("proposed", "wo_parts")
TWO_PATH_VARIANTS = ("proposed", "wo_parts", "wo_parts_ranking")
STAGES = ["attr", "joint"]
TRIPLET_MARGIN = 0.3
QUERY_FRACTION = 2 / 21.0     # of the test images (the paper: 19,000 gallery, 2,000 queries)
VAL_FRACTION = 0.1            # of the training images, held out for model selection

SCALES = {
    "tiny": dict(arch="AlexNet-narrow/6 (conv 16-32-48-48-32, input 127)", size=127,
                 conv=(16, 32, 48, 48, 32), fc_general=128, fc_branch=64, signature=32, pooled=3,
                 filler="msra", input_scale=0.015625, batch=32, base_lr=0.01, momentum=0.9,
                 weight_decay=5e-4, iters=dict(attr=300, joint=200), display=20, seeds=[1], manip_repeats=10),
    "small": dict(arch="AlexNet-narrow/6 at 227 px (conv 16-32-48-48-32, input 227)", size=227,
                  conv=(16, 32, 48, 48, 32), fc_general=256, fc_branch=128, signature=64, pooled=6,
                  filler="msra", input_scale=0.015625, batch=32, base_lr=0.01, momentum=0.9,
                  weight_decay=5e-4, iters=dict(attr=1000, joint=500), display=50, seeds=[1, 2, 3],
                  manip_repeats=3),
    "full": dict(arch="AlexNet conv1-conv5 (input 227)", size=227, conv=(96, 256, 384, 384, 256),
                 fc_general=4096, fc_branch=1024, signature=256, pooled=6, filler="gaussian", input_scale=1.0,
                 batch=64, base_lr=0.01, momentum=0.9, weight_decay=5e-4,
                 # 30 epochs of 80,817 training images (less the validation tenth), then 10 at 0.001
                 iters=dict(attr=34100, joint=11400), display=100, seeds=[1, 2, 3], manip_repeats=1),
}
SCALES["ci"] = dict(SCALES["tiny"], iters=dict(attr=3, joint=2), display=1, data_scale="tiny", seeds=[1],
                    smoke=True, variants=["wo_parts", "proposed"])
COMMITTED_SCALES = ["tiny", "full"]
RUNS_ROOT = "runs/paper004"


def special_set(name="paper"):
    if name not in SPECIAL_SETS:
        raise SystemExit(f"unknown special-attribute set {name!r}; known: {', '.join(SPECIAL_SETS)}")
    return list(SPECIAL_SETS[name])


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def data_tag(data: str) -> str:
    if data in ("", "synthetic"):
        return "synthetic"
    return "real-" + slug(os.path.basename(os.path.normpath(data)))


def data_scale(scale: str) -> str:
    """The scale whose data a scale reads (ci reads tiny's)."""
    return SCALES[scale].get("data_scale", scale)


def data_root(data: str, scale: str) -> str:
    """Converted + adapted data of a source at a scale (relative to the repository root)."""
    return f"{RUNS_ROOT}/data/{data_tag(data)}-{data_scale(scale)}"


def stage_iters(cfg, variant, stage):
    """Iterations of a stage; variants without a ranking loss spend both stages' budget on ``attr``."""
    if variant in ("classic", "wo_parts_ranking"):
        return cfg["iters"]["attr"] + cfg["iters"]["joint"] if stage == "attr" else 0
    return cfg["iters"][stage]


#: model selection: snapshots of a run's last stage every 1/SELECT_CANDIDATES of it are the candidates;
#: the one with the best validation score (tools/paper004/selection.py) is scored on the test split
SELECT_CANDIDATES = 4
#: training images whose signatures give the prototypes during selection (the first of the shuffled split)
SELECT_TRAIN_SAMPLE = 2000


def select_interval(cfg, variant, stage):
    """Snapshot interval of a stage: candidates in the last stage, none before it."""
    if stage != stages(variant)[-1]:
        return 0
    return max(1, int(stage_iters(cfg, variant, stage)) // SELECT_CANDIDATES)


def stages(variant):
    """The stages a variant trains, in order (no ``joint`` stage without a ranking loss)."""
    return ["attr"] if variant in ("classic", "wo_parts_ranking") else list(STAGES)
