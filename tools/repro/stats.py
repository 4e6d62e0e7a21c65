"""Statistics shared by the papers' reports: paired bootstrap over test items, mean ± std over seeds."""
from __future__ import annotations

import math

import numpy as np

N_BOOT = 2000


def paired_bootstrap(num_a, num_b, den=None, den_b=None, n_boot=N_BOOT, seed=0):
    """95 % interval of ratio(a) − ratio(b) over the same test items resampled with replacement,
    ratio = Σ num / Σ den (den: ones when None, i.e. a mean).  Returns (difference, low, high)."""
    num_a, num_b = np.asarray(num_a, np.float64), np.asarray(num_b, np.float64)
    den_a = np.ones_like(num_a) if den is None else np.asarray(den, np.float64)
    den_b = den_a if den_b is None else np.asarray(den_b, np.float64)
    if len(num_a) != len(num_b) or len(num_a) == 0:
        raise ValueError("paired_bootstrap: both results must be per item of the same, non-empty test set")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(num_a), size=(n_boot, len(num_a)))
    diff = num_a[idx].sum(1) / np.maximum(den_a[idx].sum(1), 1e-12) - \
        num_b[idx].sum(1) / np.maximum(den_b[idx].sum(1), 1e-12)
    point = num_a.sum() / max(den_a.sum(), 1e-12) - num_b.sum() / max(den_b.sum(), 1e-12)
    lo, hi = np.percentile(diff, [2.5, 97.5])
    return float(point), float(lo), float(hi)


def verdict(low, high):
    """held (interval above 0), did NOT hold (below 0), not established (contains 0)."""
    if low > 0:
        return "held"
    if high < 0:
        return "did NOT hold (significantly lower)"
    return "not established (within noise)"


def usable(values):
    """True when there is at least one value and none is missing or NaN."""
    return bool(values) and all(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in values)


def mean_std(values):
    """(mean, sample std or None with one value) of per-seed values; None when not :func:`usable`."""
    if not usable(values):
        return None
    m = float(np.mean(values))
    return m, (float(np.std(values, ddof=1)) if len(values) > 1 else None)
