"""What the app searches: the gallery and the query set of a prepared paper-004 data root, their true
labels (to mark exact matches), and one :class:`tools.paper004.search.FashionSearch` built once per
process over features computed by the exported ONNX model through onnxruntime.

The gallery's and training images' features are cached on disk (``features.npz`` beside the model,
keyed by the model file's size and time), so a restart skips onnxruntime; the faiss index is built
once from them when the catalogue loads and shared by every shopper (searches only read it).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from tools.paper004.evaluate import load_split, split_features, split_labels
from tools.paper004.features import Extracted, OnnxFeatures, onnx_info
from tools.paper004.search import FashionSearch


def _model_key(path):
    st = os.stat(path)
    return f"{st.st_size}:{int(st.st_mtime_ns)}"


def _save_extracted(path, key, parts):
    arrays = {"model_key": np.array(key)}
    for name, ex in parts.items():
        arrays.update({f"{name}/sig/{k}": v for k, v in ex.signatures.items()})
        arrays.update({f"{name}/prob/{k}": v for k, v in ex.probs.items()})
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _load_extracted(path, key, names):
    if not os.path.isfile(path):
        return None
    z = np.load(path)
    if str(z["model_key"]) != key:
        return None
    out = {}
    for name in names:
        sig = {k.split("/", 2)[2]: z[k] for k in z.files if k.startswith(f"{name}/sig/")}
        prob = {k.split("/", 2)[2]: z[k] for k in z.files if k.startswith(f"{name}/prob/")}
        out[name] = Extracted(sig, prob)
    return out


def cached_features(source, model_path, droot, cache_path):
    """{"gallery": Extracted, "train": Extracted} of the data root's splits, from the cache when it
    belongs to this model file."""
    key = _model_key(model_path)
    got = _load_extracted(cache_path, key, ("gallery", "train"))
    if got is None:
        p = os.path.join(droot, "p004")
        got = {s: split_features(source, os.path.join(p, s)) for s in ("gallery", "train")}
        _save_extracted(cache_path, key, got)
    return got


@dataclass
class Catalogue:
    search: FashionSearch
    gallery: dict          # load_split's {"images", "labels", "names"}
    queries: dict
    groups: list
    special: list
    values: dict

    @classmethod
    def load(cls, model_path, mean_path, droot, cache_path, threads=None):
        source = OnnxFeatures.from_model(model_path, mean_path, threads=threads)
        info = onnx_info(model_path)
        groups, special, values = info["groups"], info["special"], info["values"]
        p = os.path.join(droot, "p004")
        feats = cached_features(source, model_path, droot, cache_path)
        gallery = load_split(os.path.join(p, "gallery"))
        queries = load_split(os.path.join(p, "query"))
        _, train_labels = split_labels(os.path.join(p, "train"))
        search = FashionSearch.from_features(
            source, feats["gallery"], gallery["names"], feats["train"],
            {v: train_labels[:, groups.index(v)] for v in special}, values, special, info["variant"],
            gallery_images=list(gallery["images"]))
        return cls(search, gallery, queries, groups, special, values)

    def gallery_row(self, gid):
        return self.search.index.ids.index(str(gid))

    def true_attributes(self, split, row):
        """{group: value name or None (missing)} of a gallery or query image."""
        lab = (self.gallery if split == "gallery" else self.queries)["labels"][row]
        return {g: (self.values[g][int(lab[j])] if lab[j] >= 0 else None) for j, g in enumerate(self.groups)}

    def exact_matches(self, rows, target):
        """Per gallery row: True when every special attribute's true label equals ``target`` {attr: name}."""
        lab = self.gallery["labels"][np.asarray(rows, int)]
        ok = np.ones(len(lab), bool)
        for attr in self.special:
            want = self.values[attr].index(target[attr])
            ok &= lab[:, self.groups.index(attr)] == want
        return ok


def decode_upload(raw, filename):
    """BGR uint8 image of uploaded bytes, or ValueError with a message for the page."""
    buf = np.frombuffer(raw or b"", np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if img is None:
        raise ValueError(f"{filename or 'the upload'} is not an image this app can read ({len(buf)} bytes): "
                         "upload a JPEG, PNG, BMP or WebP photo of one garment.")
    return img


def encode_jpeg(img):
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise ValueError("could not encode the image as JPEG")
    return buf.tobytes()
