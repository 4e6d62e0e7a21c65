"""Integer class labels for the layers that index scores by them (SoftmaxWithLoss, Accuracy,
MultinomialLogisticLoss, InfogainLoss, HingeLoss), with the range check BVLC writes as
``DCHECK_GE(label_value, 0); DCHECK_LT(label_value, num_classes)``.

A label outside [0, classes) that is not the layer's ``ignore_label`` is bad input: the layer
stops with a message naming itself, its label bottom, the value and the valid range.  On the CPU
the check is immediate (reading a flag costs nothing there).  On a GPU a solver sets the layer's
``defer_checks``: the forward then never waits for the device; the count and one bad value stay in
device tensors, and the solver reads them (``take_deferred_error``) at the points where it already
synchronises (display iterations, before every snapshot, at least every ``NAN_CHECK_EVERY``
iterations and at the end of ``step``), so no snapshot is written from a pass that saw a bad label.
Until then the bad positions index class 0, so the device never reads out of bounds.
"""
from __future__ import annotations

import torch

from ..errors import fail

__all__ = ["ClassLabelled"]

_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", lambda: False)


class ClassLabelled:
    """Mixin for a layer whose bottom ``label_bottom`` holds class indices."""

    label_bottom = 1
    _label_fault = None     # device tensor [count, one bad value] while checks are deferred

    def class_labels(self, label: torch.Tensor, classes: int, ignore):
        """``(valid, safe)``: the mask of positions whose label is not ``ignore`` (None without an
        ignore_label) and int64 indices usable for gathering (bad and ignored positions → 0).
        Labels are truncated as C's ``static_cast<int>``."""
        lab = label.detach().to(torch.int64)
        in_range = (lab >= 0) & (lab < classes)
        valid = None if ignore is None else lab != ignore
        safe = torch.where(in_range, lab, torch.zeros_like(lab))
        if lab.device.type != "meta" and lab.numel():
            bad = ~in_range if valid is None else (valid & ~in_range)
            self._note_bad(bad, lab, classes, ignore)
        return valid, safe

    def _describe(self, value, count, classes, ignore):
        names = list(self.param.bottom)
        which = f"bottom '{names[self.label_bottom]}'" if len(names) > self.label_bottom else "its label bottom"
        ign = f" and is not ignore_label {ignore}" if ignore is not None else " (no ignore_label is set)"
        return (f"{self.type} layer '{self.name}': label {value} in {which} is outside the class range "
                f"[0, {classes - 1}] of its {classes}-class scores{ign}; {count} such label(s). Labels must be "
                f"integer class indices 0..{classes - 1}: check the data's labels, the number of outputs of "
                f"the layer feeding '{self.name}', or set ignore_label for positions to skip.")

    def _note_bad(self, bad, lab, classes, ignore):
        # inside torch.compile the check stays immediate (a graph break): keeping device state across
        # compiled calls is not worth it in an opt-in fast mode
        if not self.defer_checks or _compiling():
            if bool(bad.any()):
                raise fail(self._describe(int(lab[bad][0]), int(bad.sum()), classes, ignore))
            return
        flat = bad.reshape(-1)
        count = flat.sum()
        value = lab.reshape(-1)[flat.to(torch.uint8).argmax()]
        now = torch.stack([count, value])
        fault = self._label_fault
        if fault is None or fault.device != now.device:
            self._label_fault = torch.where(count > 0, now, torch.zeros_like(now))
            self._label_meta = (classes, ignore)
        else:
            first = fault[0] == 0
            fault[1] = torch.where(first & (count > 0), value, fault[1])
            fault[0] += count
            self._label_meta = (classes, ignore)

    def take_deferred_error(self):
        fault = self._label_fault
        if fault is None:
            return None
        self._label_fault = None
        count, value = (int(v) for v in fault.tolist())
        if count == 0:
            return None
        classes, ignore = self._label_meta
        return self._describe(value, count, classes, ignore)
