"""Paper 004's unsupervised part extraction (Section 4.3, Fig. 4), with OpenCV.

    python -m tools.paper004.parts --wardrobe runs/wardrobe/tiny [--out runs/paper004/parts]

On a clean-background, frontal photograph of one garment:

1. **foreground mask** B: colour distance to the background colour (the median of the image border)
   above ``tol``; closing (dilation then erosion) and opening with an elliptic kernel of ~2 % of the
   image side remove gaps and specks; holes are filled (a white garment's dark outline closes it);
   components smaller than 5 % of the largest are dropped.
2. **jump detection** on each side's profile L(y) (leftmost foreground column per row; the right side
   mirrored): below its outermost point in the upper 45 % of the garment, a sleeve's profile jumps
   back towards the centre by more than ``jump`` × the garment width within a few rows -- the
   sleeve/torso discontinuity ("jump location", the sleeve's end).  Rows where the garment splits
   into side runs that do not touch the centre column (sleeves hanging below a cropped torso) also
   count as sleeve rows.  A garment with such a discontinuity on either side has sleeves.
3. **parts** from the jump locations: the torso edge x_t is the centre run's edge just below the
   jump; the "upper jump location" (the shoulder) is the first row whose profile leaves the torso
   line; a sleeve is [outermost point, shoulder] × [torso edge]; the torso spans the torso edges
   from the first row wider than 0.7 × the torso to the hem -- or to the waist when the garment flares
   below it by more than 1.5 × (a skirt).  Collar, fastening (the torso's middle) and chest (for
   colour and pattern, Section 6) are fixed fractions of the torso, in units of its width w_t:
   collar x_c ± 0.2 w_t from the top of the centre band to 0.05 w_t below the shoulders;
   fastening x_c ± 0.12 w_t from the collar's bottom to the torso's bottom; chest x_c ± 0.33 w_t
   from 0.25 w_t to 1.1 w_t below the torso top.  Without sleeves, "other parts are approximately
   estimated as the pose of the input is static": the torso edges are the profile's median in the
   upper third.

The "Extract Parts?" decision has three cases (:data:`CASES`): lower-body garments get no parts
(``CASE_OFF``: every branch pools the whole map), garments with sleeves get all six parts
(``CASE_SLEEVES``), sleeveless ones all but the sleeves (``CASE_SLEEVELESS``).  The extractor
decides sleeves / sleeveless from the image; lower body comes from the category (the training
label of the net's 3-way "Extract Parts?" head; at test time that head decides).

The companion vector stored beside each image (:func:`part_vector`, ``ROW_SIZE`` floats, see
``tools/paper004/data.py``) is ``[case, gate × 6, (x1, y1, x2, y2) × 6]`` with boxes normalised to
[0, 1] of the image; a part whose gate is 0 carries the whole image [0, 0, 1, 1].
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from dataclasses import dataclass, field

import cv2
import numpy as np

PARTS = ("torso", "left_sleeve", "right_sleeve", "collar", "fastening", "chest")
SLEEVES = ("left_sleeve", "right_sleeve")
CASE_OFF, CASE_SLEEVES, CASE_SLEEVELESS = 0, 1, 2
CASES = {CASE_OFF: "lower body: no parts", CASE_SLEEVES: "sleeves found: all parts",
         CASE_SLEEVELESS: "sleeveless: all parts but the sleeves"}
ROW_SIZE = 1 + len(PARTS) + 4 * len(PARTS)
WHOLE = (0.0, 0.0, 1.0, 1.0)
# the collar box: its depth below the shoulders and its half width, in torso widths (chosen on the tiny
# seed-0 wardrobe's true boxes; the IoU report uses another seed)
COLLAR_DEPTH, COLLAR_HALF = 0.05, 0.2


@dataclass
class Extraction:
    """Result of :func:`extract_parts`: sleeves found, part boxes in pixels (x1, y1, x2, y2; the
    pixel centres of the corner pixels), the cleaned mask and the jump rows (for plots)."""
    sleeves: bool
    boxes: dict
    mask: np.ndarray = field(repr=False)
    jumps: dict = field(default_factory=dict)


def gates(case):
    """Per-part gate (1 = pool the part's box, 0 = the whole map) of an "Extract Parts?" case."""
    if case == CASE_OFF:
        return np.zeros(len(PARTS), np.float32)
    g = np.ones(len(PARTS), np.float32)
    if case == CASE_SLEEVELESS:
        for p in SLEEVES:
            g[PARTS.index(p)] = 0
    return g


def foreground_mask(img, tol=24.0):
    """Binary mask (uint8 0/255) of the garment on a plain background (steps 1 of the docstring)."""
    h, w = img.shape[:2]
    border = np.concatenate([img[:2].reshape(-1, 3), img[-2:].reshape(-1, 3),
                             img[:, :2].reshape(-1, 3), img[:, -2:].reshape(-1, 3)]).astype(np.float32)
    bg = np.median(border, axis=0)
    dist = np.abs(img.astype(np.float32) - bg).max(axis=2)
    mask = (dist > tol).astype(np.uint8) * 255
    k = max(3, int(round(0.02 * max(h, w))) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    # fill holes before opening: a pale garment is often only its (thin) outline at this point
    filled = mask.copy()
    flood = np.zeros((h + 2, w + 2), np.uint8)
    for (x, y) in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)):
        if filled[y, x] == 0:
            cv2.floodFill(filled, flood, (x, y), 128)
    mask = np.where(filled == 128, 0, 255).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n > 2:
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = np.flatnonzero(areas >= 0.05 * areas.max()) + 1
        mask = np.isin(lab, keep).astype(np.uint8) * 255
    return mask


