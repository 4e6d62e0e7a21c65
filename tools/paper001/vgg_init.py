"""Initialise FashionNet from BVLC's VGG-16 ImageNet caffemodel (net surgery, pycaffe API).

    python -m tools.paper001 train --scale full --weights VGG_ILSVRC_16_layers.caffemodel

maps the file onto each run's deploy net (``netgen.run_plan`` → :func:`maybe_map_vgg`) into
``<run>/vgg_init.caffemodel``, which the run's first stage starts from.

The written caffemodel holds only the layers that come from VGG-16: conv1_1 … conv4_3 and the global
branch's conv5_1 … conv5_3 (same names as VGG's), the pose branch's conv5_pose_x (from VGG's conv5_x),
fc6_global and fc6_pose (from fc6) and fc7_pose (from fc7), each where the shapes agree (all of them at
full scale, input 224).  Training copies it by layer name as Caffe does, so fc6_local, fc7_fusion and
the output heads keep the training net's fillers whatever the attribute count of the data.  VGG's file
may be in the legacy V1 format (BVLC's is) or HDF5.  A caffemodel that is not VGG-16 (no conv5_3 / fc7
layer, or one that already has fc7_fusion) is used as it is by the training driver.
"""
from __future__ import annotations

import os

# FashionNet layer → the VGG-16 layer it starts from, beyond the layers both nets name alike
FROM_VGG = {"conv5_pose_1": "conv5_1", "conv5_pose_2": "conv5_2", "conv5_pose_3": "conv5_3",
            "fc6_global": "fc6", "fc6_pose": "fc6", "fc7_pose": "fc7"}


def vgg_layers(path):
    """{layer name: [arrays]} of a caffemodel (V1/V2 binary or HDF5)."""
    from fashioncaffe.formats import iter_layer_blobs

    return {name: arrays for name, arrays in iter_layer_blobs(path) if arrays}


def fashionnet_params(deploy_text):
    """[(layer name, layer type, [param shapes])] of a FashionNet deploy net (prototxt text)."""
    import tempfile

    import fashioncaffe as caffe

    with tempfile.NamedTemporaryFile("w", suffix=".prototxt", delete=False) as f:
        f.write(deploy_text)
    try:
        net = caffe.Net(f.name, caffe.TEST)
    finally:
        os.remove(f.name)
    types = {lp.name: lp.type for lp in net.param.layer}
    return [(name, types[name], [tuple(b.data.shape) for b in blobs]) for name, blobs in net.params.items()]


def map_vgg(vgg_path, deploy_text, out_path, what="FashionNet", log=print):
    """Write the VGG-initialised layers of the FashionNet ``deploy_text`` (described as ``what`` in
    messages) to ``out_path``; returns {FashionNet layer: VGG layer}."""
    import numpy as np

    from fashioncaffe.formats.blobproto import array_to_blobproto
    from fashioncaffe.formats import write_caffemodel
    from fashioncaffe.proto import caffe_pb2

    src = vgg_layers(vgg_path)
    out = caffe_pb2.NetParameter()
    out.name = f"{what} layers initialised from {os.path.basename(vgg_path)}"
    mapped = {}
    for name, ltype, shapes in fashionnet_params(deploy_text):
        vname = FROM_VGG.get(name, name)
        arrays = src.get(vname)
        if arrays is None:
            continue
        if len(arrays) != len(shapes) or any(a.size != int(np.prod(s)) for a, s in zip(arrays, shapes)):
            log(f"vgg_init: {vname} → {name}: shapes differ ({[a.shape for a in arrays]} vs {shapes}); "
                "the layer keeps its filler")
            continue
        lp = out.layer.add()
        lp.name, lp.type = name, ltype
        for a, s in zip(arrays, shapes):
            lp.blobs.append(array_to_blobproto(np.asarray(a, np.float32).reshape(s)))
        mapped[name] = vname
    if not mapped:
        raise SystemExit(f"{vgg_path}: no VGG-16 layer fits {what}; BVLC's VGG-16 weights fit the full scale only.")
    write_caffemodel(out_path, out)
    log(f"vgg_init: {len(mapped)} FashionNet layers from {vgg_path} → {out_path}")
    return mapped


def is_vgg16(path):
    names = set(vgg_layers(path))
    return {"conv5_3", "fc7"} <= names and "fc7_fusion" not in names


def maybe_map_vgg(weights, deploy_text, out_dir, what="FashionNet"):
    """The weights to start training from: a VGG-16 caffemodel is mapped first, anything else is used as is."""
    if not is_vgg16(weights):
        return weights
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "vgg_init.caffemodel")
    map_vgg(weights, deploy_text, out, what)
    return out
