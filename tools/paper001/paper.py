"""The paper's own numbers (Liu et al., DeepFashion, CVPR 2016), transcribed from the text in
shared/papers/001_*.txt.  Printed beside our measurements, always labelled as the paper's; never
used as a result of ours.

Table 2 rows 1-6 are read from the extraction's tab-separated block (row labels lost; the order is
the paper's: WTBI, DARN, FashionNet+100, +500, +Joints, +Poselets).  The FashionNet row is garbled in
the extraction: only category top-3 / top-5 and "All" top-3 / top-5 are known (82.58, 90.17, 45.52,
54.61); its per-type cells are None ("n/a" in the tables).
"""

COLUMNS = ["category_top3", "category_top5", "texture_top3", "texture_top5", "fabric_top3", "fabric_top5",
           "shape_top3", "shape_top5", "part_top3", "part_top5", "style_top3", "style_top5", "all_top3", "all_top5"]

_ROWS = {
    "WTBI": [43.73, 66.26, 24.21, 32.65, 25.38, 36.06, 23.39, 31.26, 26.31, 33.24, 49.85, 58.68, 27.46, 35.37],
    "DARN": [59.48, 79.58, 36.15, 48.15, 36.64, 48.52, 35.89, 46.93, 39.17, 50.14, 66.11, 71.36, 42.35, 51.95],
    "FashionNet+100": [47.38, 70.57, 28.05, 36.59, 29.12, 40.58, 28.51, 36.51, 31.65, 38.53, 53.92, 62.47, 31.58,
                       39.06],
    "FashionNet+500": [57.44, 77.39, 34.73, 46.35, 34.47, 46.60, 33.61, 44.57, 38.48, 49.01, 63.48, 67.94, 38.94,
                       49.71],
    "FashionNet+Joints": [72.30, 81.52, 35.92, 48.73, 38.21, 49.04, 37.59, 47.73, 40.21, 51.81, 64.91, 73.14, 43.14,
                          52.33],
    "FashionNet+Poselets": [75.34, 84.87, 36.85, 49.11, 38.88, 49.48, 38.19, 47.09, 41.60, 52.85, 64.84, 73.03,
                            43.57, 52.65],
    "FashionNet": [82.58, 90.17] + [None] * 10 + [45.52, 54.61],
}
TABLE2 = {k: dict(zip(COLUMNS, v)) for k, v in _ROWS.items()}

# Fig. 8 / 9: top-20 retrieval accuracy as stated in the text (other methods' values not stated)
INSHOP_TOP20 = {"FashionNet": 0.764, "DARN": 0.675, "WTBI": 0.506}
C2S_TOP20 = {"FashionNet": 0.188}
# Fig. 10: "when the normalized distance equals 0.1, the detection rates are above 80 percent for all
# the eight landmarks"
FIG10_CLAIM = (0.1, 0.80)

# which of our variants a paper row corresponds to
OURS_FOR = {"FashionNet+100": "fn_a10", "FashionNet+500": "fn_a50", "FashionNet": "fn"}
NOT_REPRODUCED = ["WTBI", "DARN", "FashionNet+Joints", "FashionNet+Poselets"]
