"""python -m data_prep.wardrobe.stats DIR

Measures, from the written files only: e-Clothing group proportions next to paper 000's Table II,
JD style frequencies and co-occurrences (paper 003), DeepFashion category / attribute-type counts."""
import os
import sys

import numpy as np

from .catalog import GROUPS, STYLES


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


def read_jd(root):
    lab = []
    with open(os.path.join(root, "JD", "train.txt")) as f:
        for line in f:
            p = line.strip().split(",")
            lab.append([int(v) for v in p[2:]])
    return np.array(lab, np.int64)


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
    lab = read_jd(root)
    fr = lab.mean(0)
    print(f"\nJD styles ({len(lab)} images) -- frequency (Table I order)")
    for s, f in zip(STYLES, fr):
        print(f"{s:<14}{f * 100:7.2f} %  ({int(round(f * len(lab)))})")

    def cond(a, b):
        ia, ib = STYLES.index(a), STYLES.index(b)
        nb = lab[:, ib].sum()
        return lab[:, ia][lab[:, ib] == 1].mean() if nb else float("nan")

    print(f"P(Casual|Sports)={cond('Casual', 'Sports'):.2f}  "
          f"P(Lady|Office lady)={cond('Lady', 'Office lady'):.2f}  "
          f"P(Girl|Japanese)={cond('Girl', 'Japanese'):.2f}")
    reg = lab[:, 3:7].sum(1)
    print(f"images with >1 of Japanese/Korean/Western/British: {(reg > 1).sum()}; styles per image "
          f"min {lab.sum(1).min()} max {lab.sum(1).max()} mean {lab.sum(1).mean():.2f}")
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
