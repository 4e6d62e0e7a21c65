"""fashioncaffe: BVLC Caffe's semantics on PyTorch, importable as a pycaffe replacement.

    import fashioncaffe as caffe
    net = caffe.Net("deploy.prototxt", "weights.caffemodel", caffe.TEST)

With BVLC Caffe absent, a plain ``import caffe`` resolves to this module (the installed ``caffe``
shim package decides: ``caffe/__init__.py``), so unmodified pycaffe scripts, notebooks and
Python-layer files run on the engine.  The names below are pycaffe's (BVLC's
``python/caffe/__init__.py``), as are the submodules ``io``, ``net_spec``, ``draw``, ``coord_map``,
``classifier``, ``detector`` and ``proto``.
"""
from __future__ import annotations

from .errors import FashionCaffeError  # noqa: F401
from .mode import (set_mode_cpu, set_mode_gpu, set_device, set_random_seed, solver_count,  # noqa: F401
                   set_solver_count, solver_rank, set_solver_rank, set_multiprocess)
from .pycaffe_runtime import Timer, init_log, log, has_nccl, NCCL  # noqa: F401
from .layers.base import TRAIN, TEST, layer_type_list  # noqa: F401
from . import layers as _layers  # noqa: F401  (registers the layer catalogue)
from .blob import Blob  # noqa: F401
from .pylayer import Layer  # noqa: F401
from .net import Net  # noqa: F401

__version__ = "0.1.0"


def _lazy(name):
    import importlib

    return importlib.import_module(f".{name}", __name__)


def __getattr__(name):
    # Heavier parts load on first use so `import fashioncaffe` stays quick.
    if name == "proto":
        return _lazy("proto")
    if name == "io":
        return _lazy("io")
    if name in ("NetSpec", "to_proto"):
        return getattr(_lazy("net_spec"), name)
    if name in ("get_solver", "SGDSolver", "NesterovSolver", "AdaGradSolver", "RMSPropSolver",
                "AdaDeltaSolver", "AdamSolver", "Solver"):
        return getattr(_lazy("solvers"), name)
    if name == "params":
        return _lazy("net_spec").params
    if name == "python_batches":  # the data workers for Python data layers (BVLC Caffe has no such name)
        return _lazy("data_pipeline.python_batches")
    if name in ("draw", "coord_map", "net_spec", "classifier", "detector"):
        return _lazy(name)
    if name == "Classifier":
        return _lazy("classifier").Classifier
    if name == "Detector":
        return _lazy("detector").Detector
    raise AttributeError(f"module 'fashioncaffe' has no attribute '{name}'")
