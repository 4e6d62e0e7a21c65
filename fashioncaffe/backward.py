"""Caffe's backward pass as pycaffe sees it: ``Net::BackwardFromTo`` layer by layer, reading every
top's diff from its blob and writing every bottom's diff into its blob.

This is what ``net.backward()`` (and a solver whose net has backward callbacks) runs; a solver's
own pass is one autograd call over the whole graph (:meth:`Net.forward_backward`), which gives the
same parameter gradients faster but keeps no blob diffs.

* **Which layers run** -- Caffe's Net::Init analysis (:func:`analyse_backward`): a layer needs
  backward when a bottom does or one of its parameters learns (lr_mult != 0), and only when it
  contributes to a loss (a loss-weighted top, or a top some later loss-contributing layer reads);
  ``force_backward`` makes every layer need it, and every bottom its layer's
  ``allow_force_backward`` admits (a loss layer's label not, as ``LossLayer::AllowForceBackward``).  So a deploy net without ``force_backward`` back-propagates
  nothing, as in Caffe.
* **Diffs** -- layer ``k`` runs with its tops' diffs: the sum its in-range consumers produced in
  this pass (Caffe's Split layers), or else what the top's blob holds -- a diff the user set, the
  loss weight a loss top's diff holds from construction, or what an earlier pass left.  Bottom
  diffs are *written* (replacing the blob's diff); parameter diffs *accumulate*.  So
  ``backward(start=, end=)`` and diffs set on any blob behave as in Caffe.
* **Gradients of one layer** -- each layer of a layer-by-layer forward
  (``Net.forward_from_to(layerwise=True)``, what pycaffe's ``forward()`` runs) is recorded as its
  own small autograd graph from cut bottoms to tops, so one layer's backward is
  ``torch.autograd.grad(tops, bottoms + params, top diffs)``.  A layer with no usable record (no
  forward yet, or the blobs were reshaped since) is run again on its bottom blobs' current data
  first, as Caffe's Backward reads the blobs (a stochastic layer then draws anew; Caffe would reuse
  its last mask).

Not reproduced: a range that cuts a blob's consumers in two (some consumers inside ``start..end``,
some above ``start``) gives the blob the inside consumers' diffs only, where Caffe's Split layer
would add the outside ones' stale diffs.
"""
from __future__ import annotations

import torch

from .errors import fail

__all__ = ["analyse_backward", "backward_from_to", "cut_input", "step_record", "replay_step"]


def analyse_backward(net) -> None:
    """Set every step's ``need_backward`` and ``bottom_need_backward`` as Caffe's Net::Init does."""
    steps = net.schedule
    blob_need = {}                      # slot -> the producer needs backward
    for step in steps:
        bottom_need = [blob_need.get(s, False) for s in step.bottoms]
        need = any(bottom_need) or any(lr != 0 for lr in step.param_lr)
        step.bottom_need_backward = bottom_need
        step.need_backward = need
        for s in step.tops:
            blob_need[s] = need
    weighted = {s for s, _w in net.loss_terms}
    # a slot's consumers all come after its producer: walking backwards, they are all seen first
    # (a slot read by several layers is what Caffe's Split layer joins: needed if any consumer needs it)
    under_loss, consumed, needed = set(), set(), set()
    for step in reversed(steps):
        contributes = any(s in weighted or s in under_loss for s in step.tops)
        skip = all(s in consumed and s not in needed for s in step.tops)
        if step.need_backward and skip:
            step.need_backward = False
            step.bottom_need_backward = [False] * len(step.bottoms)
        if not contributes:
            step.need_backward = False
        for j, s in enumerate(step.bottoms):
            consumed.add(s)
            if contributes:
                under_loss.add(s)
            else:
                step.bottom_need_backward[j] = False
            if step.bottom_need_backward[j]:
                needed.add(s)
    if net.force_backward:
        for step in steps:
            step.need_backward = True
            step.bottom_need_backward = [need or step.layer.allow_force_backward(j)
                                         for j, need in enumerate(step.bottom_need_backward)]


