"""The parts of a net's forward schedule: :class:`Step` (one layer with its bottom and top slots)
and :class:`Executor` (how the steps run; :class:`fashioncaffe.net.Net` owns the loop).

A *slot* is one tensor the forward produces: every layer top gets its own, so an in-place chain
(``top == bottom``) is a run of slots that share one blob name (``net.slot_names[s]``).
"""
from __future__ import annotations

from .errors import FashionCaffeError, fail

__all__ = ["Step", "Executor", "EAGER", "Hooks", "layer_reshape"]


class Step:
    """One layer in the forward schedule (Caffe's ``layers()[i]`` with its bottom and top vectors).

    ``index``: position in the schedule; ``name``, ``type``, ``param`` (the LayerParameter);
    ``layer``: the engine layer; ``bottoms`` / ``tops``: slot indices; ``inplace_tops[i]``: top i
    continues its bottom's in-place chain (top name == a bottom name).  Set once the net is built:
    ``param_lr[i]``: the lr_mult of the layer's blob i (0: Caffe computes no diff for it);
    ``need_backward`` / ``bottom_need_backward[j]``: Caffe's ``layer_need_backward`` and
    ``bottom_need_backward`` (:func:`fashioncaffe.backward.analyse_backward`).
    """

    __slots__ = ("index", "name", "type", "param", "layer", "bottoms", "tops", "inplace_tops", "param_lr",
                 "need_backward", "bottom_need_backward")

    def __init__(self, index, param, layer, bottoms, tops, inplace_tops):
        self.index = index
        self.name = param.name
        self.type = param.type
        self.param = param
        self.layer = layer
        self.bottoms = bottoms
        self.tops = tops
        self.inplace_tops = inplace_tops
        self.param_lr = []
        self.need_backward = False
        self.bottom_need_backward = [False] * len(bottoms)

    def __repr__(self):
        return f"<Step {self.index} {self.name!r} ({self.type}): slots {self.bottoms} -> {self.tops}>"


class Executor:
    """How a net runs its layers.  The default runs each layer's forward eagerly; a fast mode
    (:mod:`fashioncaffe.fastmodes`) installs its own with :meth:`Net.set_executor`.

    ``run_layer(step, bottoms)`` computes one step's tops.  ``fused_from(start, end)`` says where a
    fused segment begins (``end + 1``: none); the steps from there to ``end`` are handed to
    ``run_fused(net, k0, k1, inputs)`` in one call, which by default is :meth:`Net.run_segment`.
    """

    def run_layer(self, step: Step, bottoms):
        return step.layer.forward(bottoms)

    def fused_from(self, start: int, end: int) -> int:
        return end + 1

    def run_fused(self, net, k0: int, k1: int, inputs):
        return net.run_segment(k0, k1, inputs, self.run_layer)


EAGER = Executor()


class Hooks:
    """A net's per-layer callbacks (Caffe's ``Net::Callback``, pycaffe's ``net.before_forward(f)``
    ...): each list holds callables run with the layer's schedule index around its forward or
    backward, in the order they were added."""

    __slots__ = ("before_forward", "after_forward", "before_backward", "after_backward")

    def __init__(self):
        self.before_forward = []
        self.after_forward = []
        self.before_backward = []
        self.after_backward = []

    @property
    def any_forward(self) -> bool:
        return bool(self.before_forward or self.after_forward)

    @property
    def any_backward(self) -> bool:
        return bool(self.before_backward or self.after_backward)

    @staticmethod
    def run(callbacks, index: int) -> None:
        for callback in callbacks:
            callback(index)


def layer_reshape(lp, layer, bottom_names, bottom_shapes):
    """``layer.reshape(bottom_shapes)``; a failure that is not already a clear error is explained
    with the layer's name, type and bottoms."""
    try:
        return layer.reshape(bottom_shapes)
    except FashionCaffeError:
        raise
    except Exception as e:
        shapes = ", ".join(f"{n} {s}" for n, s in zip(bottom_names, bottom_shapes))
        raise fail(f"Layer '{lp.name}' (type {lp.type}) cannot run on its bottoms ({shapes}): "
                   f"{type(e).__name__}: {e}") from e
