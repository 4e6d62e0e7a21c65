"""Initialise FashionNet from BVLC's VGG-16 ImageNet caffemodel (net surgery, pycaffe API).

    python -m tools.paper001.vgg_init --vgg VGG_ILSVRC_16_layers.caffemodel --scale full --variant fn \
        --out fn_init.caffemodel

conv1_1 … conv4_3 and the global branch's conv5_1 … conv5_3 share VGG's names and are copied by
name, as Caffe does; in addition VGG's conv5_x go to the pose branch (conv5_pose_x), fc6 to
fc6_global and fc6_pose, and fc7 to fc7_pose when the shapes agree (full scale, input 224).
fc6_local, fc7_fusion and the output layers keep their fillers.  A caffemodel that is not VGG-16
(no conv5_3 / fc7 layer) is returned unchanged (it is taken to be FashionNet weights already).
"""
from __future__ import annotations

import argparse
import os
import sys

from . import config, netgen

EXTRA = {"conv5_1": ["conv5_pose_1"], "conv5_2": ["conv5_pose_2"], "conv5_3": ["conv5_pose_3"],
         "fc6": ["fc6_global", "fc6_pose"], "fc7": ["fc7_pose"]}


def _layer_blobs(path):
    from fashioncaffe.proto import caffe_pb2
    import numpy as np

    p = caffe_pb2.NetParameter()
    with open(path, "rb") as f:
        p.ParseFromString(f.read())
    out = {}
    for lp in list(p.layer) + list(p.layers):
        if lp.blobs:
            arrs = []
            for b in lp.blobs:
                shape = list(b.shape.dim) if b.HasField("shape") else [b.num, b.channels, b.height, b.width]
                arrs.append(np.asarray(b.data, np.float32).reshape(shape))
            out[lp.name] = arrs
    return out


def map_vgg(vgg_path, scale, variant, out_path):
    import fashioncaffe as caffe

    cfg = config.SCALES[scale]
    deploy = out_path + ".deploy.prototxt"
    with open(deploy, "w") as f:
        f.write(str(netgen.deploy_net(cfg, variant, netgen.attribute_count(scale), "vgg_init")))
    net = caffe.Net(deploy, caffe.TEST)
    net.copy_from(vgg_path)
    src = _layer_blobs(vgg_path)
    for vname, targets in EXTRA.items():
        for t in targets:
            if vname in src and t in net.params:
                for dst, arr in zip(net.params[t], src[vname]):
                    if dst.data.size == arr.size:
                        dst.data[...] = arr.reshape(dst.data.shape)
                    else:
                        print(f"vgg_init: {vname} → {t}: shapes differ ({arr.shape} vs {dst.data.shape}); kept filler")
    net.save(out_path)
    os.remove(deploy)
    return out_path


def maybe_map_vgg(weights, scale, variant, out_dir):
    names = set(_layer_blobs(weights))
    if not {"conv5_3", "fc7"} <= names or "fc7_fusion" in names:
        return weights
    os.makedirs(out_dir, exist_ok=True)
    return map_vgg(weights, scale, variant, os.path.join(out_dir, "vgg_init.caffemodel"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vgg", required=True)
    ap.add_argument("--scale", default="full", choices=list(config.SCALES))
    ap.add_argument("--variant", default="fn", choices=config.VARIANTS)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    map_vgg(a.vgg, a.scale, a.variant, a.out)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
