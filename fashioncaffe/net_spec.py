"""NetSpec: writing Caffe nets in Python (pycaffe's ``caffe.net_spec``).

    import fashioncaffe as caffe
    from caffe import layers as L, params as P

    n = caffe.NetSpec()
    n.data, n.label = L.Data(source="train_lmdb", backend=P.Data.LMDB, batch_size=64, ntop=2,
                             transform_param=dict(scale=1. / 255), include=dict(phase=caffe.TRAIN))
    n.conv1 = L.Convolution(n.data, kernel_size=5, num_output=20, weight_filler=dict(type="xavier"))
    n.relu1 = L.ReLU(n.conv1, in_place=True)
    n.loss = L.SoftmaxWithLoss(n.conv1, n.label)
    print(n.to_proto())          # a NetParameter; str() is its prototxt text

The rules are BVLC's, so the same script writes the same prototxt text:

* ``L.<Type>(*bottoms, **kwargs)`` makes a layer of type ``<Type>``.  A keyword is looked up in the
  layer's own ``<type>_param`` message (the message named ``<Type>Parameter``, found through the
  LayerParameter descriptor) and, when that message has no such field or the type has no such
  message, in LayerParameter itself (``param``, ``include``, ``loss_weight``, ``propagate_down``...).
  A keyword ending in ``param`` (``transform_param``, ``convolution_param``...) always goes to
  LayerParameter.
* Values: a list fills a repeated field (a list of dicts adds one message per dict), a dict fills a
  message field, a scalar given for a repeated field is one element, anything else is assigned.
* ``ntop=k`` makes the call return k tops (``ntop=0`` returns the layer itself, for layers like
  Silence); ``in_place=True`` makes the tops the bottoms' names.
* Names: in ``NetSpec.to_proto`` each top is named by the attribute it was assigned to; a layer is
  named after its first top.  Unassigned tops get ``<Type><k>`` with a per-type counter, in the
  order the net is walked.
* ``P.<Type>.<ENUM>`` is the enum value ``<Type>Parameter.<ENUM>`` (``P.Pooling.MAX`` == 0).
"""
from __future__ import annotations

from collections import Counter, OrderedDict

from .proto import caffe_pb2

__all__ = ["NetSpec", "Top", "Function", "to_proto", "layers", "params", "param_name_dict", "assign_proto"]


def param_name_dict():
    """Map a layer type name to the prefix of its ``*_param`` field: ``{'Convolution': 'convolution', ...}``.

    Built from the LayerParameter descriptor: every ``<x>_param`` message field whose message type is
    ``<Y>Parameter`` contributes ``Y -> x``.
    """
    out = {}
    for field in caffe_pb2.LayerParameter.DESCRIPTOR.fields:
        if not field.name.endswith("_param") or field.message_type is None:
            continue
        type_name = field.message_type.name
        if type_name.endswith("Parameter"):
            out[type_name[: -len("Parameter")]] = field.name[: -len("_param")]
    return out


_PARAM_NAMES = param_name_dict()


def _is_repeated(proto, name) -> bool:
    field = proto.DESCRIPTOR.fields_by_name.get(name)
    if field is None:
        # raise the AttributeError protobuf raises for unknown fields
        getattr(proto, name)
        raise AttributeError(f"{type(proto).__name__} has no field {name!r}")
    if hasattr(field, "is_repeated"):
        return bool(field.is_repeated)
    return field.label == field.LABEL_REPEATED


def _coerce_scalar(proto, name, val):
    """Accept enum names given as strings (``pool='MAX'``); BVLC expects the numeric values."""
    field = proto.DESCRIPTOR.fields_by_name.get(name)
    if field is not None and field.enum_type is not None and isinstance(val, str):
        value = field.enum_type.values_by_name.get(val)
        if value is None:
            names = ", ".join(v.name for v in field.enum_type.values)
            raise ValueError(f"{type(proto).__name__}.{name}: unknown enum value {val!r} (expected one of {names})")
        return value.number
    return val


def assign_proto(proto, name, val):
    """Assign a Python value to field ``name`` of ``proto`` (lists → repeated, dicts → messages)."""
    repeated = _is_repeated(proto, name)
    if repeated and not isinstance(val, (list, tuple)):
        val = [val]
    if isinstance(val, (list, tuple)):
        if len(val) and isinstance(val[0], dict):
            for item in val:
                sub = getattr(proto, name).add()
                for k, v in item.items():
                    assign_proto(sub, k, v)
        else:
            getattr(proto, name).extend(_coerce_scalar(proto, name, v) for v in val)
    elif isinstance(val, dict):
        for k, v in val.items():
            assign_proto(getattr(proto, name), k, v)
    else:
        setattr(proto, name, _coerce_scalar(proto, name, val))


