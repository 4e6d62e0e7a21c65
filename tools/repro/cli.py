"""The one command shape of every paper: ``python -m tools.paperNNN <step> [flags]``.

Steps::

    data       convert the data source for the scale (idempotent; --force converts again)
    nets       (re)write the committed nets (tiny, full) from the generator, and the --scale's when it
               is another one (into runs/paperNNN/nets/<scale>); with --check compare instead
    train      train every (variant, seed) run; finished stages are not repeated
    evaluate   predictions.npz + results.json of every trained run
    report     the tables (--tables) with the paper's numbers beside ours, plots, claims
    all        data, then train + evaluate each run, then report

Flags (the same for every paper)::

    --scale ci|tiny|small|full      --data synthetic|<dataset folder>     --seeds "1 2 3"
    --gpu 0|0,1|all                 --variants a,b                        --tables t1,t2
    --force                         --weights <caffemodel> (first stage)  --workers N (data)

Defaults: the scale's seeds and variants (``config.SCALES``); with ``--tables`` and no
``--variants``, the variants those tables need.
"""
from __future__ import annotations

import argparse
import os
import sys

from . import nets
from .layout import COMMITTED_SCALES, SCALES, Experiment, parse_names, repo_root
from .registry import Paper

STEPS = ("data", "nets", "train", "evaluate", "report", "all")


def build_parser(paper: Paper):
    ap = argparse.ArgumentParser(prog=f"python -m {paper.package}",
                                 description=f"Paper {paper.number} reproduction: {paper.report.TITLE}",
                                 epilog=__doc__.split("Steps::", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=STEPS)
    ap.add_argument("--scale", default="tiny", choices=SCALES)
    ap.add_argument("--data", default="synthetic", help="'synthetic' (the wardrobe) or the dataset's folder")
    ap.add_argument("--seeds", default="", help="e.g. '1 2 3' (default: the scale's)")
    ap.add_argument("--gpu", default="", help="GPU ids: 0, 0,1 or all (default: CPU)")
    ap.add_argument("--variants", default="", help="comma-separated (default: the scale's, or the tables')")
    ap.add_argument("--tables", default="", help="comma-separated tables of the report (default: all)")
    ap.add_argument("--force", action="store_true", help="redo the step's work even where its outputs exist")
    ap.add_argument("--weights", default="", help="initial weights of every run's first training stage")
    ap.add_argument("--workers", type=int, default=None, help="processes for data generation / conversion")
    ap.add_argument("--check", action="store_true", help="nets: compare the committed files, write nothing")
    return ap


def _gpus(spec):
    from fashioncaffe.cli import parse_gpus
    from fashioncaffe.errors import FashionCaffeError

    try:
        return parse_gpus(spec)
    except FashionCaffeError as e:
        raise SystemExit(str(e)) from None


def default_variants(paper, scale, tables):
    """The variants the tables need, among those the scale trains by default."""
    cfg = paper.config.SCALES[scale]
    allowed = list(cfg.get("variants", paper.config.VARIANTS))
    if not tables:
        return allowed
    need = {v for t in tables for v in paper.report.TABLES[t].variants}
    return [v for v in allowed if v in need]


def experiment(paper, a) -> Experiment:
    tables = parse_names(a.tables)
    unknown = [t for t in tables if t not in paper.report.TABLES]
    if unknown:
        raise SystemExit(f"paper {paper.number}: no table {', '.join(unknown)} (tables: {', '.join(paper.report.TABLES)})")
    variants = parse_names(a.variants) or default_variants(paper, a.scale, tables)
    if not variants:
        raise SystemExit(f"paper {paper.number}: scale {a.scale} trains none of the variants of {', '.join(tables)}")
    return Experiment(paper, scale=a.scale, data=a.data, seeds=a.seeds, variants=variants, gpus=_gpus(a.gpu),
                      force=a.force, weights=a.weights, workers=a.workers)


def run_nets(paper, scale, check):
    """The committed scales into the repository (wherever the command runs), another scale's nets
    under the working directory's runs/."""
    if check:
        return nets.check_main(paper, repo_root())
    n = nets.write(nets.generated(paper), repo_root())
    print(f"{paper.name}: wrote {n} files under prototxt/{paper.name}/ and solvers/{paper.name}/ "
          f"({', '.join(COMMITTED_SCALES)})")
    if scale not in COMMITTED_SCALES:
        root = Experiment(paper, scale=scale).nets_root()
        n = nets.write(nets.relocated(paper.netgen.generate(scale), root))
        print(f"{paper.name}: wrote {n} files of scale {scale} under {root}/ (not committed)")
    return 0


def main(number, argv=None) -> int:
    from .evaluation import evaluate_run
    from .report import write_report
    from .training import train_run

    paper = Paper(number)
    a = build_parser(paper).parse_args(argv)
    if a.step == "nets":
        return run_nets(paper, a.scale, a.check)
    exp = experiment(paper, a)
    print(f"[{paper.name}] {a.step}: {exp.describe()}; variants {', '.join(exp.variants)}", flush=True)
    if a.step in ("data", "train", "all"):
        paper.data.prepare(exp)
    if a.step in ("train", "evaluate", "all"):
        for seed in exp.seeds:
            for variant in exp.variants:
                if a.step != "evaluate":
                    train_run(exp, variant, seed)
                if a.step != "train":
                    evaluate_run(exp, variant, seed)
    if a.step in ("report", "all"):
        write_report(exp, parse_names(a.tables))
    return 0


def run_module(number):
    """``tools/paperNNN/__main__.py``: ``run_module("NNN")``."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(number))
