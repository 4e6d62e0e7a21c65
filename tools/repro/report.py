"""The papers' reports: tables with the paper's numbers beside ours, claims, plots -- one module.

A paper's ``report.py`` declares

* ``TITLE`` (the paper in a line) and ``PAPER_SOURCE`` (what the paper's numbers are: dataset, net,
  where transcribed from) -- shown in every header;
* ``TABLES = {name: Table(title, variants, build)}`` -- ``build(exp, runs) -> [markdown lines]``
  writes the table's body (and its plots into ``exp.out_dir``) from the :class:`Runs`;
* ``CLAIMS = [Claim(statement, better, worse, outcome, metric)]`` -- the paper's claims, decided by
  a paired bootstrap over the test items (:func:`claims_section`);
* optionally ``header_lines(exp, runs) -> [str]`` (extra header lines),
  ``invalid_run(runs, variant) -> reason | None`` (a failed run whose claims are no evidence, e.g.
  "collapsed in training") and
  ``claim_notes(exp, runs) -> [str]`` (lines after the claims: diagnostics, test-set sizes).

:func:`write_report` writes ``<out>/<table>.md`` per table (header + body) and, when every table is
asked for, ``<out>/report.md`` (header, every table, the claims).  Cells are ``mean ± std`` over the
seeds (:func:`cell`); the header states the scale, the data (synthetic or real), the seeds, the
device, the training per run and the commit.
"""
from __future__ import annotations

import datetime
import math
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import results as R
from .stats import mean_std, paired_bootstrap, usable, verdict


@dataclass
class Table:
    """One of the paper's tables or figures: ``variants`` are the runs it needs (what
    ``make paperNNN-<name>`` trains); ``build(exp, runs)`` returns its markdown body."""
    title: str
    variants: list
    build: Callable


@dataclass
class Claim:
    """``better`` > ``worse`` on the per-item ``outcome`` (the paper's ``metrics.outcome(tasks, name)``),
    shown with the results.json ``metric`` path (scaled by ``scale``)."""
    statement: str
    better: str
    worse: str
    outcome: str
    metric: str
    scale: float = 100.0


# ----------------------------------------------------------------------------------------------
def lookup(record, path):
    """The value at a dotted ``path`` ("metrics.category.top3", "metrics.inshop.topk.19") or None."""
    cur = record
    for part in path.split(".") if isinstance(path, str) else path:
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, (list, tuple)) and str(part).lstrip("-").isdigit() and -len(cur) <= int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
        if cur is None:
            return None
    return cur


class Runs:
    """The results.json of an experiment's runs, by variant (seeds in order); predictions on demand."""

    def __init__(self, exp):
        self.exp = exp
        self.by_variant: dict = {}
        for v in exp.config.VARIANTS:
            for seed in exp.seeds:
                p = os.path.join(exp.run_dir(v, seed), R.RESULTS)
                if os.path.isfile(p):
                    self.by_variant.setdefault(v, []).append(R.load_results(p))
        self._pred: dict = {}

    def __bool__(self):
        return bool(self.by_variant)

    def __contains__(self, variant):
        return variant in self.by_variant

    @property
    def variants(self):
        return list(self.by_variant)

    def results(self, variant):
        return self.by_variant.get(variant, [])

    def first(self):
        return next(r for rs in self.by_variant.values() for r in rs)

    def values(self, variant, path, scale=1.0):
        """Per seed the value at ``path`` (times ``scale``), None where missing."""
        out = []
        for r in self.results(variant):
            v = lookup(r, path)
            out.append(None if v is None else float(v) * scale)
        return out

    def mean(self, variant, path, scale=1.0):
        ms = mean_std(self.values(variant, path, scale))
        return None if ms is None else ms[0]

    def predictions(self, variant):
        """{seed: predictions tasks} of a variant's runs."""
        if variant not in self._pred:
            self._pred[variant] = {r["seed"]: R.load_predictions(os.path.join(self.exp.run_dir(variant, r["seed"]),
                                                                             R.PREDICTIONS))
                                   for r in self.results(variant)}
        return self._pred[variant]


