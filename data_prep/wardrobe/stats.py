"""python -m data_prep.wardrobe.stats DIR

Measures, from the written files only: e-Clothing group proportions next to paper 000's Table II,
JD style frequencies and co-occurrences (paper 003), DeepFashion category / attribute-type counts."""
import os
import sys

import numpy as np

from ..jd_style import conditional_probability
from .catalog import EXCLUSIVE_STYLES, GROUPS, STYLES
from .styles import JD_TARGET


def read_eclothing(root):
    kw2g = {}
    with open(os.path.join(root, "eClothing", "keyword_groups.txt")) as f:
        for line in f:
            kw, g = line.rstrip("\n").split("\t")
            kw2g[kw] = g
    rows = []
    with open(os.path.join(root, "eClothing", "labels.txt")) as f:
        for line in f:
            path, kws = line.rstrip("\n").split("\t")
            rows.append((path, [k for k in kws.split(";") if k]))
    return kw2g, rows


def group_proportions(root):
    kw2g, rows = read_eclothing(root)
    cnt = {g: 0 for g, _ in GROUPS}
    for _, kws in rows:
        for g in {kw2g[k] for k in kws}:
            cnt[g] += 1
    mx = max(cnt.values())
    return {g: cnt[g] / mx for g, _ in GROUPS}, cnt, len(rows)


def read_jd(root, name="train.txt"):
    """(N, 13) 0/1 style labels of JD/<name> (an empty array when the file is absent)."""
    path = os.path.join(root, "JD", name)
    lab = []
    if os.path.isfile(path):
        with open(path) as f:
            for line in f:
                p = line.strip().split(",")
                if len(p) == 2 + len(STYLES):
                    lab.append([int(v) for v in p[2:]])
    return np.array(lab, np.int64).reshape(-1, len(STYLES))


def jd_report(root):
    """Lines describing the JD style labels: frequencies beside paper 003's, the co-occurrences it
    names (Fig. 2), the regional exclusivity, styles per image, and P(A|B) in full."""
    lab, test = read_jd(root), read_jd(root, "test.txt")
    out = [f"JD styles: train.txt {len(lab)} images (train + validation folds), test.txt {len(test)} "
           "images -- share of images per style (Table I order)",
           f"{'#':>2} {'style':<13}{'train.txt':>16}{'test.txt':>10}{'target':>9}"]
    fr = lab.mean(0) if len(lab) else np.zeros(len(STYLES))
    ft = test.mean(0) if len(test) else np.full(len(STYLES), np.nan)
    for i, s in enumerate(STYLES):
        out.append(f"{i + 1:>2} {s:<13}{fr[i] * 100:7.2f} % ({int(lab[:, i].sum()):>5}){ft[i] * 100:8.2f} %"
                   f"{JD_TARGET[s] * 100:7.2f} %")
    out.append("target: our reading of paper 003 (Sports 104 / 54,908 = 0.19 %; classes 3, 5, 6, 9 frequent)")
    c = conditional_probability(lab)

    def cond(a, b):
        return c[STYLES.index(a), STYLES.index(b)]

    out.append(f"P(Casual|Sports) = {cond('Casual', 'Sports'):.2f} (paper 0.95)   "
               f"P(Lady|Office lady) = {cond('Lady', 'Office lady'):.2f} (paper 0.99)   "
               f"P(Girl|Japanese) = {cond('Girl', 'Japanese'):.2f}")
    reg = [STYLES.index(s) for s in EXCLUSIVE_STYLES]
    pairs = int((lab[:, reg].sum(1) > 1).sum()) if len(lab) else 0
    jk = int((lab[:, STYLES.index("Japanese")] & lab[:, STYLES.index("Korean")]).sum()) if len(lab) else 0
    n = lab.sum(1) if len(lab) else np.zeros(1, np.int64)
    out.append(f"images with Japanese and Korean: {jk}; with >1 of {'/'.join(EXCLUSIVE_STYLES)}: {pairs} "
               "(paper: never together)")
    out.append(f"styles per image: min {n.min()} max {n.max()} mean {n.mean():.2f} (paper: 1 to 5); "
               "histogram " + " ".join(f"{k}:{int((n == k).sum())}" for k in range(0, 7) if (n == k).any()))
    out.append("P(A|B) (row A, column B; eq. 1):")
    out.append("      " + "".join(f"{b + 1:>6}" for b in range(len(STYLES))))
    for a in range(len(STYLES)):
        out.append(f"{a + 1:>4}  " + "".join("     -" if np.isnan(v) else f"{v:6.2f}" for v in c[a]))
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__)
        return 2
    root = argv[0]
    prop, cnt, n = group_proportions(root)
    print(f"e-Clothing groups ({n} images) -- measured proportion vs paper 000 Table II")
    print(f"{'group':<20}{'images':>8}{'measured':>10}{'paper':>9}")
    for g, p in GROUPS:
        print(f"{g:<20}{cnt[g]:>8}{prop[g]:>10.4f}{p:>9.4f}")
    print()
    print("\n".join(jd_report(root)))
    d = os.path.join(root, "DeepFashion", "Category_and_Attribute", "Anno")
    with open(os.path.join(d, "list_category_cloth.txt")) as f:
        names = [line.split()[0] for line in f.read().splitlines()[2:]]
    with open(os.path.join(d, "list_category_img.txt")) as f:
        labs = [int(line.split()[-1]) for line in f.read().splitlines()[2:]]
    c = np.bincount(labs, minlength=len(names) + 1)[1:]
    order = np.argsort(-c)
    print(f"\nDeepFashion categories ({len(labs)} images): most "
          + ", ".join(f"{names[i]} {c[i]}" for i in order[:5]) + "; least "
          + ", ".join(f"{names[i]} {c[i]}" for i in order[-3:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
