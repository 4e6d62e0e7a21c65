"""python -m data_prep.wardrobe.learnability DIR [--lam 100]

Quick sanity check that the written DeepFashion files are learnable: tiny linear (ridge)
classifiers on HOG + spectrum + colour features (numpy + OpenCV, CPU, seconds) are trained on
the train split of Category_and_Attribute for a few drawn targets -- clothes type
(upper / lower / full), colour and pattern (texture attributes) and sleeve length (part
attributes) -- and the test accuracy (test = val + test splits, other items than train) is printed
next to chance (the majority-class rate).  Pattern is the hardest target for these linear features
(only a little above chance); the check is kept linear so that it runs in seconds on 2 CPU cores."""
import argparse
import os
import sys
import time

import cv2
import numpy as np

PATTERN = ["solid", "striped", "dotted", "plaid", "floral", "graphic", "leopard print"]
SLEEVE = ["sleeveless", "short sleeve", "elbow sleeve", "long sleeve"]
COLOR = ["black", "white", "grey", "red", "pink", "orange", "yellow", "green", "blue", "navy",
         "purple", "brown", "beige", "khaki"]


def _rows(path):
    with open(path) as f:
        lines = f.read().splitlines()
    return [line.split() for line in lines[2:]]


def load(root, px):
    d = os.path.join(root, "DeepFashion", "Category_and_Attribute")
    ctype = {r[0]: int(r[1]) for r in _rows(f"{d}/Anno/list_category_cloth.txt")}
    cats = list(ctype)
    cat = {r[0]: int(r[1]) for r in _rows(f"{d}/Anno/list_category_img.txt")}
    part = {r[0]: r[1] for r in _rows(f"{d}/Eval/list_eval_partition.txt")}
    with open(f"{d}/Anno/list_attr_cloth.txt") as f:
        anames = [" ".join(line.split()[:-1]) for line in f.read().splitlines()[2:]]
    col = {n: i for i, n in enumerate(anames)}
    attrs = {r[0]: np.array(r[1:], np.int64) for r in _rows(f"{d}/Anno/list_attr_img.txt")}
    X, T, P, Sl, C, split = [], [], [], [], [], []
    for name, c in cat.items():
        img = cv2.imread(os.path.join(d, name))
        X.append(img)
        T.append(ctype[cats[c - 1]] - 1)
        a = attrs[name]

        def onehot(names):
            v = [a[col[n]] for n in names]
            return v.index(1) if v.count(1) == 1 and 0 not in v else -1
        P.append(onehot(PATTERN))
        Sl.append(onehot(SLEEVE))
        C.append(onehot(COLOR))
        split.append(part[name])
    return X, {"clothes type": np.array(T), "colour": np.array(C), "sleeve length": np.array(Sl),
               "pattern": np.array(P)}, np.array(split)


