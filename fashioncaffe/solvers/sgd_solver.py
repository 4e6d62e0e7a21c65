"""Caffe's SGDSolver (sgd_solver.cpp) and the solvers derived from it, with the one registry of
solver types (Caffe's solver_factory).

``apply_update``, exactly as ``SGDSolver::ApplyUpdate`` on the gradients accumulated by the
iteration's passes:

1. (several processes) gradients summed over processes and scaled by 1/N;
2. ``rate = policy(iter)`` (:mod:`.lr_policy`); clip the gradients by their global L2 norm
   (``clip_gradients``), normalise by 1/iter_size, regularise (L2: g += λ·decay_mult·w, L1:
   g += λ·decay_mult·sign(w));
3. compute the update of the solver type (:mod:`.updates`) with ``local_rate = rate·lr_mult`` and
   subtract it from the weights.

Not Caffe: a warning, once, when one layer holds ≥ 90 % of a norm clipped ≥ 5× (a loss weighted so
heavily that clipping throttles the rest of the net).

Everything on parameters is a handful of ``torch._foreach_*`` calls per group of parameters sharing
(lr_mult, decay_mult).  Parameters with lr_mult 0 are frozen: Caffe computes no diff for them
(``param_propagate_down`` is false), so they are left out of the clipping norm and never change;
their history stays zero (Caffe's too, except AdaGrad-like rules accumulating weight decay, which
never moves the weights).  After a step a parameter's ``diff`` holds Caffe's update value (the
step subtracted from it), and a frozen one's zero.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import distributed
from .. import logging_caffe as log
from ..errors import fail
from .lr_policy import learning_rate
from .solver import Solver
from .solver_nets import read_solver
from .updates import AdaDeltaRule, AdaGradRule, AdamRule, NesterovRule, RMSPropRule, SGDRule


class SGDSolver(Solver):
    """Caffe's SGDSolver; a subclass names its ``type_name`` and ``update_rule`` (the
    ComputeUpdateValue of Nesterov, AdaGrad, ...)."""

    type_name = "SGD"
    update_rule = SGDRule

    def prepare_update(self):
        self.rule = self.update_rule(self.param)
        self.rule.check()
        self._history = None
        self._dominance_warned = False

    # ------------------------------------------------------------------------------------------
    # history (the solver state a snapshot keeps)
    def _ensure_history(self):
        """History tensors, ``num_history`` groups of one tensor per learnable parameter (Caffe's
        ``history_`` order)."""
        specs = self.net.param_specs
        if self._history is None or len(self._history[0]) != len(specs):
            self._history = [[torch.zeros(b.shape, dtype=torch.float32, device=b.tensor.device) for b, *_ in specs]
                             for _ in range(self.rule.num_history)]
        else:
            dev = specs[0][0].tensor.device if specs else None
            if specs and self._history[0][0].device != dev:
                self._history = [[h.to(dev) for h in g] for g in self._history]
        return self._history

    def history_arrays(self) -> list:
        return [t.detach().cpu().numpy() for group in self._ensure_history() for t in group]

    def load_history(self, arrays, state_file) -> None:
        hist = self._ensure_history()
        flat = [t for group in hist for t in group]
        if len(arrays) != len(flat):
            raise fail(f"{state_file}: holds {len(arrays)} history blob(s) but this {self.type} solver on this "
                       f"net keeps {len(flat)}; incorrect length of history blobs (wrong solver type or net?).")
        with torch.no_grad():
            for i, (t, arr) in enumerate(zip(flat, arrays)):
                if int(np.prod(arr.shape)) != t.numel():
                    raise fail(f"{state_file}: history blob {i} has shape {tuple(arr.shape)}, but parameter "
                               f"{self.param_name(i % len(hist[0]))} has shape {tuple(t.shape)}.")
                t.copy_(torch.from_numpy(np.asarray(arr, dtype=np.float32)).reshape(t.shape))

    # ------------------------------------------------------------------------------------------
    # the update
    def _groups(self):
        """{(lr_mult, decay_mult): [param indices]} over the parameters that learn (lr_mult != 0)."""
        groups = {}
        for i, (_b, lr, decay, _n) in enumerate(self.net.param_specs):
            if lr != 0:
                groups.setdefault((lr, decay), []).append(i)
        return groups

    @property
    def lr(self) -> float:
        """pycaffe's ``solver.lr``: the learning rate of the current iteration (GetLearningRate)."""
        return float(self.get_learning_rate())

    def get_learning_rate(self):
        rate, self.current_step, msg = learning_rate(self.param, self.iter, self.current_step)
        if msg:
            log.info(msg, "sgd_solver.cpp:55")
        return rate

    def apply_update(self, display=None) -> None:
        """Caffe's SGDSolver::ApplyUpdate on the accumulated gradients."""
        p = self.param
        if display is None:
            display = bool(p.display) and self.iter % p.display == 0
        rate = self.get_learning_rate()
        if display:
            log.info(f"Iteration {self.iter}, lr = {log.fmt(rate)}", "sgd_solver.cpp:106")
        specs = self.net.param_specs
        hist = self._ensure_history()
        groups = self._groups()
        with torch.no_grad():
            for b, lr_mult, *_ in specs:  # Caffe leaves a frozen parameter's diff at zero
                if lr_mult == 0 and b.tensor.grad is not None:
                    b.zero_grad()
        if not groups:
            return
        active = [i for idx in groups.values() for i in idx]
        with torch.no_grad():
            grads = {}
            for i in active:
                b = specs[i][0]
                g = b.tensor.grad
                if g is None or b.diff_edited_on_host:  # b.grad: a pycaffe edit of the diff on a GPU
                    g = b.grad
                grads[i] = g
            glist = [grads[i] for i in active]
            if distributed.is_parallel():
                distributed.all_reduce_mean_(glist)
            scale = 1.0 / p.iter_size if p.iter_size != 1 else None
            if p.clip_gradients >= 0:
                scale = self._clip(glist, scale, active, display)
            if scale is not None:
                torch._foreach_mul_(glist, scale)
            decay = float(np.float32(p.weight_decay))
            l1 = p.regularization_type == "L1"
            for (lr_mult, decay_mult), idx in groups.items():
                w = [specs[i][0].tensor for i in idx]
                g = [grads[i] for i in idx]
                local_decay = float(np.float32(decay * decay_mult))
                if local_decay:
                    if l1:
                        torch._foreach_add_(g, torch._foreach_sign(w), alpha=local_decay)
                    else:
                        torch._foreach_add_(g, w, alpha=local_decay)
                local_rate = float(np.float32(rate * lr_mult))
                h = [[hg[i] for i in idx] for hg in hist]
                self.rule.apply(w, g, h, local_rate, self.iter)

    def _clip(self, grads, scale, indices, display):
        clip = float(np.float32(self.param.clip_gradients))
        norms = torch.stack(torch._foreach_norm(grads))
        norm = torch.linalg.vector_norm(norms)
        if display or not self._lazy():
            self._warn_if_one_layer_dominates(norms, norm, clip, indices)
        if not self._lazy():
            n = float(norm)
            if n > clip:
                factor = clip / n
                log.info(f"Gradient clipping: scaling down gradients (L2 norm {log.fmt(n)} > {log.fmt(clip)}) by "
                         f"scale factor {log.fmt(factor)}", "sgd_solver.cpp:138")
                return factor if scale is None else factor * scale
            return scale
        factor = torch.clamp(clip / norm, max=1.0)
        return factor if scale is None else factor * scale

    # A layer holding this share of the squared gradient norm while clipping shrinks every step by at
    # least DOMINANCE_FACTOR sets every other layer's step by that one layer's loss: how a
    # too-heavy loss weight stalls the rest of the net.  Measured on paper 001's step-1 net with its
    # landmark loss weighted 10: fc8_landmarks held 99.7 % of a norm of 238 at iteration 0 (clip 10),
    # and the net collapsed within the first few iterations, after which the norms looked normal —
    # so the first occurrence is what is worth reporting, not a lasting pattern.
    DOMINANCE_SHARE = 0.9
    DOMINANCE_FACTOR = 5.0

    def _warn_if_one_layer_dominates(self, norms, norm, clip, indices):
        if self._dominance_warned or clip <= 0:   # clip_gradients 0 zeroes every step; param_checks warns
            return
        n = float(norm)
        if not n > clip * self.DOMINANCE_FACTOR:
            return
        by_layer = {}
        for i, sq in zip(indices, (norms.double() ** 2).tolist()):
            layer = self.net.param_specs[i][3]
            by_layer[layer] = by_layer.get(layer, 0.0) + sq
        layer, sq = max(by_layer.items(), key=lambda kv: kv[1])
        share = sq / (n * n)
        if share < self.DOMINANCE_SHARE:
            return
        self._dominance_warned = True
        rest = max(n * n - sq, 0.0) ** 0.5
        log.warning(f"Iteration {self.iter}: gradient clipping is driven by one layer: '{layer}' holds "
                    f"{share:.1%} of the squared gradient norm ({log.fmt(sq ** 0.5)} of {log.fmt(n)}; all "
                    f"other layers together {log.fmt(rest)}), so clip_gradients {log.fmt(clip)} shrinks "
                    f"every layer's step {n / clip:.1f}x because of it. If the other losses stop "
                    f"falling after this, the loss feeding '{layer}' is weighted too heavily for this clip: "
                    f"lower its loss_weight. Warned once per solver.", "sgd_solver.cpp:138")