class Top:
    """One output of a layer function (a blob in the net being written)."""

    def __init__(self, fn, n):
        self.fn = fn
        self.n = n

    def to_proto(self):
        """The NetParameter of every layer this top depends on."""
        return to_proto(self)

    def _update(self, params):
        self.fn._update(params)

    def _to_proto(self, layers, names, autonames):
        return self.fn._to_proto(layers, names, autonames)

    def __repr__(self):
        return f"<Top {self.n} of {self.fn.type_name}>"


class Function:
    """A layer in a NetSpec: type, bottoms (Tops) and keyword parameters."""

    def __init__(self, type_name, inputs, params):
        self.type_name = type_name
        for index, inp in enumerate(inputs):
            if not isinstance(inp, Top):
                raise TypeError(f"{type_name} input {index} is not a Top (type is {type(inp)})")
        self.inputs = inputs
        self.params = dict(params)
        self.ntop = self.params.pop("ntop", 1)
        self.in_place = self.params.pop("in_place", False)
        self.tops = tuple(Top(self, n) for n in range(self.ntop))

    def _get_name(self, names, autonames):
        if self not in names and self.ntop > 0:
            names[self] = self._get_top_name(self.tops[0], names, autonames)
        elif self not in names:
            autonames[self.type_name] += 1
            names[self] = self.type_name + str(autonames[self.type_name])
        return names[self]

    def _get_top_name(self, top, names, autonames):
        if top not in names:
            autonames[top.fn.type_name] += 1
            names[top] = top.fn.type_name + str(autonames[top.fn.type_name])
        return names[top]

    def _update(self, params):
        self.params.update(params)

    def _to_proto(self, layers, names, autonames):
        if self in layers:
            return
        bottom_names = []
        for inp in self.inputs:
            inp._to_proto(layers, names, autonames)
            bottom_names.append(layers[inp.fn].top[inp.n])
        layer = caffe_pb2.LayerParameter()
        layer.type = self.type_name
        layer.bottom.extend(bottom_names)

        if self.in_place:
            layer.top.extend(layer.bottom)
        else:
            for top in self.tops:
                layer.top.append(self._get_top_name(top, names, autonames))
        layer.name = self._get_name(names, autonames)

        prefix = _PARAM_NAMES.get(self.type_name)
        for k, v in self.params.items():
            if k.endswith("param"):
                # generic *_param keywords go to LayerParameter itself
                assign_proto(layer, k, v)
                continue
            target = getattr(layer, prefix + "_param") if prefix else None
            if target is not None and k in target.DESCRIPTOR.fields_by_name:
                assign_proto(target, k, v)
            else:
                assign_proto(layer, k, v)
        layers[self] = layer

    def __repr__(self):
        return f"<{self.type_name} layer function>"


class NetSpec:
    """A net being written: assign tops as attributes (``n.conv1 = L.Convolution(...)``), in order."""

    def __init__(self):
        super().__setattr__("tops", OrderedDict())

    def __setattr__(self, name, value):
        self.tops[name] = value

    def __getattr__(self, name):
        try:
            return self.tops[name]
        except KeyError:
            raise AttributeError(f"NetSpec has no top named {name!r}") from None

    def __setitem__(self, key, value):
        self.__setattr__(key, value)

    def __getitem__(self, item):
        return self.tops[item]

    def __delitem__(self, name):
        del self.tops[name]

    def __contains__(self, name):
        return name in self.tops

    def keys(self):
        return list(self.tops.keys())

    def vals(self):
        return list(self.tops.values())

    def to_proto(self):
        """The NetParameter: layers in the order their tops were assigned (dependencies first)."""
        names = {v: k for k, v in self.tops.items()}
        autonames = Counter()
        layers_ = OrderedDict()
        for _name, top in self.tops.items():
            top._to_proto(layers_, names, autonames)
        net = caffe_pb2.NetParameter()
        net.layer.extend(layers_.values())
        return net


def to_proto(*tops):
    """A NetParameter holding the layers needed to produce ``tops`` (auto-named)."""
    layers_ = OrderedDict()
    autonames = Counter()
    for top in tops:
        top.fn._to_proto(layers_, {}, autonames)
    net = caffe_pb2.NetParameter()
    net.layer.extend(layers_.values())
    return net


class Layers:
    """``L.<Type>(*bottoms, **params)``: a layer function of Caffe type ``<Type>``."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)

        def layer_fn(*args, **kwargs):
            fn = Function(name, args, kwargs)
            if fn.ntop == 0:
                return fn
            if fn.ntop == 1:
                return fn.tops[0]
            return fn.tops

        layer_fn.__name__ = name
        return layer_fn


class _ParamEnums:
    def __init__(self, name):
        self._name = name

    def __getattr__(self, param_name):
        if param_name.startswith("__"):
            raise AttributeError(param_name)
        return getattr(getattr(caffe_pb2, self._name + "Parameter"), param_name)


class Parameters:
    """``P.<Type>.<ENUM>``: enum values of ``<Type>Parameter`` (``P.Pooling.MAX``, ``P.Data.LMDB``)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _ParamEnums(name)


layers = Layers()
params = Parameters()