def _runs(row):
    """[(start, end_inclusive)] of the foreground runs of one mask row."""
    idx = np.flatnonzero(row)
    if idx.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[cuts + 1]])
    ends = np.concatenate([idx[cuts], [idx[-1]]])
    return list(zip(starts.tolist(), ends.tolist()))


class _Profile:
    """Row structure of the mask seen from one side: the left side as is, the right side mirrored
    (x → W − 1 − x), so one sleeve finder serves both."""

    def __init__(self, mask, xc):
        self.mask = mask > 0
        self.h, self.w = mask.shape
        rows = np.flatnonzero(self.mask.any(axis=1))
        self.y0, self.y1 = int(rows[0]), int(rows[-1])
        self.xc = xc
        self.runs = [_runs(self.mask[y]) for y in range(self.h)]

    def side(self, right):
        """(L, centre-run start, side-run-only) per row for one side, mirrored for the right."""
        L = np.full(self.h, np.nan)
        C = np.full(self.h, np.nan)
        split = np.zeros(self.h, bool)
        for y in range(self.y0, self.y1 + 1):
            runs = self.runs[y]
            if not runs:
                continue
            if right:
                runs = [(self.w - 1 - b, self.w - 1 - a) for a, b in reversed(runs)]
            xc = (self.w - 1 - self.xc) if right else self.xc
            L[y] = runs[0][0]
            centre = [r for r in runs if r[0] <= xc <= r[1]]
            if centre:
                C[y] = centre[0][0]
            split[y] = runs[0][1] < (centre[0][0] if centre else xc) - 1
        return L, C, split


