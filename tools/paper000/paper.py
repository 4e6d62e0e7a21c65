"""The paper's own numbers (Li et al., paper 000), transcribed from its Tables II-V.

These are printed beside our measurements, always labelled as the paper's; nothing here is ever
used as a result of ours.  The source text (`shared/papers/000_*.txt`) spells "Season" as
"Senson" and "Occasion" as "Occation"; we use the corrected names.
"""

GROUPS = ["Color", "Gender", "Season", "Style", "Coat", "Version", "Pantsuit", "Length of Sleeve",
          "Occasion", "Craft", "Collar", "Length of Trousers", "Thickness", "Length of Skirts",
          "Skirt", "Crowd", "Dense", "Leather", "Cardigan", "Waist", "Feather", "Sleeve",
          "Cheongsam", "Wool Thickness"]

# Table II: proportion, multi-label@i20, multi-task@i45, multi-weight@i45 (mAP@50, %)
TABLE2 = {
    "Color": (1.0000, 35.24, 27.03, 34.66),
    "Gender": (0.9646, 99.27, 99.33, 99.52),
    "Season": (0.8242, 67.49, 69.25, 70.37),
    "Style": (0.7773, 34.40, 31.04, 33.78),
    "Coat": (0.6838, 74.82, 71.20, 74.25),
    "Version": (0.6062, 42.75, 37.88, 42.62),
    "Pantsuit": (0.6018, 57.05, 52.65, 56.01),
    "Length of Sleeve": (0.4201, 61.36, 62.75, 64.19),
    "Occasion": (0.3876, 44.97, 43.67, 45.61),
    "Craft": (0.3119, 18.14, 17.45, 17.33),
    "Collar": (0.2436, 33.17, 32.44, 33.71),
    "Length of Trousers": (0.2292, 72.92, 72.30, 72.97),
    "Thickness": (0.1961, 68.44, 69.24, 69.54),
    "Length of Skirts": (0.1866, 57.06, 59.00, 59.44),
    "Skirt": (0.1766, 44.42, 43.46, 44.22),
    "Crowd": (0.1456, 71.65, 76.46, 77.51),
    "Dense": (0.1331, 87.13, 94.21, 94.08),
    "Leather": (0.0643, 54.64, 59.76, 58.48),
    "Cardigan": (0.0626, 33.84, 39.77, 38.61),
    "Waist": (0.0471, 44.76, 49.01, 49.25),
    "Feather": (0.0428, 79.73, 78.44, 80.10),
    "Sleeve": (0.0064, 20.73, 28.11, 28.75),
    "Cheongsam": (0.0006, 32.91, 33.84, 33.65),
    "Wool Thickness": (0.0002, 22.67, 26.42, 26.27),
}
# the paper's stated means over the 24 groups (Sec. IV-D)
TABLE2_MEANS = (52.48, 53.11, 55.23)

# Table III: current best, multi-weight@i45, 1/3 ratio@i45 (mAP@50, %)
TABLE3 = {
    "Color": (35.24, 34.66, 36.03), "Gender": (99.52, 99.52, 99.55), "Season": (70.37, 70.37, 70.76),
    "Style": (34.40, 33.78, 34.34), "Coat": (74.82, 74.25, 75.20), "Version": (42.75, 42.62, 43.66),
    "Pantsuit": (57.05, 56.01, 57.28), "Length of Sleeve": (64.19, 64.19, 64.57),
    "Occasion": (45.61, 45.61, 45.84), "Craft": (18.14, 17.32, 18.15), "Collar": (33.71, 33.71, 35.27),
    "Length of Trousers": (72.97, 72.97, 73.90), "Thickness": (69.54, 69.54, 70.39),
    "Length of Skirts": (59.44, 59.44, 59.41), "Skirt": (44.42, 44.22, 45.26),
    "Crowd": (77.51, 77.51, 77.93), "Dense": (94.21, 94.08, 94.42), "Leather": (59.76, 58.48, 60.40),
    "Cardigan": (39.77, 38.61, 41.42), "Waist": (49.25, 49.25, 51.80), "Feather": (80.10, 80.10, 80.47),
    "Sleeve": (28.75, 28.75, 29.57), "Cheongsam": (33.84, 33.65, 41.08),
    "Wool Thickness": (26.42, 26.27, 28.43),
}

# Tables IV and V: proportion, multi-label, multi-task, multi-weight (mAP@50, %)
TABLE4 = {"Coat": (1.0, 57.47, 58.52, 57.86), "Pantsuit": (0.1, 31.94, 32.28, 33.25)}
TABLE5 = {"Length of Sleeve": (1.0, 46.71, 43.06, 45.58), "Sleeve": (0.1, 13.58, 15.43, 17.04)}

# the reading of "@i20" / "@i45" (the paper gives no unit): thousands of iterations of batch 256
PAPER_ITERS = {"multilabel": 20000, "multitask": 45000, "multiweight": 45000, "ratio13": 45000}