# ----------------------------------------------------------------------------------------------
# cells and tables
def number(v, digits=2, scale=1.0):
    """A single number, "—" when missing."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{float(v) * scale:.{digits}f}"


def cell(values, digits=2, bold=False):
    """Per-seed values as "mean ± std" (sample std; the mean alone with one seed); "n/a" when a
    value is missing in some seed or there is none."""
    ms = mean_std(values)
    if ms is None:
        return "n/a"
    s = f"{ms[0]:.{digits}f}" + (f" ± {ms[1]:.{digits}f}" if ms[1] is not None else "")
    return f"**{s}**" if bold else s


def markdown(columns, rows):
    """A markdown table: header ``columns`` and ``rows`` (lists of cells)."""
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def mean_curve(runs, variant, path):
    """The mean over seeds of a per-k list at ``path`` (top-k curves), cut to the shortest; None if absent."""
    curves = [lookup(r, path) for r in runs.results(variant)]
    curves = [c for c in curves if c]
    if not curves:
        return None
    n = min(len(c) for c in curves)
    return np.mean([c[:n] for c in curves], axis=0)


def write_csv(path, first, columns):
    """``first`` = (name, values) of the first column; ``columns`` = {name: values} (shorter ones padded)."""
    n = max([len(first[1])] + [len(c) for c in columns.values()])
    with open(path, "w") as f:
        f.write(",".join([first[0]] + list(columns)) + "\n")
        for i in range(n):
            cells = [str(first[1][i]) if i < len(first[1]) else ""]
            cells += ["" if i >= len(c) or c[i] is None or (isinstance(c[i], float) and math.isnan(c[i]))
                      else f"{c[i]:.4f}" for c in columns.values()]
            f.write(",".join(cells) + "\n")
    return path


# ----------------------------------------------------------------------------------------------
def _training_line(exp, runs, variants=None):
    parts = []
    for v in [v for v in runs.variants if variants is None or v in variants]:
        rs = runs.results(v)
        it = sum(rs[0]["iterations"].values())
        wall = [r["wall_seconds"]["train_total"] for r in rs]
        cpu = [r["cpu_seconds"]["train_total"] for r in rs]
        seeds = [r["seed"] for r in rs]
        note = "" if seeds == list(exp.seeds) else f", seeds {', '.join(map(str, seeds))} only"
        parts.append(f"{v} {it} it, {np.mean(wall):.0f}s wall / {np.mean(cpu):.0f}s CPU{note}")
    return "- Training per run (iterations over all stages; mean time over seeds): " + "; ".join(parts) + "."


def header(exp, runs, title, extra=(), variants=None):
    """The lines every table and report starts with: what was measured, on what, how often
    (``variants``: the runs the table shows; default all)."""
    rep = exp.paper.report
    shown = [r for v in runs.variants if variants is None or v in variants for r in runs.results(v)]
    r0 = shown[0] if shown else runs.first()
    data = (f"`{exp.data_tag}` (**SYNTHETIC**: the data_prep.wardrobe images, not the paper's dataset)"
            if exp.synthetic else f"`{exp.data_tag}` (real data from {exp.source()})")
    seeds = ", ".join(map(str, exp.seeds))
    cells = "mean ± std over seeds" if len(exp.seeds) > 1 else "one seed, no spread"
    lines = [f"# Paper {exp.paper.number} — {title}", "",
             f"- **Ours, measured**: scale `{exp.scale}` ({exp.cfg.get('arch', '')}); data {data}; seeds: {seeds} "
             f"(cells: {cells}); device {r0['device']}, precision {r0['precision']}; commit {r0['commit']}.",
             _training_line(exp, runs, variants)]
    lines += list(extra)
    lines.append(f"- **Paper** numbers (labelled `paper`): {rep.PAPER_SOURCE} Transcribed from the paper, "
                 "not measured here.")
    if exp.smoke:
        lines.append(f"- **smoke test**: scale `{exp.scale}` runs a handful of iterations to exercise the pipeline "
                     "end to end; its numbers mean nothing.")
    lines.append(f"- Generated {datetime.datetime.now().isoformat(timespec='seconds')} by `python -m "
                 f"{exp.paper.package} report --scale {exp.scale} --data {exp.data} --seeds \"{' '.join(map(str, exp.seeds))}\"`.")
    return lines + [""]


# ----------------------------------------------------------------------------------------------
def _outcomes(runs, variant, name):
    """{seed: (ids, num, den or None)} of a variant's per-item outcome from its predictions."""
    metrics = runs.exp.paper.metrics
    return {seed: metrics.outcome(tasks, name) for seed, tasks in runs.predictions(variant).items()}


