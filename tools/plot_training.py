#!/usr/bin/env python3
"""Plot a Caffe / fashioncaffe training log: train loss and test outputs against iterations.

    python tools/plot_training.py LOGFILE OUT.png [--title T] [--outputs accuracy,loss]

Uses :mod:`parse_log` (Caffe's parse_log semantics).  Left axis: every train output; right axis:
every test output (or those named by ``--outputs``).  Writes a PNG with matplotlib (Agg backend).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from parse_log import parse_log  # noqa: E402

_FIXED = ("NumIters", "Seconds", "LearningRate")


def _series(rows):
    names = []
    for r in rows:
        names += [k for k in r if k not in _FIXED and k not in names]
    return {n: ([r["NumIters"] for r in rows if n in r], [r[n] for r in rows if n in r]) for n in names}


def plot(log_path, out_png, title=None, outputs=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, test = parse_log(log_path)
    if not train and not test:
        raise SystemExit(f"{log_path}: no 'Train net output' or 'Test net output' lines found.")
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, (x, y) in _series(train).items():
        ax.plot(x, y, label=f"train {name}", lw=1)
    ax.set_xlabel("iteration")
    ax.set_ylabel("train output")
    test_series = _series(test)
    if outputs:
        test_series = {k: v for k, v in test_series.items() if k in outputs}
    if test_series:
        ax2 = ax.twinx()
        for i, (name, (x, y)) in enumerate(test_series.items()):
            ax2.plot(x, y, "o--", color=f"C{i + 3}", label=f"test {name}", ms=3)
        ax2.set_ylabel("test output")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, loc="best")
    else:
        ax.legend(loc="best")
    ax.set_title(title or os.path.basename(log_path))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("logfile")
    ap.add_argument("png")
    ap.add_argument("--title")
    ap.add_argument("--outputs", default="", help="comma-separated test outputs to plot (default all)")
    a = ap.parse_args(argv)
    plot(a.logfile, a.png, a.title, [s for s in a.outputs.split(",") if s] or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
