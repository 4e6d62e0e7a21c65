"""Uncertainty task weighting (Kendall, Gal & Cipolla, CVPR 2018) as a pycaffe Python layer with
learnable log-variances (paper 002's "+MTL": L = L_L/σ₁² + L_G/σ₂² + log σ₁ + log σ₂).

Forward / backward, with one learnable s_t = log σ_t² per task::

    top        = Σ_t [ c_t · exp(−s_t) · L_t  +  s_t / 2 ]
    ∂top/∂L_t  = c_t · exp(−s_t)
    ∂top/∂s_t  = 1/2 − c_t · exp(−s_t) · L_t

With c_t = 1 (the default) each term is L_t/σ_t² + log σ_t, since exp(−s_t) = 1/σ_t² and
s_t/2 = log σ_t: exactly paper 002's objective (and Kendall et al.'s form for a classification
likelihood, eq. 10 there).  Kendall et al.'s Gaussian (regression) likelihood is
L_t/(2σ_t²) + log σ_t, i.e. c_t = 1/2 here.  No constant is dropped: the objective is the
formula above, nothing else (Kendall's derivation drops the additive log √(2π) of the Gaussian;
it does not change gradients).

Why log-variance.  s_t = log σ_t² is unconstrained (σ_t² = e^{s_t} > 0 for any s_t), the gradient
with respect to s_t never divides by σ, and s_t = 0 is the neutral start (σ = 1: the plain sum of
losses).  Learning σ directly would need a positivity constraint and has gradients −2L/σ³ + 1/σ
that explode as σ → 0.

What the learned values mean.  For a fixed L_t the term is convex in s_t with its minimum at
e^{s_t} = 2 c_t L_t, i.e. the weight 1/σ_t² settles near 1/(2 c_t L_t): a task with a larger
loss (harder, noisier) is weighted down.  At that minimum the term equals
(1 + log(2 c_t L_t)) / 2, which is **negative once L_t < 1/(2e c_t) ≈ 0.18 / c_t**: a negative
total is expected, not a bug, whenever a task's loss is small.  For the same reason s_t keeps
drifting down while a task's training loss keeps falling (to −∞ only if L_t → 0, logarithmically
slowly), so log-variances that drift during training are the formula at work.  This layer does
not clamp s_t (a clamp would make the gradient of a clamped s_t zero and silently freeze it);
if a drift must be bounded, give the blob a ``decay_mult`` (an L2 prior on s_t, centred on 0)
or a lower ``lr_mult`` in the layer's ``param { }``.  The solver's weight decay applies to s_t
unless ``param { decay_mult: 0 }`` is set, which the paper's nets do.

Bottoms:  T ≥ 1 task losses L_1 … L_T (normally scalars; a bottom with several elements is summed)
Tops:     0  the weighted total (a scalar); give the layer ``loss_weight: 1`` (a Python layer's
             loss_weight defaults to 0) and the task-loss layers ``loss_weight: 0``, so each task
             loss enters the objective once, through this layer
          1  optional: the current s_t (shape T), for logging / plots; give it ``loss_weight: 0``.
             It carries no gradient.
Blobs:    0  s (shape T), learnable; ``param { lr_mult decay_mult }`` apply to it as to any
             parameter, and it is saved in / restored from .caffemodel and .solverstate files.

``param_str`` (JSON object; every key optional)::

    {"init": 0.0 | [s_1 … s_T],     # initial log-variances (overwritten by loaded weights)
     "factor": 1.0 | [c_1 … c_T]}   # c_t above (0.5 for Kendall's regression form)

Prototxt::

    layer { name: "mtl_loss" type: "Python" bottom: "loss_local" bottom: "loss_global"
            top: "mtl_loss" top: "log_var"
            python_param { module: "layers.uncertainty_weighting" layer: "UncertaintyWeighting"
                           param_str: '{"init": 0.0}' }
            param { lr_mult: 1 decay_mult: 0 }
            loss_weight: 1 loss_weight: 0 }

This file imports only numpy, the standard library and ``caffe``, so BVLC Caffe runs it unchanged
(bottom / top are indexed, never iterated).  fashioncaffe runs ``tensor_path`` with autograd.
"""
import numpy as np

import caffe

from .param_str import parse_param_str


def _per_task(value, t, what):
    v = np.asarray(value, dtype=np.float64).reshape(-1)
    if v.size == 1:
        return np.full(t, float(v[0]))
    if v.size != t:
        raise ValueError("%s has %d values for %d task-loss bottoms" % (what, v.size, t))
    return v


def weighted_total(losses, log_vars, factors):
    """Σ_t c_t e^{−s_t} L_t + s_t / 2 for numpy vectors (the layer's formula, shared by tests)."""
    losses = np.asarray(losses, dtype=np.float64)
    s = np.asarray(log_vars, dtype=np.float64)
    return float(np.sum(np.asarray(factors) * np.exp(-s) * losses + 0.5 * s))


class UncertaintyWeighting(caffe.Layer):
    """Σ_t c_t exp(−s_t) L_t + s_t/2 over the task-loss bottoms, s learnable (see the module
    docstring)."""

    tensor_path = "layers.tensor_impl.uncertainty_weighting:forward"

    def setup(self, bottom, top):
        if len(bottom) < 1 or len(top) not in (1, 2):
            raise Exception("UncertaintyWeighting takes T >= 1 task-loss bottoms and 1 or 2 tops "
                            "(total, optional log-variances), got %d and %d" % (len(bottom), len(top)))
        p = parse_param_str(self.param_str)
        unknown = set(p) - {"init", "factor"}
        if unknown:
            raise ValueError("unknown param_str keys: %s (expected init, factor)" % ", ".join(sorted(unknown)))
        t = len(bottom)
        self.num_tasks = t
        self.num_tops = len(top)
        self.factor = _per_task(p.get("factor", 1.0), t, "factor")
        if np.any(self.factor <= 0):
            raise ValueError("factor values must be positive, got %s" % list(self.factor))
        init = _per_task(p.get("init", 0.0), t, "init")
        if len(self.blobs) == 0:
            self.blobs.add_blob(t)
        if self.blobs[0].count != t:
            raise Exception("the log-variance blob has %d values for %d task-loss bottoms"
                            % (self.blobs[0].count, t))
        self.blobs[0].data[...] = init.reshape(self.blobs[0].data.shape)

    def reshape(self, bottom, top):
        top[0].reshape()
        if len(top) > 1:
            top[1].reshape(self.num_tasks)

    def _losses(self, bottom):
        return np.array([np.asarray(bottom[i].data, dtype=np.float64).sum() for i in range(len(bottom))])

    def forward(self, bottom, top):
        s = np.asarray(self.blobs[0].data, dtype=np.float64).reshape(-1)
        top[0].data[...] = weighted_total(self._losses(bottom), s, self.factor)
        if len(top) > 1:
            top[1].data[...] = s

    def backward(self, top, propagate_down, bottom):
        d = float(np.asarray(top[0].diff).reshape(-1)[0])
        s = np.asarray(self.blobs[0].data, dtype=np.float64).reshape(-1)
        w = self.factor * np.exp(-s)
        for i in range(len(bottom)):
            if propagate_down[i]:
                bottom[i].diff[...] = w[i] * d
        # Caffe accumulates parameter gradients (iter_size > 1 adds passes): add, never assign
        grad_s = (0.5 - w * self._losses(bottom)) * d
        self.blobs[0].diff[...] += grad_s.reshape(self.blobs[0].diff.shape)
