"""Predict with an exported ONNX model (``fashioncaffe infer``), reading everything from its metadata.

    from fashioncaffe.infer import Predictor
    p = Predictor("model.onnx")                 # provider "auto": CUDA when onnxruntime-gpu sees a GPU
    results = p.predict(["a.jpg", "dir/"], top_k=5)
    print(p.provider); print(format_result(results[0]))

Preprocessing is Caffe's TEST transform as recorded at export (:mod:`fashioncaffe.onnx.metadata`):
decode as BGR (or gray), resize to the stored size, centre crop, subtract the mean (image or
values), multiply by the scale, CHW, batched.  Outputs are turned into readable predictions by kind:
``category`` (top-k labels), ``attributes`` (top-k per group, or over all), ``landmarks`` (x, y per
slot, also mapped back to the original image, with visibility when the net predicts it) and ``raw``.

An image that is missing or cannot be decoded gives a result with ``ok: False`` and an ``error``
message; the other images of the batch are still predicted.
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from .errors import fail

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


def available_providers():
    import onnxruntime as ort

    return list(ort.get_available_providers())


def choose_providers(provider="auto"):
    """The onnxruntime provider list for ``auto`` / ``cuda`` / ``cpu``."""
    provider = (provider or "auto").lower()
    have = available_providers()
    if provider == "cpu":
        return ["CPUExecutionProvider"]
    if provider == "cuda":
        if "CUDAExecutionProvider" not in have:
            raise fail("--provider cuda: this onnxruntime has no CUDAExecutionProvider (providers: "
                       f"{', '.join(have)}); install onnxruntime-gpu (pip install 'fashioncaffe[gpu]') or use "
                       "--provider cpu.")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if provider != "auto":
        raise fail(f"--provider {provider}: expected auto, cuda or cpu.")
    if "CUDAExecutionProvider" in have and _gpu_present():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _gpu_present():
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        return os.path.exists("/dev/nvidiactl")


def list_images(items, recursive=False):
    """Expand files and folders into (path, error-or-None) entries, keeping the given order."""
    out = []
    for item in items:
        item = os.fspath(item)
        if os.path.isdir(item):
            found = []
            if recursive:
                for root, _dirs, files in os.walk(item):
                    found += [os.path.join(root, f) for f in files if f.lower().endswith(IMAGE_EXTS)]
            else:
                found = [os.path.join(item, f) for f in os.listdir(item)
                         if f.lower().endswith(IMAGE_EXTS) and os.path.isfile(os.path.join(item, f))]
            if not found:
                out.append((item, f"folder {item} holds no image files ({', '.join(IMAGE_EXTS)})"))
            out.extend((p, None) for p in sorted(found))
        else:
            out.append((item, None))
    return out


class Predictor:
    """An onnxruntime session over a fashioncaffe-exported model, with its preprocessing and labels."""

    def __init__(self, onnx_path, provider="auto", intra_op_threads=None):
        import onnxruntime as ort

        from .onnx.metadata import mean_image, read_metadata

        path = os.fspath(onnx_path)
        if not os.path.exists(path):
            raise fail(f"--onnx {path}: file does not exist.")
        providers = choose_providers(provider)
        opts = ort.SessionOptions()
        if intra_op_threads:
            opts.intra_op_num_threads = int(intra_op_threads)
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(path, sess_options=opts, providers=providers)
        except Exception as e:  # noqa: BLE001 -- onnxruntime raises its own types
            raise fail(f"--onnx {path}: onnxruntime cannot load it as an ONNX model ({type(e).__name__}: "
                       f"{str(e).splitlines()[0] if str(e) else ''}).") from None
        self.provider = self.session.get_providers()[0]
        self.path = path
        meta = read_metadata(self.session, f"--onnx {path}")
        if meta is None:
            raise fail(f"--onnx {path}: the model has no 'fashioncaffe' metadata (it was not written by "
                       "`fashioncaffe export`), so its preprocessing and labels are unknown.")
        missing = [k for k in ("preprocess", "outputs") if k not in meta]
        if missing:
            raise fail(f"--onnx {path}: its 'fashioncaffe' metadata lacks {', '.join(repr(k) for k in missing)}; "
                       "expected what `fashioncaffe export` writes. Export it again.")
        self.meta = meta
        self.pre = meta["preprocess"]
        self.outputs = meta["outputs"]
        self.input_name = self.pre.get("input") or self.session.get_inputs()[0].name
        names = [i.name for i in self.session.get_inputs()]
        if self.input_name not in names:
            raise fail(f"--onnx {path}: the metadata names input '{self.input_name}' but the model's inputs are "
                       f"{names}.")
        if len(names) != 1:
            raise fail(f"--onnx {path}: the model has {len(names)} inputs ({', '.join(names)}); `infer` feeds "
                       "one image input.")
        self.mean = mean_image(self.pre)
        self.mean_values = None if self.pre.get("mean_values") is None else \
            np.asarray(self.pre["mean_values"], np.float32)
        self.C, self.H, self.W = [int(d) for d in self.pre["input_shape"]]
        self.crop = int(self.pre.get("crop_size") or 0)
        rz = self.pre.get("resize") or [self.H, self.W]
        self.resize = (int(rz[0]), int(rz[1]))
        self.scale = float(self.pre.get("scale", 1.0))

    # -- preprocessing --------------------------------------------------------------------------
    def load_image(self, path):
        """BGR (or gray) HWC uint8 image; raises FashionCaffeError for a missing/unreadable file."""
        import cv2

        from .formats.lmdb_datum import imread_flags
        from .formats.opencv_errors import opencv_decoding

        if not os.path.exists(path):
            raise fail(f"{path}: no such file.")
        if os.path.isdir(path):
            raise fail(f"{path}: is a folder, not an image.")
        try:
            with open(path, "rb") as f:
                buf = np.frombuffer(f.read(), np.uint8)
        except OSError as e:
            raise fail(f"{path}: cannot be read ({e.strerror}).") from None
        with opencv_decoding(path, buf):
            img = cv2.imdecode(buf, imread_flags(self.C != 1)) if buf.size else None  # as training decoded
        if img is None:
            raise fail(f"{path}: cannot be decoded as an image ({buf.size} bytes; expected JPEG/PNG/BMP/...).")
        if img.ndim == 2:
            img = img[:, :, None]
        return img

    def preprocess(self, img):
        """Caffe's TEST transform of one HWC uint8 BGR image → CHW float32 of the net's input size."""
        import cv2

        h, w = img.shape[:2]
        rh, rw = self.resize
        if (h, w) != (rh, rw):
            img = cv2.resize(img, (rw, rh), interpolation=cv2.INTER_LINEAR)
            if img.ndim == 2:
                img = img[:, :, None]
        x = img.transpose(2, 0, 1).astype(np.float32)
        if x.shape[0] != self.C:
            raise fail(f"image has {x.shape[0]} channels; the model takes {self.C}.")
        ho = wo = 0
        if self.crop:
            ho, wo = (rh - self.crop) // 2, (rw - self.crop) // 2
            x = x[:, ho:ho + self.crop, wo:wo + self.crop]
        if self.mean is not None:
            x = x - self.mean[:, ho:ho + x.shape[1], wo:wo + x.shape[2]]
        elif self.mean_values is not None:
            mv = self.mean_values
            if mv.size not in (1, x.shape[0]):
                raise fail(f"the model's metadata has {mv.size} mean values for {x.shape[0]}-channel images.")
            x = x - mv.reshape(-1, 1, 1)
        if self.scale != 1.0:
            x = x * np.float32(self.scale)
        return np.ascontiguousarray(x, dtype=np.float32), (h, w)

    # -- running --------------------------------------------------------------------------------
    def run(self, batch):
        """Raw outputs {name: array} for a preprocessed NCHW float32 batch."""
        names = [o.name for o in self.session.get_outputs()]
        vals = self.session.run(names, {self.input_name: np.ascontiguousarray(batch, np.float32)})
        return dict(zip(names, vals))

    def predict(self, items, top_k=5, batch_size=16, recursive=False):
        """Readable predictions for image files / folders; one dict per image, in order."""
        if int(batch_size) < 1:
            raise fail(f"Predictor.predict: batch_size {batch_size} must be at least 1.")
        entries = list_images(items if isinstance(items, (list, tuple)) else [items], recursive)
        results = []
        for i in range(0, len(entries), int(batch_size)):
            chunk = entries[i:i + batch_size]
            arrs, sizes, slots = [], [], []
            chunk_results = []
            for path, err in chunk:
                res = {"image": path, "ok": False}
                chunk_results.append(res)
                if err:
                    res["error"] = err
                    continue
                try:
                    x, hw = self.preprocess(self.load_image(path))
                except Exception as e:  # noqa: BLE001 -- one bad image must not stop the batch
                    res["error"] = str(e) if str(e) else type(e).__name__
                    continue
                arrs.append(x)
                sizes.append(hw)
                slots.append(res)
            if arrs:
                outs = self.run(np.stack(arrs))
                for j, res in enumerate(slots):
                    res["ok"] = True
                    res["size"] = list(sizes[j])
                    res["outputs"] = {o["name"]: interpret(o, outs[o["name"]][j], top_k, sizes[j], self.resize)
                                      for o in self.outputs if o["name"] in outs}
            results.extend(chunk_results)
        return results


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _topk(scores, k, labels=None, indices=None):
    idx = np.arange(scores.size) if indices is None else np.asarray(indices)
    s = scores[idx]
    order = np.argsort(-s, kind="stable")[:max(1, k)]
    out = []
    for o in order:
        j = int(idx[o])
        out.append({"index": j, "label": labels[j] if labels and j < len(labels) else str(j),
                    "score": float(scores[j])})
    return out


def interpret(out_meta, value, top_k=5, image_hw=None, resize=None):
    """One image's output ``value`` as a readable dict, by the output's kind in the metadata."""
    kind = out_meta.get("kind", "raw")
    v = np.asarray(value, np.float32)
    flat = v.reshape(-1)
    labels = out_meta.get("labels")
    act = out_meta.get("activation", "none")
    if kind == "category":
        return {"kind": kind, "top": _topk(flat, top_k, labels)}
    if kind == "attributes":
        probs = flat if act == "sigmoid" else _sigmoid(flat)
        res = {"kind": kind, "activation": act}
        groups = out_meta.get("groups")
        if groups:
            exclusive = out_meta.get("group_mode") == "exclusive"
            res["groups"] = [{"group": gr["name"],
                              "top": _topk(flat if act != "none" else probs, 1 if exclusive else top_k, labels,
                                           gr["indices"])} for gr in groups]
        else:
            res["top"] = _topk(probs, top_k, labels)
        if act == "none":
            for t in res.get("top", []) + [t for gr in res.get("groups", []) for t in gr["top"]]:
                t["score"] = float(probs[t["index"]])
        return res
    if kind == "landmarks":
        layout = out_meta.get("landmark_layout", "xy")
        slots = out_meta.get("landmark_slots") or []
        n = flat.size // {"xy": 2, "vxy": 3, "v": 1}.get(layout, 2)
        vis = None
        xy = None
        if layout == "vxy":
            vis, xy = flat[:n], flat[n:].reshape(n, 2)
        elif layout == "v":
            vis = flat
        else:
            xy = flat.reshape(n, 2)
        pts = []
        for i in range(n):
            p = {"slot": slots[i] if i < len(slots) else str(i)}
            if xy is not None:
                p["x"], p["y"] = float(xy[i, 0]), float(xy[i, 1])
                if image_hw and resize:
                    p["x_image"] = float(xy[i, 0] * image_hw[1] / resize[1])
                    p["y_image"] = float(xy[i, 1] * image_hw[0] / resize[0])
            if vis is not None:
                p["visibility"] = float(vis[i])
            pts.append(p)
        return {"kind": kind, "layout": layout, "points": pts}
    res = {"kind": "raw", "shape": list(v.shape)}
    if flat.size <= 16:
        res["values"] = [float(a) for a in flat]
    else:
        res["top"] = _topk(flat, top_k, labels)
    return res


def format_result(res):
    """Human-readable lines for one image's result."""
    lines = [f"{res['image']}:"]
    if not res.get("ok"):
        lines.append(f"  ERROR: {res.get('error')}")
        return "\n".join(lines)
    for name, o in res["outputs"].items():
        kind = o["kind"]
        if kind == "category":
            tops = ", ".join(f"{t['label']} {t['score']:.4f}" for t in o["top"])
            lines.append(f"  {name} (category): {tops}")
        elif kind == "attributes":
            if "groups" in o:
                lines.append(f"  {name} (attributes):")
                for gr in o["groups"]:
                    tops = ", ".join(f"{t['label']} {t['score']:.3f}" for t in gr["top"])
                    lines.append(f"    {gr['group']}: {tops}")
            else:
                tops = ", ".join(f"{t['label']} {t['score']:.3f}" for t in o["top"])
                lines.append(f"  {name} (attributes): {tops}")
        elif kind == "landmarks":
            parts = []
            for p in o["points"]:
                s = p["slot"]
                if "x_image" in p:
                    s += f" ({p['x_image']:.1f}, {p['y_image']:.1f})"
                elif "x" in p:
                    s += f" ({p['x']:.1f}, {p['y']:.1f})"
                if "visibility" in p:
                    s += f" v={p['visibility']:.2f}"
                parts.append(s)
            lines.append(f"  {name} (landmarks): " + "; ".join(parts))
        else:
            if "values" in o:
                lines.append(f"  {name} {o['shape']}: " + " ".join(f"{v:.4g}" for v in o["values"]))
            else:
                tops = ", ".join(f"{t['label']} {t['score']:.4g}" for t in o["top"])
                lines.append(f"  {name} {o['shape']} top: {tops}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# command line (registered by fashioncaffe/onnx/cli_export.py)
# ------------------------------------------------------------------------------------------------
def add_args(p):
    p.add_argument("--onnx", required=True, help="model exported by `fashioncaffe export`")
    p.add_argument("images", nargs="+", metavar="IMAGES_OR_DIR", help="image files and/or folders of images")
    p.add_argument("--provider", default="auto", choices=["auto", "cuda", "cpu"],
                   help="onnxruntime execution provider (auto: CUDA when onnxruntime-gpu and a GPU are present)")
    p.add_argument("--top-k", type=int, default=5, help="predictions listed per output / attribute group")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--recursive", action="store_true", help="look for images in sub-folders too")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    p.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0: its default)")


