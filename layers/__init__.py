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

**Running inside BVLC Caffe.** BVLC hands ``setup`` / ``reshape`` / ``forward`` its ``bottom`` and
``top`` as a wrapped ``std::vector<Blob*>`` and ``backward`` its ``propagate_down`` as a wrapped
``std::vector<bool>``: ``len()``, integer indexing and slicing work, iterating does not (``for b in
bottom``, ``zip(..., bottom)``, ``list(top)``, ``any(propagate_down)`` and unpacking raise
``TypeError: No to_python (by-value) converter found ...``).  Index them: ``for i in range(len(bottom))``.
Blob data and diffs are float32; ``blob.shape`` is an IntVec (iterable, but never equal to a tuple:
compare ``tuple(blob.shape)``); ``blob.reshape`` takes Python ints (not numpy integers, not a tuple);
``reshape`` runs before every ``forward``; ``backward`` must write (not add to) the diff of every
bottom whose ``propagate_down`` is True -- BVLC leaves stale values there.

**The BVLC harness.** Every ``caffe.Layer`` class in this folder needs a case in
``tests/bvlc_layer_cases.py`` (``tests/test_layers_bvlc.py`` fails while one is missing)::

    LayerCase("my_layer", "layers.my_file", "MyLayer",
              bottoms=lambda r: [r.randn(4, 6), r.randn(4, 6)], n_top=1, param={"key": 1.0},
              propagate_down=(True, False))           # optional; default: every bottom

Each case runs BVLC's life cycle on stand-ins that behave as BVLC's pycaffe objects
(``tests/bvlc_harness.py``: construction with the LayerParameter, setup on zero-filled bottoms,
reshape before forward, float32 blobs, non-iterable vectors, stale bottom diffs) and must give the
engine's tops and bottom diffs on both its tensor path and its numpy path; where BVLC's pycaffe is
importable (``BVLC_PYTHON=/path/to/python``) the same cases also run inside real BVLC Caffe.  The
engine's own adapter hands a Python layer the same non-iterable vectors, so a third-party layer that
iterates fails in the engine as it would in BVLC, with an error naming the layer.
"""
