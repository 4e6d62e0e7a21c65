"""What an exported model carries to be self-describing: preprocessing and readable outputs.

Stored as JSON in the ONNX model's ``metadata_props`` under the key ``fashioncaffe``::

    {"format": 1, "net": "<net name>", "producer": "fashioncaffe <version>",
     "preprocess": {"input": "data", "input_layout": "CHW", "channel_order": "BGR",
                    "input_shape": [C, H, W], "resize": [H0, W0], "crop_size": c,
                    "scale": s, "mean_values": [b, g, r] | null,
                    "mean_image": {"shape": [C, H0, W0], "base64": "<float32 bytes>"} | null,
                    "pixel_range": 255},
     "outputs": [{"name": "prob", "shape": [null, 50], "activation": "softmax" | "sigmoid" | "none",
                  "kind": "category" | "attributes" | "landmarks" | "raw",
                  "labels": [...] | null,
                  "groups": [{"name": "texture", "indices": [...]}, ...] | null,
                  "group_mode": "multi" | "exclusive",
                  "landmark_layout": "xy" | "vxy" | "v", "landmark_slots": [...]}]}

Preprocessing is Caffe's TEST transform applied to an image file: decode as BGR, resize to
``resize`` (the size images were stored at in the LMDB, i.e. the mean image's size), centre crop to
``crop_size``, subtract the mean (image, at the uncropped position, or per-channel values), multiply
by ``scale``, CHW.  Labels come from a data converter's ``meta.json`` (``--labels``).
"""
from __future__ import annotations

import base64
import json
import re
import os

import numpy as np

from .. import __version__ as _fc_version
from ..errors import fail

FORMAT = 1


def _producer_types(net):
    out = {}
    for step in net.schedule:
        for s in step.tops:
            out[s] = step.type
    return out


def default_preprocess(net, input_name=None):
    name = input_name or net.inputs[0]
    shp = list(net.blobs[name].shape)
    chw = shp[1:] if len(shp) == 4 else shp[1:]
    pre = {"input": name, "input_layout": "CHW", "channel_order": "BGR", "input_shape": chw,
           "resize": chw[1:] if len(chw) == 3 else None, "crop_size": 0, "scale": 1.0,
           "mean_values": None, "mean_image": None, "pixel_range": 255}
    return pre


def preprocess_from_transform(tp, input_shape, base_dir=None, name="data", mean_file=None):
    """The ``preprocess`` entry from a TransformationParameter (a TEST data layer's)."""
    C, H, W = [int(d) for d in input_shape]
    pre = {"input": name, "input_layout": "CHW", "channel_order": "BGR" if C == 3 else "GRAY",
           "input_shape": [C, H, W], "resize": [H, W], "crop_size": int(tp.crop_size), "scale": float(tp.scale),
           "mean_values": [float(v) for v in tp.mean_value] or None, "mean_image": None, "pixel_range": 255}
    mf = mean_file or (tp.mean_file if tp.HasField("mean_file") else "")
    if mf:
        set_mean_image(pre, resolve_path(mf, base_dir))
    return pre


def resolve_path(path, base_dir=None):
    if os.path.exists(path) or os.path.isabs(path):
        return path
    if base_dir:
        alt = os.path.join(base_dir, path)
        if os.path.exists(alt):
            return alt
    return path


def set_mean_image(pre, path):
    from ..data_pipeline.transform import load_mean

    if not os.path.exists(path):
        raise fail(f"mean file {path} does not exist (the transform's mean_file, resolved against the working "
                   "directory and the prototxt's folder); pass --mean-file PATH.")
    mean = load_mean(path, "export")
    pre["mean_image"] = {"shape": list(mean.shape), "base64": base64.b64encode(mean.astype("<f4").tobytes())
                         .decode("ascii")}
    pre["mean_values"] = None
    pre["resize"] = list(mean.shape[1:])
    return pre


def mean_image(pre):
    m = pre.get("mean_image")
    if not m:
        return None
    arr = np.frombuffer(base64.b64decode(m["base64"]), dtype="<f4").astype(np.float32)
    return arr.reshape(m["shape"])