def compare(runs, claim):
    """(better's value, worse's value, (difference, low, high) or None) of a claim."""
    x = runs.mean(claim.better, claim.metric, claim.scale) if claim.better in runs else None
    y = runs.mean(claim.worse, claim.metric, claim.scale) if claim.worse in runs else None
    if x is None or y is None:
        return x, y, None
    oa, ob = _outcomes(runs, claim.better, claim.outcome), _outcomes(runs, claim.worse, claim.outcome)
    seeds = sorted(set(oa) & set(ob))
    if not seeds or any(not np.array_equal(oa[s][0], ob[s][0]) for s in seeds):
        return x, y, None  # not the same test items: no paired comparison
    cat = lambda o, i: np.concatenate([np.asarray(o[s][i], np.float64) for s in seeds])  # noqa: E731
    den_a = cat(oa, 2) if oa[seeds[0]][2] is not None else None
    den_b = cat(ob, 2) if ob[seeds[0]][2] is not None else None
    return x, y, paired_bootstrap(cat(oa, 1), cat(ob, 1), den_a, den_b)


def claims_section(exp, runs):
    """The paper's claims (``report.CLAIMS``) as verdict lines, tested for noise."""
    rep = exp.paper.report
    out = ["## Claims", "",
           "Each verdict compares two variants on the same test items: the difference of the measured numbers "
           "and its 95 % interval from 2,000 paired bootstrap resamples of the test items (seeds pooled). "
           "Held = interval above 0; did NOT hold = below 0; not established = the interval contains 0.", ""]
    if exp.smoke:
        out += [f"Scale `{exp.scale}` is a smoke test: the verdicts below are no evidence either way.", ""]
    invalid = getattr(rep, "invalid_run", None)
    for c in rep.CLAIMS:
        x, y, boot = compare(runs, c)
        if x is None or y is None:
            out.append(f"- {c.statement}: not measured")
            continue
        if boot is None:
            out.append(f"- {c.statement}: {'higher' if x > y else 'not higher'} (no paired per-item outcomes: not "
                       f"tested for noise) ({x:.2f} vs {y:.2f})")
            continue
        d, lo, hi = boot
        v = verdict(lo, hi)
        failed = [(name, invalid(runs, name)) for name in (c.better, c.worse) if invalid and invalid(runs, name)]
        if failed:
            reasons = {r for _, r in failed}
            v = "no evidence (" + (" and ".join(n for n, _ in failed) + f" {reasons.pop()}" if len(reasons) == 1
                                   else " and ".join(f"{n} {r}" for n, r in failed)) + ")"
        s = c.scale
        out.append(f"- {c.statement}: **{v}** — {x:.2f} vs {y:.2f}, difference {s * d:+.2f} points, "
                   f"95 % interval [{s * lo:+.2f}, {s * hi:+.2f}]")
    if hasattr(rep, "claim_notes"):
        out += rep.claim_notes(exp, runs)
    return out + [""]


def write_report(exp, tables=None):
    """Write the tables (all when ``tables`` is empty, then report.md with the claims); their paths."""
    rep = exp.paper.report
    runs = Runs(exp)
    if not runs:
        raise SystemExit(f"{exp.out_dir}: no results.json for seeds {exp.seeds}; run the train and evaluate "
                         f"steps first (python -m {exp.paper.package} all --scale {exp.scale})")
    unknown = [t for t in tables or [] if t not in rep.TABLES]
    if unknown:
        raise SystemExit(f"paper {exp.paper.number}: no table {', '.join(unknown)} (tables: {', '.join(rep.TABLES)})")
    os.makedirs(exp.out_dir, exist_ok=True)
    extra = rep.header_lines(exp, runs) if hasattr(rep, "header_lines") else []
    written, sections = [], []
    for name in tables or list(rep.TABLES):
        t = rep.TABLES[name]
        body = t.build(exp, runs)
        sections += [f"## {t.title}", ""] + body + [""]
        text = "\n".join(header(exp, runs, t.title, extra, t.variants) + body) + "\n"
        written.append(R.write_text(os.path.join(exp.out_dir, f"{name}.md"), text))
        print(text)
    if not tables:
        text = "\n".join(header(exp, runs, rep.TITLE, extra) + sections + claims_section(exp, runs)) + "\n"
        written.append(R.write_text(os.path.join(exp.out_dir, "report.md"), text))
        print(text.split("## Claims", 1)[-1] if "## Claims" in text else "")
    for p in written:
        print(f"[{exp.paper.name}] wrote {p}", flush=True)
    return written
