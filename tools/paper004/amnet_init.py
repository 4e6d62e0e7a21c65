"""AMNet's memory initialisation between the training stages: the attribute prototypes (mean fc7 per
special attribute value over the training images, :func:`tools.paper004.amnet.memory_prototypes`) read
with the ``attr`` stage's model, written into the memory layer ``amnet_mem``.

:class:`MemoryInit` is the ``joint`` stage's ``prepare`` hook in the framework's run plan
(``tools.repro.training.Stage.prepare``): called with the ``attr`` stage's final caffemodel, it returns
a caffemodel holding the same weights plus the initialised memory, which the stage starts from.
"""
from __future__ import annotations

import os

from . import amnet
from .evaluate import source_for, split_features, split_labels


def prototypes(droot, scale, spec, attr_deploy, weights):
    """The memory's initial value (D × V) from the ``attr``-stage model ``weights``; ``attr_deploy`` is
    that stage's deploy net (classic's layers: AMNet's ``attr`` stage is classic's)."""
    train_dir = os.path.join(droot, "p004", "train")
    src = source_for(droot, scale, "classic", attr_deploy, weights, spec)
    feats = split_features(src, train_dir).signatures["all"]
    cols = [spec.groups.index(v) for v in spec.special]
    return amnet.memory_prototypes(feats, split_labels(train_dir)[1][:, cols], spec)


class MemoryInit:
    """``init(attr_weights) -> path``: ``attr_weights`` with amnet_mem set to the prototypes, saved as
    ``out`` (a caffemodel of the AMNet deploy net ``deploy``)."""

    def __init__(self, droot, scale, spec, attr_deploy, deploy, out):
        self.droot, self.scale, self.spec = droot, scale, spec
        self.attr_deploy, self.deploy, self.out = attr_deploy, deploy, out

    def __call__(self, init):
        import fashioncaffe as caffe

        if not init:
            raise SystemExit("AMNet's joint stage needs the attr stage's weights to initialise its memory")
        protos = prototypes(self.droot, self.scale, self.spec, self.attr_deploy, init)
        net = caffe.Net(self.deploy, caffe.TEST, weights=init)
        amnet.init_memory(net, protos)
        net.save(self.out)
        print(f"AMNet memory initialised with {protos.shape[1]} attribute prototypes: {self.out}", flush=True)
        return self.out
