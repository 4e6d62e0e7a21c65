#!/usr/bin/env python3
"""Plot a Caffe / fashioncaffe training log: the training loss, then the test outputs, against iterations.

    .venv/bin/python tools/plot_training.py LOGFILE OUT.png [--title T] [--outputs accuracy,loss]

Reads the log with :mod:`parse_log` (Caffe's parse_log semantics).  Top panel: the solver's training
loss (its "Iteration N, loss = X" lines, the last iteration included) and, when the net has several
training outputs, each of them.  Below, on their own axes and scales: the test losses, and the other
test outputs (accuracies, ...), each a line over the iterations at which the net was tested.  Writes a
PNG with matplotlib (Agg backend).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from parse_log import parse_log, parse_solver_loss  # noqa: E402

_FIXED = ("NumIters", "Seconds", "LearningRate")
MAX_SERIES = 8  # more lines than this on one axis are not readable: the rest are listed in a note


def _series(rows):
    names = []
    for r in rows:
        names += [k for k in r if k not in _FIXED and k not in names]
    return {n: ([r["NumIters"] for r in rows if n in r], [r[n] for r in rows if n in r]) for n in names}


def panels(log_path, outputs=None):
    """What the figure shows: ``(net name, [(panel title, y label, {series label: (iterations, values)})])``.

    Training first (the solver's loss, plus each training output when there are several), then the
    test losses and the other test outputs on panels of their own, so each keeps its own scale."""
    train, test = parse_log(log_path)
    net_name, solver_loss = parse_solver_loss(log_path)
    if not train and not test and not solver_loss:
        raise SystemExit(f"{log_path}: no 'Iteration N, loss = X', 'Train net output' or 'Test net output' lines "
                         "found; is it a Caffe / fashioncaffe training log?")
    training = {}
    if solver_loss:
        it, loss = zip(*solver_loss)
        training["training loss (the solver's 'Iteration N, loss' lines)"] = (list(it), list(loss))
    train_series = _series(train)
    if not (len(train_series) == 1 and solver_loss):  # a lone training output is the loss itself
        training.update({f"train {k}": v for k, v in train_series.items()})
    test_series = _series(test)
    if outputs:
        test_series = {k: v for k, v in test_series.items() if k in outputs}
    test_losses = {f"test {k}": v for k, v in test_series.items() if "loss" in k.lower()}
    test_other = {f"test {k}": v for k, v in test_series.items() if "loss" not in k.lower()}
    out = [("training (every display iteration)", "training", training)]
    if test_losses:
        out.append(("test net losses (each test pass)", "test loss", test_losses))
    if test_other:
        out.append(("other test net outputs (each test pass)", "test output", test_other))
    return net_name, out


def plot(log_path, out_png, title=None, outputs=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    net_name, spec = panels(log_path, outputs)
    fig, axes = plt.subplots(len(spec), 1, figsize=(8, 3.2 * len(spec) + 0.6), sharex=True, squeeze=False)
    xs = []
    for ax, (panel_title, ylabel, series) in zip(axes[:, 0], spec):
        shown = list(series.items())[:MAX_SERIES]
        for i, (name, (x, y)) in enumerate(shown):
            style = "o-" if len(x) < 30 else "-"  # markers keep a single test pass visible
            ax.plot(x, y, style, ms=3, lw=1.6 if name.startswith("training loss") else 1.1,
                    color="k" if name.startswith("training loss") else f"C{i}", label=name)
            xs += list(x)
        if len(series) > len(shown):
            ax.text(0.99, 0.02, f"{len(series) - len(shown)} more outputs not drawn (parse_log.py's tables "
                    "hold them all)", transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.4")
        ax.legend(loc="best", fontsize=7, ncol=2 if len(shown) > 4 else 1)
        ax.set_title(panel_title, fontsize=9, loc="left")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    if xs:
        pad = max(1.0, 0.03 * (max(xs) - min(xs)))
        axes[-1, 0].set_xlim(min(xs) - pad, max(xs) + pad)  # a test pass only at the end shows on the same axis
    axes[-1, 0].set_xlabel("iteration")
    head = title or (f"Training curve of net '{net_name}'" if net_name else "Training curve")
    fig.suptitle(f"{head}\n{log_path}", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("logfile", help="a Caffe or fashioncaffe training log")
    ap.add_argument("png", help="the PNG to write (its folder is created when missing)")
    ap.add_argument("--title", help="figure title (default: 'Training curve of net <name>' from the log)")
    ap.add_argument("--outputs", default="", help="comma-separated test outputs to plot (default all)")
    a = ap.parse_args(argv)
    if not os.path.isfile(a.logfile):
        ap.error(f"{a.logfile}: no such log file")
    plot(a.logfile, a.png, a.title, [s for s in a.outputs.split(",") if s] or None)
    print(f"wrote {a.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
