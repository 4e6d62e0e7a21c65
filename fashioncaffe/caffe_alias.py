"""Binding the name ``caffe`` to the engine: ``import caffe`` gives ``fashioncaffe``, and
``import caffe.X`` gives the already-loaded ``fashioncaffe.X`` (never a second copy of a module,
which would register ``caffe.proto`` twice with protobuf).

Called by the installed ``caffe`` shim package when no built BVLC pycaffe is on the path (see
``caffe/__init__.py`` for how that is decided), and by ``fashioncaffe pycaffe`` with
``FASHIONCAFFE_FORCE_ALIAS=1``.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__all__ = ["bind_caffe_to_engine"]


class _ExistingModuleLoader(importlib.abc.Loader):
    def __init__(self, module):
        self.module = module

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        pass


class CaffeAliasFinder(importlib.abc.MetaPathFinder):
    """``caffe.X`` → ``fashioncaffe.X``.  A submodule fashioncaffe does not have is not found here
    (the import then fails as any missing module does); an error raised while importing one that
    exists propagates."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("caffe.") or sys.modules.get("caffe") is not sys.modules.get("fashioncaffe"):
            return None
        real = "fashioncaffe." + fullname[len("caffe."):]
        if importlib.util.find_spec(real) is None:
            return None
        module = importlib.import_module(real)
        return importlib.util.spec_from_loader(fullname, _ExistingModuleLoader(module))


def bind_caffe_to_engine() -> None:
    """``sys.modules["caffe"]`` becomes the fashioncaffe module, with the submodule finder installed."""
    import fashioncaffe

    sys.modules["caffe"] = fashioncaffe
    if not any(isinstance(f, CaffeAliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, CaffeAliasFinder())