def _find_sleeve(L, C, split, y0, y1, width, jump):
    """(top, bottom, outer x, torso edge x) of the sleeve on one side (left coordinates), or None.

    The jump location is the first row, scanning down, at which the profile is at its outermost so
    far and steps back towards the centre by more than ``jump`` × width within a few rows."""
    H = y1 - y0 + 1
    span = max(2, int(0.08 * H))
    bottom = None
    run_min = np.inf
    for y in range(y0, y1):
        if np.isnan(L[y]):
            continue
        run_min = min(run_min, L[y])
        if L[y] > run_min + 1 or not L[y + 1] > L[y]:
            continue
        ahead = L[y + 1:y + 1 + span]
        if np.nanmax(ahead) - L[y] > jump * width:
            bottom = y
            break
    jump_row = bottom
    upper = y0 + int(0.45 * H)
    split_rows = np.flatnonzero(split[y0:upper + 1])
    if bottom is None and split_rows.size < max(2, 0.02 * H):
        return None
    if split_rows.size:  # sleeves hanging free of the torso: the split block's last row
        last = y0 + int(split_rows[0])
        while last + 1 <= y1 and split[last + 1]:
            last += 1
        bottom = max(bottom if bottom is not None else 0, last)
    # the upper jump location: the shoulder, where the steep shoulder line (neck -> shoulder) turns
    # into the sleeve's outer edge; the torso edge is the profile there
    dl = np.nan_to_num(-np.diff(L[y0:bottom + 1]), nan=0.0)
    smooth = np.convolve(dl, np.ones(3) / 3.0, mode="same") if dl.size >= 3 else dl
    steep = np.flatnonzero(smooth > 1.5)
    top = y0 + int(steep[-1]) + 1 if steep.size else y0
    top = min(top, bottom)
    x_t = float(L[top]) if not np.isnan(L[top]) else float(np.nanmin(L[y0:bottom + 1]))
    below = C[bottom + 1:bottom + 1 + span]
    below = below[~np.isnan(below)]
    if below.size:  # the torso continues below the sleeve: its edge there is the better estimate
        x_t = max(x_t, float(np.median(below)))
    outer = float(np.nanmin(L[top:bottom + 1]))
    if x_t - outer < 0.03 * width:  # nothing sticks out of the torso line: no sleeve
        return None
    seg = L[top:(jump_row if jump_row is not None else bottom) + 1]
    if seg.size and np.nanmax(seg - np.fmin.accumulate(np.nan_to_num(seg, nan=np.inf))) > 0.04 * width:
        return None  # a sleeve's outer edge runs outwards from the shoulder; a bodice tapering into a skirt does not
    return top, bottom, outer, x_t


def extract_parts(img, tol=24.0, jump=0.06):
    """Part boxes of one garment photograph (BGR uint8); see the module docstring."""
    mask = foreground_mask(img, tol)
    h, w = mask.shape
    if not mask.any():
        return Extraction(False, {}, mask)
    cols = np.flatnonzero(mask.any(axis=0))
    xc = int(round((cols[0] + cols[-1]) / 2.0))
    prof = _Profile(mask, xc)
    y0, y1 = prof.y0, prof.y1
    width = float(cols[-1] - cols[0] + 1)
    found, jumps = {}, {}
    for name, right in (("left_sleeve", False), ("right_sleeve", True)):
        L, C, split = prof.side(right)
        s = _find_sleeve(L, C, split, y0, y1, width, jump)
        if s is not None:
            found[name] = (s, right)
            jumps[name] = {"jump": s[1], "upper": s[0]}
    sleeves = bool(found)
    if sleeves and len(found) == 1:  # mirror the one found about the centre
        (name, (s, right)), = found.items()
        other = "right_sleeve" if name == "left_sleeve" else "left_sleeve"
        found[other] = (s, not right)
    boxes = {}
    m = mask > 0
    if sleeves:
        edges, tops = {}, []
        for name, (s, right) in found.items():
            top, bottom, outer, x_t = s
            xa, xb = (w - 1 - outer, w - 1 - x_t) if right else (outer, x_t)
            boxes[name] = (min(xa, xb), float(top), max(xa, xb), float(bottom))
            edges[name] = xb
            tops.append(top)
        x_l, x_r = sorted((edges["left_sleeve"], edges["right_sleeve"]))
        shoulder = float(min(tops))
    else:
        Ls, _, _ = prof.side(False)
        Rs, _, _ = prof.side(True)
        lo, hi = y0 + int(0.1 * (y1 - y0)), y0 + int(0.33 * (y1 - y0)) + 1
        x_l, x_r = sorted((float(np.nanmedian(Ls[lo:hi])), float(w - 1 - np.nanmedian(Rs[lo:hi]))))
        shoulder = None
    wt = max(x_r - x_l, 1.0)
    xc = (x_l + x_r) / 2.0
    row_w = m[:, int(np.floor(x_l)):int(np.ceil(x_r)) + 1].sum(axis=1)
    wide = np.flatnonzero(row_w > 0.7 * wt)
    t_top = int(wide[0]) if wide.size else y0
    if shoulder is None:
        full = np.flatnonzero(row_w > 0.9 * wt)
        shoulder = float(full[0]) if full.size else float(t_top)
    centre_rows = np.flatnonzero(m[:, int(round(xc))])
    t_bot = int(centre_rows[-1]) if centre_rows.size else y1
    # a skirt below the bodice: cut the torso at the waist (the narrowest row below the chest)
    centre_w = np.array([sum(b - a + 1 for a, b in prof.runs[y] if a <= xc <= b) for y in range(h)], float)
    lo = min(t_bot, t_top + int(0.6 * wt))
    if t_bot > lo + 2:
        seg = centre_w[lo:t_bot + 1]
        y_w = lo + int(np.argmin(seg))
        if seg[y_w - lo:].max() > 1.5 * centre_w[y_w] and y_w < t_bot - 2:
            t_bot = y_w
    boxes["torso"] = (x_l, float(t_top), x_r, float(t_bot))
    # the collar: the piece above the shoulders (the upper jump locations) and a little below them
    band = m[:int(shoulder) + 1, int(round(xc - COLLAR_HALF * wt)):int(round(xc + COLLAR_HALF * wt)) + 1]
    top_rows = np.flatnonzero(band.any(axis=1))
    c_top = float(top_rows[0]) if top_rows.size else float(t_top)
    half = COLLAR_HALF * wt
    c_bot = min(float(t_bot), shoulder + COLLAR_DEPTH * wt)
    boxes["collar"] = (xc - half, c_top, xc + half, c_bot)
    boxes["fastening"] = (xc - 0.12 * wt, c_bot, xc + 0.12 * wt, float(t_bot))
    boxes["chest"] = (xc - 0.33 * wt, t_top + 0.25 * wt, xc + 0.33 * wt, min(float(t_bot), t_top + 1.1 * wt))
    return Extraction(sleeves, boxes, mask, jumps)


