"""The papers' custom layers as pycaffe Python layers (``type: "Python"``).

Each layer file imports only numpy, the standard library and ``caffe``, so BVLC Caffe loads it
unchanged (``python_param { module: "layers.<file>" layer: "<Class>" }`` with the repository root
on PYTHONPATH).  fashioncaffe runs the device implementation named by the class attribute
``tensor_path`` (in :mod:`layers.tensor_impl`) with autograd instead of the numpy
forward/backward.

* :mod:`layers.weighted_sigmoid_ce` -- weighted sigmoid cross-entropy with ignored labels
  (papers 000, 001)
* :mod:`layers.gamma_task` -- gamma-task weighting Σ_t γ_t J_t (paper 000, eq. 3 and eq. 11)
* the other papers' layers (landmark pooling, triplet loss, ...) are documented in their own files.
"""
