"""fashioncaffe: BVLC Caffe's semantics on PyTorch, importable as a pycaffe replacement.

    import fashioncaffe as caffe
    net = caffe.Net("deploy.prototxt", "weights.caffemodel", caffe.TEST)

When BVLC Caffe is not installed, importing fashioncaffe also makes ``import caffe`` resolve to it,
so unmodified pycaffe scripts and Python-layer files run on the engine.
"""
from __future__ import annotations

import sys as _sys

from .errors import FashionCaffeError  # noqa: F401
from .mode import set_mode_cpu, set_mode_gpu, set_device, set_random_seed  # noqa: F401
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
    if name == "draw":
        raise AttributeError("caffe.draw (graphviz drawing) is not provided by fashioncaffe")
    raise AttributeError(f"module 'fashioncaffe' has no attribute '{name}'")


class _CaffeAliasFinder:
    """Import hook: ``caffe.X`` resolves to the already-loaded ``fashioncaffe.X`` (never a second copy,
    which would register caffe.proto twice with protobuf)."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if not fullname.startswith("caffe."):
            return None
        import importlib
        import importlib.util

        real = "fashioncaffe." + fullname[len("caffe."):]
        try:
            module = importlib.import_module(real)
        except ImportError:
            return None
        return importlib.util.spec_from_loader(fullname, _ExistingModuleLoader(module))


class _ExistingModuleLoader:
    def __init__(self, module):
        self.module = module

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        pass


def _alias_caffe():
    """Make `import caffe` give this module unless a real BVLC Caffe is importable."""
    if "caffe" in _sys.modules:
        return
    import importlib.util

    if importlib.util.find_spec("caffe") is None:
        _sys.modules["caffe"] = _sys.modules[__name__]
        _sys.meta_path.insert(0, _CaffeAliasFinder())


_alias_caffe()