def case_of(extraction, lower_body):
    """The "Extract Parts?" case: off for lower-body garments, else sleeves found / sleeveless."""
    if lower_body:
        return CASE_OFF
    return CASE_SLEEVES if extraction.sleeves else CASE_SLEEVELESS


def part_vector(case, boxes, w, h):
    """The ROW_SIZE-float companion row: [case, gates, boxes normalised to [0, 1]] (module docstring)."""
    g = gates(case)
    out = np.zeros(ROW_SIZE, np.float32)
    out[0] = case
    out[1:1 + len(PARTS)] = g
    for i, p in enumerate(PARTS):
        b = boxes.get(p) if g[i] > 0 else None
        if b is None:
            nb = WHOLE
        else:
            nb = (b[0] / (w - 1), b[1] / (h - 1), b[2] / (w - 1), b[3] / (h - 1))
        out[1 + len(PARTS) + 4 * i:1 + len(PARTS) + 4 * i + 4] = np.clip(nb, 0.0, 1.0)
    return out


def split_vector(row):
    """(case, gates (6,), boxes (6, 4)) of a companion row."""
    row = np.asarray(row, np.float32).reshape(-1)
    n = len(PARTS)
    return int(row[0]), row[1:1 + n], row[1 + n:].reshape(n, 4)


# ------------------------------------------------------------------------------------------------
# accuracy against the synthetic wardrobe's true part boxes
def iou(a, b):
    """Intersection over union of two (x1, y1, x2, y2) pixel boxes (corner pixels included)."""
    ix = min(a[2], b[2]) - max(a[0], b[0]) + 1
    iy = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)  # noqa: E731
    return float(inter / (area(a) + area(b) - inter))


def read_truth(path):
    """{image: (clothes_type, sleeves, {part: box})} from the wardrobe's _truth/shopping_parts.csv."""
    out = {}
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            boxes = {}
            for p in PARTS:
                cells = [r[f"{p}_{k}"] for k in ("x1", "y1", "x2", "y2")]
                if all(cells):
                    boxes[p] = tuple(float(c) for c in cells)
            out[r["image"]] = (int(r["clothes_type"]), bool(int(r["sleeves"])), boxes)
    return out


