"""Where paper 004's signatures come from: a trained deploy net run by the engine, or its ONNX export run
by onnxruntime -- one interface, so the search (tools/paper004/search.py) and the web app do not care.

    src = EngineFeatures.from_files(deploy, caffemodel, mean_file, size=127, scale=1/64, variant="proposed")
    src = OnnxFeatures.from_files(model.onnx, mean_file, size=127, scale=1/64, variant="proposed")
    export_model(deploy, caffemodel, "model.onnx", "proposed", stats, size=127, scale=1/64)
    src = OnnxFeatures.from_model("model.onnx", mean_file)     # everything else from its metadata
    out = src.extract(images)            # images: N × H × W × 3 uint8 BGR (any H × W: resized to S × S)
    out.signatures                       # {name: N × D float32}, name = a special attribute, "general",
                                         #   "all" (classic) or "amnet"
    out.probs                            # {group: N × K attribute probabilities}

Preprocessing is the training nets' transform: resize to S × S (as the converter stored the images),
(x − mean) · scale, BGR CHW; for ``proposed`` the part boxes are extracted from the resized image
(tools/paper004/parts.py) and fed as ``part_boxes`` (the net's "Extract Parts?" head gates them);
for ``amnet`` ``extract(images, manipulation=T)`` feeds the manipulation indicators (N × V, zeros =
no manipulation).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import parts

SIGNATURE_BLOBS = {"classic": {"all": "fc7"}, "amnet": {"amnet": "amnet_query"}}


@dataclass
class Extracted:
    """Signatures and attribute probabilities of a batch of images."""
    signatures: dict
    probs: dict


def signature_blobs(variant, special):
    """{signature name: deploy blob} of a variant."""
    if variant in SIGNATURE_BLOBS:
        return dict(SIGNATURE_BLOBS[variant])
    out = {v: f"fc7_{v}" for v in special}
    out["general"] = "fc7_general"
    return out


def preprocess(images, size, mean, scale):
    """(N, 3, S, S) float32 net input and the resized uint8 images (for the part extraction)."""
    resized = np.stack([img if img.shape[:2] == (size, size) else
                        cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR) for img in images])
    x = (resized.transpose(0, 3, 1, 2).astype(np.float32) - mean[None]) * np.float32(scale)
    return x, resized


def part_boxes(resized):
    """N × 24 normalised part boxes (the parts LMDB's box columns) of resized images."""
    out = []
    for img in resized:
        ex = parts.extract_parts(img)
        case = parts.CASE_SLEEVES if ex.sleeves else parts.CASE_SLEEVELESS  # the net decides lower body
        out.append(parts.part_vector(case, ex.boxes, img.shape[1], img.shape[0])[1 + len(parts.PARTS):])
    return np.stack(out).astype(np.float32)


class _Source:
    def __init__(self, size, mean, scale, variant, groups, special, batch=32):
        self.size, self.scale, self.variant = int(size), float(scale), variant
        self.mean = np.asarray(mean, np.float32).reshape(3, size, size)
        self.groups, self.special = list(groups), list(special)
        self.blobs = signature_blobs(variant, special)
        self.batch = int(batch)

    def inputs(self, images, manipulation=None):
        x, resized = preprocess(images, self.size, self.mean, self.scale)
        feeds = {"data": x}
        if self.variant == "proposed":
            feeds["part_boxes"] = part_boxes(resized)
        if self.variant == "amnet":
            if manipulation is None:
                raise ValueError("AMNet's features need the manipulation indicators (zeros for none)")
            feeds["manipulation"] = np.asarray(manipulation, np.float32).reshape(len(x), -1)
        elif manipulation is not None:
            raise ValueError(f"variant {self.variant!r} takes no manipulation input")
        return feeds

    def extract(self, images, manipulation=None):
        """Signatures and probabilities of ``images`` (N × H × W × 3 uint8 BGR), in batches."""
        images = list(images)
        sigs = {k: [] for k in self.blobs}
        probs = {g: [] for g in self.groups}
        for s in range(0, len(images), self.batch):
            m = None if manipulation is None else np.asarray(manipulation)[s:s + self.batch]
            out = self._run(self.inputs(images[s:s + self.batch], m))
            for k, b in self.blobs.items():
                sigs[k].append(out[b].reshape(len(out[b]), -1))
            for g in self.groups:
                probs[g].append(out[f"prob_{g}"])
        return Extracted({k: np.concatenate(v).astype(np.float32) for k, v in sigs.items()},
                         {g: np.concatenate(v).astype(np.float32) for g, v in probs.items()})

    def wanted(self):
        return list(self.blobs.values()) + [f"prob_{g}" for g in self.groups]


class EngineFeatures(_Source):
    """Features from a deploy net run by fashioncaffe."""

    def __init__(self, net, **kw):
        super().__init__(**kw)
        self.net = net

    @classmethod
    def from_files(cls, deploy, weights, mean_file, size, scale, variant, groups, special, batch=32):
        import fashioncaffe as caffe
        from fashioncaffe.formats.blobproto import read_binaryproto

        net = caffe.Net(deploy, caffe.TEST, weights=weights)
        return cls(net, size=size, mean=read_binaryproto(mean_file), scale=scale, variant=variant, groups=groups,
                   special=special, batch=batch)

    def _run(self, feeds):
        import torch

        net = self.net
        for k, v in feeds.items():
            net.blobs[k].reshape(*v.shape)
        net.reshape()
        for k, v in feeds.items():
            net.blobs[k].data[...] = v
        with torch.no_grad():
            net.forward()
        return {b: np.array(net.blobs[b].data, copy=True) for b in self.wanted()}


class OnnxFeatures(_Source):
    """Features from the deploy net's ONNX export, run by onnxruntime (the web app's source)."""

    def __init__(self, session, **kw):
        super().__init__(**kw)
        self.session = session
        names = [o.name for o in session.get_outputs()]
        self.outputs = {}
        for b in self.wanted():
            hit = [n for n in names if n == b] or [n for n in names if n.startswith(b)]
            if not hit:
                raise ValueError(f"the ONNX model has no output {b!r} (outputs: {', '.join(names)}); export it "
                                 f"with extra_outputs={self.wanted()}")
            self.outputs[b] = hit[0]

    @classmethod
    def from_model(cls, model, mean_file, batch=32, threads=None):
        """A source for a model written by :func:`export_model` (its metadata gives the rest)."""
        info = onnx_info(model)
        return cls.from_files(model, mean_file, info["size"], info["scale"], info["variant"], info["groups"],
                              info["special"], batch=batch, threads=threads)

    @classmethod
    def from_files(cls, model, mean_file, size, scale, variant, groups, special, batch=32, threads=None):
        from fashioncaffe.formats.blobproto import read_binaryproto
        from fashioncaffe.onnx.testing import ort_session

        return cls(ort_session(model, threads=threads), size=size, mean=read_binaryproto(mean_file), scale=scale,
                   variant=variant, groups=groups, special=special, batch=batch)

    def _run(self, feeds):
        names = list(self.outputs.values())
        got = self.session.run(names, feeds)
        return {b: got[names.index(n)] for b, n in self.outputs.items()}


def export_model(deploy, weights, path, variant, stats, size, scale):
    """Export a trained deploy net to ONNX with its signatures and probabilities as outputs and, in
    the metadata (key ``paper004``), what a feature source needs: variant, groups, values, special
    attributes, input size and scale."""
    import onnx

    import fashioncaffe as caffe
    from fashioncaffe.onnx import export_net
    from fashioncaffe.onnx.exporter import set_metadata
    from fashioncaffe.onnx.metadata import read_metadata

    net = caffe.Net(deploy, caffe.TEST, weights=weights)
    wanted = list(signature_blobs(variant, stats["special"]).values()) + [f"prob_{g}" for g in stats["groups"]]
    model = export_net(net, None, extra_outputs=wanted)
    meta = read_metadata(model)
    meta["paper004"] = {"variant": variant, "groups": stats["groups"], "values": stats["values"],
                        "special": stats["special"], "size": int(size), "scale": float(scale)}
    set_metadata(model, meta)
    onnx.save_model(model, str(path))
    return str(path)


def onnx_info(model_path):
    """The ``paper004`` metadata of a model written by :func:`export_model`."""
    import onnx

    from fashioncaffe.onnx.metadata import read_metadata

    meta = read_metadata(onnx.load(str(model_path), load_external_data=False)) or {}
    if "paper004" not in meta:
        raise ValueError(f"{model_path}: no paper004 metadata (export it with tools.paper004.features.export_model)")
    return meta["paper004"]