class NesterovSolver(SGDSolver):
    type_name = "Nesterov"
    update_rule = NesterovRule


class AdaGradSolver(SGDSolver):
    type_name = "AdaGrad"
    update_rule = AdaGradRule


class RMSPropSolver(SGDSolver):
    type_name = "RMSProp"
    update_rule = RMSPropRule


class AdaDeltaSolver(SGDSolver):
    type_name = "AdaDelta"
    update_rule = AdaDeltaRule


class AdamSolver(SGDSolver):
    type_name = "Adam"
    update_rule = AdamRule


#: the solver types by the name a solver file's ``type`` gives (Caffe's solver registry)
SOLVERS = {c.type_name: c for c in (SGDSolver, NesterovSolver, AdaGradSolver, RMSPropSolver, AdaDeltaSolver,
                                    AdamSolver)}


def get_solver(solver_file, overrides=None) -> Solver:
    """pycaffe's ``caffe.get_solver(path)``: the solver class named by the file's ``type``."""
    param, _ = read_solver(solver_file)
    name = param.type or "SGD"
    cls = SOLVERS.get(name)
    if cls is None:
        raise fail(f"Solver {solver_file if isinstance(solver_file, str) else ''}: unknown solver type '{name}'; "
                   f"known types are {', '.join(SOLVERS)}.")
    return cls(solver_file, overrides)
