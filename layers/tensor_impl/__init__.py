"""Device (torch) implementations of the custom layers in :mod:`layers`, named by each layer
class's ``tensor_path``.  Each function is ``fn(layer, bottoms: list[Tensor]) -> list[Tensor]``
where ``layer`` is the set-up pycaffe layer object; autograd provides the backward.  These modules
are never imported by BVLC Caffe."""
