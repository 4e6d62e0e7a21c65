"""``import caffe``: BVLC Caffe's pycaffe where a built one is on the path, otherwise fashioncaffe.

This package is installed with fashioncaffe so that an unmodified pycaffe script, notebook or
Python-layer file finds ``caffe`` in a fresh interpreter.  It decides once, at its own import:

* **BVLC Caffe present** -- another ``caffe`` package on ``sys.path`` (any entry but the folder this
  shim lives in) that holds pycaffe's compiled extension ``caffe/_caffe.<ext>``: that package is
  loaded as ``caffe`` and this shim steps aside (fashioncaffe is not imported at all: both register
  ``caffe.proto`` with protobuf, which refuses a second registration).  A ``caffe`` folder without
  ``_caffe`` (an unbuilt BVLC checkout) is not a pycaffe and does not count.
* **otherwise** -- ``caffe`` is bound to the engine: ``sys.modules["caffe"]`` is the ``fashioncaffe``
  module and ``caffe.X`` imports resolve to ``fashioncaffe.X`` (:mod:`fashioncaffe.caffe_alias`).

Where a BVLC package comes *before* this shim on ``sys.path``, Python imports it directly and this
file never runs.  ``fashioncaffe pycaffe SCRIPT`` with ``FASHIONCAFFE_FORCE_ALIAS=1`` binds the
engine even when BVLC Caffe is installed.  Only the standard library is used before the choice
(no import cycle with fashioncaffe); an error while loading either side propagates unchanged.
"""
import importlib.machinery
import os
import sys


def _bvlc_caffe_spec():
    """The ModuleSpec of a built BVLC pycaffe elsewhere on ``sys.path``, or None."""
    here = os.path.realpath(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    others = []
    for entry in sys.path:
        resolved = os.path.realpath(entry or os.getcwd()) if isinstance(entry, str) else None
        if resolved != here:
            others.append(entry)
    spec = importlib.machinery.PathFinder.find_spec("caffe", others)
    while spec is not None and spec.submodule_search_locations:
        extension = importlib.machinery.PathFinder.find_spec("caffe._caffe", list(spec.submodule_search_locations))
        if extension is not None and isinstance(extension.loader, importlib.machinery.ExtensionFileLoader):
            return spec
        # not a built pycaffe: look further along the path
        found_in = os.path.realpath(os.path.dirname(list(spec.submodule_search_locations)[0]))
        others = [e for e in others if not isinstance(e, str) or os.path.realpath(e or os.getcwd()) != found_in]
        spec = importlib.machinery.PathFinder.find_spec("caffe", others)
    return None


def _load_bvlc(spec):
    import importlib.util

    module = importlib.util.module_from_spec(spec)
    sys.modules["caffe"] = module  # pycaffe's own `import caffe.io` inside its __init__ needs this
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["caffe"]
        raise


_spec = _bvlc_caffe_spec()
if _spec is not None:
    _load_bvlc(_spec)
else:
    from fashioncaffe.caffe_alias import bind_caffe_to_engine

    bind_caffe_to_engine()