def measure(wardrobe, limit=None, progress=True):
    """Part-box IoU and sleeve-detection accuracy of :func:`extract_parts` on the wardrobe's
    Shopping100k images against ``_truth/shopping_parts.csv`` (upper and full-body garments)."""
    from tqdm import tqdm

    path = os.path.join(wardrobe, "_truth", "shopping_parts.csv")
    if not os.path.isfile(path):
        raise SystemExit(f"{path} is missing: this wardrobe predates the Shopping100k part truth; "
                         "regenerate it (python -m data_prep.wardrobe --out ... --size ...).")
    truth = read_truth(path)
    names = sorted(n for n, (t, _, _) in truth.items() if t != 2)[:limit]
    ious = {p: [] for p in PARTS}
    confusion = np.zeros((2, 2), int)  # [true sleeves][found sleeves]
    per_image = []
    for name in tqdm(names, desc="parts", unit="img", disable=None if progress else True):
        img = cv2.imread(os.path.join(wardrobe, "Shopping100k", name), cv2.IMREAD_COLOR)
        ex = extract_parts(img)
        t, has_sleeves, tb = truth[name]
        confusion[int(has_sleeves), int(ex.sleeves)] += 1
        row = {"image": name}
        for p in PARTS:
            if p in tb and p in ex.boxes:
                v = iou(tb[p], ex.boxes[p])
                ious[p].append(v)
                row[p] = v
        per_image.append(row)
    summary = {p: {"mean_iou": float(np.mean(v)) if v else None, "iou>=0.5": float(np.mean(np.array(v) >= 0.5))
                   if v else None, "n": len(v)} for p, v in ious.items()}
    acc = float(np.trace(confusion) / max(confusion.sum(), 1))
    return {"images": len(names), "parts": summary, "sleeve_detection_accuracy": acc,
            "confusion_true_x_found": confusion.tolist(), "per_image": per_image}


def draw(img, ex, truth_boxes=None):
    """The image with extracted boxes (solid) and true boxes (thin grey), for plots."""
    colors = {"torso": (0, 0, 255), "left_sleeve": (0, 170, 0), "right_sleeve": (0, 170, 0),
              "collar": (255, 0, 0), "fastening": (0, 190, 190), "chest": (200, 0, 200)}
    out = img.copy()
    for p, b in (truth_boxes or {}).items():
        cv2.rectangle(out, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), (150, 150, 150), 1)
    for p, b in ex.boxes.items():
        cv2.rectangle(out, (int(round(b[0])), int(round(b[1]))), (int(round(b[2])), int(round(b[3]))), colors[p], 1)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="Part-box IoU of the part extraction on a synthetic wardrobe's "
                                             "Shopping100k images against the true part boxes")
    ap.add_argument("--wardrobe", required=True)
    ap.add_argument("--out", default="", help="folder for iou.json and a sample sheet (parts_sample.png)")
    ap.add_argument("--limit", type=int, default=None)
    a = ap.parse_args(argv)
    res = measure(a.wardrobe, a.limit)
    print(f"{res['images']} upper / full-body images; sleeve detection accuracy {res['sleeve_detection_accuracy']:.3f} "
          f"(confusion true x found {res['confusion_true_x_found']})")
    for p, s in res["parts"].items():
        print(f"  {p:13s} mean IoU {s['mean_iou']:.3f}   IoU >= 0.5: {s['iou>=0.5']:.3f}   (n = {s['n']})")
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "iou.json"), "w") as f:
            json.dump({k: v for k, v in res.items() if k != "per_image"}, f, indent=1)
        truth = read_truth(os.path.join(a.wardrobe, "_truth", "shopping_parts.csv"))
        names = [r["image"] for r in res["per_image"]][:24]
        tiles = []
        for n in names:
            img = cv2.imread(os.path.join(a.wardrobe, "Shopping100k", n), cv2.IMREAD_COLOR)
            tiles.append(cv2.resize(draw(img, extract_parts(img), truth[n][2]), (192, 192),
                                    interpolation=cv2.INTER_NEAREST))
        while len(tiles) % 6:
            tiles.append(np.full_like(tiles[0], 255))
        sheet = np.vstack([np.hstack(tiles[i:i + 6]) for i in range(0, len(tiles), 6)])
        cv2.imwrite(os.path.join(a.out, "parts_sample.png"), sheet)
        print(f"wrote {a.out}/iou.json and {a.out}/parts_sample.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
