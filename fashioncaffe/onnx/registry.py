"""Converter registries: Caffe layer type → converter, and Python layer ``module.Class`` → converter.

A converter is a small function ``fn(cx) -> list[str]`` that receives a :class:`LayerContext`
(``fashioncaffe.onnx.graph``) and returns one ONNX value name per Caffe top of the layer.  It adds
nodes with ``cx.g.node(...)`` and constants with ``cx.g.const(...)``; it may return an input name
unchanged for identity layers (Dropout, Split).

Built-in Caffe types register with :func:`converter`.  Python layers (``type: "Python"``) are looked
up by ``"<python_param.module>.<python_param.layer>"`` in :func:`python_converter`'s registry, or —
so a layer file can carry its own export without editing this package — through a class attribute
``onnx_converter = "package.module:function"`` (or a callable) on the layer class.  A layer with no
converter stops the export with a message naming the layer and its type.
"""
from __future__ import annotations

import importlib

_CONVERTERS: dict = {}
_PY_CONVERTERS: dict = {}


def converter(*type_names):
    """Decorator: register ``fn`` as the ONNX converter of the given Caffe layer types."""

    def deco(fn):
        for t in type_names:
            _CONVERTERS[t] = fn
        return fn

    return deco


def python_converter(*class_paths):
    """Decorator: register ``fn`` for Python layers whose ``module.Class`` is one of ``class_paths``
    (e.g. ``"layers.landmark_pooling.LandmarkPooling"``)."""

    def deco(fn):
        for p in class_paths:
            _PY_CONVERTERS[p] = fn
        return fn

    return deco


def register_python_converter(class_path: str, fn) -> None:
    """Non-decorator form of :func:`python_converter`."""
    _PY_CONVERTERS[class_path] = fn


def register_converter(type_name: str, fn) -> None:
    """Non-decorator form of :func:`converter`."""
    _CONVERTERS[type_name] = fn


def converter_types() -> list:
    return sorted(_CONVERTERS)


def python_converter_keys() -> list:
    return sorted(_PY_CONVERTERS)


def find_converter(lp, layer):
    """The converter for LayerParameter ``lp`` (engine layer ``layer``), or None."""
    if lp.type != "Python":
        return _CONVERTERS.get(lp.type)
    key = f"{lp.python_param.module}.{lp.python_param.layer}"
    fn = _PY_CONVERTERS.get(key)
    if fn is not None:
        return fn
    obj = getattr(layer, "obj", None)
    attr = getattr(type(obj), "onnx_converter", None) if obj is not None else None
    if attr is None:
        return None
    if callable(attr):
        return attr
    mod_name, _, fn_name = str(attr).partition(":")
    return getattr(importlib.import_module(mod_name), fn_name)