def run(args):
    if args.top_k < 1:
        raise fail(f"--top-k {args.top_k}: must be at least 1.")
    if args.batch_size < 1:
        raise fail(f"--batch-size {args.batch_size}: must be at least 1 (images are predicted in batches of this "
                   "many).")
    pred = Predictor(args.onnx, args.provider, args.threads or None)
    sys.stderr.write(f"fashioncaffe infer: using onnxruntime {pred.provider} "
                     f"(model {os.path.basename(args.onnx)}, net '{pred.meta.get('net')}')\n")
    t0 = time.perf_counter()
    results = pred.predict(args.images, top_k=args.top_k, batch_size=args.batch_size, recursive=args.recursive)
    dt = time.perf_counter() - t0
    bad = [r for r in results if not r["ok"]]
    if args.json:
        doc = {"model": args.onnx, "provider": pred.provider, "results": results}
        sys.stdout.write(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    else:
        for r in results:
            sys.stdout.write(format_result(r) + "\n")
    sys.stderr.write(f"fashioncaffe infer: {len(results) - len(bad)} image(s) predicted, {len(bad)} failed, "
                     f"{dt:.2f} s\n")
    for r in bad:
        sys.stderr.write(f"  {r['image']}: {r['error']}\n")
    return 1 if bad else 0