# ------------------------------------------------------------------------------------------------
# labels (meta.json written by data_prep converters)
# ------------------------------------------------------------------------------------------------
def read_labels_meta(path):
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise fail(f"--labels {path}: file does not exist (expected the meta.json a data converter writes next "
                   "to its LMDBs).") from None
    except (OSError, ValueError) as e:
        raise fail(f"--labels {path}: cannot be read as JSON ({e}).") from None
    if not isinstance(meta, dict):
        raise fail(f"--labels {path}: expected a JSON object (a data converter's meta.json).")
    return meta


def _groups_from(spec, names):
    """Groups of a companion: ``group_slices`` (exclusive one-hot groups), ``group_of`` / ``types``
    (one group name per label) — or None."""
    if isinstance(spec.get("group_slices"), dict):
        return [{"name": g, "indices": list(range(int(a), int(b)))} for g, (a, b) in spec["group_slices"].items()], \
            "exclusive"
    per = spec.get("group_of") or spec.get("types")
    if isinstance(per, list) and names and len(per) == len(names):
        order = []
        idx = {}
        for i, gname in enumerate(per):
            if gname not in idx:
                idx[gname] = []
                order.append(gname)
            idx[gname].append(i)
        return [{"name": gname, "indices": idx[gname]} for gname in order], "multi"
    return None, "multi"


def heads_from_meta(meta):
    """Candidate heads of a meta.json: dicts with name, kind, size(s), labels, groups."""
    heads = []
    lab = meta.get("label") or {}
    if isinstance(lab, dict) and isinstance(lab.get("names"), list) and lab["names"]:
        heads.append({"head": lab.get("name") or "category", "kind": "category", "sizes": [len(lab["names"])],
                      "labels": [str(n) for n in lab["names"]], "groups": None, "group_mode": "exclusive"})
    for cname, spec in (meta.get("companions") or {}).items():
        if not isinstance(spec, dict):
            continue
        K = int(spec.get("K", 0) or 0)
        if cname == "landmarks" or "slots" in spec:
            slots = [str(s) for s in spec.get("slots", [])]
            n = len(slots) or 8
            heads.append({"head": cname, "kind": "landmarks", "sizes": [3 * n, 2 * n, n], "labels": slots,
                          "groups": None, "group_mode": "multi"})
            continue
        names = spec.get("names")
        enc = spec.get("encoding")
        if isinstance(enc, str) and "index" in enc:
            continue  # per-group value indices, not a score vector
        if not K:
            continue
        groups, mode = _groups_from(spec, names)
        heads.append({"head": cname, "kind": "attributes", "sizes": [K],
                      "labels": [str(n) for n in names] if isinstance(names, list) and len(names) == K else None,
                      "groups": groups, "group_mode": mode})
    # a keyword catalogue (group -> labels) gives one head per group, for nets with an output per
    # group (paper 000's multi-task nets: fc8_<group>)
    catalog = meta.get("catalog")
    if isinstance(catalog, dict):
        for gname, labels in catalog.items():
            if isinstance(labels, list) and labels:
                heads.append({"head": _slug(gname), "kind": "attributes", "sizes": [len(labels)],
                              "labels": [str(n) for n in labels], "groups": [{"name": gname, "indices":
                              list(range(len(labels)))}], "group_mode": "multi", "exact": True})
    return heads


def _slug(text):
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


_HINTS = {"category": ("prob", "cls", "categ", "class", "fc8", "softmax"),
          "attributes": ("attr", "sigmoid", "multi"), "landmarks": ("landmark", "lm", "kp", "keypoint")}


def _match(output, heads, size):
    name = output.lower()
    # per-group heads match by their slug as a whole word of the output name, the longest first
    # ("length_of_sleeve" before "sleeve")
    exact = [h for h in heads if h.get("exact") and size in h["sizes"] and
             re.search(rf"(^|_){re.escape(h['head'])}(_|$)", name)]
    if exact:
        return max(exact, key=lambda h: len(h["head"]))
    heads = [h for h in heads if not h.get("exact")]
    by_name = [h for h in heads if size in h["sizes"] and
               (h["head"].lower() in name or h["head"].lower()[:4] in name or
                any(t in name for t in _HINTS.get(h["kind"], ())))]
    if len(by_name) >= 1:
        return by_name[0]
    by_size = [h for h in heads if size in h["sizes"]]
    if len(by_size) == 1:
        return by_size[0]
    return None


