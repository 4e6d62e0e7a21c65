"""Plots of the papers' reports (matplotlib, written to files): curves and grouped bars."""
from __future__ import annotations

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curves(path, title, xlabel, ylabel, series, marks=None, ylim=(0, 1)):
    """Line plot: ``series`` {name: (x, y)}; ``marks`` {name: (x, y)} single points (e.g. the paper's)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, (x, y) in series.items():
        ax.plot(x, y, label=name)
    for (name, (x, y)), m in zip((marks or {}).items(), "*^vsD"):
        ax.plot([x], [y], "k" + m, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def grouped_bars(path, suptitle, categories, panels, ylabel, ylim=(0, 100)):
    """One panel per (title, {series name: (values, errors or None)}) with a bar per category and series
    (NaN = no bar): e.g. per-class / per-group metrics of several methods, the paper's above ours."""
    plt = _pyplot()
    x = np.arange(len(categories))
    fig, axes = plt.subplots(len(panels), 1, figsize=(16, 4 * len(panels)), sharex=True, squeeze=False)
    for ax, (title, series) in zip(axes[:, 0], panels):
        w = 0.8 / max(1, len(series))
        for i, (name, (vals, errs)) in enumerate(series.items()):
            off = (i - (len(series) - 1) / 2) * w
            ax.bar(x + off, [np.nan if v is None else v for v in vals], w, yerr=errs, label=name)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        if ylim:
            ax.set_ylim(*ylim)
        ax.legend(ncol=4, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[-1, 0].set_xticks(x)
    axes[-1, 0].set_xticklabels(categories, rotation=60, ha="right", fontsize=8)
    fig.suptitle(suptitle)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
