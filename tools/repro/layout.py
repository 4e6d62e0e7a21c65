"""Where a reproduction's files live (one layout for every paper) and the experiment being run.

Paths are relative to the working directory (the repository root for ``make``; a temporary folder in
the tests), so one pipeline can run anywhere without writing into the repository's ``runs/``::

    runs/paperNNN/
      data/<data>-<data scale>/       the paper's converted data (``data.prepare``)
      nets/<scale>/{prototxt,solvers}/paperNNN/   generated nets of the scales that are not committed
      <data>-<scale>/                 one experiment: <table>.md, plots, report.md
        <variant>/seed<N>/            one run: its nets and solvers, <stage>.log, snapshots,
                                      training.json, predictions.npz (+ predictions_info.json),
                                      results.json

``<data>`` is ``synthetic`` (the wardrobe of ``data_prep.wardrobe``) or ``real-<folder name>``.
The synthetic wardrobe of a scale is shared by every paper: ``runs/wardrobe/<data scale>``.
"""
from __future__ import annotations

import os
import re

from .registry import Paper, load

RUNS = "runs"
#: scales every paper defines; ``ci`` is the end-to-end smoke run (its numbers mean nothing)
SCALES = ("ci", "tiny", "small", "full")
#: scales whose nets are committed (prototxt/paperNNN/<scale>, solvers/paperNNN/<scale>)
COMMITTED_SCALES = ("tiny", "full")


def repo_root() -> str:
    """The repository root (the folder holding tools/, layers/, data_prep/)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def python_env() -> dict:
    """The environment for the pipeline's subprocesses (``python -m data_prep...``, ``python -m
    fashioncaffe train``): the repository root on PYTHONPATH, so that ``data_prep``, ``tools`` and the
    prototxts' ``python_param { module: "layers...." }`` import from any working directory (they are
    folders of the repository, not installed packages)."""
    env = dict(os.environ)
    root = repo_root()
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        env["PYTHONPATH"] = os.pathsep.join([root] + paths)
    return env


def slug(name: str) -> str:
    """A name as a file / layer-name fragment: "Length of Sleeve" -> "length_of_sleeve"."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def is_synthetic(data: str) -> bool:
    return data in ("", "synthetic")


def data_tag(data: str) -> str:
    """``synthetic`` or ``real-<folder name>``: the data part of folder names."""
    return "synthetic" if is_synthetic(data) else "real-" + slug(os.path.basename(os.path.normpath(data)))


def parse_seeds(text) -> list:
    """``"1 2 3"``, ``"1,2,3"`` or a list -> [1, 2, 3]; empty -> []."""
    if isinstance(text, (list, tuple)):
        return [int(s) for s in text]
    return [int(s) for s in (text or "").replace(",", " ").split()]


def parse_names(text) -> list:
    """``"a,b"`` / ``"a b"`` / a list -> ["a", "b"]; empty -> []."""
    if isinstance(text, (list, tuple)):
        return [str(s) for s in text]
    return [s for s in (text or "").replace(",", " ").split() if s]


class Experiment:
    """One paper at one scale on one data source: its seeds, variants, device and folders.

    ``variants`` / ``seeds`` default to the scale's (``config.SCALES[scale]["variants"]`` when given,
    else ``config.VARIANTS``; ``config.SCALES[scale]["seeds"]``).  ``gpus``: device ids ([] = CPU).
    ``weights``: initial weights for the first training stage (the paper's ``netgen.run_plan`` maps
    them).  ``force``: redo work whose outputs exist.
    """

    def __init__(self, paper, scale="tiny", data="synthetic", seeds=None, variants=None, gpus=(), force=False,
                 weights="", workers=None):
        self.paper: Paper = paper if isinstance(paper, Paper) else load(paper)
        config = self.paper.config
        if scale not in config.SCALES:
            raise SystemExit(f"paper {self.paper.number}: unknown scale {scale!r} (one of {', '.join(config.SCALES)})")
        self.scale = scale
        self.data = data or "synthetic"
        self.cfg = config.SCALES[scale]
        self.seeds = parse_seeds(seeds) or list(self.cfg["seeds"])
        self.variants = parse_names(variants) or list(self.cfg.get("variants", config.VARIANTS))
        unknown = [v for v in self.variants if v not in config.VARIANTS]
        if unknown:
            raise SystemExit(f"paper {self.paper.number}: unknown variant(s) {', '.join(unknown)} "
                             f"(known: {', '.join(config.VARIANTS)})")
        self.gpus = list(gpus or [])
        self.force = bool(force)
        self.weights = weights or ""
        self.workers = workers

    # ------------------------------------------------------------------------------------------
    @property
    def config(self):
        return self.paper.config

    @property
    def synthetic(self) -> bool:
        return is_synthetic(self.data)

    @property
    def data_tag(self) -> str:
        return data_tag(self.data)

    @property
    def data_scale(self) -> str:
        """The scale whose data this scale reads (``ci`` reads ``tiny``'s)."""
        return self.cfg.get("data_scale", self.scale)

    @property
    def smoke(self) -> bool:
        """True at the smoke-test scale (``ci``): the pipeline runs, the numbers mean nothing."""
        return bool(self.cfg.get("smoke"))

    @property
    def device(self) -> str:
        return f"cuda:{','.join(map(str, self.gpus))}" if self.gpus else "cpu"

    @property
    def paper_dir(self) -> str:
        return f"{RUNS}/{self.paper.name}"

    @property
    def data_dir(self) -> str:
        """The paper's converted data for this source and scale."""
        return f"{self.paper_dir}/data/{self.data_tag}-{self.data_scale}"

    @property
    def out_dir(self) -> str:
        """The experiment's folder: tables, plots, report.md, one sub-folder per run."""
        return f"{self.paper_dir}/{self.data_tag}-{self.scale}"

    def run_dir(self, variant: str, seed: int) -> str:
        return f"{self.out_dir}/{variant}/seed{int(seed)}"

    def nets_root(self) -> str:
        """Where ``nets`` writes this scale's generated files: the repository for committed scales,
        ``runs/paperNNN/nets/<scale>`` for the others."""
        return "." if self.scale in COMMITTED_SCALES else f"{self.paper_dir}/nets/{self.scale}"

    def wardrobe(self) -> str:
        """The synthetic wardrobe of the data scale (generated on first use, shared by the papers)."""
        from data_prep import wardrobe

        out = wardrobe.default_dir(self.data_scale)
        if not os.path.isfile(os.path.join(out, "README.md")):
            print(f"[{self.paper.name}] generating the synthetic wardrobe ({self.data_scale}) in {out}", flush=True)
        return wardrobe.ensure(out, self.data_scale, workers=self.workers)

    def source(self) -> str:
        """Where the data come from, as written into results.json."""
        if self.synthetic:
            from data_prep import wardrobe

            return f"synthetic wardrobe ({wardrobe.default_dir(self.data_scale)})"
        return os.path.abspath(self.data)

    def describe(self) -> str:
        return (f"paper {self.paper.number}, scale {self.scale}, data {self.data_tag}, seeds "
                f"{' '.join(map(str, self.seeds))}, device {self.device}")