def build_metadata(net, input_shapes, output_shapes, preprocess=None, labels_meta=None, heads=None,
                   source=None):
    """The dict stored under ``fashioncaffe``; ``heads`` maps output names to a meta.json head name
    (``category`` / a companion name) or to a kind (``raw``, ``landmarks``, ...)."""
    prod = _producer_types(net)
    pre = dict(preprocess) if preprocess else default_preprocess(net)
    candidates = heads_from_meta(labels_meta) if labels_meta else []
    heads = dict(heads or {})
    outs = []
    for name, dyn in output_shapes.items():
        ptype = prod.get(net.blob_slot(name), "")
        act = {"Softmax": "softmax", "Sigmoid": "sigmoid"}.get(ptype, "none")
        size = int(np.prod([d for d in dyn[1:]])) if len(dyn) > 1 else 1
        entry = {"name": name, "shape": [None if d == -1 else int(d) for d in dyn], "activation": act,
                 "kind": "raw", "labels": None, "groups": None, "group_mode": "multi"}
        head = None
        if name in heads:
            want = heads[name]
            head = next((h for h in candidates if h["head"] == want), None)
            if head is None:
                if want in ("category", "attributes", "landmarks", "raw"):
                    entry["kind"] = want
                else:
                    known = ", ".join(h["head"] for h in candidates) or "none"
                    raise fail(f"--head {name}={want}: the labels file has no head '{want}' (heads: {known}).")
        elif candidates:
            head = _match(name, candidates, size)
        if head is not None:
            if size not in head["sizes"]:
                raise fail(f"output '{name}' has {size} values per image but the labels head '{head['head']}' has "
                           f"{head['sizes'][0]}.")
            entry.update(kind=head["kind"], labels=head["labels"], groups=head["groups"],
                         group_mode=head["group_mode"], head=head["head"])
            if head["kind"] == "landmarks":
                n = head["sizes"][2]
                entry["landmark_layout"] = {3 * n: "vxy", 2 * n: "xy", n: "v"}[size]
                entry["landmark_slots"] = head["labels"]
                entry["labels"] = None
        elif entry["kind"] == "raw" and name not in heads:
            low = name.lower()
            if any(t in low for t in _HINTS["landmarks"]) and size % 2 == 0:
                entry["kind"] = "landmarks"
                entry["landmark_layout"] = "xy"
            elif act == "softmax" and len(dyn) == 2:
                entry["kind"] = "category"
            elif act == "sigmoid":
                entry["kind"] = "attributes"
        if entry["kind"] == "landmarks":
            entry.setdefault("landmark_layout", "xy")
            entry.setdefault("landmark_frame", "stored image pixels (the 'resize' size)")
        outs.append(entry)
    meta = {"format": FORMAT, "net": net.name, "producer": f"fashioncaffe {_fc_version}", "preprocess": pre,
            "inputs": [{"name": n, "shape": [None if d == -1 else int(d) for d in s]} for n, s in input_shapes.items()],
            "outputs": outs}
    if source:
        meta["source"] = source
    if labels_meta:
        meta["labels_source"] = {k: labels_meta.get(k) for k in ("dataset", "synthetic", "split") if k in labels_meta}
    return meta


def read_metadata(model, source=None):
    """The ``fashioncaffe`` metadata dict of an onnx.ModelProto or an onnxruntime session (None when
    the model has none).  Metadata that is not a JSON object raises, naming ``source`` (the file)."""
    props = None
    if hasattr(model, "metadata_props"):
        props = {p.key: p.value for p in model.metadata_props}
    elif hasattr(model, "get_modelmeta"):
        props = dict(model.get_modelmeta().custom_metadata_map)
    if not props or "fashioncaffe" not in props:
        return None
    where = source or "the ONNX model"
    text = props["fashioncaffe"]
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as e:
        near = text[max(0, e.pos - 20):e.pos + 20]
        raise fail(f"{where}: its 'fashioncaffe' metadata is not valid JSON ({e.msg} at character {e.pos}, near "
                   f"{near!r}); the file was edited or damaged after `fashioncaffe export`. Export it again.") \
            from None
    if not isinstance(meta, dict):
        raise fail(f"{where}: its 'fashioncaffe' metadata is JSON but not an object (a {type(meta).__name__}); "
                   "expected what `fashioncaffe export` writes. Export it again.")
    return meta