def cut_input(t, need_grad: bool):
    """A layer's own input in a layerwise pass: ``t`` cut from the graph before it, a leaf
    requiring grad when the layer's backward must produce its diff."""
    t = t.detach()
    if need_grad and t.is_floating_point():
        t.requires_grad_(True)
    return t


def step_record(net, k: int):
    """``(bottoms, tops)`` of step ``k`` from the net's last layerwise forward, while its tops still
    have their blobs' shapes; else None."""
    record = net.records[k]
    if record is None:
        return None
    step = net.schedule[k]
    for s, t in zip(step.tops, record[1]):
        if tuple(t.shape) != net.slot_blob(s).shape:
            return None
    return record


def replay_step(net, k: int):
    """Run step ``k`` again on its bottom blobs' current data, recording it (what Caffe's Backward
    reads when no forward preceded it).  None for a layer without bottoms."""
    step = net.schedule[k]
    if step.layer.feeds_from_blob or not step.bottoms:
        return None
    with torch.enable_grad():
        ins = [cut_input(net.slot_blob(s).tensor, need) for s, need in zip(step.bottoms, step.bottom_need_backward)]
        outs = list(net.executor.run_layer(step, ins))
    net.records[k] = (ins, outs)
    return net.records[k]


def _top_diff(net, slot, tensor, pending, step):
    diff = pending.get(slot)
    if diff is None:
        diff = net.slot_blob(slot).grad
    if tuple(diff.shape) != tuple(tensor.shape):
        raise fail(f"Net '{net.name}', layer '{step.name}': top '{net.slot_names[slot]}' holds a diff of shape "
                   f"{tuple(diff.shape)} but the layer's output has shape {tuple(tensor.shape)}; set the diff "
                   "with the top's shape (or run forward after reshaping).")
    if diff.device != tensor.device or diff.dtype != tensor.dtype:
        diff = diff.to(device=tensor.device, dtype=tensor.dtype)
    return diff


def _backward_step(net, step, record, pending) -> None:
    bottoms, tops = record
    outputs, seeds = [], []
    for s, t in zip(step.tops, tops):
        if torch.is_tensor(t) and t.requires_grad:
            outputs.append(t)
            seeds.append(_top_diff(net, s, t, pending, step))
    if not outputs:
        return
    wrt_bottoms = [(s, x) for s, x, need in zip(step.bottoms, bottoms, step.bottom_need_backward)
                   if need and torch.is_tensor(x) and x.requires_grad]
    wrt_params = [b for b, lr in zip(step.layer.blobs, step.param_lr)
                  if lr != 0 and b.learnable and b.tensor.requires_grad]
    inputs = [x for _s, x in wrt_bottoms] + [b.tensor for b in wrt_params]
    if not inputs:
        return
    grads = torch.autograd.grad(outputs, inputs, seeds, retain_graph=True, allow_unused=True)
    seed_memory = {t.untyped_storage().data_ptr() for t in seeds}
    with torch.no_grad():
        for (s, _x), g in zip(wrt_bottoms, grads):
            if g is None:
                continue
            if g.untyped_storage().data_ptr() in seed_memory:
                g = g.clone()  # an identity-like backward hands back the top's diff: the bottom's must be its own
            total = pending.get(s)
            total = g if total is None else total + g
            pending[s] = total
            net.slot_blob(s).set_grad(total)
        for blob, g in zip(wrt_params, grads[len(wrt_bottoms):]):
            if g is not None:
                blob.grad.add_(g.to(blob.grad.dtype))


def backward_from_to(net, start: int, end: int) -> None:
    """Caffe's ``BackwardFromTo(start, end)``: layers ``start`` down to ``end`` (inclusive)."""
    steps = net.schedule
    if not (0 <= end <= start < len(steps)):
        raise fail(f"Net '{net.name}': backward from layer {start} to layer {end} is not a range of its "
                   f"{len(steps)} layers (start must be >= end).")
    hooks = net.hooks
    pending = {}
    for k in range(start, end - 1, -1):
        step = steps[k]
        hooks.run(hooks.before_backward, k)
        if step.need_backward:
            record = step_record(net, k)
            if record is None:
                record = replay_step(net, k)
            if record is not None:
                _backward_step(net, step, record, pending)
        hooks.run(hooks.after_backward, k)
