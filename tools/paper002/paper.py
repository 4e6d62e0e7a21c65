"""Paper 002's own numbers (Cho et al., ICCV Workshops 2019, Table 1: DeepFashion C&A test split,
category top-3 / top-5 accuracy in %), transcribed, never used as ours.  ``landmarks``: whether the
method uses fashion-landmark annotations (the paper's FLD column)."""

#: method -> (top-3, top-5, uses landmarks)
TABLE1 = {
    "DARN": (59.48, 79.58, False),
    "Lu et al.": (86.72, 92.51, False),
    "Corbiere et al.": (86.30, 92.80, False),
    "effi+HMCN-F(5)": (89.70, 94.97, False),
    "effi+HMCN-F(5)+MTL": (90.17, 95.09, False),
    "effi+HMCN-F(10)": (90.78, 95.56, False),
    "effi+HMCN-F(10)+MTL": (91.24, 95.68, False),
    "FashionNet": (82.58, 90.17, True),
    "Wang et al.": (90.99, 95.78, True),
    "Li et al.": (93.01, 97.01, True),
}
#: our variants that are the paper's rows
PAPER_ROW = {"hmcn5": "effi+HMCN-F(5)", "hmcn5_mtl": "effi+HMCN-F(5)+MTL", "hmcn10": "effi+HMCN-F(10)",
             "hmcn10_mtl": "effi+HMCN-F(10)+MTL"}
#: the paper's rows we do not reproduce (other papers' methods), in the paper's order
NOT_REPRODUCED = ["DARN", "Lu et al.", "Corbiere et al.", "Wang et al.", "Li et al."]