def _hog(g, cell=8, bins=8):
    """Tiny HOG: (N, H, W) grey -> (N, H/cell * W/cell * bins) orientation energy, L2-normed."""
    g = g.astype(np.float32)
    gx = np.zeros_like(g)
    gy = np.zeros_like(g)
    gx[:, :, 1:-1] = g[:, :, 2:] - g[:, :, :-2]
    gy[:, 1:-1, :] = g[:, 2:, :] - g[:, :-2, :]
    mag = np.hypot(gx, gy)
    ang = (np.arctan2(gy, gx) % np.pi) / np.pi * bins
    b = np.minimum(ang.astype(np.int64), bins - 1)
    n, h, w = g.shape
    out = np.zeros((n, h // cell, w // cell, bins), np.float32)
    for k in range(bins):
        m = (mag * (b == k)).reshape(n, h // cell, cell, w // cell, cell).sum((2, 4))
        out[..., k] = m
    out = out.reshape(n, -1)
    return out / (np.linalg.norm(out, axis=1, keepdims=True) + 1e-6)


def _spectrum(crops):
    """Log power spectrum of the centre crop, 8 radial x 8 angular bins (stripes / dots / plaid)."""
    n = crops.shape[-1]
    win = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
    yy, xx = np.mgrid[-n // 2:n // 2, -n // 2:n // 2]
    rb = np.minimum((np.log2(np.hypot(yy, xx) + 1) / np.log2(n * 0.72) * 8).astype(int), 7)
    tb = np.minimum(((np.arctan2(yy, xx) % np.pi) / np.pi * 8).astype(int), 7)
    idx = (rb * 8 + tb).ravel()
    out = []
    for c in crops.astype(np.float32):
        P = np.abs(np.fft.fftshift(np.fft.fft2((c - c.mean()) * win))) ** 2
        f = np.bincount(idx, P.ravel(), minlength=64)
        out.append(np.concatenate([np.log1p(f / (f.sum() + 1e-6) * 1000), [np.log1p(P.sum())]]))
    return np.array(out)


def features(X):
    """HOG (shape, texture orientation) at two scales + a coarse colour thumbnail per image."""
    small = np.stack([cv2.resize(im, (64, 64), interpolation=cv2.INTER_AREA) for im in X])
    grey = np.stack([cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) for im in small])
    crops = [im[im.shape[0] // 4: 3 * im.shape[0] // 4, im.shape[1] // 4: 3 * im.shape[1] // 4]
             for im in X]  # full-resolution centre (texture lives there)
    crops = np.stack([cv2.resize(c, (64, 64), interpolation=cv2.INTER_AREA) for c in crops])
    cg = np.stack([cv2.cvtColor(c, cv2.COLOR_BGR2GRAY) for c in crops])
    col = np.stack([cv2.resize(im, (8, 8), interpolation=cv2.INTER_AREA) for im in small])
    stat = np.hstack([crops.reshape(len(X), -1, 3).std(1), np.abs(np.diff(cg.astype(np.float32),
                      axis=1)).mean((1, 2))[:, None], np.abs(np.diff(cg.astype(np.float32),
                      axis=2)).mean((1, 2))[:, None]]) / 64.0
    q = (crops // 64).reshape(len(X), -1, 3).astype(np.int64)
    q = q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]
    hist = np.stack([np.bincount(v, minlength=64) for v in q]) / q.shape[1]
    return np.hstack([_hog(grey), _hog(cg, cell=16), _spectrum(cg), stat, np.sqrt(hist) * 4,
                      col.reshape(len(X), -1) / 255.0])


def ridge_fit(F, y, ncls, lam):
    Y = -np.ones((len(y), ncls))
    Y[np.arange(len(y)), y] = 1
    A = F.T @ F + lam * np.eye(F.shape[1])
    return np.linalg.solve(A, F.T @ Y)


def run(root, px=64, lam=100.0, verbose=True):
    """Train linear (ridge) classifiers on HOG + colour features of the written train images and
    report test accuracy vs chance.  Deterministic and fast (no GPU, no torch needed)."""
    t0 = time.time()
    X, Y, split = load(root, px)
    F = features(X)
    tr, te = split == "train", split != "train"
    mu, sd = F[tr].mean(0), F[tr].std(0) + 1e-6
    F = np.hstack([(F - mu) / sd, np.ones((len(F), 1))])
    ncls = {"clothes type": 3, "pattern": len(PATTERN), "sleeve length": len(SLEEVE),
            "colour": len(COLOR)}
    res = {}
    for t, y in Y.items():
        a, b = tr & (y >= 0), te & (y >= 0)
        W = ridge_fit(F[a], y[a], ncls[t], lam)
        acc = float(((F[b] @ W).argmax(1) == y[b]).mean())
        chance = float(np.bincount(y[a], minlength=ncls[t]).max() / a.sum())
        res[t] = dict(accuracy=acc, chance=chance, n_train=int(a.sum()), n_test=int(b.sum()))
    if verbose:
        print(f"ridge classifiers on HOG+colour features, {tr.sum()} train / {te.sum()} test "
              f"images, {time.time() - t0:.1f}s")
        for t, r in res.items():
            print(f"{t:<14} accuracy {r['accuracy']:.3f}   chance {r['chance']:.3f}   "
                  f"(train {r['n_train']}, test {r['n_test']})")
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m data_prep.wardrobe.learnability")
    ap.add_argument("root")
    ap.add_argument("--lam", type=float, default=100.0, help="ridge strength")
    a = ap.parse_args(argv)
    run(a.root, lam=a.lam)
    return 0


if __name__ == "__main__":
    sys.exit(main())
