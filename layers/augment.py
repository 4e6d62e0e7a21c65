"""Per-image augmentation of paper 003 (Sec. II-A), for the Python data layers: random rotation,
random crop, mirror and random erasing, on uint8 H × W × C (BGR) images.

Every function takes a numpy ``Generator`` and draws from it in a fixed order, so a batch built from
a generator seeded with the batch number is the same in any process.  Imports only numpy and OpenCV,
so BVLC Caffe runs it unchanged.

rotate          angle θ ~ U(−max_deg, +max_deg) about the image centre (the paper: "an angle between
                ±15°"), bilinear, edges replicated (no black corners for the net to learn), same size
random_crop     a crop_size × crop_size window at a uniform offset (TRAIN) or the centre ((H − c) // 2,
                Caffe's TEST crop)
mirror          horizontal flip with probability 1/2
random_erase    Zhong et al. 2017 ("Random Erasing Data Augmentation", Algorithm 1): with probability
                p, draw a target area S_e ~ U(s_l, s_h) · H·W and an aspect ratio r_e ~ U(r_1, 1/r_1),
                H_e = round(√(S_e r_e)), W_e = round(√(S_e / r_e)), a corner (x_e, y_e) uniform in the
                image; when the rectangle fits, every pixel of it (each channel) becomes a uniform random
                value in [0, 255]; otherwise draw again (at most ``attempts`` times, as their code).
                Defaults are the paper's: p = 0.5, s_l = 0.02, s_h = 0.4, r_1 = 0.3.
"""
import math

import cv2
import numpy as np

ERASE_DEFAULTS = {"p": 0.5, "area": [0.02, 0.4], "aspect": 0.3, "attempts": 100}


def rotate(img, rng, max_deg):
    """``img`` rotated by θ ~ U(−max_deg, max_deg) degrees (returns (image, θ))."""
    theta = float(rng.uniform(-max_deg, max_deg)) if max_deg > 0 else 0.0
    if theta == 0.0:
        return img, theta
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), theta, 1.0)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if out.ndim == 2:
        out = out[:, :, None]
    return out, theta


def crop_offsets(h, w, size, rng=None):
    """(y, x) of a size × size crop: uniform with ``rng`` (TRAIN), central without (TEST)."""
    if h < size or w < size:
        raise ValueError("crop_size %d is larger than the image (%d x %d)" % (size, h, w))
    if rng is None:
        return (h - size) // 2, (w - size) // 2
    return int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))


def random_erase(img, rng, p=0.5, area=(0.02, 0.4), aspect=0.3, attempts=100):
    """Erase one random rectangle of ``img`` in place with random values (see the module docstring);
    returns the rectangle (y, x, h, w) or None when nothing was erased."""
    if rng.random() >= p:
        return None
    h, w, c = img.shape
    lo, hi = float(area[0]), float(area[1])
    r1 = float(aspect)
    r_lo, r_hi = min(r1, 1.0 / r1), max(r1, 1.0 / r1)
    for _ in range(int(attempts)):
        target = rng.uniform(lo, hi) * h * w
        ratio = rng.uniform(r_lo, r_hi)
        eh = int(round(math.sqrt(target * ratio)))
        ew = int(round(math.sqrt(target / ratio)))
        y = int(rng.integers(0, h))
        x = int(rng.integers(0, w))
        if 0 < eh and 0 < ew and y + eh <= h and x + ew <= w:
            img[y:y + eh, x:x + ew, :] = rng.integers(0, 256, (eh, ew, c), dtype=np.uint8)
            return y, x, eh, ew
    return None


def augment(img, rng, crop_size=0, max_rotate=0.0, mirror=False, erase=None, train=True, random_crop=True):
    """One image through rotation → crop → mirror → random erasing (TRAIN) or the centre crop (TEST);
    returns a new uint8 H' × W' × C array.  ``erase`` is None (off) or a dict of random_erase's
    keyword arguments; ``random_crop`` False crops the centre in TRAIN too."""
    if img.ndim == 2:
        img = img[:, :, None]
    if train and max_rotate:
        img, _ = rotate(img, rng, max_rotate)
    if crop_size:
        y, x = crop_offsets(img.shape[0], img.shape[1], crop_size, rng if train and random_crop else None)
        img = img[y:y + crop_size, x:x + crop_size]
    if train and mirror and rng.random() < 0.5:
        img = img[:, ::-1]
    img = np.ascontiguousarray(img)
    if not img.flags.writeable:  # a raw Datum's pixels are a read-only view of the record
        img = img.copy()
    if train and erase:
        random_erase(img, rng, **erase)
    return img
