"""The paper's own numbers and settings (Liu, Wang, Du, Luo & Cheng, "Extreme-WJLD submission to JD
AI Fashion Challenge"), transcribed from shared/papers/003_*.txt.  Printed beside our measurements,
always labelled as the paper's; never used as a result of ours.

Table III's transfer-learning row lost its styles 5 and 6 in the text extraction ("0.70 0.70" is
printed once, under "Model Fusion"); those two cells are None ("n/a" in tables).  Table II's mean
column is the mean of the 13 per-style F2 values (checked: 7.10 / 13 = 0.546 → 0.55 for ResNet-50,
7.38 / 13 = 0.568 → 0.57 for the fusion).
"""

from data_prep.jd_style import STYLES  # noqa: F401  (Table I; style index = position + 1)

# Sec. II-A: negatives undersampled for these styles (1-based), the original proportion kept for the rest
UNDERSAMPLED = (1, 2, 4, 7, 8, 10, 11, 12, 13)
ORIGINAL_PROPORTION = (3, 5, 6, 9)
# Sec. II-D: false-negative penalty 1.5 for these styles
COST_SENSITIVE = (1, 4, 7, 8, 11, 12, 13)
FN_PENALTY = 1.5
# Sec. II-C: initialise style 1 from style 2's model and style 4 from style 8's
INIT_FROM = {1: 2, 4: 8}
PRETRAIN_ATTRIBUTES = 20       # "selected 20 attributes with more balanced data distribution"
ROTATION_DEGREES = 15          # Sec. II-A "an angle between ±15°"
SPLIT = {"train": 43926, "val": 10981, "test": 10000}      # Sec. II-F and Sec. I
SPORTS_SHARE = 104 / 54908     # Fig. 1 caption (0.189 %)
STYLES_PER_IMAGE = (1, 5)      # Sec. II-F
CONDITIONAL = {("Casual", "Sports"): 0.95, ("Lady", "Office lady"): 0.99}   # Fig. 2 / Sec. II-E: P(A|B)
NEVER_TOGETHER = (("Japanese", "Korean"),)                                    # Sec. II-E
TEST_F2 = 0.6524               # the leaderboard (3rd place)

NETWORKS = ["ResNet-50", "DenseNet-121", "Inception-v4", "Model Fusion"]
TABLE2 = {  # F2 per style 1..13 and the mean, on the validation split
    "ResNet-50": [0.16, 0.62, 0.97, 0.35, 0.67, 0.65, 0.16, 0.42, 0.97, 0.63, 0.75, 0.42, 0.33, 0.55],
    "DenseNet-121": [0.13, 0.65, 0.98, 0.35, 0.68, 0.65, 0.16, 0.44, 0.97, 0.63, 0.75, 0.44, 0.31, 0.55],
    "Inception-v4": [0.14, 0.64, 0.97, 0.35, 0.67, 0.66, 0.17, 0.42, 0.96, 0.64, 0.75, 0.40, 0.33, 0.55],
    "Model Fusion": [0.18, 0.67, 0.98, 0.37, 0.70, 0.70, 0.17, 0.45, 0.97, 0.64, 0.77, 0.45, 0.33, 0.57],
}
TABLE3 = {
    "Model Fusion": TABLE2["Model Fusion"],
    "Transfer Learning": [0.22, 0.69, 0.98, 0.42, None, None, 0.23, 0.47, 0.97, 0.66, 0.79, 0.47, 0.35, 0.59],
}
# Table IV: the ablation chain, mean F2 on validation
TABLE4_STEPS = ["none", "+augmentation", "+transfer", "+cost-sensitive", "+style relationship"]
TABLE4 = dict(zip(TABLE4_STEPS, [0.44, 0.57, 0.59, 0.60, 0.63]))
