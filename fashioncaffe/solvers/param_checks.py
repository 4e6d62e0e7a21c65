"""Solver settings BVLC Caffe accepts but that are almost always mistakes (warned about once, and
still honoured, as BVLC honours them), and runs that would train nothing (refused).

Warned (BVLC's solver.cpp / sgd_solver.cpp check none of these):

* ``base_lr`` < 0: every step climbs the loss;
* ``momentum`` >= 1 (SGD, Nesterov, AdaDelta's decay): the history never decays, so the steps grow without bound;
  ``momentum`` < 0 likewise makes no sense;
* ``clip_gradients: 0``: every gradient is scaled to norm 0, only weight decay moves the weights;
* a TRAIN net without a loss: no gradient reaches any parameter (unless a callback writes diffs).

Refused: ``max_iter`` <= the starting iteration (0, negative, or a snapshot already at max_iter):
"Optimization Done" after training nothing, and no snapshot to show for it.
"""
from __future__ import annotations

import re

from .. import logging_caffe as log
from ..errors import fail

__all__ = ["warn_dubious_settings", "check_has_iterations"]


def _where(solver, field: str) -> str:
    """``file, line N (field)`` of a solver setting, as precisely as the file tells."""
    path = solver.solver_file
    if not path:
        return f"solver parameter {field}"
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                if re.search(rf"(^|[\s{{]){re.escape(field)}\s*:", line.split("#", 1)[0]):
                    return f"{path}, line {n} ({field})"
    except OSError:
        pass
    return f"{path} ({field})"


def warn_dubious_settings(solver) -> None:
    p = solver.param
    warn = log.warning_once
    if p.base_lr < 0:
        warn(f"{_where(solver, 'base_lr')}: base_lr is {log.fmt(p.base_lr)}, negative: every update moves the weights up the "
             "gradient, so the loss grows. BVLC Caffe accepts it and so does fashioncaffe; a learning rate is "
             "meant to be >= 0.", "sgd_solver.cpp:0")
    if solver.type in ("SGD", "Nesterov", "AdaDelta") and not 0 <= p.momentum < 1:
        warn(f"{_where(solver, 'momentum')}: momentum is {log.fmt(p.momentum)}; outside [0, 1) the update history never "
             "decays (>= 1) or flips sign (< 0), and training diverges. BVLC Caffe accepts it and so does "
             "fashioncaffe; 0.9 is the usual value.", "sgd_solver.cpp:0")
    if p.clip_gradients == 0:
        warn(f"{_where(solver, 'clip_gradients')}: clip_gradients is 0, so every gradient is scaled to L2 norm 0 and "
             "only weight decay changes the weights. BVLC Caffe accepts it and so does fashioncaffe; leave the "
             "field out (or give -1) to turn clipping off, or give the largest norm to allow.", "sgd_solver.cpp:0")
    if not solver.net.loss_terms:
        warn(f"{solver.solver_file or 'Solver'}: the TRAIN net '{solver.net.name}' ({solver.net.source}) has no loss: "
             "no layer's type ends in 'Loss' and no top has a loss_weight, so no gradient reaches the parameters "
             "(only weight decay, or diffs a callback writes, change them). BVLC Caffe trains it anyway.",
             "net.cpp:0")


def check_has_iterations(solver, resume_file) -> None:
    """``solve()`` must have at least one iteration to run."""
    p = solver.param
    if p.max_iter > solver.iter:
        return
    if resume_file:
        raise fail(f"{resume_file} is at iteration {solver.iter} and max_iter is {p.max_iter}: there is nothing left "
                   "to train. Raise max_iter (or --iterations) to continue this training.")
    raise fail(f"{_where(solver, 'max_iter')}: max_iter is {p.max_iter}, so training would run no iteration and write "
               "no snapshot. Give max_iter (or --iterations) a positive number of iterations.")
