"""Caffe's learning-rate policies (SGDSolver::GetLearningRate), formula for formula.

``it`` is the solver's iteration (updates done so far); ``current_step`` is the solver's
``current_step_`` (kept in the solver state).  Rates are computed in double and rounded to float32,
as Caffe stores ``Dtype rate``.

- fixed:     base_lr
- step:      base_lr · gamma^floor(it / stepsize)            (current_step = floor(it / stepsize))
- exp:       base_lr · gamma^it
- inv:       base_lr · (1 + gamma·it)^(−power)
- multistep: base_lr · gamma^current_step, where current_step advances by at most one per call
             when it ≥ stepvalue[current_step] (Caffe's ``if``, not a loop)
- poly:      base_lr · (1 − it/max_iter)^power
- sigmoid:   base_lr · 1 / (1 + exp(−gamma·(it − stepsize)))
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import fail

POLICIES = ("fixed", "step", "exp", "inv", "multistep", "poly", "sigmoid")


def _f32(x) -> float:
    return float(np.float32(x))


def learning_rate(param, it: int, current_step: int = 0):
    """Return ``(rate, current_step, message)``; ``message`` is Caffe's MultiStep log line or None."""
    policy = param.lr_policy
    base = _f32(param.base_lr)
    gamma = _f32(param.gamma)
    power = _f32(param.power)
    msg = None
    if policy == "fixed":
        rate = base
    elif policy == "step":
        if param.stepsize <= 0:
            raise fail("Solver: lr_policy 'step' needs stepsize > 0.")
        current_step = it // param.stepsize
        rate = base * math.pow(gamma, current_step)
    elif policy == "exp":
        rate = base * math.pow(gamma, it)
    elif policy == "inv":
        rate = base * math.pow(_f32(1.0 + _f32(gamma * it)), -power)
    elif policy == "multistep":
        if current_step < len(param.stepvalue) and it >= param.stepvalue[current_step]:
            current_step += 1
            msg = f"MultiStep Status: Iteration {it}, step = {current_step}"
        rate = base * math.pow(gamma, current_step)
    elif policy == "poly":
        if param.max_iter <= 0:
            raise fail("Solver: lr_policy 'poly' needs max_iter > 0.")
        rate = base * math.pow(_f32(1.0 - _f32(_f32(it) / _f32(param.max_iter))), power)
    elif policy == "sigmoid":
        if param.stepsize <= 0:
            raise fail("Solver: lr_policy 'sigmoid' needs stepsize > 0.")
        rate = base * (1.0 / (1.0 + math.exp(-gamma * (_f32(it) - _f32(param.stepsize)))))
    else:
        raise fail(f"Solver: unknown lr_policy '{policy}'; Caffe knows {', '.join(POLICIES)}.")
    return _f32(rate), current_step, msg
